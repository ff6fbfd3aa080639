#!/usr/bin/python3
"""The service benchmark: a real kiln-server and Debian's redis-server on
loopback, measured by the C++ load generator in one command.

    make bench                       # CLIENTS=1,4,16 DURATION=3 by default
    # or: /usr/bin/python3 tools/bench/service_bench.py --bin BAZEL_BIN \\
    #         [--clients 1,4,16] [--seconds 3] [--out FILE] [-- LOADGEN FLAGS]

The script starts kiln-server on a free loopback port with a fresh data
dir and ``--allow-client-shm=true``, and redis-server on another free port
without persistence; runs ``kiln-loadgen`` (tools/bench/loadgen_main.cc)
against both; prints the machine, the commands and the table in markdown
(also to --out); and stops both servers. Flags after ``--`` go to
kiln-loadgen as they are (``-- --help`` lists them).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import List, Optional

READY_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class KilnServer:
    """kiln-server in a child process; its stderr goes to a log file."""

    def __init__(self, argv: List[str], log_path: str) -> None:
        self.argv = argv
        self.log_path = log_path
        self.address: Optional[str] = None
        self._ready = threading.Event()
        self.process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        with open(self.log_path, "w") as log:
            for line in self.process.stderr:
                log.write(line)
                log.flush()
                if self.address is None and "serving on " in line:
                    self.address = line.split("serving on ", 1)[1].split()[0]
                    self._ready.set()
        self._ready.set()

    def wait_ready(self) -> str:
        self._ready.wait(READY_TIMEOUT_S)
        if self.address is None:
            raise RuntimeError(f"kiln-server did not start; its log:\n{tail(self.log_path)}")
        return self.address

    def stop(self) -> None:
        stop_process(self.process)
        self._reader.join(timeout=5)


def start_redis(port: int, work_dir: str) -> subprocess.Popen:
    argv = redis_argv(port, work_dir)
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return process
        except OSError:
            time.sleep(0.05)
    stop_process(process)
    raise RuntimeError(f"redis-server did not start; its log:\n{tail(os.path.join(work_dir, 'redis.log'))}")


def redis_argv(port: int, work_dir: str) -> List[str]:
    return [
        shutil.which("redis-server") or "/usr/bin/redis-server",
        "--port", str(port), "--bind", "127.0.0.1",
        "--save", "", "--appendonly", "no",
        "--dir", work_dir, "--logfile", os.path.join(work_dir, "redis.log"),
    ]  # fmt: skip


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tail(path: str, lines: int = 30) -> str:
    try:
        with open(path) as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


def quoted(argv: List[str], replacements: dict) -> str:
    text = " ".join(shlex.quote(a) for a in argv)
    for old, new in replacements.items():
        text = text.replace(old, new)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True, help="Bazel's bazel-bin directory")
    parser.add_argument("--clients", default="1,4,16", help="concurrent client counts (default 1,4,16)")
    parser.add_argument("--seconds", default="3", help="measured seconds per workload and client count (default 3)")
    parser.add_argument("--out", help="also write the report (markdown) to this file")
    parser.add_argument("loadgen_args", nargs="*", help="flags for kiln-loadgen, after --")
    args = parser.parse_args()

    server_bin = os.path.join(args.bin, "server", "kiln-server")
    loadgen_bin = os.path.join(args.bin, "tools", "bench", "kiln-loadgen")
    for path in (server_bin, loadgen_bin):
        if not os.access(path, os.X_OK):
            print(f"service_bench: {path} is missing; build //server:kiln-server //tools/bench:kiln-loadgen", file=sys.stderr)
            return 1
    if shutil.which("redis-server") is None and not os.access("/usr/bin/redis-server", os.X_OK):
        print("service_bench: redis-server is missing (apt-get install redis-server)", file=sys.stderr)
        return 1

    work_dir = tempfile.mkdtemp(prefix="kiln-bench-")
    server: Optional[KilnServer] = None
    redis: Optional[subprocess.Popen] = None
    try:
        server_argv = [
            server_bin, "--listen=127.0.0.1:0", f"--data-dir={work_dir}/data",
            "--allow-client-shm=true",
        ]  # fmt: skip
        server = KilnServer(server_argv, os.path.join(work_dir, "kiln-server.log"))
        address = server.wait_ready()
        redis_port = free_port()
        redis = start_redis(redis_port, work_dir)

        loadgen_argv = [
            loadgen_bin, f"--server={address}", f"--redis=127.0.0.1:{redis_port}",
            f"--clients={args.clients}", f"--seconds={args.seconds}", *args.loadgen_args,
        ]  # fmt: skip
        result = subprocess.run(loadgen_argv, stdout=subprocess.PIPE, text=True)
        if result.returncode != 0:
            print(f"service_bench: kiln-loadgen failed; kiln-server's log:\n{tail(server.log_path)}", file=sys.stderr)
            return result.returncode

        names = {
            args.bin + "/server/": "",
            args.bin + "/tools/bench/": "",
            redis_argv(redis_port, work_dir)[0]: "redis-server",
            work_dir: "$TMP",
        }
        report = "\n".join(
            [
                result.stdout.split("\n\n", 1)[0],
                "",
                "```sh",
                quoted(server_argv, names),
                quoted(redis_argv(redis_port, work_dir), names),
                quoted(loadgen_argv, names),
                "```",
                "",
                result.stdout.split("\n\n", 1)[1].rstrip(),
                "",
            ]
        )
        print(report, end="")
        if args.out:
            with open(args.out, "w") as f:
                f.write(report)
        return 0
    finally:
        if redis is not None:
            stop_process(redis)
        if server is not None:
            server.stop()
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
