"""Does a junk batch stall the gateway for everyone else? (issue 6)

    .venv/bin/python -m benchmarks.hostile_load                  # this checkout
    .venv/bin/python -m benchmarks.hostile_load --root ../older  # another checkout, to compare

The gateway runs as its own process (`python run.py serve`) against a private Mosquitto. While
one client posts a 4 MB batch of 1,000 invalid orders (twice, one after the other), two others
keep asking: `GET /healthz` and `POST /api/v1/orders` with one valid order, each one request
at a time. It prints the latency of their answers (p50, p99, max), quiet and under the junk,
how long each junk batch took, and whether the MQTT link dropped. It asserts nothing about
speed: it fails only when an answer is not the expected one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import tomli_w

HERE = Path(__file__).resolve().parent.parent


def junk_order(index: int) -> dict[str, Any]:
    """An order wrong in many ways at once (about 4 KB)."""
    return {
        "external_id": f"JUNK-{index}",
        "channel": f"made-up-{index}",
        "priority": "asap",
        "currency": "rmb",
        "ship_to": {"name": "", "phone": "x" * 30, "province": "火星" * 20, "city": 5},
        "lines": [
            {"line_id": "1", "sku": "S" * 130, "quantity": -1, "unit_price": 1.5, "bogus": True}
            for _ in range(16)
        ],
        "attributes": {f"k{j}": j for j in range(10)},
        "notes": ["x"] * 20,
    }


def valid_order(external_id: str) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "channel": "erp",
        "ship_to": {
            "name": "张三",
            "phone": "13812345678",
            "province": "浙江省",
            "city": "杭州市",
            "address1": "文三路 100 号",
        },
        "lines": [{"line_id": "1", "sku": "SKU-1", "quantity": 1}],
    }


def percentiles(values: list[float]) -> str:
    if not values:
        return "n=0"
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return (
        f"n={len(ordered):5d}  p50={at(0.50):7.1f} ms  p99={at(0.99):7.1f} ms"
        f"  max={ordered[-1] * 1000:7.1f} ms"
    )


class Prober:
    """One client asking the same thing, one request at a time, until told to stop."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.latencies: list[float] = []
        self.failures: list[str] = []

    async def run(self, http: aiohttp.ClientSession, url: str, stop: asyncio.Event) -> None:
        count = 0
        while not stop.is_set():
            count += 1
            started = time.perf_counter()
            if self.name == "healthz":
                async with http.get(f"{url}/healthz") as response:
                    await response.read()
                    ok = response.status == 200
            else:
                body = json.dumps(valid_order(f"P-{os.getpid()}-{time.time_ns()}")).encode()
                async with http.post(
                    f"{url}/api/v1/orders",
                    data=body,
                    headers={"Content-Type": "application/json"},
                ) as response:
                    await response.read()
                    ok = response.status == 202
            self.latencies.append(time.perf_counter() - started)
            if not ok:
                self.failures.append(f"{self.name}: HTTP {response.status}")


async def measure(url: str, junk: bytes | None, rounds: int, quiet_s: float) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=10)
    async with aiohttp.ClientSession(connector=connector) as http:
        stop = asyncio.Event()
        probers = [Prober("healthz"), Prober("single order")]
        tasks = [asyncio.create_task(p.run(http, url, stop)) for p in probers]
        durations: list[float] = []
        sizes: list[int] = []
        if junk is None:
            await asyncio.sleep(quiet_s)  # the probes run meanwhile: a quiet baseline
        else:
            for _ in range(rounds):
                started = time.perf_counter()
                async with http.post(
                    f"{url}/api/v1/orders",
                    data=junk,
                    headers={"Content-Type": "application/json"},
                ) as response:
                    body = await response.read()
                durations.append(time.perf_counter() - started)
                sizes.append(len(body))
                # Megabytes of JSON: counted, not decoded, so as not to stall this loop, which
                # times the probes (each rejected entry has one "index").
                if response.status != 202 or body.count(b'"index":') != 1000:
                    raise SystemExit(f"junk batch: HTTP {response.status}, not 1000 rejected")
        stop.set()
        await asyncio.gather(*tasks)
    failures = [f for p in probers for f in p.failures]
    if failures:
        raise SystemExit(f"probe failures: {failures[:5]}")
    return {"probers": probers, "durations": durations, "sizes": sizes}


