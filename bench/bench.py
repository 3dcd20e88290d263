#!/usr/bin/env python3
"""Benchmark of the vgi extension against DuckDB's own operators.

    make bench                    # = $(PY) bench/bench.py
    bench/bench.py --rows 1000000,10000000 --repeat 5 --threads 1,2
    bench/bench.py --quick        # 100k rows, 2 repeats: a smoke run

On one generated table

    t(a BIGINT, b BIGINT, c BIGINT, d BIGINT, s VARCHAR)

it times, per row count and per `SET threads`, each case in five engines,
ALTERNATELY (native, python, vgi, subprocess, pipe, native, ...) in one process per
(rows, threads) configuration, and prints min, median and max per cell and
the ratios of the medians against native and against the Python round trip:

  native      DuckDB SQL alone
  python      what a Python user does instead: the Arrow round trip through
              the client (to_arrow_table, then CTAS from it / pyarrow.compute.sum)
  vgi         the vgi function, in DuckDB's process
  subprocess  the vgi function with SET vgi_execution = 'subprocess'
              (it runs in vgi-worker processes; batches cross in shared memory)
  pipe        the same with SET vgi_worker_shared_memory = false (batches
              cross as IPC inside the requests, through the pipe)

  sum_all_columns  vgi:    SELECT * FROM sum_all_columns((SELECT a, b, c, d FROM t))
                   native: SELECT sum(a), sum(b), sum(c), sum(d) FROM t
                   python: tbl = con.sql("SELECT a, b, c, d FROM t").to_arrow_table()
                           [pyarrow.compute.sum(tbl[c]) for c in "abcd"]
  buffer_input     vgi:    CREATE OR REPLACE TEMP TABLE x AS
                             SELECT * FROM buffer_input((SELECT * FROM t))
                   native: CREATE OR REPLACE TEMP TABLE x AS SELECT * FROM t
                   python: tbl = con.sql("FROM t").to_arrow_table()
                           CREATE OR REPLACE TEMP TABLE x AS FROM tbl

Every timed run is checked (outside the timing): the sums must equal the
native sums and the closed-form ones; x must have t's row count and the same
fingerprint (sum of hash of every row). A failed check aborts the benchmark.

Peak RSS: each (rows, threads, case, engine) runs once more in a fresh
subprocess: `process` is the child's ru_maxrss (os.wait4, so it includes
building t), `query` is the peak during the query alone above the RSS just
before it (the child resets its high-water mark through /proc/self/clear_refs
before the query and reads VmHWM after it).

Results are printed as tables and written as JSON (default build/bench.json).
The store lives in a private TMPDIR (build/bench-tmp); after each process the
benchmark checks that the store holds no leftover files.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

TABLE_SQL = (
    "CREATE TABLE t AS SELECT i AS a, i*2 AS b, i%1000 AS c, -i AS d, "
    "'str' || (i % 10000) AS s FROM range({rows}) r(i)"
)

CASES = {
    "sum_all_columns": {
        "native": "SELECT sum(a), sum(b), sum(c), sum(d) FROM t",
        "vgi": "SELECT * FROM sum_all_columns((SELECT a, b, c, d FROM t))",
        "python": "tbl = con.sql('SELECT a, b, c, d FROM t').to_arrow_table(); "
                  "[pyarrow.compute.sum(tbl[c]) for c in 'abcd']",
    },
    "buffer_input": {
        "native": "CREATE OR REPLACE TEMP TABLE x AS SELECT * FROM t",
        "vgi": "CREATE OR REPLACE TEMP TABLE x AS SELECT * FROM buffer_input((SELECT * FROM t))",
        "python": "tbl = con.sql('FROM t').to_arrow_table(); con.execute('CREATE OR REPLACE TEMP TABLE x AS FROM tbl')",
    },
}

FINGERPRINT_SQL = "SELECT count(*), sum(hash(a, b, c, d, s)) FROM {table}"

# Targets, checked at the largest row count measured (medians).
TARGET_SUM_RATIO = 1.2  # sum_all_columns vgi / native
TARGET_BUFFER_RATIO = 1.3  # buffer_input vgi / native, and vgi < python
TARGET_BUFFER_SPREAD = 1.3  # buffer_input vgi max / min
TARGET_SUBPROCESS_RATIO = 3.0  # subprocess / vgi, both functions
TARGET_SUM_SUBPROCESS_NATIVE = 5.0  # sum_all_columns subprocess / native
TARGET_SPEEDUP = 1.6  # buffer_input vgi, most threads vs fewest

# Timed runs per engine and case (after one untimed, checked warm-up pair).
# The default run (1M and 10M rows, 1 and 2 threads, 5 repeats, RSS) takes
# about 2 min 15 s on two cores, so 10M keeps 5 repeats too.
DEFAULT_REPEAT = 5


class CheckFailed(Exception):
    pass


# --------------------------------------------------------------------------
# worker side (one fresh process per configuration)
# --------------------------------------------------------------------------


def expected_sums(rows):
    n = rows
    a = n * (n - 1) // 2
    full, rest = divmod(n, 1000)
    c = full * (999 * 1000 // 2) + rest * (rest - 1) // 2
    return (a, 2 * a, c, -a)


def connect(cfg):
    import duckdb

    # no progress bar: it costs every engine time and writes to stdout
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute("SET enable_progress_bar = false")
    con.execute(f"LOAD '{cfg['extension']}'")
    con.execute(TABLE_SQL.format(rows=int(cfg["rows"])))
    con.execute(f"SET threads={int(cfg['threads'])}")
    return con


# "subprocess" runs the vgi query with SET vgi_execution = 'subprocess' (the
# SET and RESET are outside the timing; the worker pool stays up between runs),
# "pipe" the same with vgi_worker_shared_memory = false (batches in the pipe).
# "python" is the Arrow round trip through the Python client.
ENGINES = ("native", "python", "vgi", "subprocess", "pipe")
SUBPROCESS_ENGINES = {
    "subprocess": ["SET vgi_execution = 'subprocess'"],
    "pipe": ["SET vgi_execution = 'subprocess'", "SET vgi_worker_shared_memory = false"],
}


def python_round_trip(con, case):
    """What a Python user writes instead of the vgi function; returns result rows."""
    import pyarrow.compute

    if case == "sum_all_columns":
        tbl = con.sql("SELECT a, b, c, d FROM t").to_arrow_table()
        return [tuple(pyarrow.compute.sum(tbl[c]).as_py() for c in "abcd")]
    tbl = con.sql("FROM t").to_arrow_table()  # noqa: F841 - DuckDB's replacement scan reads the local
    return con.execute("CREATE OR REPLACE TEMP TABLE x AS FROM tbl").fetchall()


def usage_since(before):
    """(minor page faults, user CPU s, system CPU s) of this process (every
    thread) since the `getrusage` result `before`."""
    after = resource.getrusage(resource.RUSAGE_SELF)
    return (after.ru_minflt - before.ru_minflt, after.ru_utime - before.ru_utime,
            after.ru_stime - before.ru_stime)


def run_case(con, case, engine):
    """Run one query; return (seconds, result rows, (minor page faults, user
    CPU s, system CPU s) of DuckDB's process during it)."""
    if engine == "python":
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        rows = python_round_trip(con, case)
        return time.perf_counter() - start, rows, usage_since(before)
    sql = CASES[case]["native" if engine == "native" else "vgi"]
    for setting in SUBPROCESS_ENGINES.get(engine, []):
        con.execute(setting)
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    rows = con.execute(sql).fetchall()
    seconds = time.perf_counter() - start
    usage = usage_since(before)
    if engine in SUBPROCESS_ENGINES:
        con.execute("RESET vgi_execution")
        con.execute("RESET vgi_worker_shared_memory")
    return seconds, rows, usage


def check(con, case, engine, result, cfg, reference):
    """Raise CheckFailed unless the result of one run is right."""
    if case == "sum_all_columns":
        got = tuple(result[0]) if len(result) == 1 else result
        want = expected_sums(int(cfg["rows"]))
        if got != want or (reference.get("sums") not in (None, got)):
            raise CheckFailed(f"{engine} sums {got} != expected {want} / native {reference.get('sums')}")
        reference["sums"] = got
    else:
        got = con.execute(FINGERPRINT_SQL.format(table="x")).fetchall()[0]
        if "fingerprint" not in reference:
            reference["fingerprint"] = con.execute(FINGERPRINT_SQL.format(table="t")).fetchall()[0]
            reference["types"] = con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 't' ORDER BY column_index"
            ).fetchall()
        want = reference["fingerprint"]
        if got[0] != int(cfg["rows"]) or got != want:
            raise CheckFailed(f"{engine}: x has (rows, fingerprint) {got}, t has {want}")
        types = con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'x' ORDER BY column_index"
        ).fetchall()
        if types != reference["types"]:
            raise CheckFailed(f"{engine}: x has columns {types}, t has {reference['types']}")


