"""Remote execution (SET vgi_execution = 'remote') against moto and three
`vgi-worker --http` on 127.0.0.1 (the `remote_workers` fixture), beyond what
the SQL suite checks in that mode: faults of the workers, of the HTTP
answers and of the object storage, and results equal to in-process ones.

- a URL nothing listens on among good ones is skipped; with none answering
  the query fails naming the function and `cannot connect to the worker`;
- workers killed (SIGKILL) while slow_phase() lingers in process, combine or
  finalize, and a call past vgi_worker_timeout_seconds, fail the query
  naming the function, the phase and the worker;
- an HTTP server that is not a worker, moto refusing every request (403),
  a missing bucket and a stopped moto give errors naming what failed;
- a vgi_store_url other than the workers' store is refused at init, and
  the store is reached with DuckDB's s3 secret alone (no AWS_* variables in
  this process), the narrowest scope winning;
- after each fault the same connection runs a query correctly, and the
  bucket holds nothing under the store's prefix (the fixture checks too).
"""
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pytest
from remote_workers import StartError, free_port, RemoteWorkers

QUERY = "SELECT count(*), sum(range) FROM buffer_input((SELECT * FROM range(300000)))"
ROWS = [(300000, 44999850000)]
# slow_phase lingers this long in its phase: far longer than any wait below.
LINGER = 20
WAIT = 60


class LeftInBucket(AssertionError):
    """The bucket still holds state of a query that ended."""


def connect(vgi, remote, *settings):
    return vgi.connect(*remote.settings(), *settings)


def error_of(con, sql):
    """The message of the error sql raises (the test fails if it succeeds)."""
    with pytest.raises(duckdb.Error) as caught:
        con.execute(sql).fetchall()
    return str(caught.value)


def still_usable(remote, con):
    """The same connection, pointed at the live workers again, runs a query; the bucket is empty."""
    for setting in remote.settings():
        con.execute(f"SET {setting}")
    assert con.execute(QUERY).fetchall() == ROWS
    assert con.execute("SELECT 42").fetchall() == [(42,)]
    assert remote.objects() == [], remote.objects()


def dead_url():
    return f"http://127.0.0.1:{free_port()}"


def run_in_thread(con, sql):
    result = {}

    def run():
        try:
            result["rows"] = con.execute(sql).fetchall()
        except duckdb.Error as e:
            result["error"] = str(e)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def wait_for_state(remote):
    """Until the query in flight has written state (bounded)."""
    deadline = time.monotonic() + WAIT
    while not remote.objects():
        assert time.monotonic() < deadline, "the query wrote no state"
        time.sleep(0.05)


# --------------------------------------------------------------------------
# the workers
# --------------------------------------------------------------------------


def test_a_url_nothing_listens_on_is_skipped(vgi, remote_workers):
    urls = [dead_url(), remote_workers.urls[0], dead_url(), remote_workers.urls[1]]
    con = connect(vgi, remote_workers, f"vgi_worker_urls = '{','.join(urls)}'", "threads = 2")
    for _ in range(3):  # calls go round the URLs
        assert con.execute(QUERY).fetchall() == ROWS
    assert remote_workers.objects() == []


def test_no_worker_answers(vgi, remote_workers):
    urls = [dead_url(), dead_url()]
    con = connect(vgi, remote_workers, f"vgi_worker_urls = '{','.join(urls)}'")
    error = error_of(con, QUERY)
    assert "buffer_input: " in error and "cannot connect to the worker" in error, error
    assert any(f"at {url}" in error for url in urls), error
    still_usable(remote_workers, con)


@pytest.mark.parametrize("phase", ["process", "combine", "finalize"])
def test_workers_killed_mid_call(vgi, remote_workers, phase):
    con = connect(vgi, remote_workers, "threads = 2")
    thread, result = run_in_thread(
        con, f"SELECT count(*) FROM slow_phase((SELECT * FROM range(300000)), '{phase}', {LINGER})")
    wait_for_state(remote_workers)
    time.sleep(2)  # the sink takes milliseconds; the phase lingers LINGER s
    for i in range(len(remote_workers.urls)):
        remote_workers.kill(i)
    thread.join(WAIT)
    assert not thread.is_alive()
    error = result.get("error")
    assert error is not None, f"the query survived killing the workers in {phase}: {result}"
    assert f"slow_phase: {phase} failed: " in error, error
    assert "the connection to the worker failed" in error and "worker #" in error, error
    for i in range(len(remote_workers.urls)):
        remote_workers.start(i)
    still_usable(remote_workers, con)


