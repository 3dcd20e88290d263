"""Several databases in one process: each LOAD gives its database a registry
of its own (nothing global that LOAD changes), so databases that load the
extension and bind buffering calls at the same time neither race nor see
each other's settings, and closing one leaves the others working.
"""
import threading

THREADS = 4
ROUNDS = 40


def queries(con, n):
    """Binds and runs buffering calls whose answers are known; the batch size
    setting differs per database."""
    con.execute(f"SET vgi_process_batch_rows = {1 + n % 5}")
    got = con.execute(f"SELECT * FROM sum_all_columns((SELECT range AS i FROM range({n})))").fetchall()
    assert got == [(n * (n - 1) // 2,)], got
    got = con.execute(f"SELECT count(*), sum(i) FROM buffer_input((SELECT range AS i FROM range({n})))").fetchall()
    assert got == [(n, n * (n - 1) // 2)], got
    got = con.execute("SELECT current_setting('vgi_process_batch_rows')").fetchall()
    assert got == [(1 + n % 5,)], got


def in_threads(body):
    failures = []

    def run(index):
        try:
            body(index)
        except Exception as e:  # noqa: BLE001 - collected and reported below
            failures.append(f"thread {index}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not any(t.is_alive() for t in threads), "a thread did not finish within 600 s"
    assert not failures, "\n".join(failures[:5])


def test_databases_load_and_bind_concurrently(vgi):
    """Each thread opens, loads, queries and closes database after database,
    while the others do the same."""

    def body(index):
        for round_ in range(ROUNDS):
            con = vgi.connect()
            queries(con, 100 + 10 * index + round_)
            con.close()

    in_threads(body)
    assert vgi.contents() == [], vgi.contents()


def test_long_lived_databases_bind_while_others_load(vgi):
    """Two databases keep binding while other threads load the extension into
    fresh databases and close them (their registries are freed meanwhile)."""
    kept = [vgi.connect(), vgi.connect()]

    def body(index):
        for round_ in range(ROUNDS):
            if index < len(kept):
                queries(kept[index].cursor(), 50 + 7 * index + round_)
            else:
                vgi.connect().close()

    in_threads(body)
    for con in kept:
        queries(con, 1000)
        con.close()
    assert vgi.contents() == [], vgi.contents()


def test_settings_are_per_database(vgi):
    a, b = vgi.connect(), vgi.connect()
    a.execute("SET GLOBAL vgi_process_batch_rows = 3")
    assert b.execute("SELECT current_setting('vgi_process_batch_rows')").fetchall() == [(122880,)]
    a.close()
    queries(b, 77)
    b.close()
    assert vgi.contents() == [], vgi.contents()
