"""Stress: 8 connections x 50 queries of mixed buffering functions at once on
one database, each answer checked against native SQL; no state left.
"""
import threading
import time

import duckdb

CONNECTIONS = 8
QUERIES = 50

# (vgi query, native query) pairs whose results must be equal.
CASES = [
    ("SELECT * FROM sum_all_columns((SELECT a, b FROM t WHERE a % {k} = 0))",
     "SELECT sum(a)::BIGINT, sum(b)::BIGINT FROM t WHERE a % {k} = 0"),
    ("SELECT count(*), sum(a), max(s) FROM buffer_input((SELECT * FROM t WHERE a < {n}))",
     "SELECT count(*), sum(a), max(s) FROM t WHERE a < {n}"),
    ("SELECT sum(b) FROM echo_buffering((SELECT * FROM t)) WHERE a % {k} = 1",
     "SELECT sum(b) FROM t WHERE a % {k} = 1"),
    ("SELECT count(*), min(a), max(a) FROM ordered_buffer_input((SELECT a FROM t WHERE a < {n} UNION ALL SELECT {n}))",
     "SELECT count(*) + 1, min(a), {n} FROM t WHERE a < {n}"),
    ("SELECT count(*) FROM crash_on_combine((SELECT * FROM t))", None),
]


def worker(db, index, failures, counts):
    con = db.cursor()
    for q in range(QUERIES):
        vgi_sql, native_sql = CASES[(index + q) % len(CASES)]
        params = {"k": 2 + (index + q) % 7, "n": 1000 * (1 + q)}
        vgi_sql, native_sql = vgi_sql.format(**params), native_sql and native_sql.format(**params)
        try:
            got = con.execute(vgi_sql).fetchall()
            if native_sql is None:
                failures.append(f"expected an error from: {vgi_sql}")
            elif got != con.execute(native_sql).fetchall():
                failures.append(f"wrong answer for {vgi_sql}: {got}")
        except duckdb.Error as e:
            if native_sql is not None or "Intentional exception during combine()" not in str(e):
                failures.append(f"{vgi_sql}: {e}")
        counts[index] += 1


def test_connections_at_once(vgi):
    db = vgi.connect()
    db.execute("CREATE TABLE t AS SELECT i AS a, i * 3 AS b, 's' || (i % 977) AS s FROM range(200000) r(i)")
    failures, counts = [], [0] * CONNECTIONS
    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(db, i, failures, counts)) for i in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    seconds = time.monotonic() - started
    left = vgi.contents()
    checks = [
        (not any(t.is_alive() for t in threads), "a connection did not finish within 600 s"),
        (sum(counts) == CONNECTIONS * QUERIES, f"ran {sum(counts)} of {CONNECTIONS * QUERIES} queries"),
        (not failures, f"{len(failures)} wrong answers, first: {failures[:3]}"),
        (not left, f"state left behind: {left}"),
    ]
    print(f"  {sum(counts)} queries on {CONNECTIONS} connections in {seconds:.1f} s, "
          f"{len(failures)} wrong, {len(left)} executions left")
    failed = [message for ok, message in checks if not ok]
    assert not failed, "; ".join(failed)
