"""What the read-path benchmark needs around the apps it measures: gunicorn servers on free loopback
ports and a bounded load generator. No Django here."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass


class Server:
    """``gunicorn APP`` with sync workers on a loopback socket the kernel chose (port 0), handed to
    gunicorn as an open file descriptor so no other process can take the port in between."""

    def __init__(self, app: str, *, env: dict[str, str], workers: int = 2, cwd: str | None = None):
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(128)
        self.port = self.socket.getsockname()[1]
        fd = self.socket.fileno()
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--bind",
            f"fd://{fd}",
            "--log-level",
            "warning",
            "--timeout",
            "60",
            "--no-control-socket",  # several servers at once; none needs gunicorn's control socket
        ]
        # The servers' own logs (Pylon writes a line per request) go to a file, not into the figures.
        self.log = tempfile.NamedTemporaryFile(prefix="pylon-bench-", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(  # noqa: S603 - our own argv
            command, env={**os.environ, **env}, cwd=cwd, pass_fds=(fd,), stdout=self.log, stderr=self.log
        )

    def wait_ready(self, path: str, headers: dict[str, str], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; its log: {self.log.name}")
            try:
                status, _ = request(self.port, path, headers)
                if status == 200:
                    return
                raise RuntimeError(f"{path} answered {status}")
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.socket.close()
        self.log.close()
        os.unlink(self.log.name)


def request(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def drive(port: int, path: str, headers: dict[str, str], *, seconds: float, connections: int) -> LoadResult:
    """``connections`` threads, each sending one request after another for ``seconds`` (bounded:
    no request starts after the deadline). Counts the 200s; anything else is an error."""
    done, failed = [0] * connections, [0] * connections
    deadline = time.monotonic() + seconds

    def worker(slot: int) -> None:
        while time.monotonic() < deadline:
            try:
                status, _ = request(port, path, headers)
            except OSError:
                status = 0
            if status == 200:
                done[slot] += 1
            else:
                failed[slot] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(slot,), daemon=True) for slot in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return LoadResult(requests=sum(done), errors=sum(failed), seconds=time.monotonic() - started)
