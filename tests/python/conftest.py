"""Fixtures that run the real kiln-server binary for Python end-to-end tests."""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import tempfile
import time
from typing import Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN_DIR = pathlib.Path(os.environ.get("KILN_BIN_DIR", ROOT / "bazel-bin"))
SERVER_BIN = BIN_DIR / "server" / "kiln-server"


class RunningServer:
    """A kiln-server child process on a free loopback port."""

    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir
        self.log_path = pathlib.Path(data_dir).with_suffix(".log")
        self._log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(
            [str(SERVER_BIN), "--listen=127.0.0.1:0", f"--data-dir={data_dir}"],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        self.address = self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_text()
            match = re.search(r"serving on (\S+)", text)
            if match:
                return match.group(1)
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"kiln-server did not start:\n{self.log_path.read_text()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


@pytest.fixture
def kiln_server() -> Iterator[RunningServer]:
    if not SERVER_BIN.exists():
        pytest.fail(f"{SERVER_BIN} is not built; run `bazel build //server:kiln-server`")
    with tempfile.TemporaryDirectory() as tmp:
        server = RunningServer(os.path.join(tmp, "data"))
        try:
            yield server
        finally:
            server.stop()
