#!/usr/bin/env python3
"""Benchmark of remote execution: vgi functions in HTTP workers, state in S3.

    make bench-remote             # = $(PY) bench/remote.py
    bench/remote.py --rows 1000000 --repeat 5 --threads 2 --workers 1,2

It starts moto (the S3-compatible server of the tests, on a free 127.0.0.1
port) and as many `vgi-worker --http 127.0.0.1:0 --store s3://...` as the
largest --workers count (test/remote_workers.py), reaches the bucket with a
`CREATE SECRET (TYPE s3, ...)`, and on the table of bench.py

    t(a BIGINT, b BIGINT, c BIGINT, d BIGINT, s VARCHAR)

times each case ALTERNATELY in one process: native SQL, the Python Arrow
round trip, vgi in process, vgi in subprocess workers, and vgi in remote
workers with the first 1, 2, ... URLs of vgi_worker_urls (remote-N). The
cases are bench.py's (sum_all_columns, buffer_input), `one_row`
(buffer_input of one row against `SELECT 1`), the cost of one query's
round trips, and `busy_per_batch`: buffer_input whose every process batch
keeps its worker busy for --busy-ms (the fixture of crates/vgi-fixtures,
standing in for work on another machine: one work slot per process, so
batches in one process take turns and workers add capacity). It has no
native or Python counterpart; its table shows how throughput grows with
workers. The fixture comes with the tests' build, so the default
--extension is build/v2.0.1/test/ (release-built like the shipped one; its
vgi-worker beside it serves the workers). DuckDB runs --threads threads
(default 3: one process call in flight per thread, so that 3 workers can
all be busy). Every timed run is checked like bench.py's, and after every
remote run the bucket must hold nothing under the store's prefix.

Figures with moto measure moto too: it is a Python server (about 20-35 ms
per small request); a real object store answers in other times.
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "test"))

import bench  # noqa: E402  (bench/bench.py: the table, the cases and the checks)
from remote_workers import RemoteWorkers  # noqa: E402

ONE_ROW = {"native": "SELECT 1 AS a", "vgi": "SELECT * FROM buffer_input((SELECT 1 AS a))"}
BUSY = "CREATE OR REPLACE TEMP TABLE x AS SELECT * FROM busy_per_batch((SELECT * FROM t), {ms})"
BUSY_CASE = "busy_per_batch"


class LeftBehind(Exception):
    pass


def engines_for(case, worker_counts):
    anchors = [] if case == BUSY_CASE else ["native", "python"]
    return anchors + ["vgi", "subprocess"] + [f"remote-{n}" for n in worker_counts]


def run(con, case, engine, remote, busy_ms):
    """Time one query of `case` on `engine`; (seconds, rows). Settings are outside the timing."""
    if case == "one_row":
        if engine == "python":
            start = time.perf_counter()
            rows = [tuple(con.sql("SELECT 1 AS a").to_arrow_table().to_pylist()[0].values())]
            return time.perf_counter() - start, rows
        sql = ONE_ROW["native" if engine == "native" else "vgi"]
    elif case == BUSY_CASE:
        sql = BUSY.format(ms=float(busy_ms))
    elif engine == "python":
        return bench.run_case(con, case, engine)[:2]
    else:
        sql = bench.CASES[case]["native" if engine == "native" else "vgi"]
    if engine == "subprocess":
        con.execute("SET vgi_execution = 'subprocess'")
    elif engine.startswith("remote-"):
        workers = int(engine.split("-")[1])
        con.execute("SET vgi_execution = 'remote'")
        con.execute(f"SET vgi_worker_urls = '{','.join(remote.urls[:workers])}'")
        con.execute(f"SET vgi_store_url = '{remote.store_url}'")
    start = time.perf_counter()
    rows = con.execute(sql).fetchall()
    seconds = time.perf_counter() - start
    con.execute("RESET vgi_execution")
    if engine.startswith("remote-"):
        left = remote.objects()
        if left:
            raise LeftBehind(f"{engine} {case} left {len(left)} objects in the bucket, e.g. {left[:3]}")
    return seconds, rows


def check(con, case, engine, rows, cfg, reference):
    if case == "one_row":
        if [tuple(r) for r in rows] != [(1,)]:
            raise bench.CheckFailed(f"{engine} one_row gave {rows}")
        return
    bench.check(con, "buffer_input" if case == BUSY_CASE else case, engine, rows, cfg, reference)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per engine and case")
    ap.add_argument("--threads", type=int, default=3)
    ap.add_argument("--workers", default="1,2,3", help="comma-separated remote worker counts")
    ap.add_argument("--cases", default=f"one_row,{BUSY_CASE},sum_all_columns,buffer_input")
    ap.add_argument("--busy-ms", type=float, default=300.0, help=f"{BUSY_CASE}: milliseconds of work per batch")
    ap.add_argument("--extension", default=os.path.join(ROOT, "build/v2.0.1/test/vgi.duckdb_extension"))
    ap.add_argument("--moto-server", default=None)
    args = ap.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    cases = args.cases.split(",")
    engines = engines_for(None, counts)
    worker = os.path.join(os.path.dirname(os.path.abspath(args.extension)), "vgi-worker")
    cfg = {"extension": os.path.abspath(args.extension), "rows": args.rows, "threads": args.threads}
    print(f"rows {args.rows:,}, threads {args.threads}, {args.repeat} timed runs after one checked warm-up; "
          f"engines {', '.join(engines)}; {BUSY_CASE} {args.busy_ms:g} ms per batch of "
          "vgi_process_batch_rows (default 122,880) rows")
    with RemoteWorkers(worker, workers=max(counts), bucket="vgi-bench", moto_server=args.moto_server) as remote:
        con = bench.connect(cfg)
        host_port = remote.endpoint.split("://", 1)[1]
        con.execute(
            f"CREATE SECRET vgi_bench (TYPE s3, KEY_ID '{remote.env['AWS_ACCESS_KEY_ID']}', "
            f"SECRET '{remote.env['AWS_SECRET_ACCESS_KEY']}', REGION '{remote.env['AWS_REGION']}', "
            f"ENDPOINT '{host_port}', USE_SSL false, URL_STYLE 'path', SCOPE 's3://{remote.bucket}')")
        results = {}
        for case in cases:
            reference = {}
            times = {engine: [] for engine in engines_for(case, counts)}
            for round_ in range(args.repeat + 1):
                for engine in times:
                    seconds, rows = run(con, case, engine, remote, args.busy_ms)
                    check(con, case, engine, rows, cfg, reference)
                    if round_ > 0:
                        times[engine].append(seconds)
            results[case] = times
    print()
    header = ["case"] + [f"{e} ms" for e in engines] + [f"{e}/vgi" for e in engines if e.startswith("remote-")]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for case, times in results.items():
        medians = {e: statistics.median(t) for e, t in times.items()}
        cells = [case] + [f"{medians[e] * 1000:.1f} ({min(times[e]) * 1000:.0f}-{max(times[e]) * 1000:.0f})"
                          if e in times else "-" for e in engines]
        cells += [f"{medians[e] / medians['vgi']:.1f}" for e in engines if e.startswith("remote-")]
        print("| " + " | ".join(cells) + " |")
    remote_engines = [e for e in engines if e.startswith("remote-")]
    print("\nthroughput of remote execution, million rows/s from the medians (x: against remote-"
          f"{counts[0]})\n")
    print("| case | " + " | ".join(remote_engines) + " |")
    print("|" + "---|" * (len(remote_engines) + 1))
    for case, times in results.items():
        if case == "one_row":
            continue
        first = statistics.median(times[remote_engines[0]])
        cells = [case] + [f"{args.rows / statistics.median(times[e]) / 1e6:.2f} "
                          f"({first / statistics.median(times[e]):.2f}x)" for e in remote_engines]
        print("| " + " | ".join(cells) + " |")
    print("\nmedian (min-max) ms; every run checked; the bucket was empty after every remote run")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (bench.CheckFailed, LeftBehind) as e:
        print(f"bench/remote.py: {e}", file=sys.stderr)
        sys.exit(1)