def empty_after(remote, seconds):
    """After `seconds` (a call still running in a worker has ended), the bucket
    is empty under the prefix within a few more; else LeftInBucket, after
    removing what is left, so that later checks see only what follows."""
    time.sleep(seconds)
    deadline = time.monotonic() + 5
    while remote.objects() and time.monotonic() < deadline:
        time.sleep(0.5)
    left = remote.remove_objects()
    if left:
        raise LeftInBucket(f"left in the bucket after the query: {left}")


@pytest.mark.parametrize("phase", [
    "process",
    "combine",
    "finalize",
])
def test_a_call_past_the_timeout(vgi, remote_workers, phase):
    linger = 4
    con = connect(vgi, remote_workers, "vgi_worker_timeout_seconds = 1")
    error = error_of(con, f"SELECT count(*) FROM slow_phase((SELECT * FROM range(300000)), '{phase}', {linger})")
    assert f"slow_phase: {phase} failed: " in error, error
    assert "the worker did not answer within vgi_worker_timeout_seconds" in error and "worker #" in error, error
    con.execute("RESET vgi_worker_timeout_seconds")
    # the worker goes on lingering, then ends its call: nothing of it may stay
    empty_after(remote_workers, linger + 1)
    still_usable(remote_workers, con)


class Garbage(BaseHTTPRequestHandler):
    """Answers every request 200 with a line of text."""

    def answer(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "6")
        self.end_headers()
        self.wfile.write(b"hello\n")

    do_GET = do_POST = do_PUT = do_OPTIONS = answer

    def log_message(self, *args):
        pass


@pytest.fixture
def garbage_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(WAIT)


def test_a_server_that_is_not_a_worker(vgi, remote_workers, garbage_url):
    con = connect(vgi, remote_workers, f"vgi_worker_urls = '{garbage_url}'")
    error = error_of(con, QUERY)
    assert "buffer_input: " in error and f"at {garbage_url})" in error, error
    still_usable(remote_workers, con)


def test_a_server_that_is_not_a_worker_is_named_so(vgi, remote_workers, garbage_url):
    con = connect(vgi, remote_workers, f"vgi_worker_urls = '{garbage_url}'")
    assert "the worker's answer is not VGI's" in error_of(con, QUERY)


# --------------------------------------------------------------------------
# the object storage
# --------------------------------------------------------------------------


def test_moto_refuses_every_request(vgi, remote_workers):
    con = connect(vgi, remote_workers)
    assert con.execute(QUERY).fetchall() == ROWS  # this process's store is open now
    other = f"s3://{remote_workers.bucket}/{remote_workers.prefix}-other"
    remote_workers.enforce_auth()
    try:
        # a worker's first write is refused
        error = error_of(con, QUERY)
        assert "buffer_input: init failed: put s3://" in error and "403 Forbidden" in error, error
        assert "worker #" in error, error
        # opening a store is refused
        con.execute(f"SET vgi_store_url = '{other}'")
        error = error_of(con, QUERY)
        assert f"vgi_store_url = '{other}': create a probe object" in error and "403 Forbidden" in error, error
    finally:
        remote_workers.enforce_auth(False)
    assert remote_workers.objects("") == []
    still_usable(remote_workers, con)


def test_a_missing_bucket(vgi, remote_workers):
    con = connect(vgi, remote_workers, "vgi_store_url = 's3://vgi-no-such-bucket/state'")
    error = error_of(con, QUERY)
    assert "buffer_input: invalid argument: vgi_store_url = 's3://vgi-no-such-bucket/state'" in error, error
    assert "NoSuchBucket" in error, error
    still_usable(remote_workers, con)


