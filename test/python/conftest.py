"""The shared parts of the Python tests (pytest).

    python -m pytest -rs test/python --extension build/v2.0.1/vgi.duckdb_extension \
        --duckdb-version 2.0.1 --releases "2.0.1 2.0.0"

- `--extension` (default: $VGI_EXTENSION): the extension file under test; the
  subprocess mode starts the `vgi-worker` beside it;
- every test runs with a private, empty TMPDIR (under the TMPDIR pytest was
  started with): the store root is `$TMPDIR/vgi-buffering-<uid>`, read when a
  database LOADs the extension (subprocess workers get it from the
  extension), so each test sees only its own state; after the test, its
  store must be empty (nothing left behind);
- the `vgi` fixture: `connect()`, the store, its executions and the
  `vgi-worker` children of this process;
- the `remote_workers` fixture (test_remote.py): moto and three
  `vgi-worker --http` beside the extension (test/remote_workers.py), the
  AWS_* variables set in this process for the extension's side, and after
  the test no object under the store's prefix; it skips, saying so, without
  moto's server (`--moto-server`, default $VGI_MOTO_SERVER, else
  test/s3-server: moto of scripts/setup-tools.sh, its conditional writes atomic).

This file is also imported as a plain module by the child processes of
test_faults.py, which run a scenario with a TMPDIR or capabilities of their
own.
"""
import glob
import os
import re
import shutil
import tempfile

import sys

import duckdb
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODES = ("in_process", "subprocess")

sys.path.insert(0, os.path.join(ROOT, "test"))
import remote_workers as harness  # noqa: E402  (test/remote_workers.py)


def makefile_releases():
    """The releases the project builds for: the Makefile's DUCKDB_RELEASES."""
    with open(os.path.join(ROOT, "Makefile")) as f:
        return re.search(r"^DUCKDB_RELEASES := (.+)$", f.read(), re.M).group(1).strip()


def pytest_addoption(parser):
    group = parser.getgroup("vgi")
    group.addoption("--extension", default=os.environ.get("VGI_EXTENSION"),
                    help="the vgi.duckdb_extension under test, vgi-worker beside it (default: $VGI_EXTENSION)")
    group.addoption("--shipped-extension", default=os.environ.get("VGI_SHIPPED_EXTENSION"),
                    help="the shipped build (no test fixtures) that test_release.py checks "
                         "(default: $VGI_SHIPPED_EXTENSION, else --extension)")
    group.addoption("--duckdb-version", default=os.environ.get("VGI_DUCKDB_VERSION"),
                    help="the DuckDB release the extension was built for (default: $VGI_DUCKDB_VERSION); "
                         "test_release.py")
    group.addoption("--releases", default=None,
                    help="every release the project builds for, space-separated (default: the Makefile's "
                         "DUCKDB_RELEASES); test_release.py")
    group.addoption("--moto-server", default=None,
                    help="moto's S3 server for test_remote.py (default: $VGI_MOTO_SERVER, else test/s3-server)")
    group.addoption("--out-of-core-rows", default="1000000,16000000",
                    help="input sizes of test_out_of_core.py, comma-separated (default: 1000000,16000000)")


def pytest_configure(config):
    extension = config.getoption("--extension")
    if not extension:
        raise pytest.UsageError("give the extension under test: --extension PATH (or VGI_EXTENSION)")
    extension = os.path.abspath(extension)
    if not os.path.isfile(extension):
        raise pytest.UsageError(f"--extension: no such file: {extension}")
    config.vgi_extension = extension
    shipped = config.getoption("--shipped-extension")
    config.vgi_shipped_extension = os.path.abspath(shipped) if shipped else extension


# --------------------------------------------------------------------------
# the store and the processes, for the tests and their child processes
# --------------------------------------------------------------------------


