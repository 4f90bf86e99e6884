#!/usr/bin/env bash
# Installs what Strata needs from Debian packages (only what is missing).
# Works as root or with sudo. Used by `make up`, `make test` and CI;
# `--bench` adds the peers the benchmarks compare with (`make bench`).
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ccache git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libre2-dev
  librdkafka-dev librocksdb-dev libpg-query-dev libpq-dev libssl-dev
  libabsl-dev libyaml-cpp-dev libcli11-dev libfmt-dev libspdlog-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev libjemalloc-dev libdtl-dev python3 libcpp-httplib-dev
  postgresql postgresql-client openssl
  python3-kafka python3-protobuf
  chromium chromium-driver python3-selenium fonts-liberation fonts-dejavu-core
)
# node and npm validate the manifests offline (tools/k8s-check); images that
# bring their own Node.js keep it.
command -v npm >/dev/null || PACKAGES+=(nodejs npm)
# kubectl (with kustomize v5) renders the Kubernetes manifests in make
# k8s-check; the image provides it (Debian's kubernetes-client is too old to
# render overlays with `patches:`), and tools/k8s-check/check.sh says so if
# it is missing.
case "${1:-}" in
  --bench) PACKAGES+=(apgdiff sqitch libdbd-pg-perl valgrind) ;;
  --fuzz) PACKAGES+=(clang-14 libclang-rt-14-dev llvm-14) ;;
esac

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install-deps: run as root or install sudo" >&2; exit 1
  fi
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
