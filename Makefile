# Strata: `make up` to run it locally, `make test` to run every test.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all deps build test up down pg bench clean

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

bench: build pg
	@bash scripts/install-deps.sh --bench
	bash bench/run.sh

clean:
	rm -rf $(BUILD)