def worker_time(cfg):
    con = connect(cfg)
    reference = {}
    out = {"cases": {}, "faults": {}, "cpu": {}}
    for case in cfg["cases"]:
        times = {engine: [] for engine in cfg["engines"]}
        faults = {engine: [] for engine in cfg["engines"]}
        cpu = {engine: [] for engine in cfg["engines"]}
        # One untimed warm-up round, checked like the others.
        for rep in range(int(cfg["repeat"]) + 1):
            for engine in cfg["engines"]:
                seconds, result, (faulted, user, system) = run_case(con, case, engine)
                check(con, case, engine, result, cfg, reference)
                if rep > 0:
                    times[engine].append(seconds)
                    faults[engine].append(faulted)
                    cpu[engine].append({"user_s": user, "sys_s": system})
        out["cases"][case] = times
        out["faults"][case] = faults
        out["cpu"][case] = cpu
        con.execute("DROP TABLE IF EXISTS x")
    return out


def status_kib(*keys):
    found = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in keys:
                found[key] = int(value.split()[0])
    return found


def worker_rss(cfg):
    con = connect(cfg)
    case, engine = cfg["case"], cfg["engine"]
    before = status_kib("VmRSS")["VmRSS"]
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        reset = True
    except OSError:
        reset = False
    seconds = None
    if engine != "baseline":
        seconds, result, _ = run_case(con, case, engine)
        check(con, case, engine, result, cfg, {})
    after = status_kib("VmHWM", "VmRSS")
    return {
        "rss_before_kib": before,
        "hwm_kib": after["VmHWM"],
        "query_peak_kib": after["VmHWM"] - before if reset else None,
        "seconds": seconds,
    }


