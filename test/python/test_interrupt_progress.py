"""Interrupt and progress checks that need a second thread (not expressible
in sqllogictest): an interrupted query stops within one second in every
phase and leaves no state; query_progress() advances during a long sink.
"""
import threading
import time

import pytest


def interrupt_after(con, sql, delay):
    """Runs `sql`, interrupts it after `delay` s; returns (error, seconds from interrupt to return)."""
    result = {}

    def run():
        try:
            con.execute(sql).fetchall()
            result["error"] = None
        except Exception as e:  # noqa: BLE001 - any error is the outcome under test
            result["error"] = e
        result["end"] = time.monotonic()

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(delay)
    sent = time.monotonic()
    con.interrupt()
    worker.join(30)
    if worker.is_alive():
        return "still running 30 s after the interrupt", float("inf")
    return result["error"], result["end"] - sent


@pytest.mark.parametrize("phase", ["process", "combine", "finalize"])
def test_interrupt(vgi, phase):
    con = vgi.connect()
    sql = f"SELECT count(*) FROM slow_phase((SELECT * FROM range(100000) t(i)), '{phase}', 30)"
    error, seconds = interrupt_after(con, sql, 1.0)
    assert error is not None and "INTERRUPT" in str(error).upper(), f"{phase}: expected an interrupt, got {error!r}"
    assert seconds < 1.0, f"{phase}: took {seconds:.2f} s to stop"
    assert con.execute("SELECT 42").fetchall() == [(42,)], f"{phase}: connection unusable"
    assert vgi.contents() == [], f"{phase}: state left behind: {vgi.contents()}"
    print(f"  interrupt in {phase}: stopped {seconds * 1000:.0f} ms after the interrupt")


def test_progress(vgi):
    con = vgi.connect("enable_progress_bar = true", "enable_progress_bar_print = false")
    con.execute("CREATE TABLE big AS SELECT i, i::VARCHAR s FROM range(20000000) t(i)")
    seen = []
    done = threading.Event()

    def poll():
        while not done.is_set():
            seen.append(con.query_progress())
            time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        rows = con.execute("SELECT count(*) FROM buffer_input((SELECT * FROM big))").fetchall()
    finally:
        done.set()
        poller.join(30)
    assert rows == [(20000000,)], rows
    during = sorted({p for p in seen if 0 < p < 100})
    assert len(during) >= 2, f"progress never advanced during the sink: {sorted(set(seen))[:20]}"
    print(f"  progress: {len(during)} distinct values between 0 and 100 ({during[0]:.0f}% .. {during[-1]:.0f}%)")
