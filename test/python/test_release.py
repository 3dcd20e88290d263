"""The extension file is for exactly one DuckDB release: its footer (written
by DuckDB's own append_metadata.cmake) names that release, the platform, the
CPP ABI and vgi's version; the release's wheel loads it, and the wheel of
every other release this project builds for refuses it with DuckDB's own
version message.

    python test_release.py --duckdb-version 2.0.1 --releases "2.0.1 2.0.0" build/v2.0.1/vgi.duckdb_extension
"""
import argparse
import os
import re
import subprocess
import sys

import duckdb

from harness import run_checks

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def footer_fields(path):
    """The eight 32-byte metadata fields, field 0 first."""
    with open(path, "rb") as f:
        f.seek(-512, os.SEEK_END)
        tail = f.read(512)
    raw = tail[:256]
    fields = [raw[i * 32:(i + 1) * 32].rstrip(b"\0").decode() for i in range(8)]
    return list(reversed(fields))


def cargo_version():
    with open(os.path.join(ROOT, "Cargo.toml")) as f:
        return re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--duckdb-version", required=True)
    parser.add_argument("--releases", required=True, help="every release the project builds for")
    parser.add_argument("extension")
    args = parser.parse_args()
    extension = os.path.abspath(args.extension)
    this = f"v{args.duckdb_version}"

    def footer():
        fields = footer_fields(extension)
        assert fields[:5] == ["4", "linux_amd64", this, f"v{cargo_version()}", "CPP"], fields
        assert fields[5:] == ["", "", ""], fields

    def loads_in_its_release():
        assert duckdb.__version__ == args.duckdb_version, duckdb.__version__
        con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
        con.execute(f"LOAD '{extension}'")
        row = con.execute("SELECT loaded, extension_version FROM duckdb_extensions() "
                          "WHERE extension_name = 'vgi'").fetchone()
        assert row == (True, f"v{cargo_version()}"), row
        assert con.execute("SELECT count(*) FROM buffer_input((FROM range(5000)))").fetchone() == (5000,)

    checks = [("footer names the release, platform, version and ABI", footer),
              (f"loads in duckdb=={args.duckdb_version}", loads_in_its_release)]
    for other in args.releases.split():
        if other == args.duckdb_version:
            continue

        def refused(other=other):
            py = subprocess.run([os.path.join(ROOT, "scripts", "setup-venv.sh"), other], check=True,
                                capture_output=True, text=True).stdout.strip().splitlines()[-1]
            code = ("import duckdb\n"
                    "con = duckdb.connect(config={'allow_unsigned_extensions': 'true'})\n"
                    f"con.execute(\"LOAD '{extension}'\")\n")
            run = subprocess.run([py, "-c", code], capture_output=True, text=True, timeout=120)
            assert run.returncode != 0, f"duckdb=={other} loaded a file built for {this}"
            want = (f"The file was built specifically for DuckDB version '{this}' and can only be loaded "
                    f"with that version of DuckDB. (this version of DuckDB is 'v{other}')")
            assert want in run.stderr, run.stderr
        checks.append((f"refused by duckdb=={other} with DuckDB's version message", refused))
    run_checks(checks)


if __name__ == "__main__":
    sys.exit(main())
