#!/usr/bin/env python3
"""INSTALL the extension file with DuckDB's own INSTALL, then check `LOAD vgi;` by name."""
import os
import sys

import duckdb

CONFIG = {"allow_unsigned_extensions": "true"}


def main(extension: str) -> None:
    path = os.path.abspath(extension)
    duckdb.connect(config=CONFIG).execute(f"INSTALL '{path}'")
    con = duckdb.connect(config=CONFIG)
    con.execute("LOAD vgi")
    row = con.execute("SELECT install_path, extension_version FROM duckdb_extensions() "
                      "WHERE extension_name = 'vgi'").fetchone()
    print(f"installed vgi {row[1]} at {row[0]}; `LOAD vgi;` works")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/release/vgi.duckdb_extension")
