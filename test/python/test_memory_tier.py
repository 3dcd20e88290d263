#!/usr/bin/env python3
"""The memory tier (vgi_memory_budget), watched from outside a running query:
while slow_phase lingers in combine, the store's files show where the
execution's state is.

- in DuckDB's process with the default budget, no file and no execution
  directory appear: the state is in memory;
- with a budget far below the input, most entries are spilled to files and
  some stay in memory (fewer files than process batches);
- with subprocess workers, the state is in files from the start (the budget
  does not apply: the workers share the store).

Each query's result must equal the native one and nothing may be left.

Usage: test_memory_tier.py EXTENSION   (TMPDIR: a private, empty directory)
"""
import glob
import os
import sys
import threading
import time

import duckdb

from harness import run_checks

EXTENSION = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/release/vgi.duckdb_extension")
STORE = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"vgi-buffering-{os.getuid()}")
ROWS = 300_000
BATCH_ROWS = 2048
INPUT = f"SELECT range AS i, 'row ' || range AS s FROM range({ROWS})"
CHECK = "SELECT count(*), sum(i), sum(hash(s)) FROM ({source})"


def connect(*settings):
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{EXTENSION}'")
    con.execute("SET threads = 2")
    con.execute(f"SET vgi_process_batch_rows = {BATCH_ROWS}")
    for setting in settings:
        con.execute(f"SET {setting}")
    return con


def anything_in_store():
    return glob.glob(os.path.join(STORE, "*"))


def entries():
    return glob.glob(os.path.join(STORE, "*", "log", "*", "*.bin"))


def watch_combine(con):
    """Runs the check over slow_phase lingering 3 s in combine; returns its
    result and the most entry files and store paths seen while it ran."""
    result = {}
    source = f"SELECT * FROM slow_phase(({INPUT}), 'combine', 3)"

    def run():
        try:
            result["rows"] = con.execute(CHECK.format(source=source)).fetchall()
        except duckdb.Error as e:
            result["error"] = str(e)

    thread = threading.Thread(target=run)
    thread.start()
    most_entries, seen = 0, set()
    while thread.is_alive():
        most_entries = max(most_entries, len(entries()))
        seen.update(anything_in_store())
        time.sleep(0.05)
    thread.join()
    assert "error" not in result, result["error"]
    native = con.execute(CHECK.format(source=INPUT)).fetchall()
    assert result["rows"] == native, (result["rows"], native)
    assert anything_in_store() == [], anything_in_store()
    return most_entries, seen


def check_in_memory_no_file_is_written():
    most, seen = watch_combine(connect())
    assert most == 0 and not seen, f"files while the query ran: {sorted(seen)[:5]}"
    print("  default budget: no file, no execution directory")


def check_a_small_budget_spills_most_entries():
    batches = ROWS // BATCH_ROWS
    most, _ = watch_combine(connect("vgi_memory_budget = '256kB'"))
    assert batches // 2 < most < batches, f"{most} entry files for about {batches} process batches"
    print(f"  256kB: {most} of about {batches} entries spilled to files, the rest in memory")


def check_subprocess_uses_files_from_the_start():
    most, _ = watch_combine(connect("vgi_execution = 'subprocess'"))
    assert most >= ROWS // BATCH_ROWS, f"{most} entry files"
    print(f"  subprocess: {most} entry files")


def main():
    run_checks([(c.__name__, c) for c in (check_in_memory_no_file_is_written,
                                          check_a_small_budget_spills_most_entries,
                                          check_subprocess_uses_files_from_the_start)])


if __name__ == "__main__":
    main()
