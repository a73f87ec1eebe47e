"""Dropship Gateway benchmark: the gateway against a floor pipeline on the same load, intake
latency, cost per order, memory, growth and write paths, in one run (docs/performance.md).

    .venv/bin/python -m benchmarks            # `make bench`: the full run, about 10 minutes
    .venv/bin/python -m benchmarks --quick    # `make bench-quick`: about a minute

It prints figures and asserts nothing about speed. It fails (exit 1) only when something
misbehaves: an answer other than 202, an order answered 202 that never completes, a process
that does not start or dies.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import structlog
import uvloop

from benchmarks import cases, grown_store, machine
from benchmarks.bench import FULL, QUICK, Bench
from benchmarks.processes import BenchError
from benchmarks.report import emit, progress


def header(bench: Bench, args: argparse.Namespace) -> None:
    plan = bench.plan
    emit(f"Dropship Gateway benchmark ({plan.name} run, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    emit("=" * 78)
    for key, value in machine.description(bench.workdir):
        emit(f"{key:>12}: {value}")
    emit(f"{'synchronous':>12}: {args.synchronous} (gateway and floor alike)")
    emit(f"{'load avg':>12}: {machine.load_average()} (1, 5, 15 min)")
    busiest = machine.busiest_processes(2.0)
    listed = ", ".join(f"{name} {cpus:.2f}" for name, cpus in busiest) or "nothing"
    emit(f"{'also running':>12}: {listed} (CPUs, over 2 s before the start)")


async def prepare_grown(plan_orders: int, workdir: Path) -> tuple[Path, str]:
    """The grown store goes first, while nothing else runs (built once, then copied)."""
    target = workdir / "gateway-grown" / "var" / "gateway.db"
    built, seconds = await grown_store.prepare(plan_orders, target, progress)
    how = (
        f"built in {seconds:.0f} s and cached" if built else f"copied from cache in {seconds:.0f} s"
    )
    return target, how


async def run(args: argparse.Namespace) -> int:
    plan = QUICK if args.quick else FULL
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    workdir = Path(tempfile.mkdtemp(prefix="dropship-bench-", dir=args.workdir_parent))
    bench = Bench(workdir, plan, args.synchronous)
    started = time.perf_counter()
    steal_before = machine.CpuTimes.now()
    failed = True
    try:
        header(bench, args)
        grown: tuple[Path, str] | None = None
        if "5" not in args.skip:
            grown = await prepare_grown(plan.grown_orders, workdir)
            # The copy leaves gigabytes of dirty pages; written back during cases 1-4 they
            # made every fsync slow (intake p99 at 300/s was 150-240 ms with, 10 without).
            progress("flushing the copied store to disk before measuring")
            await asyncio.to_thread(os.sync)
        progress("starting the broker, the suppliers, the floor and the gateway")
        await bench.start()
        await bench.start_gateway("gateway")
        results = cases.Results()
        await cases.warm_up(bench, results)
        await cases.case_1(bench, results)
        if args.profile is not None:
            await cases.profiled_round(bench, args.profile)
        cases.case_3(results)
        if "2" not in args.skip:
            await cases.case_2(bench)
        if "4" not in args.skip:
            await cases.case_4(bench, results)
        code = await bench.stop_gateway()
        if code != 0:
            raise BenchError(f"the gateway did not stop cleanly on SIGTERM (exit {code})")
        if grown is not None:
            await cases.case_5(bench, results, *grown)
        await bench.close()
        if "6" not in args.skip:
            await cases.case_6(bench)
        footer(started, steal_before)
        failed = False
        return 0
    except BenchError as error:
        print(f"\nbenchmark failed: {error}", file=sys.stderr)
        if bench.gateway is not None and bench.gateway.child is not None:
            print(f"gateway log ends:\n{bench.gateway.child.log_tail()}", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(bench.close())
        if args.keep or (failed and args.keep_on_failure):
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def footer(started: float, steal_before: machine.CpuTimes) -> None:
    now = machine.CpuTimes.now()
    wall = time.perf_counter() - started
    usage = machine.usage(steal_before, now, 0.0, wall)
    emit()
    emit(
        f"run took {wall:.0f} s; machine busy {usage.busy_cpus:.2f} CPUs on average, steal "
        f"{usage.steal_pct:.1f}%; load avg now {machine.load_average()}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="a shortened run of about a minute")
    parser.add_argument(
        "--synchronous",
        choices=("full", "normal"),
        default="full",
        help="SQLite synchronous setting of the gateway and the floor (default: full)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="record one extra gateway round with py-spy (collapsed stacks to FILE) and print "
        "the top of the profile",
    )
    parser.add_argument(
        "--skip",
        default="",
        metavar="CASES",
        help="cases to leave out, e.g. 5,6 (1 and 3 always run)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, db)")
    parser.add_argument("--keep-on-failure", action="store_true")
    parser.add_argument("--workdir-parent", type=Path, help="where the work directory goes")
    args = parser.parse_args(argv)
    args.skip = {c.strip() for c in args.skip.split(",") if c.strip()}
    # The gateway's store functions run in this process for cases 5 and 6: keep them quiet.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    try:
        return uvloop.run(run(args))
    except KeyboardInterrupt:
        print("\ninterrupted; everything started was stopped", file=sys.stderr)
        return 130
    except asyncio.CancelledError:
        print("\nterminated (SIGTERM); everything started was stopped", file=sys.stderr)
        return 143


if __name__ == "__main__":
    raise SystemExit(main())
