#!/usr/bin/env python3
"""`LOAD vgi;` by bare name in the DuckDB CLI of the release the extension was
built for, after the install step of `make install` (scripts/install.py, into
a private extension directory), in both execution modes; each result is
checked against the same query in native SQL, in the same CLI.

    python test_cli.py --duckdb-version 2.0.0 build/v2.0.0/vgi.duckdb_extension

The CLI comes from VGI_DUCKDB_CLI or scripts/setup-cli.sh. When no CLI of the
release can be had, it prints one line saying that the CLI test was skipped
and why, and exits 0.
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from install import install  # noqa: E402

DATA = ("CREATE TABLE t AS SELECT i AS a, i % 7 AS b, (i * 0.5)::DOUBLE AS c, 'row ' || i AS s "
        "FROM range(1, 200001) r(i);")
# (vgi query, the native query that must give the same rows)
CASES = [
    ("SELECT * FROM sum_all_columns((SELECT * FROM t));",
     "SELECT sum(a)::BIGINT AS a, sum(b)::BIGINT AS b, sum(c)::DOUBLE AS c FROM t;"),
    ("SELECT count(*), sum(a), min(s), max(s), sum(c) FROM buffer_input((SELECT * FROM t WHERE b <> 3));",
     "SELECT count(*), sum(a), min(s), max(s), sum(c) FROM t WHERE b <> 3;"),
]


def run_checks(checks):
    """Run `checks`, a list of (name, function); a check fails by raising.
    Reports each, then exits non-zero if any failed."""
    failures = 0
    for name, check in checks:
        try:
            check()
            print(f"ok    {name}")
        except Exception as e:  # noqa: BLE001 - report every failing check, then go on
            failures += 1
            print(f"FAIL  {name}: {e}")
    print(f"{len(checks) - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


def find_cli(version):
    run = subprocess.run([os.path.join(ROOT, "scripts", "setup-cli.sh"), version], capture_output=True, text=True)
    if run.returncode == 0:
        return run.stdout.strip().splitlines()[-1], ""
    lines = run.stderr.strip().splitlines()
    return None, lines[-1] if lines else f"setup-cli.sh exited {run.returncode}"


def cli_rows(cli, extension_directory, sql):
    """The CSV rows the CLI prints for `sql`, run after `LOAD vgi;` by name."""
    script = f"SET extension_directories = ['{extension_directory}'];\nLOAD vgi;\n{DATA}\n{sql}\n"
    run = subprocess.run([cli, "-unsigned", "-csv", "-noheader", "-bail"], input=script,
                         capture_output=True, text=True, timeout=300)
    if run.returncode != 0 or run.stderr.strip():
        raise AssertionError(f"the CLI failed ({run.returncode}): {run.stderr.strip()}\nscript:\n{script}")
    return run.stdout.strip().splitlines()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duckdb-version", required=True)
    parser.add_argument("extension")
    args = parser.parse_args()
    cli, reason = find_cli(args.duckdb_version)
    if cli is None:
        print(f"SKIPPED the CLI test: no DuckDB CLI of v{args.duckdb_version} here ({reason})")
        return
    print(f"CLI: {cli}")
    extensions = tempfile.mkdtemp(prefix="vgi-cli-extensions-")
    install(args.extension, extensions)
    checks = []

    def loads_by_name():
        rows = cli_rows(cli, extensions, "SELECT extension_name, loaded, install_path LIKE '"
                        f"{extensions}/%' FROM duckdb_extensions() WHERE extension_name = 'vgi';")
        assert rows == ["vgi,true,true"], rows
        version = cli_rows(cli, extensions, "SELECT library_version FROM pragma_version();")
        assert version == [f"v{args.duckdb_version}"], version

    checks.append(("LOAD vgi by name in the CLI", loads_by_name))
    for mode in ("in_process", "subprocess"):
        for vgi_sql, native_sql in CASES:
            def check(mode=mode, vgi_sql=vgi_sql, native_sql=native_sql):
                got = cli_rows(cli, extensions, f"SET vgi_execution = '{mode}';\n{vgi_sql}")
                want = cli_rows(cli, extensions, native_sql)
                assert got == want and got, f"{vgi_sql}: {got} != native {want}"
            checks.append((f"{mode}: {vgi_sql}", check))
    run_checks(checks)


if __name__ == "__main__":
    main()
