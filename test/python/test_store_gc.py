"""Orphaned store state (issue: nothing left behind): state of a process that
died mid-query is removed after vgi_orphan_ttl_seconds, at load and by
vgi_store_gc(), while the state of live processes is never touched.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

DAY = 24 * 3600

HOLD_LOCK = (
    "import fcntl, sys\n"
    "f = open(sys.argv[1], 'r+')\n"
    "fcntl.lockf(f, fcntl.LOCK_SH, 1, 0)  # byte 0, shared\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"
)


def names(vgi):
    return [os.path.basename(p) for p in vgi.contents()]


@pytest.fixture
def store(vgi):
    """Writes fake executions into the store (created by a LOAD first).
    Processes hold an execution's owner lock, as a live owner does (in a
    process of their own: closing any descriptor of a file drops the POSIX
    locks of the whole process, and DuckDB in this process opens the file);
    the holders left at the end of the test are ended."""

    class Store:
        def __init__(self):
            self.locks = []

        def fake_execution(self, exec_hex, live, age_seconds):
            """State of an execution; its owner is alive when it holds the owner file's lock."""
            path = os.path.join(vgi.store(), exec_hex)
            os.makedirs(os.path.join(path, "log"), exist_ok=True)
            with open(os.path.join(path, "log", "00000000000000000000.bin"), "wb") as f:
                f.write(b"x" * 1000)
            owner = os.path.join(path, "owner")
            with open(owner, "w") as f:
                # The pid is informational only: a dead owner's may even be a live process.
                f.write(f"{os.getpid()}\n")
            if live:
                holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, owner],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                self.locks.append(holder)
                assert holder.stdout.readline().strip() == "locked"
            then = time.time() - age_seconds
            os.utime(path, (then, then))

        def release_lock(self):
            holder = self.locks.pop()
            holder.stdin.close()
            holder.wait(30)

    vgi.connect()  # creates the store root
    made = Store()
    yield made
    for holder in made.locks:
        holder.kill()
        holder.wait(30)


def test_load_removes_only_old_dead_state(vgi, store):
    store.fake_execution("aa01", False, 2 * DAY)  # old, dead owner: goes at load
    store.fake_execution("aa02", False, 60)  # young, dead owner: stays (TTL)
    store.fake_execution("aa03", True, 2 * DAY)  # old, live owner: stays
    vgi.connect()
    assert names(vgi) == ["aa02", "aa03"], names(vgi)
    con = vgi.connect()
    assert con.execute("SELECT * FROM vgi_store_gc()").fetchall() == []
    rows = con.execute("SELECT execution_id, bytes >= 1000 FROM vgi_store_gc(ttl_seconds := 0)").fetchall()
    assert rows == [("aa02", True)], rows
    assert names(vgi) == ["aa03"], names(vgi)
    con.execute("SET vgi_orphan_ttl_seconds = 0")
    assert con.execute("SELECT count(*) FROM vgi_store_gc()").fetchall() == [(0,)]
    store.release_lock()
    assert con.execute("SELECT execution_id, error FROM vgi_store_gc()").fetchall() == [("aa03", None)]
    assert names(vgi) == []
    print("  load and vgi_store_gc(): removed old state of dead owners only")


def test_killed_duckdb_leaves_state_that_gc_removes(vgi):
    child = subprocess.Popen(
        [sys.executable, "-c", (
            "import duckdb, sys\n"
            "con = duckdb.connect(config={'allow_unsigned_extensions': 'true'})\n"
            f"con.execute(\"LOAD '{vgi.extension}'\")\n"
            # no memory tier: the state of the query that is killed is in files
            "con.execute(\"SET vgi_memory_budget = '0'\")\n"
            "print('ready', flush=True)\n"
            "con.execute(\"SELECT count(*) FROM slow_phase((SELECT * FROM range(100000)), 'combine', 60)\").fetchall()\n"
        )],
        stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        deadline = time.time() + 30
        while not names(vgi) and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        left = names(vgi)
        assert left, "the child never created state"
        con = vgi.connect()
        assert con.execute("SELECT count(*) FROM vgi_store_gc(ttl_seconds := 0)").fetchall() == [(0,)], \
            "state of a live query was removed"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    assert names(vgi) == left, "state vanished without garbage collection"
    removed = con.execute("SELECT execution_id FROM vgi_store_gc(ttl_seconds := 0)").fetchall()
    assert sorted(r[0] for r in removed) == left, (removed, left)
    assert names(vgi) == []
    print(f"  killed DuckDB mid-query: {len(left)} execution(s) kept while it ran, removed after")


def test_gc_reports_what_it_cannot_remove_and_goes_on(vgi, store):
    for exec_hex in ("ab01", "ab02", "ab03"):
        store.fake_execution(exec_hex, False, 60)
    stuck = os.path.join(vgi.store(), "ab02", "log")
    os.chmod(stuck, 0o500)
    # Root removes it anyway: the collecting DuckDB runs without CAP_DAC_OVERRIDE.
    prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    code = (
        "import duckdb, json\n"
        "con = duckdb.connect(config={'allow_unsigned_extensions': 'true'})\n"
        "con.execute('SET enable_progress_bar = false')\n"
        f"con.execute(\"LOAD '{vgi.extension}'\")\n"
        "rows = con.execute('SELECT execution_id, error FROM vgi_store_gc(ttl_seconds := 0) ORDER BY 1').fetchall()\n"
        "print(json.dumps(rows))\n"
    )
    try:
        proc = subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        rows = json.loads(proc.stdout)
    finally:
        os.chmod(stuck, 0o700)
    assert [r[0] for r in rows] == ["ab01", "ab02", "ab03"], rows
    assert rows[0][1] is None and rows[2][1] is None, rows
    assert "remove" in rows[1][1] and "ab02" in rows[1][1] and "Permission denied" in rows[1][1], rows
    assert names(vgi) == ["ab02"], names(vgi)
    assert vgi.connect().execute("SELECT execution_id, error FROM vgi_store_gc(ttl_seconds := 0)").fetchall() \
        == [("ab02", None)]
    print(f"  not removable: {rows[1][1]}")
