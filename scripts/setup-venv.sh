#!/usr/bin/env bash
# Create (once per machine) the Python venv that runs the sqllogictest suite
# through the stock DuckDB Python wheel:
#   $VGI_CACHE_DIR/venv  with duckdb==2.0.0 and pyarrow
# Prints the venv's python as the last line on stdout, so a Makefile can do
#   PY := $(shell scripts/setup-venv.sh)
# Progress goes to stderr. A marker file records the installed requirement set;
# a re-run with the same set returns at once.
set -euo pipefail
cache=${VGI_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vgi}
venv=$cache/venv
py=$venv/bin/python
marker=$venv/.vgi-requirements
requirements="duckdb==2.0.0 pyarrow"

if [ -x "$py" ] && [ -f "$marker" ] && [ "$(cat "$marker")" = "$requirements" ]; then
    echo "$py"
    exit 0
fi

mkdir -p "$cache"
if [ ! -x "$py" ]; then
    echo "vgi: creating Python venv in $venv" >&2
    python3 -m venv "$venv" >&2
fi
echo "vgi: installing $requirements into $venv" >&2
rm -f "$marker"
# shellcheck disable=SC2086 # the requirement list is split on purpose
"$py" -m pip install --quiet --upgrade $requirements >&2

version=$("$py" -c 'import duckdb; print(duckdb.sql("PRAGMA version").fetchall()[0][0])')
if [ "$version" != "v2.0.0" ]; then
    echo "vgi: expected DuckDB v2.0.0 in $venv, got $version" >&2
    exit 1
fi
echo "$requirements" > "$marker"
echo "vgi: venv ready (DuckDB $version)" >&2
echo "$py"