def worker_main(cfg_json):
    cfg = json.loads(cfg_json)
    try:
        out = worker_time(cfg) if cfg["mode"] == "time" else worker_rss(cfg)
        out["ok"] = True
    except CheckFailed as e:
        out = {"ok": False, "error": f"check failed: {e}"}
    except Exception as e:  # a query error is a result too: report it
        out = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    sys.stdout.write("\nRESULT " + json.dumps(out) + "\n")
    sys.stdout.flush()


# --------------------------------------------------------------------------
# driver side
# --------------------------------------------------------------------------


def store_files(tmpdir):
    count = 0
    for _, _, files in os.walk(tmpdir):
        count += len(files)
    return count


def spawn(cfg, tmpdir):
    """Run a worker; return (result dict, ru_maxrss KiB, wall seconds)."""
    env = dict(os.environ, TMPDIR=tmpdir)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    result = None
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
    if proc.returncode != 0 or result is None:
        raise SystemExit(
            f"worker {cfg} exited with {proc.returncode}\n--- stdout\n{stdout[-4000:]}\n--- stderr\n{stderr[-4000:]}"
        )
    if not result.get("ok"):
        raise SystemExit(f"worker {cfg} failed: {result.get('error')}")
    leftover = store_files(tmpdir)
    if leftover:
        raise SystemExit(f"worker {cfg} left {leftover} files in the store under {tmpdir}")
    return result, wall


