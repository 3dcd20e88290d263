"""Fault injection (issue: nothing lost, nothing left behind): a full disk,
permission denied, and truncated, damaged or missing store entries, each
through a real query, in both execution modes (in DuckDB's process, and in
vgi-worker processes, where the error comes from a worker). Every fault must
give a SQL error naming the function, the phase, the path and the cause;
DuckDB must stay usable (the next query on the same connection succeeds) and
no state may be left in the store.

- full disk: the store root (TMPDIR) on an 8 MiB tmpfs mounted for the test
  (needs root: it skips as another user);
- permission denied: the store root is made read-only; as root DuckDB runs
  without CAP_DAC_OVERRIDE (setpriv; its workers inherit the bounding set),
  so that root obeys file modes; another user obeys them anyway;
- truncated / damaged / missing entry: the entries of a running query are cut,
  flipped or removed while slow_phase() lingers in combine, before finalize
  reads them.

In subprocess mode the query's end races with a finalize stream that ends
in another worker and records it in the store:
test_query_end_removes_state_while_a_finalize_stream_ends tries that race
20 times (it found the bug that such a late write made the cleared
execution again).

A worker killed (or hung) mid-query is the fault of the subprocess mode alone
and is tested in test_subprocess.py; in DuckDB's process there is no worker,
so it has no counterpart here (killing DuckDB itself is test_store_gc.py's
orphaned state).

The full disk and permission denied scenarios run in a child process (a
TMPDIR or capabilities of its own): `python test_faults.py --child NAME MODE
EXTENSION`.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import duckdb
import pytest

from conftest import MODES, Vgi, needs_root

SETPRIV = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search")


def connect(vgi, mode):
    # the faults are those of the store's files: no memory tier, every entry
    # in a file (the subprocess workers use files anyway)
    return vgi.connect(f"vgi_execution = '{mode}'", "vgi_memory_budget = '0'")


def failing(con, sql):
    try:
        con.execute(sql).fetchall()
    except duckdb.Error as e:
        return str(e)
    raise AssertionError(f"expected an error from: {sql}")


def from_its_mode(error, mode):
    """In subprocess mode the error is a worker's (it names the worker); in
    DuckDB's process there is none to name."""
    worker = re.search(r"\(worker #\d+\)$", error)
    if mode == "subprocess":
        assert worker, f"no worker named in: {error}"
    else:
        assert not worker, f"a worker named in process: {error}"


class StateLeftBehind(AssertionError):
    """An execution is still in the store after the next query."""


def gone_within(vgi, seconds):
    """Whether the store's executions are gone within `seconds` (waits)."""
    deadline = time.monotonic() + seconds
    while vgi.executions() and time.monotonic() < deadline:
        time.sleep(0.1)
    return not vgi.executions()


def still_usable(vgi, con):
    """The connection answers, buffer_input works and nothing is left."""
    assert con.execute("SELECT 42").fetchall() == [(42,)]
    rows = con.execute("SELECT count(*), sum(range) FROM buffer_input((SELECT * FROM range(5000)))").fetchall()
    assert rows == [(5000, 12497500)], rows
    left = vgi.executions()
    if left:
        later = "gone" if gone_within(vgi, 10) else "still there"
        raise StateLeftBehind(f"executions left after the next query: {left} ({later} 10 s later)")


# --------------------------------------------------------------------------
# scenarios run in a child process (their own TMPDIR or capabilities)
# --------------------------------------------------------------------------


def child_full_disk(vgi, mode):
    con = connect(vgi, mode)
    error = failing(con, "SELECT count(*) FROM buffer_input((SELECT range, repeat('x', 200) AS s FROM range(200000)))")
    assert "buffer_input: process failed" in error, error
    assert "No space left on device" in error, error
    assert vgi.store() in error, error
    from_its_mode(error, mode)
    still_usable(vgi, con)
    print(f"  full disk ({mode}): {error.splitlines()[0]}")


def child_permission_denied(vgi, mode):
    con = connect(vgi, mode)
    assert con.execute("SELECT count(*) FROM buffer_input((SELECT * FROM range(10)))").fetchall() == [(10,)]
    os.chmod(vgi.store(), 0o500)
    try:
        error = failing(con, "SELECT count(*) FROM buffer_input((SELECT * FROM range(10)))")
    finally:
        os.chmod(vgi.store(), 0o700)
    assert "buffer_input: " in error, error
    # the phase is the one that creates the execution's directory: process in
    # DuckDB's process, init with workers
    assert re.search(r"buffer_input: (init|process) failed", error), error
    assert "Permission denied" in error, error
    assert vgi.store() in error, error
    from_its_mode(error, mode)
    still_usable(vgi, con)
    print(f"  permission denied ({mode}): {error.splitlines()[0]}")


CHILDREN = {"full-disk": child_full_disk, "permission-denied": child_permission_denied}


def run_child(vgi, name, mode, tmpdir, prefix=()):
    env = dict(os.environ, TMPDIR=tmpdir)
    proc = subprocess.run([*prefix, sys.executable, os.path.abspath(__file__), "--child", name, mode, vgi.extension],
                          env=env, capture_output=True, text=True, timeout=300)
    sys.stdout.write(proc.stdout)
    assert proc.returncode == 0, f"{name} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}"


