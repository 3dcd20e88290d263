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

These faults have no in-process counterpart (there is no worker to kill);
the faults of the store's files run in both modes in test_faults.py.
"""
import glob
import os
import re
import signal
import threading
import time

import duckdb
import pytest
from conftest import needs_root


def connect(vgi, *settings):
    return vgi.connect("vgi_execution = 'subprocess'", *settings)


def still_usable(vgi, con):
    rows = con.execute("SELECT count(*), sum(range) FROM buffer_input((SELECT * FROM range(300000)))").fetchall()
    assert rows == [(300000, 44999850000)], rows
    assert vgi.contents() == [], vgi.contents()


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


def test_calls_are_spread(vgi):
    # SET GLOBAL reaches connections opened afterwards
    owner = vgi.connect()
    owner.execute("SET GLOBAL vgi_execution = 'subprocess'")
    con = owner.cursor()
    # Two sinking threads whose process calls (50 ms each) overlap hold two
    # workers at once; the one that combines reads the states the other wrote.
    # (range() is scanned by one thread, a table's row groups by both).
    con.execute("SET threads = 2")
    con.execute("CREATE TEMP TABLE r AS SELECT * FROM range(1000000)")
    con.execute("CALL enable_logging(level = 'debug')")
    rows = con.execute("SELECT count(*), sum(range) FROM busy_per_batch((SELECT * FROM r), 50)").fetchall()
    assert rows == [(1000000, 499999500000)], rows
    lines = [m for (m,) in con.execute(
        "SELECT message FROM duckdb_logs() WHERE type = 'VGI' AND log_level = 'DEBUG'").fetchall()]
    worker = lambda phase: [re.search(r" in (worker #\d+)$", m).group(1) for m in lines  # noqa: E731
                            if m.startswith(f"busy_per_batch: {phase} ")]
    process, combine, finalize = worker("process"), worker("combine"), worker("finalize")
    assert len(process) >= 9 and len(set(process)) >= 2, process
    assert len(combine) == 1 and finalize, (combine, finalize)
    assert vgi.contents() == []
    print(f"  process calls in {sorted(set(process))}, combine in {combine[0]}, finalize in {sorted(set(finalize))}")


def test_one_thread_keeps_to_one_warm_worker(vgi):
    con = connect(vgi, "threads = 1")
    con.execute("CALL enable_logging(level = 'debug')")
    rows = con.execute("SELECT count(*) FROM buffer_input((SELECT * FROM range(1000000)))").fetchall()
    assert rows == [(1000000,)], rows
    lines = [m for (m,) in con.execute(
        "SELECT message FROM duckdb_logs() WHERE type = 'VGI' AND log_level = 'DEBUG'").fetchall()]
    process = [re.search(r" in (worker #\d+)$", m).group(1) for m in lines if m.startswith("buffer_input: process ")]
    assert len(process) == 9 and len(set(process)) == 1, process
    assert vgi.contents() == []


@pytest.mark.parametrize("phase", ["process", "combine", "finalize"])
def test_killed_worker(vgi, phase):
    con = connect(vgi, "threads = 2")
    started = time.monotonic()
    thread, result = run_in_thread(
        con, f"SELECT count(*) FROM slow_phase((SELECT * FROM range(300000)), '{phase}', 6)")
    time.sleep(1.5)  # the sink takes milliseconds; the phase lingers 6 s
    pids = vgi.workers()
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
    still_usable(vgi, con)
    print(f"  killed in {phase} after 1.5 s: {error.splitlines()[0][:150]}")


def test_hung_worker(vgi):
    con = connect(vgi, "vgi_worker_timeout_seconds = 2")
    started = time.monotonic()
    thread, result = run_in_thread(con, "SELECT count(*) FROM slow_phase((SELECT * FROM range(300000)), 'combine', 3)")
    time.sleep(1.0)
    stopped = vgi.workers()
    for pid in stopped:
        os.kill(pid, signal.SIGSTOP)
    try:
        thread.join(60)
        assert not thread.is_alive()
        error, elapsed = result["error"], result["end"] - started
        assert error is not None, "the query survived hung workers"
        assert "slow_phase: combine failed" in error, error
        assert "did not answer within vgi_worker_timeout_seconds" in error, error
        assert elapsed < 10, f"the timeout took {elapsed:.1f} s"
    finally:
        for pid in vgi.workers():  # stopped idle workers: let them see their stdin close
            os.kill(pid, signal.SIGCONT)
    still_usable(vgi, con)
    print(f"  hung worker timed out after {elapsed:.1f} s: {error.splitlines()[0][:150]}")


def segments_mapped(pid):
    """The vgi shared memory segments worker `pid` has mapped."""
    with open(f"/proc/{pid}/maps") as f:
        return {line.split()[-2] if line.rstrip().endswith("(deleted)") else line.split()[-1]
                for line in f if "/dev/shm/vgi-shm-" in line}


def running(pid):
    """Whether process `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_workers_killed_while_idle_are_replaced_for_gathered_batches(vgi):
    # Number columns are gathered into a worker's segment before the call;
    # a worker that died while idle in the pool gets no request, and the
    # batch goes to another.
    con = connect(vgi, "threads = 2")
    query = "SELECT * FROM sum_all_columns((SELECT range AS a, -range AS b FROM range(3000000)))"
    assert con.execute(query).fetchall() == [(4499998500000, -4499998500000)]
    for pid in vgi.workers():
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(running(pid) for pid in vgi.workers()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert con.execute(query).fetchall() == [(4499998500000, -4499998500000)]
    still_usable(vgi, con)


def test_a_worker_killed_while_a_thread_gathers_for_it_is_replaced(vgi):
    # The thread keeps its worker while it gathers the next batch; killed
    # then, the worker never gets the request, and the batch goes to another.
    con = connect(vgi, "threads = 1")
    killed = threading.Event()

    def pause(i):
        if i == 200000 and not killed.is_set():
            for pid in vgi.workers():
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while any(running(pid) for pid in vgi.workers()) and time.monotonic() < deadline:
                time.sleep(0.05)
            killed.set()
        return i

    con.create_function("pause", pause, ["BIGINT"], "BIGINT", side_effects=True)
    rows = con.execute("SELECT * FROM sum_all_columns((SELECT pause(range) AS a FROM range(300000)))").fetchall()
    assert killed.is_set()
    assert rows == [(44999850000,)], rows
    still_usable(vgi, con)


@pytest.mark.parametrize("shared_memory", [True, False])
def test_batches_cross_in_shared_memory_and_leave_no_file(vgi, shared_memory):
    before = set(glob.glob("/dev/shm/vgi-shm-*"))
    con = connect(vgi, "threads = 2", f"vgi_worker_shared_memory = {str(shared_memory).lower()}")
    # Workers of other tests' pools may still be exiting; the pool of this
    # setting starts its own.
    earlier = set(vgi.workers())
    rows = con.execute("SELECT count(*), sum(a), count(DISTINCT s) FROM buffer_input("
                       "(SELECT range AS a, 'v' || range AS s FROM range(2000000)))").fetchall()
    assert rows == [(2000000, 1999999000000, 2000000)], rows
    sums = con.execute("SELECT * FROM sum_all_columns((SELECT range AS a, -range AS b FROM range(2000000)))").fetchall()
    assert sums == [(1999999000000, -1999999000000)], sums
    mapped = {pid: segments_mapped(pid) for pid in vgi.workers() if pid not in earlier or shared_memory}
    assert mapped, "no workers running"
    if shared_memory:
        assert any(mapped.values()), f"no worker mapped a segment: {mapped}"
    else:
        assert not any(mapped.values()), f"a worker mapped a segment with the setting off: {mapped}"
    assert set(glob.glob("/dev/shm/vgi-shm-*")) == before, "a segment's file was left in /dev/shm"
    assert vgi.contents() == []
    print(f"  shared memory {shared_memory}: segments mapped per worker {[len(m) for m in mapped.values()]}")


@needs_root("a private mount namespace (CAP_SYS_ADMIN)")
def test_a_worker_that_cannot_map_the_segment_gets_its_batches_through_the_pipe(vgi, capfd):
    # The worker runs with a /dev/shm of its own, where the extension's
    # segment does not exist: it refuses the shared memory before running
    # anything, and the extension resends every call inline.
    worker = os.path.join(os.path.dirname(vgi.extension), "vgi-worker")
    command = ("/usr/bin/unshare --mount --propagation private /bin/sh -c "
               f'"mount -t tmpfs none /dev/shm && exec {worker}"')
    con = connect(vgi, "threads = 2", f"vgi_worker_command = '{command}'")
    earlier = set(vgi.workers())
    # Number columns first: gathered into the segment, refused, resent inline.
    sums = con.execute("SELECT * FROM sum_all_columns((SELECT range AS a, -range AS b FROM range(1000000)))").fetchall()
    assert sums == [(499999500000, -499999500000)], sums
    rows = con.execute("SELECT count(*), sum(a) FROM buffer_input("
                       "(SELECT range AS a, 'v' || range AS s FROM range(1000000)))").fetchall()
    assert rows == [(1000000, 499999500000)], rows
    mapped = {pid: segments_mapped(pid) for pid in vgi.workers() if pid not in earlier}
    assert mapped and not any(mapped.values()), mapped
    assert "batches go through the pipe" in capfd.readouterr().err
    assert vgi.contents() == []
