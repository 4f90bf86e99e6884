#!/usr/bin/env bash
# Renders Strata's Kubernetes manifests with kustomize and validates every
# object offline (tools/k8s-check/validate.mjs: Kubernetes and Strimzi
# schemas, references between the objects, Strata's rules). No cluster needed.
#
#   check.sh                      every deploy/k8s/overlays/* and deploy/k8s/kafka
#   check.sh --fixture DIR ...    these kustomization directories (or YAML files)
#                                 instead; passes iff all are valid
#   check.sh --expect-fail DIR    passes iff DIR renders and validation rejects it
#                                 (for tests that a broken fixture is caught)
#
# Exit: 0 passed, 1 a check failed, 2 usage error or missing tool.
# Needs kubectl (with kustomize v5: kubectl >= 1.27) or a standalone
# `kustomize` (KUBECTL=/path/kubectl or KUSTOMIZE=/path/kustomize to choose),
# node and npm; installs tools/k8s-check/node_modules with `npm ci` if missing.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

usage() {
  sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

targets=()
expect_fail=()
while [ $# -gt 0 ]; do
  case "$1" in
    --fixture) [ $# -ge 2 ] || usage; targets+=("$2"); shift 2 ;;
    --expect-fail) [ $# -ge 2 ] || usage; expect_fail+=("$2"); shift 2 ;;
    -h|--help) usage ;;
    *) echo "check.sh: unknown argument $1" >&2; usage ;;
  esac
done
if [ ${#targets[@]} -eq 0 ] && [ ${#expect_fail[@]} -eq 0 ]; then
  for d in "$root"/deploy/k8s/overlays/*/ "$root"/deploy/k8s/kafka/; do
    [ -f "$d/kustomization.yaml" ] && targets+=("${d%/}")
  done
  if [ ${#targets[@]} -eq 0 ]; then
    echo "check.sh: no kustomization under deploy/k8s/overlays/*" >&2
    exit 2
  fi
fi

# --- tools -------------------------------------------------------------------
render_cmd=()
if [ -n "${KUSTOMIZE:-}" ]; then
  render_cmd=("$KUSTOMIZE" build)
elif command -v "${KUBECTL:-kubectl}" >/dev/null 2>&1; then
  render_cmd=("${KUBECTL:-kubectl}" kustomize)
elif command -v kustomize >/dev/null 2>&1; then
  render_cmd=(kustomize build)
else
  echo "check.sh: needs kubectl (>= 1.27, kustomize v5 built in) or kustomize v5 on PATH" >&2
  exit 2
fi
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "check.sh: needs $tool (Node.js >= 18)" >&2
    exit 2
  fi
done

# node_modules from package-lock.json, once (serialized: ctest may run two
# checks at the same time on a fresh clone).
install_modules() {
  if [ ! -f "$here/node_modules/.package-lock.json" ] ||
     [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
    echo "check.sh: npm ci in tools/k8s-check" >&2
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
}
if command -v flock >/dev/null 2>&1; then
  ( flock 9 && install_modules ) 9>"$here/.npm-ci.lock" || { echo "check.sh: npm ci failed" >&2; exit 2; }
else
  install_modules || { echo "check.sh: npm ci failed" >&2; exit 2; }
fi

# --- checks ------------------------------------------------------------------
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Prints the target's name relative to the repository when it is inside it.
label() {
  local abs
  abs="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
  case "$abs" in "$root"/*) echo "${abs#"$root"/}" ;; *) echo "$1" ;; esac
}

# validate TARGET -> 0 valid, 1 invalid, 3 could not render, 2 tool failure.
validate() {
  local target="$1" name out
  name="$(label "$target")"
  out="$tmp/rendered.yaml"
  if [ -d "$target" ]; then
    if ! "${render_cmd[@]}" "$target" >"$out" 2>"$tmp/render.err"; then
      echo "$name: kustomize could not render it:" >&2
      sed 's/^/  /' "$tmp/render.err" >&2
      return 3
    fi
  elif [ -f "$target" ]; then
    cp "$target" "$out"
  else
    echo "$name: no such directory or file" >&2
    return 3
  fi
  node "$here/validate.mjs" --source "$name" "$out"
}

passed=0
failed=0
for t in "${targets[@]}"; do
  validate "$t"
  rc=$?
  if [ $rc -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
for t in "${expect_fail[@]}"; do
  name="$(label "$t")"
  validate "$t" >"$tmp/expect.out" 2>&1
  rc=$?
  sed 's/^/  (expected) /' "$tmp/expect.out"
  if [ $rc -eq 1 ]; then
    echo "$name: rejected, as expected"
    passed=$((passed + 1))
  elif [ $rc -eq 0 ]; then
    echo "$name: FAILED: expected validation errors, found none"
    failed=$((failed + 1))
  else
    echo "$name: FAILED: expected validation errors, but it did not get that far (exit $rc)"
    failed=$((failed + 1))
  fi
done

echo "k8s-check: $passed passed, $failed failed"
[ $failed -eq 0 ]
