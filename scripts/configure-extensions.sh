#!/usr/bin/env bash
# Configure DuckDB's own CMake build of one release in this clone, against
# the library scripts/build-duckdb.sh compiled (PREBUILT_BINARY, so nothing of
# DuckDB compiles again), taking in this repository's extensions through
# extension_config.cmake. Then
#   cmake --build BUILD_DIR --target vgi_loadable_extension
# builds build/.../extension/vgi/vgi.duckdb_extension with cargo and DuckDB's
# footer (the Makefile's `release` and `example` do this).
#
#   usage: scripts/configure-extensions.sh VERSION BUILD_DIR
#
# Reads CARGO_TARGET_DIR (the one target directory of the cargo workspace,
# for every extension) and VGI_CACHE_DIR from the environment, as the
# Makefile exports them. A configured BUILD_DIR is kept:
# CMake re-runs its configure step by itself when a CMake file changes.
set -euo pipefail
# DuckDB's CMake takes its version from $DUCKDB_VERSION before
# OVERRIDE_GIT_DESCRIBE, and `make DUCKDB_VERSION=2.0.0` exports that variable
# without the "v": never let it reach CMake.
unset DUCKDB_VERSION
version=${1:?usage: configure-extensions.sh VERSION BUILD_DIR}
build=${2:?usage: configure-extensions.sh VERSION BUILD_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${VGI_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vgi}
duckdb=$cache/duckdb/v$version
target=${CARGO_TARGET_DIR:-$cache/target-v$version}
if [ ! -f "$duckdb/READY" ]; then
    echo "vgi: DuckDB v$version is not built: run scripts/build-duckdb.sh $version" >&2
    exit 1
fi
if [ -f "$build/CMakeCache.txt" ] && grep -qx "VGI_CARGO_TARGET_DIR:PATH=$target" "$build/CMakeCache.txt"; then
    exit 0
fi
tools_py=$("$here/scripts/setup-tools.sh")
rm -rf "$build"
mkdir -p "$build"
"$(dirname "$tools_py")/cmake" -S "$duckdb/source" -B "$build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHELL=0 -DBUILD_UNITTESTS=0 \
    -DOVERRIDE_GIT_DESCRIBE="v$version" \
    -DPREBUILT_BINARY="$duckdb/lib/libduckdb.a" \
    -DDUCKDB_EXTENSION_CONFIGS="$here/extension_config.cmake" \
    -DVGI_CARGO="$(command -v cargo)" \
    -DVGI_CARGO_TARGET_DIR="$target" > "$build/configure.log" 2>&1 || {
    cat "$build/configure.log" >&2
    echo "vgi: configuring DuckDB's CMake build in $build failed (log above)" >&2
    exit 1
}
