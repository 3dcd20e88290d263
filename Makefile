# vgi: build the DuckDB extension, run the demo, the tests and the benchmarks.
#
#   make          build build/v$(DUCKDB_VERSION)/vgi.duckdb_extension (+ vgi-worker)
#   make demo     build, then run a demo query in the DuckDB CLI of that release
#                 (else its Python wheel)
#   make test     Rust unit tests + every test/sql/*.test through that release's
#                 wheel, the CLI test, and the example extension's tests
#   make example  build the example extension build/v$(DUCKDB_VERSION)/topk.duckdb_extension
#   make install  INSTALL the extension so that `LOAD vgi;` finds it by name
#   make bench    time vgi against native DuckDB (bench/bench.py; JSON in build/bench.json),
#                 then remote execution by worker count (bench/remote.py)
#
# Every target is for one DuckDB release: DUCKDB_VERSION (default below; e.g.
# `make test DUCKDB_VERSION=2.0.0`). A C++-ABI extension loads only into the
# release it was compiled against, so each release has its own DuckDB build,
# cargo target directory (one for every build of the cargo workspace: the
# extension, the tests' extension, both workers, the example), venv and
# output folder build/v$(DUCKDB_VERSION)/.
# DuckDB is compiled from the PyPI source distribution of the release once
# per machine (about 15 minutes on two cores) into $(VGI_CACHE_DIR)/duckdb;
# later builds, and other clones, reuse it. Adding a release: add it to
# DUCKDB_RELEASES (scripts/build-duckdb.sh takes any release on PyPI).

DUCKDB_RELEASES := 2.0.1 2.0.0
DUCKDB_VERSION ?= $(firstword $(DUCKDB_RELEASES))
ifeq ($(filter $(DUCKDB_VERSION),$(DUCKDB_RELEASES)),)
$(error DUCKDB_VERSION=$(DUCKDB_VERSION) is not one of the releases this project builds for: $(DUCKDB_RELEASES))
endif

# make exports command-line variables; DuckDB's CMake would read this one as
# its own version (without the "v").
unexport DUCKDB_VERSION

VGI_CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/vgi
CARGO_TARGET_DIR := $(VGI_CACHE_DIR)/target-v$(DUCKDB_VERSION)
VGI_DUCKDB_VERSION := $(DUCKDB_VERSION)
export VGI_CACHE_DIR CARGO_TARGET_DIR VGI_DUCKDB_VERSION

CARGO ?= cargo
# vgi-rpc 0.32 declares rust-version 1.97; it builds and passes its use here
# with the machine's 1.95, which cargo only allows with this flag.
CARGO_FLAGS := --locked --ignore-rust-version
OUT := build/v$(DUCKDB_VERSION)
# Copies a build output into place by rename, so a running worker or a
# loaded extension is never overwritten in place.
PUBLISH := scripts/publish.sh
WORKER := $(OUT)/vgi-worker
EXTENSION := $(OUT)/vgi.duckdb_extension
DUCKDB_DIR := $(VGI_CACHE_DIR)/duckdb/v$(DUCKDB_VERSION)
# DuckDB's own CMake build of the release, configured in this clone against
# the cached library (PREBUILT_BINARY): it takes vgi (and the example) in
# through extension_config.cmake and writes their footers.
CMAKE_BUILD := $(OUT)/cmake
CMAKE := $(VGI_CACHE_DIR)/tools-venv/bin/cmake
PY = $(shell scripts/setup-venv.sh $(DUCKDB_VERSION))

# lint: rustfmt and clippy (every target, warnings are errors) on every crate
# of the workspace; .ci/run runs it. The C++ shim compiles with -Wall -Wextra
# -Werror in every build (crates/vgi-duckdb/build.rs).
.PHONY: all release test-build duckdb configure venv demo test lint test-unit test-sql test-python test-cli install clean print-releases example test-examples bench bench-remote

all: release

duckdb:
	scripts/build-duckdb.sh $(DUCKDB_VERSION)

configure: duckdb
	scripts/configure-extensions.sh $(DUCKDB_VERSION) $(CMAKE_BUILD)

release: configure
	$(CMAKE) --build $(CMAKE_BUILD) --target vgi_loadable_extension
	$(CARGO) build --release -p vgi-worker $(CARGO_FLAGS)
	mkdir -p $(OUT)
	$(PUBLISH) $(CMAKE_BUILD)/extension/vgi/vgi.duckdb_extension $(EXTENSION)
	$(PUBLISH) $(CARGO_TARGET_DIR)/release/vgi-worker $(WORKER)

# The tests' build: the same extension and worker with the test fixtures
# (crates/vgi-fixtures: slow_phase, crash_on_combine, ...), which the
# shipped build leaves out: the packages vgi-test-extension (libvgi_test.so)
# and vgi-test-worker, published under the shipped names in $(OUT)/test/.
TEST_OUT := $(OUT)/test
TEST_EXTENSION := $(TEST_OUT)/vgi.duckdb_extension

