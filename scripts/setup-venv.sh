#!/usr/bin/env bash
# Create (once per machine and DuckDB release) the Python venv that runs the
# tests through the stock DuckDB Python wheel of that release:
#   $VGI_CACHE_DIR/venv-vX.Y.Z  with duckdb==X.Y.Z, pyarrow, pytest and numpy
#   (numpy for the Python UDFs some tests define)
#
#   usage: scripts/setup-venv.sh 2.0.1
#
# Prints the venv's python as the last line on stdout, so a Makefile can do
#   PY := $(shell scripts/setup-venv.sh $(DUCKDB_VERSION))
# Progress goes to stderr. A marker file records the installed requirement set;
# a re-run with the same set returns at once.
set -euo pipefail
version=${1:?usage: setup-venv.sh VERSION}
cache=${VGI_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vgi}
venv=$cache/venv-v$version
py=$venv/bin/python
marker=$venv/.vgi-requirements
requirements="duckdb==$version pyarrow pytest numpy"

if [ -x "$py" ] && [ -f "$marker" ] && [ "$(cat "$marker")" = "$requirements" ]; then
    echo "$py"
    exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.lock-venv-v$version"
flock 9
if [ ! -x "$py" ]; then
    echo "vgi: creating Python venv in $venv" >&2
    python3 -m venv "$venv" >&2
fi
echo "vgi: installing $requirements into $venv" >&2
rm -f "$marker"
# shellcheck disable=SC2086 # the requirement list is split on purpose
"$py" -m pip install --quiet --upgrade $requirements >&2

got=$("$py" -c 'import duckdb; print(duckdb.sql("PRAGMA version").fetchall()[0][0])')
if [ "$got" != "v$version" ]; then
    echo "vgi: expected DuckDB v$version in $venv, got $got" >&2
    exit 1
fi
echo "$requirements" > "$marker"
echo "vgi: venv ready (DuckDB $got)" >&2
echo "$py"
