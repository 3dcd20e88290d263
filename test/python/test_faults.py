#!/usr/bin/env python3
"""Fault injection (issue: nothing lost, nothing left behind): a full disk,
permission denied, and truncated, damaged or missing store entries, each
through a real query. Every fault must give a SQL error naming the function,
the phase, the path and the cause; DuckDB must stay usable (the next query on
the same connection succeeds) and no state may be left in the store.

- full disk: the store root (TMPDIR) on an 8 MiB tmpfs mounted for the test
  (needs root, as `make test` runs here; without it the check fails, it is not
  skipped);
- permission denied: DuckDB runs without CAP_DAC_OVERRIDE (setpriv), so that
  root obeys file modes, and the store root is made read-only;
- truncated / damaged / missing entry: the entries of a running query are cut,
  flipped or removed while slow_phase() lingers in combine, before finalize
  reads them.

Usage: test_faults.py EXTENSION   (TMPDIR: a private, empty directory)
"""
import glob
import os
import subprocess
import sys
import threading
import time

import duckdb

from harness import run_checks

EXTENSION = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/v2.0.1/vgi.duckdb_extension")
TMPDIR = os.environ.get("TMPDIR", "/tmp")


def store(tmpdir=None):
    return os.path.join(tmpdir or os.environ.get("TMPDIR", "/tmp"), f"vgi-buffering-{os.getuid()}")


def connect():
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{EXTENSION}'")
    # the faults are those of the store's files: no memory tier, every entry in a file
    con.execute("SET vgi_memory_budget = '0'")
    return con


def executions(tmpdir=None):
    return [p for p in glob.glob(os.path.join(store(tmpdir), "*")) if os.path.isdir(p)]


def entries():
    return sorted(glob.glob(os.path.join(store(), "*", "log", "*", "*.bin")))


def failing(con, sql):
    try:
        con.execute(sql).fetchall()
    except duckdb.Error as e:
        return str(e)
    raise AssertionError(f"expected an error from: {sql}")


def still_usable(con):
    """The connection answers, buffer_input works and nothing is left."""
    assert con.execute("SELECT 42").fetchall() == [(42,)]
    rows = con.execute("SELECT count(*), sum(range) FROM buffer_input((SELECT * FROM range(5000)))").fetchall()
    assert rows == [(5000, 12497500)], rows
    assert executions() == [], executions()


# --------------------------------------------------------------------------
# scenarios run in a child process (their own TMPDIR or capabilities)
# --------------------------------------------------------------------------


def child_full_disk():
    con = connect()
    error = failing(con, "SELECT count(*) FROM buffer_input((SELECT range, repeat('x', 200) AS s FROM range(200000)))")
    assert "buffer_input: process failed" in error, error
    assert "No space left on device" in error, error
    assert store() in error, error
    still_usable(con)
    print(f"  full disk: {error.splitlines()[0][:160]}")


def child_permission_denied():
    con = connect()
    assert con.execute("SELECT count(*) FROM buffer_input((SELECT * FROM range(10)))").fetchall() == [(10,)]
    os.chmod(store(), 0o500)
    try:
        error = failing(con, "SELECT count(*) FROM buffer_input((SELECT * FROM range(10)))")
    finally:
        os.chmod(store(), 0o700)
    assert "buffer_input: " in error, error
    assert "Permission denied" in error, error
    assert store() in error, error
    still_usable(con)
    print(f"  permission denied: {error.splitlines()[0][:160]}")


CHILDREN = {"full-disk": child_full_disk, "permission-denied": child_permission_denied}


def run_child(name, tmpdir, prefix=()):
    env = dict(os.environ, TMPDIR=tmpdir)
    proc = subprocess.run([*prefix, sys.executable, os.path.abspath(__file__), EXTENSION, "--child", name],
                          env=env, capture_output=True, text=True, timeout=300)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        raise AssertionError(f"{name} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}")


def check_full_disk():
    mount = os.path.join(TMPDIR, "small-fs")
    os.makedirs(mount, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", mount], check=True)
    try:
        run_child("full-disk", mount)
        assert executions(mount) == [], executions(mount)
    finally:
        subprocess.run(["umount", mount], check=True)
        os.rmdir(mount)


def check_permission_denied():
    tmpdir = os.path.join(TMPDIR, "no-dac")
    os.makedirs(tmpdir, exist_ok=True)
    run_child("permission-denied", tmpdir,
              prefix=("setpriv", "--bounding-set", "-dac_override,-dac_read_search"))
    assert executions(tmpdir) == [], executions(tmpdir)


# --------------------------------------------------------------------------
# damaged entries, in this process
# --------------------------------------------------------------------------


def damage_during_combine(con, damage):
    """Runs slow_phase lingering 4 s in combine; once its entries are written,
    applies `damage` to the largest one. Returns the query's error."""
    result = {}

    def run():
        try:
            con.execute("SELECT count(*) FROM slow_phase((SELECT range, 'row ' || range AS s FROM range(300000)), "
                        "'combine', 4)").fetchall()
            result["error"] = None
        except duckdb.Error as e:
            result["error"] = str(e)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.time() + 30
    while not entries() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # the sink of 300k rows takes milliseconds; combine lingers 4 s
    target = max(entries(), key=os.path.getsize)
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


def check_damaged_entries():
    con = connect()
    con.execute("SET threads = 2")
    # a damaged entry is named by its file, a lost one by its log directory
    for name, damage, cause, named in [
        ("truncated entry", truncate, "truncated", lambda p: p),
        ("damaged entry", flip, "checksum mismatch", lambda p: p),
        ("missing entry", os.remove, "entries are missing", os.path.dirname),
    ]:
        error, path = damage_during_combine(con, damage)
        assert "slow_phase: finalize failed" in error, error
        assert cause in error, error
        assert named(path) in error, (named(path), error)
        still_usable(con)
        print(f"  {name}: {error.splitlines()[0][:160]}")


def main():
    if "--child" in sys.argv:
        CHILDREN[sys.argv[sys.argv.index("--child") + 1]]()
        return
    run_checks([(c.__name__, c) for c in (check_full_disk, check_permission_denied, check_damaged_entries)])


if __name__ == "__main__":
    main()
