"""The benchmark's child processes (the gateway, the floor, the suppliers), each started the way
it is run for real and watched from outside.

A child is ready when it prints its start line (a JSON log line with a known `event`). Until then
its output is read line by line; after that it is copied to a log file in 64 KiB chunks, so that
a gateway logging thousands of lines a second costs this process almost nothing.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import msgspec

from tests.harness import ROOT


class BenchError(RuntimeError):
    """Something did not do what the benchmark needs (not a slowness: a failure)."""


class Child:
    def __init__(
        self, name: str, argv: Sequence[str], workdir: Path, ready_event: str, log_name: str = ""
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.workdir = workdir
        self.ready_event = ready_event
        self.log_path = workdir / (log_name or f"{name}.log")
        self.ready_line: dict[str, Any] = {}
        self.log_lines = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.on_exit: Callable[[], None] | None = None  # called from the log thread at EOF
        self._ready = threading.Event()
        self._ended = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 120) -> dict[str, Any]:
        """Spawn and wait for the start line; returns it decoded."""
        self.process = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        self._thread = threading.Thread(
            target=self._pump, args=(self.process.stdout,), name=f"{self.name}-log", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout) or not self.ready_line:
            self.stop()
            raise BenchError(f"{self.name} did not start; its log ends:\n{self.log_tail()}")
        return self.ready_line

    def _pump(self, stream: IO[bytes]) -> None:
        marker = f'"{self.ready_event}"'.encode()
        with self.log_path.open("wb") as sink:
            for line in iter(stream.readline, b""):
                sink.write(line)
                self.log_lines += 1
                if marker in line:
                    with contextlib.suppress(msgspec.DecodeError):
                        self.ready_line = msgspec.json.decode(line)
                    sink.flush()
                    break
            self._ready.set()
            read1 = getattr(stream, "read1", stream.read)
            while chunk := read1(1 << 16):
                sink.write(chunk)
                self.log_lines += chunk.count(b"\n")
        self._ready.set()
        self._ended.set()
        if self.on_exit is not None:
            self.on_exit()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM and wait; SIGKILL if it will not go. The exit code, None if killed."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.on_exit = None  # an asked-for exit is not a failure
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
                return None
        if self._thread is not None:
            self._thread.join(5)
        return self.process.returncode


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def gateway_command(config: Path) -> list[str]:
    """Exactly what users run."""
    return [sys.executable, str(ROOT / "run.py"), "serve", "--config", str(config)]
