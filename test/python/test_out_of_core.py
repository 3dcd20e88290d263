"""Out of core (issue: reliability): buffer_input over inputs several times
larger than DuckDB's memory_limit completes with the right result, and its
peak RSS does not grow with the input, because the rows wait in the store's
files, not in memory.

Each size (--out-of-core-rows, default 1000000,16000000: 1.7x and 26.8x the
memory_limit) runs twice, each time in a fresh process (memory_limit 64 MB,
2 threads): once natively, once through buffer_input. The processes' peak RSS
(VmHWM, which the child reads from /proc/self/status) is printed next to the
input's size (its BIGINT and VARCHAR bytes), and the two results must be
equal. At the largest size
buffer_input's peak RSS must stay below half the input's size: rows held in
memory would put it above the input's size (1,785 MB with a budget that
holds them all). Measured peaks spread between runs (162 to 436 MB at 16M
rows, 149-210 MB at 1M), so a bound relative to the smallest size would
fail on noise.
"""
import json
import subprocess
import sys

MEMORY_LIMIT_MB = 64
# ~100 bytes of text per row: 4M rows are about 420 MB of Arrow data
INPUT = "SELECT i, repeat(chr(97 + (i % 26)::INTEGER), 92) || i AS s FROM range({rows}) r(i)"
CHECK = "SELECT count(*), sum(i), sum(hash(s)), sum(length(s)) FROM ({source})"

CHILD = r'''
import duckdb, json, sys
rows, extension, limit = int(sys.argv[1]), sys.argv[2], sys.argv[3]
# no progress bar: stdout carries the result line only
con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
con.execute("SET enable_progress_bar = false")
con.execute(f"LOAD '{extension}'")
con.execute(f"SET memory_limit = '{limit}MB'")
con.execute("SET threads = 2")
source = sys.argv[4].format(rows=rows)
if sys.argv[6] == "vgi":
    source = f"SELECT * FROM buffer_input(({source}))"
row = [str(v) for v in con.execute(sys.argv[5].format(source=source)).fetchall()[0]]
# VmHWM: the peak RSS of this process's own memory since exec (ru_maxrss
# would also count the RSS of the pytest process it was forked from)
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"row": row, "peak_kb": peak_kb}))
'''


def pytest_generate_tests(metafunc):
    if "sizes" in metafunc.fixturenames:
        sizes = sorted(int(n) for n in metafunc.config.getoption("--out-of-core-rows").split(","))
        metafunc.parametrize("sizes", [sizes], ids=["-".join(f"{n}" for n in sizes) + "-rows"])


def run(extension, rows, engine):
    """(result row, peak RSS MB) of the check query in a fresh process (its
    TMPDIR: the test's), given at most 900 s."""
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(rows), extension, str(MEMORY_LIMIT_MB), INPUT,
                               CHECK, engine], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{engine} over {rows:,} rows did not end within 900 s")
    assert proc.returncode == 0, f"{engine} over {rows:,} rows failed:\n{proc.stderr[-2000:]}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result["row"], result["peak_kb"] / 1024


def test_out_of_core(vgi, sizes):
    peaks = []
    for rows in sizes:
        native, native_mb = run(vgi.extension, rows, "native")
        got, vgi_mb = run(vgi.extension, rows, "vgi")
        left = vgi.contents()
        input_mb = (8 * rows + int(got[3])) / 1e6
        print(f"  {rows:>10,} rows  input {input_mb:6.0f} MB ({input_mb / MEMORY_LIMIT_MB:5.1f}x memory_limit)  "
              f"peak RSS native {native_mb:4.0f} MB, buffer_input {vgi_mb:4.0f} MB")
        assert got == native, f"native {native} vgi {got}"
        assert int(got[0]) == rows, got
        assert not left, left
        peaks.append((rows, input_mb, vgi_mb))
    rows, input_mb, last_mb = peaks[-1]
    assert last_mb < input_mb / 2, f"peak RSS {last_mb:.0f} MB over {rows:,} rows of {input_mb:.0f} MB: {peaks}"