def umount(mount):
    """Unmounts `mount`; its workers may still be exiting (they hold the store
    root open), so a busy mount is retried for up to 10 s."""
    for _ in range(40):
        run = subprocess.run(["umount", mount], capture_output=True, text=True)
        if run.returncode == 0:
            os.rmdir(mount)
            return
        time.sleep(0.25)
    raise AssertionError(f"umount {mount}: {run.stderr.strip()}")


@needs_root("mounting a tmpfs (CAP_SYS_ADMIN)")
@pytest.mark.parametrize("mode", MODES)
def test_full_disk(vgi, private_tmpdir, mode):
    mount = os.path.join(private_tmpdir, "small-fs")
    os.makedirs(mount)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", mount], check=True)
    try:
        run_child(vgi, "full-disk", mode, mount)
        assert vgi.executions(mount) == [], vgi.executions(mount)
        assert vgi.contents(mount) == [], vgi.contents(mount)
    finally:
        umount(mount)


@pytest.mark.parametrize("mode", MODES)
def test_permission_denied(vgi, private_tmpdir, mode):
    prefix = ()
    if os.geteuid() == 0:
        # root ignores file modes unless it runs without CAP_DAC_OVERRIDE
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv (util-linux): root obeys file modes only without CAP_DAC_OVERRIDE")
        prefix = SETPRIV
    tmpdir = os.path.join(private_tmpdir, "no-dac")
    os.makedirs(tmpdir)
    run_child(vgi, "permission-denied", mode, tmpdir, prefix)
    assert vgi.executions(tmpdir) == [], vgi.executions(tmpdir)
    assert vgi.contents(tmpdir) == [], vgi.contents(tmpdir)


# --------------------------------------------------------------------------
# damaged entries, in this process
# --------------------------------------------------------------------------


def damage_during_combine(vgi, con, damage, linger=4, settle=1.0):
    """Runs slow_phase lingering `linger` s in combine; `settle` s after its
    first entry is written, applies `damage` to the largest one. Returns the
    query's error and the damaged entry."""
    result = {}

    def run():
        try:
            con.execute("SELECT count(*) FROM slow_phase((SELECT range, 'row ' || range AS s FROM range(300000)), "
                        f"'combine', {linger})").fetchall()
            result["error"] = None
        except duckdb.Error as e:
            result["error"] = str(e)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.time() + 30
    while not vgi.entries() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(settle)  # the sink of 300k rows takes milliseconds; combine lingers
    assert vgi.entries(), "no entry was written within 30 s"
    target = max(vgi.entries(), key=os.path.getsize)
    damage(target)
    thread.join(60)
    assert not thread.is_alive()
    assert result["error"] is not None, "the damaged query succeeded"
    return result["error"], target


def truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def flip(path):
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) - 100)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x10]))


# a damaged entry is named by its file, a lost one by its log directory
DAMAGES = {
    "truncated": (truncate, "truncated", lambda p: p),
    "damaged": (flip, "checksum mismatch", lambda p: p),
    "missing": (os.remove, "entries are missing", os.path.dirname),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(DAMAGES))
def test_damaged_entry(vgi, mode, name):
    """A truncated, damaged (a bit flipped) or missing entry."""
    damage, cause, named = DAMAGES[name]
    con = connect(vgi, mode)
    con.execute("SET threads = 2")
    error, path = damage_during_combine(vgi, con, damage)
    assert "slow_phase: finalize failed" in error, error
    assert cause in error, error
    assert named(path) in error, (named(path), error)
    from_its_mode(error, mode)
    still_usable(vgi, con)
    print(f"  {name} entry ({mode}): {error.splitlines()[0]}")


def test_query_end_removes_state_while_a_finalize_stream_ends(vgi, capfd):
    """The query's end removes its execution at once, also while another
    finalize stream of it ends in a worker: a missing entry fails one of the
    finalize streams (threads = 2) while the others stream to their end. The
    race is timing-bound, so this tries up to 20 times; it fails at the first
    try that prints the removal's error or leaves the execution after the
    next query."""
    con = connect(vgi, "subprocess")
    con.execute("SET threads = 2")
    for attempt in range(20):
        error, path = damage_during_combine(vgi, con, os.remove, linger=2, settle=0.5)
        assert "slow_phase: finalize failed" in error and "entries are missing" in error, error
        assert con.execute("SELECT 42").fetchall() == [(42,)]
        stderr = capfd.readouterr().err
        left = vgi.executions()
        if "could not remove an execution's state" in stderr or left:
            later = "gone" if gone_within(vgi, 10) else "still there"
            raise AssertionError(f"try {attempt + 1}: {[line for line in stderr.splitlines() if 'vgi:' in line]}, "
                                 f"left after the next query: {left} ({later} 10 s later)")
    still_usable(vgi, con)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=sorted(CHILDREN), required=True)
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("extension")
    args = parser.parse_args()
    CHILDREN[args.child](Vgi(args.extension), args.mode)
