#!/usr/bin/env bash
# Compile DuckDB v2.0.0 (static, release) once per machine and install its
# library and headers into the cache that build.rs links against:
#   $VGI_CACHE_DIR/duckdb-v2.0.0/{lib/libduckdb.a,include/...}
# A second run finds the cache and returns at once.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${VGI_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vgi}
dest=$cache/duckdb-v2.0.0
if [ -f "$dest/READY" ]; then
    exit 0
fi
mkdir -p "$cache"
echo "vgi: compiling DuckDB v2.0.0 from source (about 40 minutes on 2 cores, once per machine)" >&2
target=$cache/duckdb-build-target
cargo build --release --locked \
    --manifest-path "$here/tools/duckdb-build/Cargo.toml" \
    --target-dir "$target"
out=$(ls -d "$target"/release/build/libduckdb-sys-*/out 2>/dev/null | while read -r d; do
    [ -f "$d/libduckdb.a" ] && echo "$d"; done | head -n 1)
if [ -z "$out" ]; then
    echo "vgi: libduckdb.a not found under $target" >&2
    exit 1
fi
# Headers come from the same source archive the library was compiled from.
crate_dir=$(cargo metadata --locked --format-version 1 \
    --manifest-path "$here/tools/duckdb-build/Cargo.toml" |
    python3 -c 'import json, os, sys
m = json.load(sys.stdin)
print(next(os.path.dirname(p["manifest_path"]) for p in m["packages"] if p["name"] == "libduckdb-sys"))')
tmp=$(mktemp -d "$cache/duckdb-v2.0.0.XXXXXX")
mkdir -p "$tmp/lib" "$tmp/include"
cp "$out/libduckdb.a" "$tmp/lib/"
tar xzf "$crate_dir/duckdb.tar.gz" -C "$tmp/include" --strip-components=1 \
    --wildcards 'duckdb/src/include/*' 'duckdb/third_party/*.h' 'duckdb/third_party/*.hpp'
rm -rf "$dest"
mv "$tmp" "$dest"
touch "$dest/READY"
echo "vgi: DuckDB installed in $dest" >&2
