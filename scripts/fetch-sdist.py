"""Fetch the source distribution of a PyPI requirement with pip, and only that.

    python fetch-sdist.py duckdb==2.0.1 DIR      prints DIR/duckdb-2.0.1.tar.gz

`pip download --no-binary :all:` downloads the archive and then builds its
metadata, which for DuckDB installs a build toolchain into an isolated env and
takes minutes. pip keeps the archive in a `pip-unpack-*` folder under TMPDIR
while it works, so this script gives pip a TMPDIR of its own, waits until a
whole archive (one that gzip reads to its end) is there, copies it and stops
pip. Bounded: gives up after ten minutes.
"""

import glob
import gzip
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TIMEOUT_SECONDS = 600


def whole_gzip(path):
    try:
        with gzip.open(path, "rb") as f:
            while f.read(1 << 20):
                pass
        return True
    except (OSError, EOFError):
        return False


def main():
    requirement, dest = sys.argv[1], sys.argv[2]
    name, version = requirement.split("==")
    archive = f"{name}-{version}.tar.gz"
    target = os.path.join(dest, archive)
    if os.path.exists(target) and whole_gzip(target):
        print(target)
        return
    os.makedirs(dest, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vgi-sdist-", dir=dest) as scratch:
        pip_tmp = os.path.join(scratch, "tmp")
        pip_dest = os.path.join(scratch, "dl")
        os.makedirs(pip_tmp)
        env = dict(os.environ, TMPDIR=pip_tmp, PIP_DISABLE_PIP_VERSION_CHECK="1")
        pip = subprocess.Popen(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "--quiet", "-d", pip_dest, requirement],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        found = None
        deadline = time.monotonic() + TIMEOUT_SECONDS
        try:
            while found is None and time.monotonic() < deadline:
                candidates = [os.path.join(pip_dest, archive)]
                candidates += glob.glob(os.path.join(pip_tmp, "pip-unpack-*", archive))
                for path in candidates:
                    if os.path.exists(path):
                        copy = target + ".part"
                        try:
                            shutil.copyfile(path, copy)
                        except FileNotFoundError:
                            continue
                        if whole_gzip(copy):
                            os.replace(copy, target)
                            found = target
                            break
                if found is None:
                    if pip.poll() is not None and not os.path.exists(os.path.join(pip_dest, archive)):
                        err = pip.stderr.read().decode(errors="replace")
                        sys.exit(f"fetch-sdist: pip ended ({pip.returncode}) without {archive}:\n{err}")
                    time.sleep(0.5)
        finally:
            if pip.poll() is None:
                os.killpg(pip.pid, signal.SIGTERM)
                try:
                    pip.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(pip.pid, signal.SIGKILL)
                    pip.wait()
        if found is None:
            sys.exit(f"fetch-sdist: no {archive} within {TIMEOUT_SECONDS} s")
    print(found)


if __name__ == "__main__":
    main()
