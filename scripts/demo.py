#!/usr/bin/env python3
"""Load the vgi extension into the stock duckdb wheel and run buffering functions,
in DuckDB's process and in vgi-worker processes."""
import sys

import duckdb


def main(extension: str) -> None:
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{extension}'")
    print(con.sql("SELECT version() AS duckdb, extension_version AS vgi FROM duckdb_extensions() "
                  "WHERE extension_name = 'vgi'"))
    con.execute("CREATE TABLE t AS SELECT i AS a, i * 2 AS b, i / 4 AS c, 'row ' || i AS s "
                "FROM range(1, 100001) r(i)")
    query = "SELECT * FROM sum_all_columns((SELECT * FROM t))"
    print(query)
    print(con.sql(query))
    query = "SELECT count(*), sum(a), min(s), max(s) FROM buffer_input((SELECT * FROM t))"
    print(query)
    print(con.sql(query))
    # The same functions, run by a pool of vgi-worker processes.
    con.execute("SET vgi_execution = 'subprocess'")
    print("SET vgi_execution = 'subprocess';")
    print(query)
    print(con.sql(query))
    con.execute("RESET vgi_execution")
    print(con.sql("SELECT function_name, description FROM duckdb_functions() "
                  "WHERE function_name IN ('buffer_input', 'sum_all_columns') ORDER BY 1"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/release/vgi.duckdb_extension")