test-build: configure
	$(CMAKE) --build $(CMAKE_BUILD) --target vgi_test_loadable_extension
	$(CARGO) build --release -p vgi-test-worker $(CARGO_FLAGS)
	mkdir -p $(TEST_OUT)
	$(PUBLISH) $(CMAKE_BUILD)/extension/vgi-test/vgi.duckdb_extension $(TEST_EXTENSION)
	$(PUBLISH) $(CARGO_TARGET_DIR)/release/vgi-test-worker $(TEST_OUT)/vgi-worker

venv:
	scripts/setup-venv.sh $(DUCKDB_VERSION) >/dev/null

demo: release venv
	$(PY) scripts/demo.py --duckdb-version $(DUCKDB_VERSION) $(EXTENSION)

test: test-unit test-sql test-python test-cli test-examples

# Every crate's unit tests and the wire tests (crates/vgi-test-worker/tests),
# the example's apart (test-examples): cargo unifies the features of the
# packages one command builds, and the example takes vgi-duckdb without its
# `subprocess` feature, as the example's own build does.
EXAMPLE_PACKAGE := topk

# Then the store on object storage (crates/vgi/tests/object_store.rs), with
# the `object-store` feature, against moto's S3 server from the tools venv
# (scripts/setup-tools.sh), which the tests start on a free 127.0.0.1 port.
# test/s3-server is moto with S3's atomic conditional writes (moto alone
# checks If-None-Match, then writes: two racing creates can both succeed).
MOTO_SERVER := $(CURDIR)/test/s3-server

test-unit: duckdb
	$(CARGO) test --release --workspace --exclude $(EXAMPLE_PACKAGE) $(CARGO_FLAGS)
	scripts/setup-tools.sh >/dev/null
	VGI_MOTO_SERVER=$(MOTO_SERVER) $(CARGO) test --release -p vgi --features object-store $(CARGO_FLAGS)
	VGI_MOTO_SERVER=$(MOTO_SERVER) $(CARGO) test --release -p vgi-test-worker --test http $(CARGO_FLAGS)

# The store lives under TMPDIR; a private one lets the tests check that no
# state is left behind (`require-env TMPDIR` in a test file).
TEST_TMPDIR := $(CURDIR)/$(OUT)/test-tmp

# The runner checks itself first (test/runner-selftest: files that must
# pass, fail or skip); then test/shipped/ checks the shipped build, and the
# whole suite runs three times with the tests' build: functions in DuckDB's
# process, in a pool of vgi-worker processes, and in HTTP workers with the
# state on moto (test/remote_workers.py starts moto and the workers on
# 127.0.0.1, adds the remote --settings and VGI_TEST_EXECUTION=remote, for
# `skip-env VGI_TEST_EXECUTION=remote why` in files that cannot hold there,
# and fails if the bucket holds anything afterwards). Every request of that
# pass goes through moto (20-35 ms each), so it takes minutes: it runs for
# the first release only; s3_secret.test (the release-specific C++) runs in
# the other passes of every release, test_remote.py in test-python.
REMOTE_WORKERS := 2
REMOTE_SQL_RELEASE := $(firstword $(DUCKDB_RELEASES))

test-sql: release test-build venv
	$(PY) test/sqllogictest.py --selftest
	rm -rf $(TEST_TMPDIR) && mkdir -p $(TEST_TMPDIR)
	TMPDIR=$(TEST_TMPDIR) $(PY) test/sqllogictest.py --extension $(EXTENSION) test/shipped
	TMPDIR=$(TEST_TMPDIR) $(PY) test/sqllogictest.py --extension $(TEST_EXTENSION) test/sql
	rm -rf $(TEST_TMPDIR) && mkdir -p $(TEST_TMPDIR)
	TMPDIR=$(TEST_TMPDIR) $(PY) test/sqllogictest.py --extension $(TEST_EXTENSION) \
		--setting "vgi_execution='subprocess'" test/sql
ifeq ($(DUCKDB_VERSION),$(REMOTE_SQL_RELEASE))
	scripts/setup-tools.sh >/dev/null
	rm -rf $(TEST_TMPDIR) && mkdir -p $(TEST_TMPDIR)
	TMPDIR=$(TEST_TMPDIR) $(PY) test/remote_workers.py --worker $(TEST_OUT)/vgi-worker --workers $(REMOTE_WORKERS) \
		--moto-server $(MOTO_SERVER) -- $(PY) test/sqllogictest.py --extension $(TEST_EXTENSION) test/sql
else
	@echo "test-sql: the remote pass of test/sql runs for DuckDB $(REMOTE_SQL_RELEASE) only (Makefile, REMOTE_SQL_RELEASE)"
