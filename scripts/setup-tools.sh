#!/usr/bin/env bash
# Create (once per machine) the venv of build and test tools from PyPI:
#   $VGI_CACHE_DIR/tools-venv  with cmake, and moto's S3 server (bin/moto_server)
#                              for the object-store tests
# A changed requirement list reinstalls; an unchanged one returns at once.
# Prints its python as the last line on stdout; progress goes to stderr.
set -euo pipefail
cache=${VGI_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vgi}
venv=$cache/tools-venv
py=$venv/bin/python
marker=$venv/.vgi-requirements
requirements=("cmake==4.4.5" "moto[server]==5.2.1")
mkdir -p "$cache"
exec 8>"$cache/.lock-tools-venv"
flock 8
if [ -x "$py" ] && [ -f "$marker" ] && [ "$(cat "$marker")" = "${requirements[*]}" ]; then
    echo "$py"
    exit 0
fi
if [ ! -x "$py" ]; then
    echo "vgi: creating the build-tools venv in $venv" >&2
    python3 -m venv "$venv" >&2
fi
"$py" -m pip install --quiet "${requirements[@]}" >&2
echo "${requirements[*]}" > "$marker"
echo "$py"
