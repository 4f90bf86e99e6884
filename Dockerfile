# Strata's servers and CLI, built from source on Debian bookworm.
#
#   docker build -t strata:0.1.0 .
#   docker run --rm strata:0.1.0 strata-lock --help      # or: lock --help
#
# The entrypoint runs the Strata binary named first (strata-lock,
# strata-history, strata-impact, strata-deploy, strata-server or the CLI
# strata; the short names lock, history, impact, deploy and server work too),
# so one image serves every service: deploy/k8s sets the name in `args`.
# Runs as the unprivileged user strata (uid/gid 10001); state in /var/lib/strata.

ARG DEBIAN_RELEASE=bookworm

# ---------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE} AS build
ARG DEBIAN_FRONTEND=noninteractive
# scripts/install-deps.sh's list, less what only tests and `make up` use
# (PostgreSQL, openssl, python3 and its packages, git, ccache). CMake's
# configure step still looks for GoogleTest and Google Benchmark: they stay.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config ca-certificates \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      librdkafka-dev librocksdb-dev libpg-query-dev libpq-dev libssl-dev \
      libabsl-dev libyaml-cpp-dev libcli11-dev libfmt-dev libspdlog-dev nlohmann-json3-dev \
      libgtest-dev libgmock-dev libbenchmark-dev libjemalloc-dev libdtl-dev libcpp-httplib-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
# Only the shipped binaries, not the tests and benchmarks; stripped.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build -j "$(nproc)" --target \
      strata-server strata-lock strata-history strata-impact strata-deploy strata-console strata \
 && mkdir -p /out \
 && for b in strata-server strata-lock strata-history strata-impact strata-deploy strata-console strata; do \
      install -m 0755 -s "build/bin/$b" "/out/$b"; \
    done \
 && printf '%s\n' \
      '#!/bin/sh' \
      '# Runs the Strata binary named first: strata-lock ... or lock, history, impact, deploy, server.' \
      'set -e' \
      'case "${1:-}" in' \
      '  lock|history|impact|deploy|server|console) b="strata-$1"; shift; exec "/usr/local/bin/$b" "$@" ;;' \
      '  strata|strata-lock|strata-history|strata-impact|strata-deploy|strata-server|strata-console) b="$1"; shift; exec "/usr/local/bin/$b" "$@" ;;' \
      '  ""|-h|--help) echo "usage: <strata-lock|strata-history|strata-impact|strata-deploy|strata-server|strata-console|strata> [flags...]" >&2; exit 2 ;;' \
      '  *) exec "$@" ;;' \
      'esac' \
      > /out/strata-entrypoint \
 && chmod 0755 /out/strata-entrypoint

# ---------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
ARG DEBIAN_FRONTEND=noninteractive
# The shared libraries the binaries link (ldd + dpkg -S on a bookworm build);
# RocksDB is linked statically, its compression libraries are not. libpq5 and
# libcpp-httplib0.11 (the /metrics server) bring their own dependencies along.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      libabsl20220623 libgrpc++1.51 libgrpc29 libprotobuf32 libre2-9 libc-ares2 \
      librdkafka1 libsasl2-2 libssl3 \
      libsnappy1v5 liblz4-1 libzstd1 libbz2-1.0 zlib1g \
      libpq5 libpg-query1504.0 \
      libyaml-cpp0.7 libfmt9 libspdlog1.10 libjemalloc2 libcpp-httplib0.11 \
 && rm -rf /var/lib/apt/lists/*

COPY --from=build /out/ /usr/local/bin/

# Fail the build, not the pod, if a library is missing.
RUN for b in /usr/local/bin/strata /usr/local/bin/strata-*; do \
      [ "$b" = /usr/local/bin/strata-entrypoint ] && continue; \
      if ldd "$b" | grep -q 'not found'; then echo "$b:"; ldd "$b" | grep 'not found'; exit 1; fi; \
    done \
 && groupadd --system --gid 10001 strata \
 && useradd --system --uid 10001 --gid strata --home-dir /var/lib/strata --no-create-home \
      --shell /usr/sbin/nologin strata \
 && install -d -o strata -g strata -m 0750 /var/lib/strata

USER 10001:10001
WORKDIR /var/lib/strata
# gRPC: lock 7301, history 7302, impact 7303, deploy 7304; HTTP metrics/health: 9300.
EXPOSE 7301 7302 7303 7304 9300
ENTRYPOINT ["/usr/local/bin/strata-entrypoint"]
CMD ["--help"]
