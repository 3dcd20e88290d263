#!/usr/bin/env python3
"""Orphaned store state (issue: nothing left behind): state of a process that
died mid-query is removed after vgi_orphan_ttl_seconds, at load and by
vgi_store_gc(), while the state of live processes is never touched.

Usage: test_store_gc.py EXTENSION   (TMPDIR: a private, empty directory)
"""
import glob
import os
import signal
import subprocess
import sys
import time

import duckdb

from harness import run_checks

EXTENSION = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/v2.0.1/vgi.duckdb_extension")
STORE = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"vgi-buffering-{os.getuid()}")
DAY = 24 * 3600


def connect():
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{EXTENSION}'")
    return con


def executions():
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(STORE, "*")))


def fake_execution(exec_hex, owner, age_seconds):
    path = os.path.join(STORE, exec_hex)
    os.makedirs(os.path.join(path, "log"), exist_ok=True)
    with open(os.path.join(path, "log", "00000000000000000000.bin"), "wb") as f:
        f.write(b"x" * 1000)
    with open(os.path.join(path, "owner"), "w") as f:
        f.write(owner)
    then = time.time() - age_seconds
    os.utime(path, (then, then))


def me():
    with open("/proc/self/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return f"{os.getpid()} {rest[19]}"


def check_load_removes_only_old_dead_state():
    connect()  # creates the store root
    fake_execution("aa01", "999999999 1", 2 * DAY)  # old, dead owner: goes at load
    fake_execution("aa02", "999999999 1", 60)  # young, dead owner: stays (TTL)
    fake_execution("aa03", me(), 2 * DAY)  # old, live owner: stays
    connect()
    assert executions() == ["aa02", "aa03"], executions()
    con = connect()
    assert con.execute("SELECT * FROM vgi_store_gc()").fetchall() == []
    rows = con.execute("SELECT execution_id, bytes >= 1000 FROM vgi_store_gc(ttl_seconds := 0)").fetchall()
    assert rows == [("aa02", True)], rows
    assert executions() == ["aa03"], executions()
    con.execute("SET vgi_orphan_ttl_seconds = 0")
    assert con.execute("SELECT count(*) FROM vgi_store_gc()").fetchall() == [(0,)]
    os.system(f"rm -rf {os.path.join(STORE, 'aa03')}")
    print("  load and vgi_store_gc(): removed old state of dead owners only")


def check_killed_duckdb_leaves_state_that_gc_removes():
    child = subprocess.Popen(
        [sys.executable, "-c", (
            "import duckdb, sys\n"
            "con = duckdb.connect(config={'allow_unsigned_extensions': 'true'})\n"
            f"con.execute(\"LOAD '{EXTENSION}'\")\n"
            # no memory tier: the state of the query that is killed is in files
            "con.execute(\"SET vgi_memory_budget = '0'\")\n"
            "print('ready', flush=True)\n"
            "con.execute(\"SELECT count(*) FROM slow_phase((SELECT * FROM range(100000)), 'combine', 60)\").fetchall()\n"
        )],
        stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    deadline = time.time() + 30
    while not executions() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    left = executions()
    assert left, "the child never created state"
    con = connect()
    assert con.execute("SELECT count(*) FROM vgi_store_gc(ttl_seconds := 0)").fetchall() == [(0,)], \
        "state of a live query was removed"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert executions() == left, "state vanished without garbage collection"
    removed = con.execute("SELECT execution_id FROM vgi_store_gc(ttl_seconds := 0)").fetchall()
    assert sorted(r[0] for r in removed) == left, (removed, left)
    assert executions() == []
    print(f"  killed DuckDB mid-query: {len(left)} execution(s) kept while it ran, removed after")


def main():
    run_checks([(c.__name__, c) for c in (check_load_removes_only_old_dead_state,
                                          check_killed_duckdb_leaves_state_that_gc_removes)])


if __name__ == "__main__":
    main()
