#!/usr/bin/env python3
"""INSTALL the extension file with DuckDB's own INSTALL, put vgi-worker beside
the installed file (subprocess execution starts it from there), then check
`LOAD vgi;` by name and one query in each execution mode."""
import os
import shutil
import sys

import duckdb

CONFIG = {"allow_unsigned_extensions": "true"}


def main(extension: str) -> None:
    path = os.path.abspath(extension)
    duckdb.connect(config=CONFIG).execute(f"FORCE INSTALL '{path}'")  # FORCE: replace an older install
    con = duckdb.connect(config=CONFIG)
    con.execute("LOAD vgi")
    row = con.execute("SELECT install_path, extension_version FROM duckdb_extensions() "
                      "WHERE extension_name = 'vgi'").fetchone()
    worker = os.path.join(os.path.dirname(path), "vgi-worker")
    shutil.copy2(worker, os.path.join(os.path.dirname(row[0]), "vgi-worker"))
    for mode in ("in_process", "subprocess"):
        con.execute(f"SET vgi_execution = '{mode}'")
        got = con.execute("SELECT count(*) FROM buffer_input((SELECT * FROM range(1000)))").fetchone()[0]
        assert got == 1000, (mode, got)
    print(f"installed vgi {row[1]} at {row[0]} with vgi-worker beside it; `LOAD vgi;` works in both modes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/release/vgi.duckdb_extension")
