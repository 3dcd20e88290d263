#!/usr/bin/env python3
"""Run buffering functions in DuckDB's process and in vgi-worker processes,
in the DuckDB CLI of the release the extension was built for when one can be
had (scripts/setup-cli.sh), else in that release's Python wheel.

    python demo.py --duckdb-version 2.0.1 build/v2.0.1/vgi.duckdb_extension
"""
import argparse
import os
import subprocess
import sys

import duckdb

HERE = os.path.dirname(os.path.abspath(__file__))

SETUP = ("CREATE TABLE t AS SELECT i AS a, i * 2 AS b, i / 4 AS c, 'row ' || i AS s "
         "FROM range(1, 100001) r(i);")
QUERIES = [
    "SELECT version() AS duckdb, extension_version AS vgi FROM duckdb_extensions() WHERE extension_name = 'vgi';",
    "SELECT * FROM sum_all_columns((SELECT * FROM t));",
    "SELECT count(*), sum(a), min(s), max(s) FROM buffer_input((SELECT * FROM t));",
    # The same functions, run by a pool of vgi-worker processes.
    "SET vgi_execution = 'subprocess';",
    "SELECT count(*), sum(a), min(s), max(s) FROM buffer_input((SELECT * FROM t));",
    "RESET vgi_execution;",
    "SELECT function_name, description FROM duckdb_functions() "
    "WHERE function_name IN ('buffer_input', 'sum_all_columns') ORDER BY 1;",
]


def find_cli(version: str) -> tuple[str | None, str]:
    """The CLI of the release, or None and why not."""
    run = subprocess.run([os.path.join(HERE, "setup-cli.sh"), version], capture_output=True, text=True)
    if run.returncode == 0:
        return run.stdout.strip().splitlines()[-1], ""
    reason = run.stderr.strip().splitlines()[-1] if run.stderr.strip() else f"setup-cli.sh exited {run.returncode}"
    return None, reason


def in_cli(cli: str, extension: str) -> None:
    script = "\n".join([f"LOAD '{extension}';", SETUP] + [f".print {q}\n{q}" for q in QUERIES])
    subprocess.run([cli, "-unsigned"], input=script, text=True, check=True)


def in_wheel(extension: str) -> None:
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{extension}'")
    con.execute(SETUP)
    for query in QUERIES:
        print(query)
        result = con.sql(query)
        if result is not None:
            print(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duckdb-version", required=True, help="the DuckDB release the extension was built for")
    parser.add_argument("extension")
    args = parser.parse_args()
    extension = os.path.abspath(args.extension)
    print(f"vgi built for DuckDB v{args.duckdb_version}: {extension}")
    cli, reason = find_cli(args.duckdb_version)
    if cli:
        print(f"running in the DuckDB CLI: {cli} -unsigned")
        in_cli(cli, extension)
    else:
        print(f"no DuckDB CLI of v{args.duckdb_version} ({reason}); running in the duckdb=={duckdb.__version__} wheel")
        in_wheel(extension)


if __name__ == "__main__":
    sys.exit(main())
