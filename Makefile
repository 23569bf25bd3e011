# orderfleet: the two commands of the quick start, and a few more.
#
#   make demo    the whole pipeline on the embedded broker, with a summary
#   make test    every test (unit, integration)
#
# Both install what a fresh Debian/Ubuntu machine lacks, configure and build
# first. The real build is CMake's, in build/; this file only drives it.

BUILD      ?= build
BUILD_ASAN ?= build-asan
CHAOS_RUNS ?= 5
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

.PHONY: all deps deps-e2e deps-bench bench bench-smoke build demo test test-unit test-integration \
        test-e2e chaos test-asan kafka-start kafka-stop format clean help

all: build

help:
	@echo "make demo              run the pipeline on the embedded broker and show the result"
	@echo "make test              build and run every test (ctest labels unit, integration, e2e)"
	@echo "make test-unit         only the unit tests"
	@echo "make test-integration  only the integration tests (embedded mock cluster)"
	@echo "make test-e2e          only the e2e tests (real Apache Kafka, fetched with Maven)"
	@echo "make chaos             the chaos e2e tests, long versions, 5 times (CHAOS_RUNS=N)"
	@echo "make bench             orderfleet beside Kafka's tools on real Kafka: build/bench/report.md"
	@echo "make bench-smoke       every bench section small (~2 min, in CI): proves the harness only"
	@echo "make kafka-start       a real local Kafka (deploy/kafka-local.sh); kafka-stop"
	@echo "make test-asan         unit and integration tests built with ASan+UBSan"
	@echo "make fuzz              every libFuzzer target (clang) for FUZZ_SECONDS (60) each; fuzz-smoke: 10 s"
	@echo "make build             configure and build into $(BUILD)/ (programs in $(BUILD)/bin)"
	@echo "make deps              install missing build packages (apt-get)"
	@echo "make format            clang-format every source file"
	@echo "make clean             remove build trees"

deps:
	@deploy/install-deps.sh

# The e2e tests also need Java, Maven and kcat (Kafka itself comes from Maven
# Central, cached after the first run).
deps-e2e: deps
	@deploy/install-deps.sh deploy/packages-e2e.txt deploy/packages-browser.txt

# The benchmark also needs wrk and hey (HTTP load), gnuplot (the report's plots)
# and valgrind (callgrind: instructions per order) from Debian.
deps-bench: deps-e2e
	@deploy/install-deps.sh deploy/packages-bench.txt

bench: build deps-bench
	tests/bench/bench.sh $(BUILD)/bin $(BUILD)/bench

# Every section small: its numbers mean nothing, it proves the harness (CI).
bench-smoke: build deps-bench
	tests/bench/bench.sh $(BUILD)/bin $(BUILD)/bench-smoke --smoke

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)

build: deps $(BUILD)/CMakeCache.txt
	deploy/build.sh $(BUILD) --all --jobs $(JOBS)

demo: build
	deploy/demo.sh $(BUILD)/bin

test: build deps-e2e
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

chaos: build deps-e2e
	cd $(BUILD) && ORDERFLEET_CHAOS_LONG=1 ctest --output-on-failure \
	    -R '^test_e2e_(rebalance|brokers|kill)$$' --repeat until-fail:$(CHAOS_RUNS)


test-unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L unit

test-integration: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L integration

test-e2e: build deps-e2e
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L '^e2e$$' 

kafka-start: deps-e2e
	@deploy/kafka-local.sh start

kafka-stop:
	@deploy/kafka-local.sh stop

# libFuzzer targets (tests/fuzz, docs/fuzzing.md), built with clang in
# $(BUILD_FUZZ); a crash, leak or timeout fails, with its reproducer printed.
BUILD_FUZZ   ?= build-fuzz
FUZZ_SECONDS ?= 60
.PHONY: fuzz fuzz-smoke
fuzz fuzz-smoke: deps
	@deploy/install-fuzz-deps.sh
	tests/fuzz/run.sh --build $(BUILD_FUZZ) --jobs $(JOBS) \
	    --seconds $(if $(filter fuzz-smoke,$@),10,$(FUZZ_SECONDS))

test-asan: deps deps-e2e
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DORDERFLEET_SANITIZE=ON $(CMAKE_ARGS)
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && ctest --output-on-failure -j $(JOBS) -L '^(unit|integration)$$'

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
