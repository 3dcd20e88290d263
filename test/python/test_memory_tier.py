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
"""
import threading
import time

import duckdb

ROWS = 300_000
BATCH_ROWS = 2048
INPUT = f"SELECT range AS i, 'row ' || range AS s FROM range({ROWS})"
CHECK = "SELECT count(*), sum(i), sum(hash(s)) FROM ({source})"


def connect(vgi, *settings):
    return vgi.connect("threads = 2", f"vgi_process_batch_rows = {BATCH_ROWS}", *settings)


def watch_combine(vgi, con):
    """Runs the check over slow_phase lingering 3 s in combine; returns the
    most entry files and the store paths seen while it ran."""
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
    deadline = time.monotonic() + 120
    while thread.is_alive() and time.monotonic() < deadline:
        most_entries = max(most_entries, len(vgi.entries()))
        seen.update(vgi.contents())
        time.sleep(0.05)
    thread.join(30)
    assert not thread.is_alive(), "the query did not end within 150 s"
    assert "error" not in result, result["error"]
    native = con.execute(CHECK.format(source=INPUT)).fetchall()
    assert result["rows"] == native, (result["rows"], native)
    assert vgi.contents() == [], vgi.contents()
    return most_entries, seen


def test_in_memory_no_file_is_written(vgi):
    most, seen = watch_combine(vgi, connect(vgi))
    assert most == 0 and not seen, f"files while the query ran: {sorted(seen)[:5]}"
    print("  default budget: no file, no execution directory")


def test_a_small_budget_spills_most_entries(vgi):
    batches = ROWS // BATCH_ROWS
    most, _ = watch_combine(vgi, connect(vgi, "vgi_memory_budget = '256kB'"))
    assert batches // 2 < most < batches, f"{most} entry files for about {batches} process batches"
    print(f"  256kB: {most} of about {batches} entries spilled to files, the rest in memory")


def test_subprocess_uses_files_from_the_start(vgi):
    most, _ = watch_combine(vgi, connect(vgi, "vgi_execution = 'subprocess'"))
    assert most >= ROWS // BATCH_ROWS, f"{most} entry files"
    print(f"  subprocess: {most} entry files")
