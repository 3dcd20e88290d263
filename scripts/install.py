#!/usr/bin/env python3
"""INSTALL the extension file with DuckDB's own INSTALL, put vgi-worker beside
the installed file (subprocess execution starts it from there), then check
`LOAD vgi;` by name and one query in each execution mode.

    python install.py [--extension-directory DIR] build/v2.0.1/vgi.duckdb_extension

DuckDB installs into its extension directory (~/.duckdb/extensions by
default, or DIR), in the folder of its release and platform, where every
DuckDB host of that release (CLI, Python, ...) finds `LOAD vgi;`.
"""
import argparse
import os
import shutil

import duckdb


def install(extension: str, extension_directory: str | None = None) -> str:
    """Install and check; returns the installed file's path."""
    config = {"allow_unsigned_extensions": "true"}
    if extension_directory:
        config["extension_directory"] = os.path.abspath(extension_directory)
    path = os.path.abspath(extension)
    duckdb.connect(config=config).execute(f"FORCE INSTALL '{path}'")  # FORCE: replace an older install
    con = duckdb.connect(config=config)
    con.execute("LOAD vgi")
    installed, version = con.execute(
        "SELECT install_path, extension_version FROM duckdb_extensions() WHERE extension_name = 'vgi'").fetchone()
    worker = os.path.join(os.path.dirname(path), "vgi-worker")
    shutil.copy2(worker, os.path.join(os.path.dirname(installed), "vgi-worker"))
    for mode in ("in_process", "subprocess"):
        con.execute(f"SET vgi_execution = '{mode}'")
        got = con.execute("SELECT count(*) FROM buffer_input((SELECT * FROM range(1000)))").fetchone()[0]
        assert got == 1000, (mode, got)
    print(f"installed vgi {version} for DuckDB {duckdb.__version__} at {installed} with vgi-worker beside it; "
          "`LOAD vgi;` works in both modes")
    return installed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extension-directory", help="DuckDB's extension_directory (default: DuckDB's own)")
    parser.add_argument("extension")
    args = parser.parse_args()
    install(args.extension, args.extension_directory)
