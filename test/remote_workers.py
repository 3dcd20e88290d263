#!/usr/bin/env python3
"""Remote workers for the tests: moto's S3 server and N `vgi-worker --http` on 127.0.0.1.

    with RemoteWorkers("build/v2.0.1/test/vgi-worker", workers=2) as remote:
        os.environ.update(remote.env)          # the DuckDB side reads AWS_* too
        con.execute(f"SET {setting}") for setting in remote.settings()
        assert remote.objects() == []           # nothing left under the store prefix

As a command (the Makefile's remote test-sql pass):

    python test/remote_workers.py --worker PATH [--workers N] [--moto-server PATH] -- CMD...

starts moto and the workers, runs CMD with the AWS_* variables and VGI_TEST_EXECUTION=remote in its
environment and `--setting NAME=VALUE` appended for each of settings(), and exits with CMD's status; non-zero
also when an object is left under the store prefix afterwards (the keys are listed).

Only 127.0.0.1 is contacted; bucket creation, listing and deletion are plain requests with a dummy signature
(moto accepts them while it enforces no authentication). Every wait is bounded; teardown sends SIGTERM, then
SIGKILL, and the children die with the thread that started them (PR_SET_PDEATHSIG) should it be killed itself.
Pure standard library.
"""

import argparse
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree
from pathlib import Path

HOST = "127.0.0.1"
READY_SECONDS = 30.0
STOP_SECONDS = 10.0
POLL_SECONDS = 0.05
LISTENING = "vgi-worker: listening on "
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
MAX_LIST_PAGES = 1000
# Marks the environment of a remote test pass (test/sql files skip with `skip-env VGI_TEST_EXECUTION=remote ...`).
EXECUTION_VAR = "VGI_TEST_EXECUTION"


def default_moto_server() -> str:
    """$VGI_MOTO_SERVER, else test/s3-server (moto with atomic conditional writes, from the tools venv)."""
    if os.environ.get("VGI_MOTO_SERVER"):
        return os.environ["VGI_MOTO_SERVER"]
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "s3-server")


def free_port() -> int:
    """A loopback port that is free now (the server binds it next)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# moto routes a request by the service its Authorization header names and checks no signature while it
# enforces no authentication; without the header it guesses, and an unsigned DELETE gets 403.
S3_AUTHORIZATION = ("AWS4-HMAC-SHA256 Credential=vgi-test/20000101/us-east-1/s3/aws4_request, "
                    "SignedHeaders=host, Signature=0")


def request(url: str, method: str = "GET", body: bytes = b"", timeout: float = 5.0,
            headers: dict[str, str] | None = None) -> tuple[int | None, bytes]:
    """One request to 127.0.0.1, no proxy: the status and body, (None, b"") when nothing answers."""
    if urllib.parse.urlsplit(url).hostname != HOST:
        raise ValueError(f"only {HOST} is contacted, not {url}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    data = body if method in ("PUT", "POST") else None
    headers = {"Content-Type": "application/octet-stream", **(headers or {})}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with opener.open(req, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, ValueError):
        return None, b""


def die_with_parent() -> None:
    """In the child before exec: SIGKILL when the parent dies (Linux; a no-op elsewhere)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def stop_process(process: subprocess.Popen | None, sig: int = signal.SIGTERM) -> None:
    """Send sig, wait a bounded time, then SIGKILL; always reaps."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log file, indented, for error messages."""
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "    (no log)"
    return "\n".join(f"    {line}" for line in text) or "    (empty log)"


class StartError(RuntimeError):
    """moto or a worker did not come up."""