def test_a_store_url_that_is_not_the_workers_store(vgi, remote_workers):
    other = f"s3://{remote_workers.bucket}/{remote_workers.prefix}-other"
    con = connect(vgi, remote_workers, f"vgi_store_url = '{other}'")
    error = error_of(con, QUERY)
    assert f"buffer_input: init failed: invalid argument: the workers keep their state in another store than {other}" \
        in error and "vgi_store_url must be the workers' --store" in error, error
    # the worker removes what it had stored (the destructor goes on a thread of its own)
    empty_after(remote_workers, 0)
    assert remote_workers.objects(f"{remote_workers.prefix}-other") == []
    still_usable(remote_workers, con)


def test_the_store_is_reached_with_a_secret(vgi, remote_workers, monkeypatch):
    # DuckDB's process has no AWS_* variables: only the secret says where the store is
    for name in remote_workers.env:
        monkeypatch.delenv(name)
    # a fresh prefix of the workers' bucket, so that this process opens its store anew, with the secret
    con = connect(vgi, remote_workers)
    host_port = remote_workers.endpoint.split("://", 1)[1]
    con.execute(f"CREATE SECRET vgi_state (TYPE s3, KEY_ID 'vgi-test', SECRET 'vgi-test', REGION 'us-east-1', "
                f"ENDPOINT '{host_port}', USE_SSL false, URL_STYLE 'path', SCOPE 's3://{remote_workers.bucket}')")
    assert con.execute(QUERY).fetchall() == ROWS
    assert remote_workers.objects() == []
    # a narrower secret wins for its scope: here one whose endpoint nothing listens on
    dead = dead_url().split("://", 1)[1]
    con.execute(f"CREATE SECRET vgi_dead (TYPE s3, KEY_ID 'k', SECRET 's', ENDPOINT '{dead}', USE_SSL false, "
                f"SCOPE 's3://{remote_workers.bucket}/{remote_workers.prefix}')")
    error = error_of(con, QUERY)
    assert f"vgi_store_url = '{remote_workers.store_url}'" in error and f"http://{dead}/" in error, error
    con.execute("DROP SECRET vgi_dead")
    still_usable(remote_workers, con)


def test_a_worker_refuses_to_start_without_its_bucket(vgi, remote_workers):
    missing = RemoteWorkers(remote_workers.worker_path, workers=1, moto_server=remote_workers.moto_server,
                            create_bucket=False)
    with pytest.raises(StartError, match="NoSuchBucket"):
        with missing:
            pass
    assert missing.moto.poll() is not None and missing.processes[0].poll() is not None


def test_a_stopped_moto(vgi, remote_workers):
    con = connect(vgi, remote_workers)
    assert con.execute(QUERY).fetchall() == ROWS
    remote_workers.stop_moto()
    error = error_of(con, QUERY)
    assert "buffer_input: " in error and f"s3://{remote_workers.bucket}/{remote_workers.prefix}/" in error, error
    con.execute("SET vgi_execution = 'in_process'")
    assert con.execute(QUERY).fetchall() == ROWS


# --------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------

SAME_RESULTS = [
    "SELECT * FROM buffer_input((SELECT range AS a, 'v' || range AS s, range % 7 = 0 AS b, "
    "CASE WHEN range % 5 = 0 THEN NULL ELSE range / 3 END AS n FROM range(200000)))",
    "SELECT * FROM sum_all_columns((SELECT range AS a, -range AS b, range::DOUBLE / 3 AS d, "
    "(range % 100)::HUGEINT AS h, (range % 10)::DECIMAL(10, 2) AS m FROM range(500000)))",
    "SELECT * FROM ordered_buffer_input((SELECT range AS i, range * 2 AS j FROM range(100000)))",
]


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("sql", SAME_RESULTS, ids=["buffer_input", "sum_all_columns", "ordered_buffer_input"])
def test_the_same_results_as_in_process(vgi, remote_workers, workers, sql):
    expected = vgi.connect("threads = 2").execute(sql).fetchall()
    con = connect(vgi, remote_workers, "threads = 2", f"vgi_worker_urls = '{','.join(remote_workers.urls[:workers])}'")
    rows = con.execute(sql).fetchall()
    if not sql.startswith("SELECT * FROM ordered_"):
        rows, expected = sorted(rows), sorted(expected)
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected):  # float sums: as close as summing in another order gives
        assert row == tuple(pytest.approx(v, rel=1e-12) if isinstance(v, float) else v for v in want)
    assert remote_workers.objects() == []