class Vgi:
    """The extension under test and what a test looks at around it. The store
    is always that of the current TMPDIR (or of `tmpdir`)."""

    def __init__(self, extension):
        self.extension = extension

    def connect(self, *settings):
        """A fresh in-memory database with the extension loaded, then
        `SET <setting>` for each of `settings` (e.g. "vgi_execution = 'subprocess'")."""
        con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
        con.execute(f"LOAD '{self.extension}'")
        for setting in settings:
            con.execute(f"SET {setting}")
        return con

    @staticmethod
    def store(tmpdir=None):
        """The store root: `$TMPDIR/vgi-buffering-<uid>`."""
        return os.path.join(tmpdir or os.environ.get("TMPDIR", "/tmp"), f"vgi-buffering-{os.getuid()}")

    def contents(self, tmpdir=None):
        """Everything in the store root (executions are directories; nothing
        else should be there either)."""
        return sorted(glob.glob(os.path.join(self.store(tmpdir), "*")))

    def executions(self, tmpdir=None):
        """The execution directories in the store."""
        return [p for p in self.contents(tmpdir) if os.path.isdir(p)]

    def entries(self, tmpdir=None):
        """The entry files of every execution's log."""
        return sorted(glob.glob(os.path.join(self.store(tmpdir), "*", "log", "*", "*.bin")))

    @staticmethod
    def workers():
        """Pids of the vgi-worker processes this process started."""
        found = []
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                with open(stat) as f:
                    text = f.read()
            except OSError:
                continue
            comm = text[text.index("(") + 1:text.rindex(")")]
            ppid = int(text[text.rindex(")") + 2:].split()[1])
            if ppid == os.getpid() and comm == "vgi-worker":
                found.append(int(stat.split("/")[2]))
        return found


@pytest.fixture(scope="session")
def extension(pytestconfig):
    """The absolute path of the extension under test."""
    return pytestconfig.vgi_extension


@pytest.fixture(scope="session")
def vgi(extension):
    return Vgi(extension)


@pytest.fixture(scope="session")
def shipped_extension(pytestconfig):
    """The absolute path of the shipped build (`make release`, no test fixtures)."""
    return pytestconfig.vgi_shipped_extension


@pytest.fixture(scope="session")
def shipped_vgi(shipped_extension):
    return Vgi(shipped_extension)


@pytest.fixture(scope="session")
def tmpdir_base():
    """Where the private TMPDIRs go: below the TMPDIR pytest started with."""
    base = tempfile.mkdtemp(prefix="vgi-pytest-", dir=os.environ.get("TMPDIR") or "/tmp")
    yield base
    try:
        os.rmdir(base)  # kept when a test left state behind
    except OSError:
        pass


@pytest.fixture(autouse=True)
def private_tmpdir(request, tmpdir_base, monkeypatch, vgi):
    """Each test runs with a private, empty TMPDIR; afterwards its store must
    hold nothing (a test that leaves state keeps its directory for a look)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)[:80]
    path = tempfile.mkdtemp(prefix=f"{name}-", dir=tmpdir_base)
    monkeypatch.setenv("TMPDIR", path)
    # tempfile caches the first TMPDIR it saw: point it at this test's too
    monkeypatch.setattr(tempfile, "tempdir", path)
    yield path
    left = vgi.contents(path)
    assert left == [], f"state left behind in the store: {left}"
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def remote_workers(pytestconfig, extension, monkeypatch):
    """moto and three HTTP workers (the vgi-worker beside the extension), the
    AWS_* variables in this process; afterwards nothing under the prefix."""
    moto = pytestconfig.getoption("--moto-server") or harness.default_moto_server()
    if not os.access(moto, os.X_OK):
        pytest.skip(f"no moto_server at {moto} (scripts/setup-tools.sh installs it; or --moto-server)")
    worker = os.path.join(os.path.dirname(extension), "vgi-worker")
    with harness.RemoteWorkers(worker, workers=3, moto_server=moto) as remote:
        for name, value in remote.env.items():
            monkeypatch.setenv(name, value)
        yield remote
        if remote.moto.poll() is None:
            remote.enforce_auth(False)
            assert remote.objects() == [], f"left in the bucket: {remote.objects()}"
        assert remote.exited() == [], remote.exited()


def needs_root(privilege):
    """A mark that skips the test unless it runs as root; `privilege` names
    what it needs root for, e.g. "mounting a tmpfs (CAP_SYS_ADMIN)"."""
    return pytest.mark.skipif(os.geteuid() != 0, reason=f"needs root: {privilege}")
