"""Fixtures for the Python tests in tests/: the real kiln-server binary for
end-to-end tests, and the kiln-run driver with per-backend parametrization
for differential tests against PyTorch eager (kiln_harness.py)."""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import tempfile
import time
from typing import Iterator, List, Optional

import pytest

from kiln_harness import KilnRun
from op_cases import CoverageReport

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


# -- kiln-run differential tests (kiln_harness.py) -------------------------------
#
# Every test that takes a `backend` argument runs once per backend that
# `kiln-run --list_backends` reports (Glow-style per-backend instantiation),
# so a new backend is tested as soon as the driver offers it. KILN_BACKENDS
# (comma-separated) restricts the set; naming one the driver lacks fails.
# test_kiln_harness.py reports, visibly, the known backends the driver does
# not offer yet.

#: Backends the project plans; test_kiln_harness reports absent ones.
KNOWN_BACKENDS = ("interpreter", "cpu")

_KILN_RUN: Optional[KilnRun] = None


def kiln_driver() -> KilnRun:
    """The session's kiln-run driver (one persistent batch process)."""
    global _KILN_RUN
    if _KILN_RUN is None:
        _KILN_RUN = KilnRun()
    return _KILN_RUN


def tested_backends() -> List[str]:
    """The backends backend-parametrized tests run on."""
    driver = kiln_driver()
    offered = driver.backends() if driver.available() else ["interpreter"]
    wanted = os.environ.get("KILN_BACKENDS")
    if not wanted:
        return offered
    return [b.strip() for b in wanted.split(",") if b.strip()]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", tested_backends(), scope="session")


@pytest.fixture(scope="session")
def kiln() -> Iterator[KilnRun]:
    driver = kiln_driver()
    if not driver.available():
        pytest.fail(
            f"{driver.binary} is not built; run `bazel build //compiler/tools:kiln-run` "
            "(KILN_BIN_DIR names the bazel-bin to use)"
        )
    yield driver


@pytest.fixture(scope="session", autouse=True)
def _close_kiln_driver() -> Iterator[None]:
    yield
    global _KILN_RUN
    if _KILN_RUN is not None:
        _KILN_RUN.close()
        _KILN_RUN = None


def pytest_report_header(config: pytest.Config) -> List[str]:
    driver = kiln_driver()
    if not driver.available():
        return [f"kiln-run: {driver.binary} is not built"]
    try:
        offered = driver.backends()
        ops = driver.ops()
    except Exception as err:  # noqa: BLE001 - the header must not break the run
        return [f"kiln-run: {driver.binary}: {err}"]
    absent = [b for b in KNOWN_BACKENDS if b not in offered]
    line = f"kiln-run: {driver.binary}; backends: {', '.join(offered)}; {len(ops)} ops registered"
    if absent:
        line += f" (not offered yet: {', '.join(absent)})"
    return [line]


# -- op coverage report (test_op_coverage.py) ------------------------------------

_OP_COVERAGE = pytest.StashKey[CoverageReport]()


@pytest.fixture(scope="session")
def op_coverage(request: pytest.FixtureRequest) -> Iterator[CoverageReport]:
    """The op x dtype x backend table test_op_coverage.py fills; written to
    $KILN_OP_COVERAGE (default test-results/op_coverage.md, or
    op_coverage-<worker>.md per pytest-xdist worker) at the end."""
    report = CoverageReport()
    request.config.stash[_OP_COVERAGE] = report
    yield report
    # Under pytest-xdist each worker writes the part it ran.
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    default = ROOT / "test-results" / (f"op_coverage-{worker}.md" if worker else "op_coverage.md")
    path = pathlib.Path(os.environ.get("KILN_OP_COVERAGE", default))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.markdown() + "\n")
    report.path = str(path)


def pytest_terminal_summary(terminalreporter: "pytest.TerminalReporter", config: pytest.Config) -> None:
    report = config.stash.get(_OP_COVERAGE, None)
    if report is None or not report.results:
        return
    terminalreporter.section("kiln op coverage")
    for line in report.summary():
        terminalreporter.write_line(line)
    if report.path:
        terminalreporter.write_line(f"table: {report.path}")
