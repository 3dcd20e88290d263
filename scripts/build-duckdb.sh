#!/usr/bin/env bash
# Compile one DuckDB release (static, Release, NDEBUG) once per machine from
# the source distribution of that release on PyPI, the way its wheel is
# compiled (the release's version and commit passed in), and install it into
# the cache that build.rs links against:
#
#   $VGI_CACHE_DIR/duckdb/vX.Y.Z/
#       READY            written last: the install is whole
#       lib/libduckdb.a  DuckDB and its bundled third-party libraries
#       include/         src/include and third_party/<lib> headers
#       source/          the release's CMake tree (external/duckdb of the
#                        sdist): extension_build_tools.cmake,
#                        scripts/append_metadata.cmake, ...
#
#   usage: scripts/build-duckdb.sh 2.0.1
#
# A second run finds READY and returns at once. Nothing of the project is an
# input here, so no change to the project can make DuckDB compile again.
set -euo pipefail
# DuckDB's CMake takes its version from $DUCKDB_VERSION before
# OVERRIDE_GIT_DESCRIBE, and `make DUCKDB_VERSION=2.0.0` exports that variable
# without the "v": never let it reach CMake.
unset DUCKDB_VERSION
version=${1:?usage: build-duckdb.sh VERSION (e.g. 2.0.1)}
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${VGI_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vgi}
dest=$cache/duckdb/v$version
if [ -f "$dest/READY" ]; then
    exit 0
fi
mkdir -p "$cache/duckdb"
exec 9>"$cache/duckdb/.lock-v$version"
flock 9
if [ -f "$dest/READY" ]; then
    exit 0
fi

tools_py=$("$here/scripts/setup-tools.sh")
tools_bin=$(dirname "$tools_py")
work=$cache/duckdb/work-v$version
mkdir -p "$work"

echo "vgi: compiling DuckDB v$version from its PyPI source distribution (about 15 minutes on 2 cores, once per machine)" >&2
sdist=$("$tools_py" "$here/scripts/fetch-sdist.py" "duckdb==$version" "$work")
rm -rf "$work/src"
mkdir -p "$work/src"
tar xzf "$sdist" -C "$work/src" --strip-components=1
tree=$work/src/external/duckdb
# The release and commit the wheel of this release was compiled with.
read -r describe commit < <("$tools_py" -c 'import json, sys
info = json.load(open(sys.argv[1]))
print(info["duckdb_version"], info["duckdb_commit"])' "$work/src/duckdb_packaging/build_info.json")
if [ "$describe" != "v$version" ] || [ -z "$commit" ]; then
    echo "vgi: $sdist describes DuckDB '$describe' (commit '$commit'), not v$version" >&2
    exit 1
fi

build=$work/build
"$tools_bin/cmake" -S "$tree" -B "$build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHELL=0 -DBUILD_UNITTESTS=0 \
    -DOVERRIDE_GIT_DESCRIBE="$describe" -DGIT_COMMIT_HASH="$commit" \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON >&2
"$tools_bin/cmake" --build "$build" --target duckdb_static -j "$(nproc)" >&2

tmp=$(mktemp -d "$cache/duckdb/v$version.XXXXXX")
mkdir -p "$tmp/lib" "$tmp/include"
# One archive: DuckDB plus every bundled third-party library it needs
# (jemalloc stays out: the host process owns the allocator).
{
    echo "create $tmp/lib/libduckdb.a"
    echo "addlib $build/src/libduckdb_static.a"
    find "$build/third_party" -name '*.a' ! -path '*jemalloc*' | sort | sed 's/^/addlib /'
    echo "save"
    echo "end"
} | ar -M
ranlib "$tmp/lib/libduckdb.a"
cp -r "$tree/src/include" "$tmp/include/src-include"
mkdir -p "$tmp/include/src"
mv "$tmp/include/src-include" "$tmp/include/src/include"
mkdir -p "$tmp/include/third_party"
(cd "$tree/third_party" && find . \( -name '*.h' -o -name '*.hpp' \) -print0 |
    tar cf - --null -T -) | tar xf - -C "$tmp/include/third_party"
mv "$work/src/external/duckdb" "$tmp/source"
rm -rf "$dest"
mv "$tmp" "$dest"
rm -rf "$work"
echo "v$version" > "$dest/READY"
echo "vgi: DuckDB v$version installed in $dest" >&2
