#!/usr/bin/env python3
"""Subprocess execution (SET vgi_execution = 'subprocess') beyond what the SQL
suite checks in that mode: calls are spread over worker processes, and a
worker that dies or stops answering in any phase gives a clear error, is
replaced, and leaves nothing behind.

- spread (with SET GLOBAL): one query's process calls run in at least two workers, and its
  finalize runs in a worker other than the one that ran combine (read from
  the DEBUG lifecycle lines, which name the worker of each call);
- killed: while slow_phase() lingers in process, combine or finalize, every
  worker is killed (SIGKILL); the query fails naming the function and phase;
- hung: a worker that stops answering (SIGSTOP) is killed after
  vgi_worker_timeout_seconds and the query fails instead of hanging;
- after each fault the next query on the same connection succeeds and the
  store holds no execution.

Usage: test_subprocess.py EXTENSION   (TMPDIR: a private, empty directory)
"""
import glob
import os
import re
import signal
import sys
import threading
import time

import duckdb

from harness import run_checks

EXTENSION = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/v2.0.1/vgi.duckdb_extension")
STORE = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"vgi-buffering-{os.getuid()}")


def connect():
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{EXTENSION}'")
    con.execute("SET vgi_execution = 'subprocess'")
    return con


def workers():
    """Pids of the vgi-worker processes this process started."""
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                text = f.read()
        except OSError:
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        ppid = int(text[text.rindex(")") + 2:].split()[1])
        if ppid == os.getpid() and comm == "vgi-worker":
            found.append(int(stat.split("/")[2]))
    return found


def executions():
    return glob.glob(os.path.join(STORE, "*"))


def still_usable(con):
    rows = con.execute("SELECT count(*), sum(range) FROM buffer_input((SELECT * FROM range(300000)))").fetchall()
    assert rows == [(300000, 44999850000)], rows
    assert executions() == [], executions()


def run_in_thread(con, sql):
    result = {}

    def run():
        try:
            con.execute(sql).fetchall()
            result["error"] = None
        except duckdb.Error as e:
            result["error"] = str(e)
        result["end"] = time.monotonic()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def check_calls_are_spread():
    # SET GLOBAL reaches connections opened afterwards
    owner = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    owner.execute(f"LOAD '{EXTENSION}'")
    owner.execute("SET GLOBAL vgi_execution = 'subprocess'")
    con = owner.cursor()
    con.execute("SET threads = 1")
    con.execute("CALL enable_logging(level = 'debug')")
    rows = con.execute("SELECT count(*) FROM buffer_input((SELECT * FROM range(1000000)))").fetchall()
    assert rows == [(1000000,)], rows
    lines = [m for (m,) in con.execute(
        "SELECT message FROM duckdb_logs() WHERE type = 'VGI' AND log_level = 'DEBUG'").fetchall()]
    worker = lambda phase: [re.search(r" in (worker #\d+)$", m).group(1) for m in lines  # noqa: E731
                            if m.startswith(f"buffer_input: {phase} ")]
    process, combine, finalize = worker("process"), worker("combine"), worker("finalize")
    assert len(process) == 9 and len(set(process)) >= 2, process
    assert len(combine) == 1 and finalize and set(finalize) != set(combine), (combine, finalize)
    assert executions() == []
    print(f"  process calls in {sorted(set(process))}, combine in {combine[0]}, finalize in {sorted(set(finalize))}")


def check_killed_worker(phase):
    con = connect()
    con.execute("SET threads = 2")
    started = time.monotonic()
    thread, result = run_in_thread(
        con, f"SELECT count(*) FROM slow_phase((SELECT * FROM range(300000)), '{phase}', 6)")
    time.sleep(1.5)  # the sink takes milliseconds; the phase lingers 6 s
    pids = workers()
    assert pids, "no workers running"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    thread.join(30)
    assert not thread.is_alive()
    error = result["error"]
    assert error is not None, f"the query survived killing the workers in {phase}"
    assert f"slow_phase: {phase} failed" in error, error
    assert "the worker exited before it answered" in error, error
    assert result["end"] - started < 6, f"the error came after {result['end'] - started:.1f} s"
    still_usable(con)
    print(f"  killed in {phase} after 1.5 s: {error.splitlines()[0][:150]}")


def check_hung_worker():
    con = connect()
    con.execute("SET vgi_worker_timeout_seconds = 2")
    started = time.monotonic()
    thread, result = run_in_thread(con, "SELECT count(*) FROM slow_phase((SELECT * FROM range(300000)), 'combine', 3)")
    time.sleep(1.0)
    for pid in workers():
        os.kill(pid, signal.SIGSTOP)
    thread.join(60)
    assert not thread.is_alive()
    error, elapsed = result["error"], result["end"] - started
    assert error is not None, "the query survived hung workers"
    assert "slow_phase: combine failed" in error, error
    assert "did not answer within vgi_worker_timeout_seconds" in error, error
    assert elapsed < 10, f"the timeout took {elapsed:.1f} s"
    for pid in workers():  # stopped idle workers: let them see their stdin close
        os.kill(pid, signal.SIGCONT)
    still_usable(con)
    print(f"  hung worker timed out after {elapsed:.1f} s: {error.splitlines()[0][:150]}")


def main():
    checks = [("calls are spread", check_calls_are_spread)]
    checks += [(f"worker killed in {p}", lambda p=p: check_killed_worker(p)) for p in ("process", "combine", "finalize")]
    checks += [("hung worker", check_hung_worker)]
    run_checks(checks)


if __name__ == "__main__":
    main()
