#!/usr/bin/env python3
"""Out of core (issue: reliability): buffer_input over inputs several times
larger than DuckDB's memory_limit completes with the right result, and its
peak RSS does not grow with the input, because the rows wait in the store's
files, not in memory.

Each size runs twice, each time in a fresh process (memory_limit 64 MB,
2 threads): once natively, once through buffer_input. The processes' peak
RSS (ru_maxrss, from os.wait4) is printed next to the input's size (its
BIGINT and VARCHAR bytes), and the two results must be equal.

Usage: test_out_of_core.py EXTENSION [ROWS,ROWS...]   (TMPDIR: a private, empty directory)
"""
import glob
import json
import os
import subprocess
import sys

EXTENSION = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/v2.0.1/vgi.duckdb_extension")
SIZES = [int(n) for n in (sys.argv[2] if len(sys.argv) > 2 else "1000000,4000000").split(",")]
MEMORY_LIMIT_MB = 64
# ~100 bytes of text per row: 4M rows are about 420 MB of Arrow data
INPUT = "SELECT i, repeat(chr(97 + (i % 26)::INTEGER), 92) || i AS s FROM range({rows}) r(i)"
CHECK = "SELECT count(*), sum(i), sum(hash(s)), sum(length(s)) FROM ({source})"

CHILD = r'''
import duckdb, json, sys
rows, extension, limit = int(sys.argv[1]), sys.argv[2], sys.argv[3]
con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
con.execute(f"LOAD '{extension}'")
con.execute(f"SET memory_limit = '{limit}MB'")
con.execute("SET threads = 2")
source = sys.argv[4].format(rows=rows)
if sys.argv[6] == "vgi":
    source = f"SELECT * FROM buffer_input(({source}))"
print(json.dumps([str(v) for v in con.execute(sys.argv[5].format(source=source)).fetchall()[0]]))
'''


def run(rows, engine):
    """(result row, peak RSS MB) of the check query in a fresh process."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(rows), EXTENSION, str(MEMORY_LIMIT_MB), INPUT, CHECK,
                             engine], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    out, err = proc.stdout.read(), proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise AssertionError(f"{engine} over {rows:,} rows failed:\n{err[-2000:]}")
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def main():
    failures = 0
    store = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"vgi-buffering-{os.getuid()}")
    for rows in SIZES:
        try:
            native, native_mb = run(rows, "native")
            got, vgi_mb = run(rows, "vgi")
        except AssertionError as e:
            failures += 1
            print(f"FAIL  {e}")
            continue
        left = glob.glob(os.path.join(store, "*"))
        ok = got == native and int(got[0]) == rows and not left
        failures += 0 if ok else 1
        input_mb = (8 * rows + int(got[3])) / 1e6
        print(f"{'ok  ' if ok else 'FAIL'}  {rows:>10,} rows  input {input_mb:6.0f} MB "
              f"({input_mb / MEMORY_LIMIT_MB:5.1f}x memory_limit)  peak RSS native {native_mb:4.0f} MB, "
              f"buffer_input {vgi_mb:4.0f} MB" + ("" if ok else f"  native {native} vgi {got} left {left}"))
    print(f"{len(SIZES) - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
