#!/usr/bin/env bash
# Find or fetch a DuckDB CLI of one release, once per machine:
#
#   scripts/setup-cli.sh 2.0.0      prints the path of a `duckdb` command
#
# 1. VGI_DUCKDB_CLI, when set, names the CLI to use (it must be that release).
# 2. Else Debian's unstable suite: its `duckdb` package (built against a newer
#    glibc than this machine's) is downloaded with apt into a root of its own
#    under $VGI_CACHE_DIR/cli, with every library it needs, and run through
#    that root's own dynamic loader by a small wrapper script.
#
# Exits 3 with one line on stderr saying why when no CLI of that release can
# be had (the suite serves another release, apt cannot reach the archive);
# callers report that as a skip, never as a pass.
set -euo pipefail
version=${1:?usage: setup-cli.sh VERSION}
cache=${VGI_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vgi}

cli_version() {
    "$1" -noheader -list -c "SELECT library_version FROM pragma_version()" 2>/dev/null | head -n 1
}

if [ -n "${VGI_DUCKDB_CLI:-}" ]; then
    got=$(cli_version "$VGI_DUCKDB_CLI" || true)
    if [ "$got" != "v$version" ]; then
        echo "VGI_DUCKDB_CLI=$VGI_DUCKDB_CLI is DuckDB '${got:-unknown}', not v$version" >&2
        exit 3
    fi
    echo "$VGI_DUCKDB_CLI"
    exit 0
fi

dir=$cache/cli/v$version
wrapper=$dir/duckdb
if [ -x "$wrapper" ] && [ "$(cli_version "$wrapper" || true)" = "v$version" ]; then
    echo "$wrapper"
    exit 0
fi
mkdir -p "$cache/cli"
exec 7>"$cache/cli/.lock"
flock 7

# The machine's Debian archive (the first deb URI of its sources), suite sid.
uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
if [ -z "$uri" ]; then
    uri=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
fi
if [ -z "$uri" ]; then
    echo "no Debian archive configured in /etc/apt: cannot fetch a DuckDB CLI" >&2
    exit 3
fi
apt_dir=$cache/cli/apt
mkdir -p "$apt_dir/state/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/etc"
: > "$apt_dir/state/status"
echo "deb $uri sid main" > "$apt_dir/etc/sources.list"
apt_opts=(
    -o "Dir::State=$apt_dir/state"
    -o "Dir::State::status=$apt_dir/state/status"
    -o "Dir::Cache=$apt_dir/cache"
    -o "Dir::Etc::SourceList=$apt_dir/etc/sources.list"
    -o "Dir::Etc::SourceParts=/nonexistent"
    -o "APT::Install-Recommends=false"
    -o "Debug::NoLocking=true"
    -o "APT::Sandbox::User=root"
)
if ! apt-get "${apt_opts[@]}" -qq update >&2; then
    echo "apt could not read the sid suite of $uri: no DuckDB CLI" >&2
    exit 3
fi
candidate=$(apt-cache "${apt_opts[@]}" policy duckdb | sed -n 's/^[[:space:]]*Candidate:[[:space:]]*//p')
case "$candidate" in
    "$version"+* | "$version"-* | "$version") ;;
    *)
        echo "Debian's unstable suite has duckdb '${candidate:-none}', not $version: no CLI of this release" >&2
        exit 3
        ;;
esac
echo "vgi: fetching Debian's duckdb $candidate (the CLI) into $dir" >&2
rm -f "$apt_dir/cache/archives/"*.deb
apt-get "${apt_opts[@]}" -qq -y install --download-only duckdb >&2
tmp=$(mktemp -d "$cache/cli/v$version.XXXXXX")
for deb in "$apt_dir/cache/archives/"*.deb; do
    dpkg-deb -x "$deb" "$tmp/root"
done
lib=$tmp/root/usr/lib/x86_64-linux-gnu
cat > "$tmp/duckdb" <<EOF
#!/bin/sh
# Debian's DuckDB $candidate CLI, run through the dynamic loader of its own root.
root="\$(dirname "\$0")/root"
exec "\$root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \\
    --library-path "\$root/usr/lib/x86_64-linux-gnu" "\$root/usr/bin/duckdb" "\$@"
EOF
chmod +x "$tmp/duckdb"
[ -e "$lib/ld-linux-x86-64.so.2" ] || { echo "no loader in the fetched packages" >&2; exit 3; }
got=$(cli_version "$tmp/duckdb" || true)
if [ "$got" != "v$version" ]; then
    echo "the fetched CLI reports '${got:-nothing}', not v$version" >&2
    rm -rf "$tmp"
    exit 3
fi
rm -rf "$dir"
mv "$tmp" "$dir"
echo "$wrapper"