def spawn_rss(cfg, tmpdir):
    """Run a worker with Popen + os.wait4 so its own ru_maxrss is read."""
    env = dict(os.environ, TMPDIR=tmpdir)
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(cfg)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
        _, status, rusage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    result = None
    for line in text.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
    if proc.returncode != 0 or result is None or not result.get("ok"):
        raise SystemExit(f"rss worker {cfg} failed (exit {proc.returncode}):\n{text[-4000:]}")
    leftover = store_files(tmpdir)
    if leftover:
        raise SystemExit(f"rss worker {cfg} left {leftover} files in the store under {tmpdir}")
    result["ru_maxrss_kib"] = rusage.ru_maxrss  # KiB on Linux
    return result


def mib(kib):
    return None if kib is None else kib / 1024.0


def fmt_ms(seconds):
    return f"{seconds * 1000:9.1f}"


def parse_list(text):
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def machine_info():
    info = {"cores": os.cpu_count(), "platform": platform.platform()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["mem_gib"] = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return info


def git_commit():
    try:
        return subprocess.run(
            ["git", "-C", ROOT, "describe", "--always", "--dirty"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="1000000,10000000", help="comma-separated row counts")
    ap.add_argument("--repeat", type=int, default=DEFAULT_REPEAT,
                    help=f"timed runs per engine and case (default {DEFAULT_REPEAT})")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--quick", action="store_true", help="100,000 rows, 2 repeats")
    ap.add_argument("--tmpdir", default=None,
                    help="where the store goes: TMPDIR of the workers is a fresh directory inside this one "
                    "(default build/bench-tmp; e.g. /dev/shm for tmpfs)")
    ap.add_argument("--no-rss", action="store_true", help="skip the peak-RSS subprocesses")
    ap.add_argument("--no-subprocess", action="store_true",
                    help="skip subprocess execution (SET vgi_execution = 'subprocess')")
    ap.add_argument("--extension", default=os.path.join(ROOT, "build/v2.0.1/vgi.duckdb_extension"))
    ap.add_argument("--json", default=os.path.join(ROOT, "build/bench.json"))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker_main(args.worker)

    rows_list = [100_000] if args.quick else parse_list(args.rows)
    threads_list = parse_list(args.threads)
    if args.quick:
        args.repeat = 2

    def repeat_for(rows):
        return args.repeat

    # A private copy of the extension (a concurrent `make release` cannot swap
    # it mid-run) and a private TMPDIR for the store.
    work = os.path.join(ROOT, "build/bench-tmp")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "ext"))
    tmpdir = os.path.join(args.tmpdir or work, f"vgi-bench-tmp-{os.getpid()}")
    os.makedirs(tmpdir)
    if not os.path.exists(args.extension):
        raise SystemExit(f"no extension at {args.extension}: run `make release` first")
    extension = os.path.join(work, "ext", "vgi.duckdb_extension")
    shutil.copyfile(args.extension, extension)
    # subprocess execution starts the vgi-worker beside the extension file
    worker = os.path.join(os.path.dirname(os.path.abspath(args.extension)), "vgi-worker")
    if os.path.exists(worker):
        shutil.copy2(worker, os.path.join(work, "ext", "vgi-worker"))

    import duckdb

    command = " ".join(["bench/bench.py"] + sys.argv[1:])
    report = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command,
        "machine": machine_info(),
        "duckdb": duckdb.__version__,
        "commit": git_commit(),
        "extension": os.path.abspath(args.extension),
        "table": TABLE_SQL.format(rows="N"),
        "store_tmpdir": tmpdir,
        "queries": CASES,
        "load_at_start": os.getloadavg(),
        "timings": [],
        "speedup": [],
        "rss": [],
        "targets": [],
    }
    started = time.perf_counter()
    print(f"vgi benchmark  {report['date']}  DuckDB {report['duckdb']}  commit {report['commit']}")
    print(f"machine: {report['machine'].get('cores')} cores, {report['machine'].get('cpu', '?')}, "
          f"{report['machine'].get('mem_gib', '?')} GiB; load {os.getloadavg()[0]:.2f}")
    print(f"store under TMPDIR={tmpdir}")
    print(f"rows {rows_list}, threads {threads_list}, repeats "
          + ", ".join(f"{r:,}: {repeat_for(r)}" for r in rows_list))
    print()

    # ---- timings
    for rows in rows_list:
        for threads in threads_list:
            cfg = {
                "mode": "time", "rows": rows, "threads": threads, "repeat": repeat_for(rows),
                "extension": extension, "cases": list(CASES),
                "engines": [e for e in ENGINES if e not in SUBPROCESS_ENGINES or not args.no_subprocess],
            }
            load_before = os.getloadavg()[0]
            result, wall = spawn(cfg, tmpdir)
            load_after = os.getloadavg()[0]
            for case, times in result["cases"].items():
                native = statistics.median(times["native"])
                python = statistics.median(times["python"])
                vgi = statistics.median(times["vgi"])
                entry = {
                    "rows": rows, "threads": threads, "case": case, "repeat": repeat_for(rows),
                    "native_s": times["native"], "python_s": times["python"], "vgi_s": times["vgi"],
                    "native_median_s": native, "python_median_s": python, "vgi_median_s": vgi,
                    "ratio": vgi / native, "vgi_vs_python": vgi / python, "python_ratio": python / native,
                    "vgi_spread": max(times["vgi"]) / min(times["vgi"]),
                    "minor_faults_median": {engine: statistics.median(counts)
                                            for engine, counts in result["faults"][case].items()},
                    "minor_faults": result["faults"][case],
                    "cpu": result["cpu"][case],
                    "load_before": load_before, "load_after": load_after,
                }
                line = (f"  {rows:>12,} rows  {threads} thr  {case:<16} native {fmt_ms(native)} ms  "
                        f"python {fmt_ms(python)} ms  vgi {fmt_ms(vgi)} ms  vgi/native {vgi / native:5.2f}  "
                        f"vgi/python {vgi / python:5.2f}")
                if "subprocess" in times:
                    sub = statistics.median(times["subprocess"])
                    entry.update({"subprocess_s": times["subprocess"], "subprocess_median_s": sub,
                                  "subprocess_ratio": sub / native, "subprocess_vs_vgi": sub / vgi})
                    line += f"  subprocess {fmt_ms(sub)} ms  sub/native {sub / native:5.2f}"
                if "pipe" in times:
                    pipe = statistics.median(times["pipe"])
                    entry.update({"pipe_s": times["pipe"], "pipe_median_s": pipe,
                                  "pipe_ratio": pipe / native, "pipe_vs_vgi": pipe / vgi})
                    line += f"  pipe {fmt_ms(pipe)} ms  pipe/native {pipe / native:5.2f}"
                report["timings"].append(entry)
                print(line, flush=True)
            print(f"  ({wall:.1f} s, load {load_before:.2f} -> {load_after:.2f})", flush=True)

    def timing(rows, threads, case):
        for t in report["timings"]:
            if (t["rows"], t["threads"], t["case"]) == (rows, threads, case):
                return t
        return None

    lo, hi = min(threads_list), max(threads_list)
    if hi > lo:
        for rows in rows_list:
            for case in CASES:
                one, many = timing(rows, lo, case), timing(rows, hi, case)
                report["speedup"].append({
                    "rows": rows, "case": case, "from_threads": lo, "to_threads": hi,
                    "native": one["native_median_s"] / many["native_median_s"],
                    "vgi": one["vgi_median_s"] / many["vgi_median_s"],
                })

    # ---- peak RSS
    if not args.no_rss:
        print("\npeak RSS (fresh process per case and engine) ...", flush=True)
        for rows in rows_list:
            for threads in threads_list:
                base = spawn_rss({"mode": "rss", "rows": rows, "threads": threads, "case": None,
                                  "engine": "baseline", "extension": extension}, tmpdir)
                for case in CASES:
                    for engine in ("native", "python", "vgi"):
                        r = spawn_rss({"mode": "rss", "rows": rows, "threads": threads, "case": case,
                                       "engine": engine, "extension": extension}, tmpdir)
                        report["rss"].append({
                            "rows": rows, "threads": threads, "case": case, "engine": engine,
                            "process_peak_mib": mib(r["ru_maxrss_kib"]),
                            "baseline_process_peak_mib": mib(base["ru_maxrss_kib"]),
                            "rss_before_query_mib": mib(r["rss_before_kib"]),
                            "query_peak_mib": mib(r["query_peak_kib"]),
                            "seconds": r["seconds"],
                        })

    # ---- targets (at the largest row count)
    big = max(rows_list)

    def target(what, value, goal, met):
        report["targets"].append({"what": what, "value": value, "target": goal, "met": met})

    for threads in threads_list:
        t = timing(big, threads, "sum_all_columns")
        at = f"at {big:,} rows, {threads} thread(s)"
        target(f"sum_all_columns vgi/native {at}", t["ratio"], f"<= {TARGET_SUM_RATIO}",
               t["ratio"] <= TARGET_SUM_RATIO)
        if "subprocess_median_s" in t:
            target(f"sum_all_columns subprocess/vgi {at}", t["subprocess_vs_vgi"], f"<= {TARGET_SUBPROCESS_RATIO}",
                   t["subprocess_vs_vgi"] <= TARGET_SUBPROCESS_RATIO)
            target(f"sum_all_columns subprocess/native {at}", t["subprocess_ratio"],
                   f"<= {TARGET_SUM_SUBPROCESS_NATIVE}", t["subprocess_ratio"] <= TARGET_SUM_SUBPROCESS_NATIVE)
        t = timing(big, threads, "buffer_input")
        target(f"buffer_input vgi/native {at}", t["ratio"], f"<= {TARGET_BUFFER_RATIO}",
               t["ratio"] <= TARGET_BUFFER_RATIO)
        target(f"buffer_input vgi/python {at}", t["vgi_vs_python"], "< 1", t["vgi_vs_python"] < 1)
        target(f"buffer_input vgi max/min of its runs {at}", t["vgi_spread"], f"<= {TARGET_BUFFER_SPREAD}",
               t["vgi_spread"] <= TARGET_BUFFER_SPREAD)
        if "subprocess_median_s" in t:
            target(f"buffer_input subprocess/vgi {at}", t["subprocess_vs_vgi"], f"<= {TARGET_SUBPROCESS_RATIO}",
                   t["subprocess_vs_vgi"] <= TARGET_SUBPROCESS_RATIO)
    for s in report["speedup"]:
        if s["rows"] == big and s["case"] == "buffer_input":
            target(f"buffer_input (vgi) {s['to_threads']} threads vs {s['from_threads']} at {big:,} rows",
                   s["vgi"], f">= {TARGET_SPEEDUP}", s["vgi"] >= TARGET_SPEEDUP)

    report["load_at_end"] = os.getloadavg()
    report["wall_seconds"] = time.perf_counter() - started
    shutil.rmtree(tmpdir, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)

    # ---- print
    print()
    def cell(times):
        """min / median / max in ms."""
        return "/".join(f"{x * 1000:.1f}" for x in (min(times), statistics.median(times), max(times)))

    print("min / median / max ms per cell; ratios of the medians")
    print("| rows | threads | case | native | python | vgi | subprocess | pipe | vgi/native | vgi/python "
          "| python/native | subprocess/native | subprocess/vgi | pipe/vgi |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for t in report["timings"]:
        sub = cell(t["subprocess_s"]) if "subprocess_s" in t else "-"
        pipe = cell(t["pipe_s"]) if "pipe_s" in t else "-"
        sub_ratios = (f"{t['subprocess_ratio']:.2f} | {t['subprocess_vs_vgi']:.2f}"
                      if "subprocess_s" in t else "- | -")
        pipe_ratio = f"{t['pipe_vs_vgi']:.2f}" if "pipe_s" in t else "-"
        print(f"| {t['rows']:,} | {t['threads']} | {t['case']} | {cell(t['native_s'])} | {cell(t['python_s'])} "
              f"| {cell(t['vgi_s'])} | {sub} | {pipe} | {t['ratio']:.2f} | {t['vgi_vs_python']:.2f} "
              f"| {t['python_ratio']:.2f} | {sub_ratios} | {pipe_ratio} |")
    if report["speedup"]:
        print()
        print("| rows | case | speedup native | speedup vgi |")
        print("|---:|---|---:|---:|")
        for s in report["speedup"]:
            print(f"| {s['rows']:,} | {s['case']} ({s['to_threads']} vs {s['from_threads']} threads) "
                  f"| {s['native']:.2f}x | {s['vgi']:.2f}x |")
    print()
    print("minor page faults per query in DuckDB's process (median; a fresh page costs a fault "
          "and its zeroing):")
    print()
    engines = [e for e in ENGINES if any(e in t["minor_faults_median"] for t in report["timings"])]
    print("| rows | threads | case | " + " | ".join(engines) + " |")
    print("|---:|---:|---|" + "---:|" * len(engines))
    for t in report["timings"]:
        counts = t["minor_faults_median"]
        print(f"| {t['rows']:,} | {t['threads']} | {t['case']} | "
              + " | ".join(f"{counts[e]:,.0f}" if e in counts else "-" for e in engines) + " |")
    print()
    print("vgi's runs of buffer_input, in order: ms / minor faults / user CPU ms / system CPU ms "
          "(what a slow run spent its time on):")
    print()
    print("| rows | threads | runs |")
    print("|---:|---:|---|")
    for t in report["timings"]:
        if t["case"] == "buffer_input":
            runs = zip(t["vgi_s"], t["minor_faults"]["vgi"], t["cpu"]["vgi"])
            print(f"| {t['rows']:,} | {t['threads']} | "
                  + ", ".join(f"{s * 1000:.0f} / {f / 1000:.0f}k / {c['user_s'] * 1000:.0f} / "
                              f"{c['sys_s'] * 1000:.0f}" for s, f, c in runs) + " |")
    if report["rss"]:
        print()
        print("| rows | threads | case | engine | peak RSS MiB (process) | query peak above start MiB |")
        print("|---:|---:|---|---|---:|---:|")
        shown = set()
        for r in report["rss"]:
            key = (r["rows"], r["threads"])
            if key not in shown:
                shown.add(key)
                print(f"| {r['rows']:,} | {r['threads']} | (table t only) | - "
                      f"| {r['baseline_process_peak_mib']:.0f} | - |")
            q = "-" if r["query_peak_mib"] is None else f"{r['query_peak_mib']:.0f}"
            print(f"| {r['rows']:,} | {r['threads']} | {r['case']} | {r['engine']} "
                  f"| {r['process_peak_mib']:.0f} | {q} |")
    print()
    print("| target | measured | goal | met |")
    print("|---|---:|---:|---|")
    for t in report["targets"]:
        print(f"| {t['what']} | {t['value']:.2f} | {t['target']} | {'yes' if t['met'] else 'NO'} |")
    print()
    print(f"every run of every engine checked (sums equal native and closed form; x has t's rows, "
          f"column types and fingerprint); "
          f"{report['wall_seconds']:.0f} s; load {report['load_at_start'][0]:.2f} -> {report['load_at_end'][0]:.2f}")

    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)
    print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
