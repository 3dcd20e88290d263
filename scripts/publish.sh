#!/usr/bin/env bash
# publish.sh SOURCE DEST: copy SOURCE to DEST by renaming a copy beside it, so
# that a process running DEST (a vgi-worker) or having it loaded (a DuckDB
# with the extension) keeps its file, and DEST is never seen half-written.
set -euo pipefail
src=${1:?usage: publish.sh SOURCE DEST}
dest=${2:?usage: publish.sh SOURCE DEST}
mkdir -p "$(dirname "$dest")"
cp "$src" "$dest.tmp.$$"
mv -f "$dest.tmp.$$" "$dest"
