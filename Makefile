# vgi: build the DuckDB extension, run the demo, the tests and the benchmarks.
#
#   make          build build/release/vgi.duckdb_extension
#   make demo     build, then run a demo query in the stock duckdb==2.0.0 wheel
#   make test     Rust unit tests + every test/sql/*.test through DuckDB 2.0.0
#   make install  INSTALL the extension so that `LOAD vgi;` finds it by name
#
# DuckDB is compiled from source once per machine (about 40 minutes on two
# cores) into $(VGI_CACHE_DIR); later builds, and other clones, reuse it.

VGI_CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/vgi
CARGO_TARGET_DIR ?= $(VGI_CACHE_DIR)/target
export VGI_CACHE_DIR CARGO_TARGET_DIR

CARGO ?= cargo
EXT_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
EXTENSION := build/release/vgi.duckdb_extension
PY = $(shell scripts/setup-venv.sh)

.PHONY: all release duckdb venv demo test test-unit test-sql install clean

all: release

duckdb:
	scripts/build-duckdb.sh

release: duckdb
	$(CARGO) build --release --lib --locked
	mkdir -p build/release
	python3 scripts/append-footer.py $(CARGO_TARGET_DIR)/release/libvgi.so $(EXTENSION) \
		--extension-version v$(EXT_VERSION)

venv:
	scripts/setup-venv.sh >/dev/null

demo: release venv
	$(PY) scripts/demo.py $(EXTENSION)

test: test-unit test-sql

test-unit: duckdb
	$(CARGO) test --release --locked

# The store lives under TMPDIR; a private one lets the tests check that no
# state is left behind (`require-env TMPDIR` in a test file).
TEST_TMPDIR := $(CURDIR)/build/test-tmp

test-sql: release venv
	rm -rf $(TEST_TMPDIR) && mkdir -p $(TEST_TMPDIR)
	TMPDIR=$(TEST_TMPDIR) $(PY) test/sqllogictest.py --extension $(EXTENSION) test/sql

install: release venv
	$(PY) scripts/install.py $(EXTENSION)

clean:
	rm -rf build
	$(CARGO) clean