endif

# Interrupts, progress, orphaned state, injected faults in both execution
# modes, out-of-core runs and worker faults need a second thread or process,
# so Python (pytest, test/python/conftest.py) rather than sqllogictest. Each
# test gets a private, empty TMPDIR below this one and must leave its store
# empty. Checks that need root (mounting a tmpfs for the full disk) skip as
# another user, with one line (-rs) naming the missing privilege; an xfail,
# should one be added for a known bug, prints its reason (-rx).
# test_release.py checks the shipped build, the others use the tests' build;
# test_remote.py starts moto ($(MOTO_SERVER), from scripts/setup-tools.sh).
test-python: release test-build venv
	scripts/setup-tools.sh >/dev/null
	rm -rf $(TEST_TMPDIR)-python && mkdir -p $(TEST_TMPDIR)-python
	TMPDIR=$(TEST_TMPDIR)-python $(PY) -m pytest -rsx -q test/python --extension $(TEST_EXTENSION) \
		--shipped-extension $(EXTENSION) --duckdb-version $(DUCKDB_VERSION) --releases "$(DUCKDB_RELEASES)" \
		--moto-server $(MOTO_SERVER)

# `LOAD vgi;` by bare name in the DuckDB CLI of the release, after the same
# install step as `make install` (into a private extension directory); skips
# with one line saying why when no CLI of the release can be had.
test-cli: release venv
	rm -rf $(TEST_TMPDIR)-cli && mkdir -p $(TEST_TMPDIR)-cli
	TMPDIR=$(TEST_TMPDIR)-cli $(PY) test/cli/test_cli.py --duckdb-version $(DUCKDB_VERSION) $(EXTENSION)

# The example extension (examples/topk): a workspace member on top of the
# SDK and the bridge crates, taken in by DuckDB's CMake build through
# extension_config.cmake like vgi.
EXAMPLE_EXTENSION := $(OUT)/topk.duckdb_extension

example: configure
	$(CMAKE) --build $(CMAKE_BUILD) --target topk_loadable_extension
	mkdir -p $(OUT)
	$(PUBLISH) $(CMAKE_BUILD)/extension/topk/topk.duckdb_extension $(EXAMPLE_EXTENSION)

# The example's unit tests, then test/examples/*.test with `require vgi`
# loading the topk extension (the vgi extension is built too: a test loads
# both into one database).
test-examples: example release venv
	$(CARGO) test --release -p $(EXAMPLE_PACKAGE) $(CARGO_FLAGS)
	rm -rf $(TEST_TMPDIR)-examples && mkdir -p $(TEST_TMPDIR)-examples
	TMPDIR=$(TEST_TMPDIR)-examples VGI_MAIN_EXTENSION=$(CURDIR)/$(EXTENSION) \
		$(PY) test/sqllogictest.py --extension $(EXAMPLE_EXTENSION) test/examples

# vgi vs native DuckDB, 1M and 10M rows, 1 and 2 threads (about 2.5 minutes on
# two cores; options: BENCH_ARGS="--quick", or --rows, --repeat, --threads),
# then remote execution (bench-remote).
bench: release test-build venv
	$(PY) bench/bench.py --extension $(EXTENSION) $(BENCH_ARGS)
	scripts/setup-tools.sh >/dev/null
	$(BENCH_REMOTE)

# Remote execution (bench/remote.py): moto and 3 HTTP workers on 127.0.0.1,
# 1M rows, 3 threads, 1, 2 and 3 workers, with the tests' build for its
# busy_per_batch fixture (about 3 minutes); options: BENCH_REMOTE_ARGS.
BENCH_REMOTE = $(PY) bench/remote.py --extension $(TEST_EXTENSION) --moto-server $(MOTO_SERVER) $(BENCH_REMOTE_ARGS)
bench-remote: test-build venv
	scripts/setup-tools.sh >/dev/null
	$(BENCH_REMOTE)

install: release venv
	$(PY) scripts/install.py $(EXTENSION)

# Clippy in two runs like the tests: the example's (vgi-duckdb without
# `subprocess`, so the bridge's in-process stand-in is linted too) apart.
lint: duckdb
	$(CARGO) fmt --all --check
	$(CARGO) clippy --release --workspace --exclude $(EXAMPLE_PACKAGE) --all-targets $(CARGO_FLAGS) -- -D warnings
	$(CARGO) clippy --release -p $(EXAMPLE_PACKAGE) --all-targets $(CARGO_FLAGS) -- -D warnings
	$(CARGO) clippy --release -p vgi --features object-store --all-targets $(CARGO_FLAGS) -- -D warnings
	$(CARGO) clippy --release -p vgi --features http --all-targets $(CARGO_FLAGS) -- -D warnings

print-releases:
	@echo $(DUCKDB_RELEASES)

clean:
	rm -rf build