async def time_valid_batch(url: str, body: bytes) -> float:
    """Seconds to answer one batch of 1,000 valid orders: what judging costs when nothing is
    wrong, to set the junk batch's time beside (issue 6: invalid input not much slower)."""
    async with aiohttp.ClientSession() as http:
        started = time.perf_counter()
        async with http.post(
            f"{url}/api/v1/orders", data=body, headers={"Content-Type": "application/json"}
        ) as response:
            answer = await response.read()
        elapsed = time.perf_counter() - started
    if response.status != 202 or answer.count(b'"order_id":') != 1000:
        raise SystemExit(f"valid batch: HTTP {response.status}, not 1000 accepted")
    return elapsed


class Output:
    """Every line a child process prints, read on a thread so that it never blocks writing."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        self.lines: list[str] = []
        self._stream = process.stdout
        self._thread = threading.Thread(target=self._pump, daemon=True)

    def _pump(self) -> None:
        for line in self._stream:
            self.lines.append(line)

    def start(self) -> Output:
        self._thread.start()
        return self

    def join(self) -> list[str]:
        self._thread.join(30)
        return self.lines


def start_gateway(
    root: Path, workdir: Path, broker_port: int
) -> tuple[subprocess.Popen[str], str, Output]:
    config = {
        "gateway": {"data_dir": str(workdir / "var"), "sqlite_synchronous": "normal"},
        "http": {"host": "127.0.0.1", "port": 0},
        "mqtt": {"url": f"mqtt://127.0.0.1:{broker_port}", "topic_prefix": "bench"},
        "log": {"level": "info", "format": "json"},
    }
    path = workdir / "gateway.toml"
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, str(root / "run.py"), "serve", "--config", str(path)],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root), "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    for line in process.stdout:
        if '"gateway.started"' in line:
            return process, json.loads(line)["http"], Output(process).start()
    raise SystemExit("the gateway did not start")


def start_broker(workdir: Path) -> tuple[subprocess.Popen[str], int]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    broker = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert broker.stdout is not None
    for line in broker.stdout:
        if "running" in line:
            # Keep reading what it says, or a full pipe would stop it.
            threading.Thread(target=broker.stdout.read, daemon=True).start()
            return broker, port
    raise SystemExit("mosquitto did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=HERE, help="the checkout to run")
    parser.add_argument("--rounds", type=int, default=2, help="junk batches, one after another")
    args = parser.parse_args()
    junk = json.dumps({"orders": [junk_order(i) for i in range(1000)]}).encode()
    valid = json.dumps({"orders": [valid_order(f"V-{i}") for i in range(1000)]}).encode()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        broker, broker_port = start_broker(workdir)
        gateway, url, output = start_gateway(args.root.resolve(), workdir, broker_port)
        try:
            quiet = asyncio.run(measure(url, None, 0, quiet_s=3))
            loaded = asyncio.run(measure(url, junk, args.rounds, quiet_s=0))
            valid_s = asyncio.run(time_valid_batch(url, valid))
        finally:
            gateway.terminate()
            gateway.wait(30)
            lines = output.join()
            broker.terminate()
            broker.wait(10)
    drops = sum('"mqtt.disconnected"' in line for line in lines)
    print(f"checkout: {args.root.resolve()}")
    print(f"junk batch: {len(junk) / 1e6:.2f} MB, 1,000 invalid orders, {args.rounds} rounds")
    for label, result in (("quiet", quiet), ("under junk", loaded)):
        for prober in result["probers"]:
            print(f"  {label:10s} {prober.name:12s} {percentiles(prober.latencies)}")
    print("  junk batch answered in " + ", ".join(f"{d:.2f} s" for d in loaded["durations"]))
    print("  its answer: " + ", ".join(f"{n / 1e6:.1f} MB" for n in loaded["sizes"]))
    print(f"  MQTT link dropped {drops} time(s)")
    # Both batches hold 1,000 orders: seconds per batch are milliseconds per order.
    junk_ms = min(loaded["durations"]) if loaded["durations"] else 0.0
    print(
        f"  per order: junk {junk_ms:.2f} ms ({len(junk) / 1e6:.1f} KB each, all rejected),"
        f" valid {valid_s:.2f} ms ({len(valid) / 1e6:.1f} KB each, accepted and stored)"
    )


if __name__ == "__main__":
    main()
