# vgi: build the DuckDB extension, run the demo, the tests and the benchmarks.
#
#   make          build build/release/vgi.duckdb_extension
#   make demo     build, then run a demo query in the stock duckdb==2.0.0 wheel
#   make test     Rust unit tests + every test/sql/*.test through DuckDB 2.0.0
#                 (and the example extension's tests, test-examples)
#   make example  build the example extension build/release/topk.duckdb_extension
#   make install  INSTALL the extension so that `LOAD vgi;` finds it by name
#   make bench    time vgi against native DuckDB (bench/bench.py; JSON in build/bench.json)
#
# DuckDB is compiled from source once per machine (about 40 minutes on two
# cores) into $(VGI_CACHE_DIR); later builds, and other clones, reuse it.

VGI_CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/vgi
CARGO_TARGET_DIR ?= $(VGI_CACHE_DIR)/target
export VGI_CACHE_DIR CARGO_TARGET_DIR

CARGO ?= cargo
# vgi-rpc 0.32 declares rust-version 1.97; it builds and passes its use here
# with the machine's 1.95, which cargo only allows with this flag.
CARGO_FLAGS := --locked --ignore-rust-version
# The worker builds in a target directory of its own: it depends on the vgi
# library without the bridge, and cargo would overwrite libvgi.so (cdylib
# outputs carry no hash) in a shared one.
WORKER_TARGET_DIR := $(VGI_CACHE_DIR)/target-worker
WORKER := build/release/vgi-worker
EXT_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
EXTENSION := build/release/vgi.duckdb_extension
PY = $(shell scripts/setup-venv.sh)

.PHONY: all release duckdb venv demo test test-unit test-sql test-python install clean example test-examples bench

all: release

duckdb:
	scripts/build-duckdb.sh

release: duckdb
	$(CARGO) build --release --lib $(CARGO_FLAGS)
	CARGO_TARGET_DIR=$(WORKER_TARGET_DIR) $(CARGO) build --release -p vgi-worker $(CARGO_FLAGS)
	mkdir -p build/release
	python3 scripts/append-footer.py $(CARGO_TARGET_DIR)/release/libvgi.so $(EXTENSION) \
		--extension-version v$(EXT_VERSION)
	cp $(WORKER_TARGET_DIR)/release/vgi-worker $(WORKER)

venv:
	scripts/setup-venv.sh >/dev/null

demo: release venv
	$(PY) scripts/demo.py $(EXTENSION)

test: test-unit test-sql test-python test-examples

test-unit: duckdb
	$(CARGO) test --release $(CARGO_FLAGS)
	CARGO_TARGET_DIR=$(WORKER_TARGET_DIR) $(CARGO) test --release -p vgi-worker $(CARGO_FLAGS)

# The store lives under TMPDIR; a private one lets the tests check that no
# state is left behind (`require-env TMPDIR` in a test file).
TEST_TMPDIR := $(CURDIR)/build/test-tmp

# The whole suite runs twice: functions in DuckDB's process, then in a pool
# of vgi-worker processes.
test-sql: release venv
	rm -rf $(TEST_TMPDIR) && mkdir -p $(TEST_TMPDIR)
	TMPDIR=$(TEST_TMPDIR) $(PY) test/sqllogictest.py --extension $(EXTENSION) test/sql
	rm -rf $(TEST_TMPDIR) && mkdir -p $(TEST_TMPDIR)
	TMPDIR=$(TEST_TMPDIR) $(PY) test/sqllogictest.py --extension $(EXTENSION) \
		--setting "vgi_execution='subprocess'" test/sql

# Interrupts, progress, orphaned state, injected faults (a small tmpfs, no
# CAP_DAC_OVERRIDE: needs root) and out-of-core runs need a second thread or
# process, so Python rather than sqllogictest.
test-python: release venv
	rm -rf $(TEST_TMPDIR)-python && mkdir -p $(TEST_TMPDIR)-python
	TMPDIR=$(TEST_TMPDIR)-python $(PY) test/python/test_interrupt_progress.py $(EXTENSION)
	rm -rf $(TEST_TMPDIR)-gc && mkdir -p $(TEST_TMPDIR)-gc
	TMPDIR=$(TEST_TMPDIR)-gc $(PY) test/python/test_store_gc.py $(EXTENSION)
	rm -rf $(TEST_TMPDIR)-stress && mkdir -p $(TEST_TMPDIR)-stress
	TMPDIR=$(TEST_TMPDIR)-stress $(PY) test/python/test_concurrency.py $(EXTENSION)
	rm -rf $(TEST_TMPDIR)-faults && mkdir -p $(TEST_TMPDIR)-faults
	TMPDIR=$(TEST_TMPDIR)-faults $(PY) test/python/test_faults.py $(EXTENSION)
	rm -rf $(TEST_TMPDIR)-ooc && mkdir -p $(TEST_TMPDIR)-ooc
	TMPDIR=$(TEST_TMPDIR)-ooc $(PY) test/python/test_out_of_core.py $(EXTENSION)
	rm -rf $(TEST_TMPDIR)-subprocess && mkdir -p $(TEST_TMPDIR)-subprocess
	TMPDIR=$(TEST_TMPDIR)-subprocess $(PY) test/python/test_subprocess.py $(EXTENSION)

# The example extension (examples/topk): a crate of its own on top of the SDK.
# It builds in a target directory of its own: cargo names the vgi library
# libvgi.so/libvgi.rlib without a hash (the crate is a cdylib), so building
# vgi as the example's dependency (without the `extension` feature) in
# $(CARGO_TARGET_DIR) would overwrite the vgi extension's libvgi.so, and a
# later `make release` that finds vgi fresh would ship a library without
# vgi's entry point.
EXAMPLE_DIR := examples/topk
EXAMPLE_TARGET_DIR := $(VGI_CACHE_DIR)/target-examples
EXAMPLE_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' $(EXAMPLE_DIR)/Cargo.toml | head -n 1)
EXAMPLE_EXTENSION := build/release/topk.duckdb_extension

example: duckdb
	CARGO_TARGET_DIR=$(EXAMPLE_TARGET_DIR) $(CARGO) build --release $(CARGO_FLAGS) --manifest-path $(EXAMPLE_DIR)/Cargo.toml
	mkdir -p build/release
	python3 scripts/append-footer.py $(EXAMPLE_TARGET_DIR)/release/libtopk.so $(EXAMPLE_EXTENSION) \
		--extension-version v$(EXAMPLE_VERSION)

# The example's unit tests, then test/examples/*.test with `require vgi`
# loading the topk extension (the vgi extension is built too: a test loads
# both into one database).
test-examples: example release venv
	CARGO_TARGET_DIR=$(EXAMPLE_TARGET_DIR) $(CARGO) test --release $(CARGO_FLAGS) --manifest-path $(EXAMPLE_DIR)/Cargo.toml
	rm -rf $(TEST_TMPDIR)-examples && mkdir -p $(TEST_TMPDIR)-examples
	TMPDIR=$(TEST_TMPDIR)-examples $(PY) test/sqllogictest.py --extension $(EXAMPLE_EXTENSION) test/examples

# vgi vs native DuckDB, 1M and 10M rows, 1 and 2 threads (about 2.5 minutes on
# two cores); options: make bench BENCH_ARGS="--quick" (or --rows, --repeat, --threads).
bench: release venv
	$(PY) bench/bench.py $(BENCH_ARGS)

install: release venv
	$(PY) scripts/install.py $(EXTENSION)

clean:
	rm -rf build
	$(CARGO) clean
