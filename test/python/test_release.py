"""The extension file is for exactly one DuckDB release: its footer (written
by DuckDB's own append_metadata.cmake) names that release, the platform, the
CPP ABI and vgi's version; the release's wheel loads it, and the wheel of
every other release this project builds for refuses it with DuckDB's own
version message.

    python -m pytest test/python/test_release.py --extension build/v2.0.1/vgi.duckdb_extension \
        --duckdb-version 2.0.1 --releases "2.0.1 2.0.0"

The other releases' wheels are in the venvs of scripts/setup-venv.sh (made
when missing).
"""
import os
import re
import subprocess

import duckdb
import pytest

from conftest import ROOT, makefile_releases


def pytest_generate_tests(metafunc):
    if "other" in metafunc.fixturenames:
        this = metafunc.config.getoption("--duckdb-version")
        releases = (metafunc.config.getoption("--releases") or makefile_releases()).split()
        metafunc.parametrize("other", [r for r in releases if r != this])


@pytest.fixture
def version(pytestconfig):
    """The release the extension was built for (--duckdb-version)."""
    version = pytestconfig.getoption("--duckdb-version")
    if not version:
        pytest.fail("test_release.py needs --duckdb-version (or VGI_DUCKDB_VERSION): the release of the extension")
    return version


def footer_fields(path):
    """The eight 32-byte metadata fields, field 0 first."""
    with open(path, "rb") as f:
        f.seek(-512, os.SEEK_END)
        tail = f.read(512)
    raw = tail[:256]
    fields = [raw[i * 32:(i + 1) * 32].rstrip(b"\0").decode() for i in range(8)]
    return list(reversed(fields))


def cargo_version():
    with open(os.path.join(ROOT, "Cargo.toml")) as f:
        return re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)


def test_footer_names_the_release_platform_version_and_abi(shipped_extension, version):
    fields = footer_fields(shipped_extension)
    assert fields[:5] == ["4", "linux_amd64", f"v{version}", f"v{cargo_version()}", "CPP"], fields
    assert fields[5:] == ["", "", ""], fields


def test_loads_in_its_release(shipped_vgi, version):
    assert duckdb.__version__ == version, duckdb.__version__
    con = shipped_vgi.connect()
    row = con.execute("SELECT loaded, extension_version FROM duckdb_extensions() "
                      "WHERE extension_name = 'vgi'").fetchone()
    assert row == (True, f"v{cargo_version()}"), row
    assert con.execute("SELECT count(*) FROM buffer_input((FROM range(5000)))").fetchone() == (5000,)


def test_refused_by_the_other_release(shipped_extension, version, other):
    """Refused by duckdb==OTHER with DuckDB's version message."""
    py = subprocess.run([os.path.join(ROOT, "scripts", "setup-venv.sh"), other], check=True,
                        capture_output=True, text=True, timeout=600).stdout.strip().splitlines()[-1]
    code = ("import duckdb\n"
            "con = duckdb.connect(config={'allow_unsigned_extensions': 'true'})\n"
            f"con.execute(\"LOAD '{shipped_extension}'\")\n")
    run = subprocess.run([py, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode != 0, f"duckdb=={other} loaded a file built for v{version}"
    want = (f"The file was built specifically for DuckDB version 'v{version}' and can only be loaded "
            f"with that version of DuckDB. (this version of DuckDB is 'v{other}')")
    assert want in run.stderr, run.stderr