class RemoteWorkers:
    """moto on a free port with one bucket, and `workers` HTTP workers keeping their state under s3://bucket/prefix
    (each started with worker_args added to its command line).

    A context manager; urls, store_url, env and settings() describe it to the DuckDB side. kill(i), stop(i) and
    start(i) act on one worker (start gives it a new port and URL); enforce_auth() makes moto refuse every
    request from now on (403), and stop_moto() stops it.
    """

    def __init__(self, worker_path, workers: int = 2, bucket: str = "vgi-state", prefix: str | None = None,
                 moto_server: str | None = None, create_bucket: bool = True, worker_args=()) -> None:
        self.worker_path = str(Path(worker_path).resolve())
        self.count = workers
        self.bucket = bucket
        self.prefix = prefix or f"test-{secrets.token_hex(4)}"
        self.moto_server = moto_server or default_moto_server()
        self.create_bucket = create_bucket
        self.worker_args = list(worker_args)
        self.token_key = secrets.token_hex(32)
        self.port: int | None = None
        self.moto: subprocess.Popen | None = None
        self.processes: list[subprocess.Popen | None] = [None] * workers
        self.errs: list[Path | None] = [None] * workers
        self.urls: list[str] = [""] * workers
        self.logs = Path(tempfile.mkdtemp(prefix="vgi-remote-"))
        self.keep_logs = False  # set to keep moto's and the workers' logs in self.logs after close()
        self.starts = 0

    # -- what the DuckDB side needs ------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def store_url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def env(self) -> dict[str, str]:
        """The AWS_* variables that reach moto (for the workers and for DuckDB's process)."""
        return {
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "vgi-test",
            "AWS_SECRET_ACCESS_KEY": "vgi-test",
            "AWS_REGION": "us-east-1",
        }

    def settings(self) -> list[str]:
        """name=value SQL settings for remote execution on these workers."""
        return [
            "vgi_execution='remote'",
            f"vgi_worker_urls='{','.join(self.urls)}'",
            f"vgi_store_url='{self.store_url}'",
        ]

    # -- the bucket ----------------------------------------------------------------------------------------------

    def s3(self, path: str, method: str = "GET") -> tuple[int | None, bytes]:
        """An S3 request to moto (path after the endpoint)."""
        return request(f"{self.endpoint}/{path}", method, headers={"Authorization": S3_AUTHORIZATION})

    def objects(self, prefix: str | None = None) -> list[str]:
        """The keys in the bucket under prefix (default: the store prefix; "" for the whole bucket)."""
        prefix = self.prefix if prefix is None else prefix
        keys: list[str] = []
        query = {"list-type": "2", "prefix": prefix}
        for _ in range(MAX_LIST_PAGES):
            status, body = self.s3(f"{self.bucket}?{urllib.parse.urlencode(query)}")
            if status != 200:
                raise RuntimeError(f"listing s3://{self.bucket}/{prefix} on moto: HTTP {status}: {body[:300]!r}")
            root = ElementTree.fromstring(body)
            keys += [node.text or "" for node in root.iter(f"{S3_NS}Key")]
            token = root.findtext(f"{S3_NS}NextContinuationToken")
            if root.findtext(f"{S3_NS}IsTruncated") != "true" or not token:
                return sorted(keys)
            query["continuation-token"] = token
        raise RuntimeError(f"listing s3://{self.bucket}/{prefix}: more than {MAX_LIST_PAGES} pages")

    def remove_objects(self, prefix: str | None = None) -> list[str]:
        """Delete the keys under prefix (default: the store prefix); the keys it deleted."""
        keys = self.objects(prefix)
        for key in keys:
            status, body = self.s3(f"{self.bucket}/{urllib.parse.quote(key)}", "DELETE")
            if status not in (200, 204):
                raise RuntimeError(f"deleting s3://{self.bucket}/{key} on moto: HTTP {status}: {body[:300]!r}")
        return keys

    def enforce_auth(self, enforced: bool = True) -> None:
        """From now on moto checks every request's credentials (ours are unknown to it: 403), or stops checking."""
        status, body = request(f"{self.endpoint}/moto-api/reset-auth", "POST", b"0" if enforced else b"inf")
        if status != 200:
            raise RuntimeError(f"moto reset-auth: HTTP {status}: {body[:300]!r}")

    # -- processes -----------------------------------------------------------------------------------------------

    def __enter__(self) -> "RemoteWorkers":
        try:
            self.start_moto()
            if self.create_bucket:
                status, body = self.s3(self.bucket, "PUT")
                if status != 200:
                    raise StartError(f"creating bucket {self.bucket} on moto: HTTP {status}: {body[:300]!r}")
            for i in range(self.count):
                self.start(i)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start_moto(self) -> None:
        """Start moto on a free port and wait (bounded) until its API answers."""
        if not os.access(self.moto_server, os.X_OK):
            raise StartError(f"no moto_server at {self.moto_server} (scripts/setup-tools.sh installs it)")
        self.port = free_port()
        log = self.logs / "moto.log"
        with open(log, "wb") as out:
            self.moto = subprocess.Popen([self.moto_server, "-H", HOST, "-p", str(self.port)],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         preexec_fn=die_with_parent)
        deadline = time.monotonic() + READY_SECONDS
        while request(f"{self.endpoint}/moto-api/", timeout=1.0)[0] != 200:
            if self.moto.poll() is not None:
                raise StartError(f"moto_server exited at start ({self.moto.returncode}):\n{tail(log)}")
            if time.monotonic() > deadline:
                raise StartError(f"moto_server did not answer on port {self.port} within {READY_SECONDS:.0f} s:\n"
                                 f"{tail(log)}")
            time.sleep(POLL_SECONDS * 2)

    def stop_moto(self) -> None:
        """Stop moto (its objects are gone with it); the workers stay up."""
        stop_process(self.moto)

    def start(self, i: int) -> str:
        """(Re)start worker i on a new port; waits (bounded) for its listening line and /health. Its URL."""
        stop_process(self.processes[i])
        self.starts += 1
        out, err = self.logs / f"worker-{self.starts}.out", self.logs / f"worker-{self.starts}.err"
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env.update(self.env, VGI_TOKEN_KEY=self.token_key)
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            process = subprocess.Popen(
                [self.worker_path, "--http", f"{HOST}:0", "--store", self.store_url, *self.worker_args],
                stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=env, preexec_fn=die_with_parent)
        self.processes[i], self.errs[i] = process, err
        url = self.wait_listening(process, out, err)
        self.urls[i] = url
        return url

    def wait_listening(self, process: subprocess.Popen, out: Path, err: Path) -> str:
        """The URL of the worker's listening line, once /health answers 200."""
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            lines = out.read_text(errors="replace").splitlines()
            url = next((line[len(LISTENING):].strip() for line in lines if line.startswith(LISTENING)), None)
            if url and request(f"{url}/health", timeout=1.0)[0] == 200:
                return url
            if process.poll() is not None:
                raise StartError(f"vgi-worker exited at start ({process.returncode}):\n{tail(err)}")
            time.sleep(POLL_SECONDS)
        stop_process(process, signal.SIGKILL)
        raise StartError(f"vgi-worker did not listen within {READY_SECONDS:.0f} s:\n{tail(out)}\n{tail(err)}")

    def kill(self, i: int) -> None:
        """SIGKILL worker i (its URL stays, now refused)."""
        stop_process(self.processes[i], signal.SIGKILL)
        self.processes[i] = None

    def stop(self, i: int) -> None:
        """SIGTERM worker i, SIGKILL after a bounded wait."""
        stop_process(self.processes[i])
        self.processes[i] = None

    def exited(self) -> list[str]:
        """What ended a worker that was neither killed nor stopped here: its URL, status and log."""
        return [f"worker {i} at {self.urls[i]} exited with status {process.returncode}:\n{tail(self.errs[i])}"
                for i, process in enumerate(self.processes) if process is not None and process.poll() is not None]

    def close(self) -> None:
        """Stop every worker, then moto; nothing keeps running."""
        for process in self.processes:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in self.processes:
            stop_process(process)
        self.stop_moto()
        if not self.keep_logs:
            shutil.rmtree(self.logs, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Run CMD against remote workers; its status, or 1 if it passed but left objects in the bucket."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", required=True, help="the vgi-worker binary")
    parser.add_argument("--workers", type=int, default=2, help="how many workers (default: %(default)s)")
    parser.add_argument("--moto-server", default=None, help="moto's S3 server (default: $VGI_MOTO_SERVER, "
                                                            "else test/s3-server)")
    parser.add_argument("--bucket", default="vgi-state", help="the bucket (default: %(default)s)")
    parser.add_argument("--prefix", default=None, help="the store prefix (default: a random one)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("name the command to run after --")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        with RemoteWorkers(args.worker, args.workers, args.bucket, args.prefix, args.moto_server) as remote:
            print(f"remote_workers.py: {len(remote.urls)} workers ({', '.join(remote.urls)}), store "
                  f"{remote.store_url} on moto at {remote.endpoint}", flush=True)
            env = dict(os.environ, **remote.env, **{EXECUTION_VAR: "remote"})
            settings = [arg for setting in remote.settings() for arg in ("--setting", setting)]
            status = subprocess.run([*command, *settings], env=env).returncode
            left = remote.objects()
            exited = remote.exited()
            remote.keep_logs = bool(status or left or exited)
    except StartError as e:
        print(f"remote_workers.py: {e}", file=sys.stderr)
        return 2
    for text in exited:
        print(f"remote_workers.py: {text}", file=sys.stderr)
    if remote.keep_logs:
        print(f"remote_workers.py: moto's and the workers' logs are kept in {remote.logs}", file=sys.stderr)
    if left:
        print(f"remote_workers.py: {len(left)} objects left under {remote.store_url}:", file=sys.stderr)
        print("\n".join(f"    {key}" for key in left[:50]), file=sys.stderr)
        return status or 1
    return status or (1 if exited else 0)


if __name__ == "__main__":
    sys.exit(main())
