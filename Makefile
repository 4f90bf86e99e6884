# Strata: `make up` to run it locally, `make test` to run every test.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all deps build test up down pg bench clean fuzz k8s-check chaos sanitize

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

# Randomized fault runs (tools/chaos): the lock service on Kafka (three
# regional instances on strata-devbroker) and on the embedded log, SECONDS of
# faults each with seed SEED, then the history checker, the audit trail's
# verification and every projection against a rebuild from the log, in
# epochs of at most 180 s on fresh processes. CTest runs a 60 s version of
# each with seed 7; histories land in $(BUILD)/chaos.
SECONDS ?= 300
SEED ?= 1
CHAOS_CLIENTS ?= 16
chaos: build
	$(BUILD)/bin/strata-chaos --backend kafka --seconds $(SECONDS) --seed $(SEED) --clients $(CHAOS_CLIENTS) --out $(BUILD)/chaos/kafka-$(SEED)
	$(BUILD)/bin/strata-chaos --backend embedded --seconds $(SECONDS) --seed $(SEED) --clients $(CHAOS_CLIENTS) --out $(BUILD)/chaos/embedded-$(SEED)

# The unit and integration suites (both logs) under AddressSanitizer with
# UndefinedBehaviorSanitizer, then under ThreadSanitizer, each in its own clang
# build (with -Wthread-safety); any finding fails the test that hit it.
# Suppressions (tools/sanitize/*.supp) cover third-party code only, each with
# its reason. The browser and k8s tests are left out (no C++ of ours runs).
# TSan writes its reports to build-tsan/reports/tsan.PID, so a finding in a
# service a test started fails the target even when the test itself passed;
# ignore_noninstrumented_modules=1 and tools/sanitize/tsan_*.cc make Debian's
# uninstrumented libraries visible to it (docs/reliability.md says how).
SAN_LABELS_EXCLUDE ?= browser|k8s|chaos
# Timing bounds, not correctness: a check-out reaches a guard within a second
# among 100,000 objects (ASan makes the server 3-5 times slower).
SAN_TESTS_EXCLUDE ?= GuardCostTest
sanitize: deps pg
	@bash scripts/install-deps.sh --fuzz
	CC=clang-14 CXX=clang++-14 cmake -S . -B build-asan -DSTRATA_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tools/sanitize/lsan.supp \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build-asan --output-on-failure -j 2 --timeout 1800 -LE '$(SAN_LABELS_EXCLUDE)' -E '$(SAN_TESTS_EXCLUDE)'
	CC=clang-14 CXX=clang++-14 cmake -S . -B build-tsan -DSTRATA_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build-tsan -j $(JOBS)
	rm -rf build-tsan/reports && mkdir -p build-tsan/reports
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1:suppressions=$(CURDIR)/tools/sanitize/tsan.supp:log_path=$(CURDIR)/build-tsan/reports/tsan \
	  ctest --test-dir build-tsan --output-on-failure -j 2 --timeout 1800 -LE '$(SAN_LABELS_EXCLUDE)' -E '$(SAN_TESTS_EXCLUDE)'; \
	  rc=$$?; if [ -n "$$(ls build-tsan/reports)" ]; then \
	    echo "ThreadSanitizer reports (from the tests or the processes they started):"; ls build-tsan/reports; rc=1; fi; \
	  exit $$rc

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD) build-asan build-tsan
