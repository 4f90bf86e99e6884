# Strata: `make up` to run it locally, `make test` to run every test.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all deps build test up down pg bench clean fuzz k8s-check

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build pg
	ctest --test-dir $(BUILD) --output-on-failure -j 2 --timeout 600

pg: deps
	@bash scripts/pg-up.sh

up: build pg
	@bash scripts/dev-up.sh

down:
	@if [ -f .strata/server.pid ]; then kill $$(cat .strata/server.pid) 2>/dev/null || true; rm -f .strata/server.pid; echo "strata-server stopped"; fi

# Every benchmark; each figure is printed beside the value recorded in
# docs/benchmarks.md (bench/figures.sh), with a table of both at the end.
bench: build pg
	@bash scripts/install-deps.sh --bench
	bash -o pipefail -c 'bash bench/run.sh $(BUILD) | bash bench/figures.sh docs/benchmarks.md'

# Renders every overlay in deploy/k8s and validates it offline against the
# Kubernetes (and Strimzi) schemas; a deliberately broken fixture must fail.
k8s-check:
	bash tools/k8s-check/check.sh
	bash tools/k8s-check/check.sh --expect-fail tests/fixtures/k8s-broken

# libFuzzer targets (event decoding, DDL parsing, token file), FUZZ_SECONDS
# each, in a separate clang build; crashes fail it (see tools/fuzz/run.sh).
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
fuzz:
	@bash scripts/install-deps.sh --fuzz
	CC=clang-14 CXX=clang++-14 cmake -S . -B $(FUZZ_BUILD) -DSTRATA_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_event_decode fuzz_ddl_parse fuzz_token_file fuzz_refdata_csv
	bash tools/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)
