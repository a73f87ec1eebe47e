"""The cases of `make bench`, each measuring and printing one thing (see docs/performance.md).

1. gateway vs floor: completed and accepted orders/s on the same load, and their ratio;
2. intake latency at a steady rate offered (open loop);
3. cost per order (from case 1): CPU, SQL statements, MQTT messages, commits, bytes;
4. peak RSS, also under a flood of orders from many clients;
5. growth: case 1's ratio again with a store that already holds many orders;
6. write paths: the gateway's writer thread against aiosqlite with set-based statements.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import grown_store, machine, profile, write_path
from benchmarks.bench import Bench, Round
from benchmarks.load import order_bodies
from benchmarks.report import emit, heading, median, percentile, progress, table, verdict
from benchmarks.systems import Gateway

RATIO_TARGET = 0.4
P99_TARGET_MS = 20.0
RSS_TARGET_MB = 250.0
GROWTH_TARGET = 0.10


@dataclass
class Results:
    pairs: list[tuple[Round, Round]] = field(default_factory=list)  # (floor, gateway)
    census: Counter[str] = field(default_factory=Counter)
    census_orders: int = 0
    census_published: float = 0.0
    grown_pairs: list[tuple[Round, Round]] = field(default_factory=list)  # (floor, gateway)
    empty_pairs: list[tuple[Round, Round]] = field(default_factory=list)  # the same floor rounds

    @property
    def ratio(self) -> float:
        return median_ratio(self.pairs)


def median_ratio(pairs: list[tuple[Round, Round]]) -> float:
    """The median over rounds of gateway/floor completed orders/s, from (floor, gateway)."""
    return median([g.completed_rate / f.completed_rate for f, g in pairs])


def describe_round(number: int, r: Round, note: str = "") -> None:
    u = r.usage
    emit(
        f"   {r.system:<8} round {number}{note}: {r.orders:,} orders; completed"
        f" {r.completed_rate:,.0f}/s, accepted {r.accepted_rate:,.0f}/s | load avg before"
        f" {r.load_average}; machine busy"
        f" {u.busy_cpus:.2f} CPUs (ours {u.ours_cpus:.2f}, others {u.others_cpus:.2f}),"
        f" steal {u.steal_pct:.1f}%, load clients {r.bench_cpus:.2f} CPUs"
    )


# -- warm-up and census --------------------------------------------------------------------------


async def warm_up(bench: Bench, results: Results) -> None:
    """Both systems take a few hundred orders first (connections, caches, code paths). The
    gateway's are also counted on the feed: everything it publishes, by topic."""
    assert bench.floor is not None
    assert bench.gateway is not None
    assert bench.completions is not None
    progress(f"warm-up: {bench.plan.warmup} orders each")
    await bench.round(bench.floor, order_bodies("WARM-F", bench.plan.warmup), "warm-up", 16)
    await bench.completions.start_census()
    warm = await bench.round(
        bench.gateway, order_bodies("WARM-G", bench.plan.warmup), "warm-up", 16
    )
    results.census = await bench.completions.stop_census()
    results.census_orders = warm.orders
    results.census_published = warm.metric("dropship_mqtt_published_total")


# -- 1. gateway vs floor -------------------------------------------------------------------------


async def alternate(bench: Bench, gateway: Gateway, label: str) -> list[tuple[Round, Round]]:
    """Floor, gateway, floor, gateway, ...: the same orders to each, round after round."""
    assert bench.floor is not None
    plan = bench.plan
    pairs: list[tuple[Round, Round]] = []
    for number in range(1, plan.rounds + 1):
        progress(f"{label}: round {number} of {plan.rounds}, floor then gateway")
        floor = await bench.round(
            bench.floor, order_bodies(f"{label}F{number}", plan.orders), label, plan.clients
        )
        describe_round(number, floor)
        gateway_round = await bench.round(
            gateway, order_bodies(f"{label}G{number}", plan.orders), label, plan.clients
        )
        describe_round(number, gateway_round)
        pairs.append((floor, gateway_round))
    return pairs


def print_ratio(pairs: list[tuple[Round, Round]]) -> float:
    rows = []
    for number, (f, g) in enumerate(pairs, start=1):
        rows.append(
            (
                f"round {number}",
                f.completed_rate,
                g.completed_rate,
                g.completed_rate / f.completed_rate,
                f.accepted_rate,
                g.accepted_rate,
            )
        )
    ratio = median_ratio(pairs)
    rows.append(
        (
            "median",
            median([f.completed_rate for f, _ in pairs]),
            median([g.completed_rate for _, g in pairs]),
            ratio,
            median([f.accepted_rate for f, _ in pairs]),
            median([g.accepted_rate for _, g in pairs]),
        )
    )
    table(
        (
            "",
            "floor completed/s",
            "gateway completed/s",
            "gateway/floor",
            "floor accepted/s",
            "gateway accepted/s",
        ),
        rows,
    )
    return ratio


async def case_1(bench: Bench, results: Results) -> None:
    assert bench.gateway is not None
    plan = bench.plan
    heading(
        "1",
        f"Gateway vs floor: {plan.orders:,} single-order POSTs, {plan.clients} clients, "
        f"{plan.rounds} round(s) each, alternating",
    )
    results.pairs = await alternate(bench, bench.gateway, "C1")
    emit()
    ratio = print_ratio(results.pairs)
    emit(
        f"=> gateway/floor (completed orders/s, median of rounds): {ratio:.2f}; target "
        f">= {RATIO_TARGET}: {verdict(ratio >= RATIO_TARGET)}"
    )


# -- 2. latency ----------------------------------------------------------------------------------


async def case_2(bench: Bench) -> None:
    """Rounds of a steady rate, gateway then floor, alternating; p99 over all of a system's
    answers. One round is 10 s: a single stall of the host's disk (fsync waits of 50-150 ms
    come and go on these VMs, whatever writes) then held some 20 of its 3,000 answers, two
    thirds of the 30 a p99 may have above it, and a round's p99 told more about the host than
    about the code (docs/performance.md). Each round is printed too."""
    assert bench.gateway is not None
    assert bench.floor is not None
    plan = bench.plan
    count = int(plan.latency_rate * plan.latency_s)
    heading(
        "2",
        f"Intake latency: {plan.latency_rate:.0f} orders/s offered (open loop), "
        f"{plan.latency_rounds} round(s) of {count:,} orders each",
    )
    systems = (bench.gateway, bench.floor)
    pooled: dict[str, list[float]] = {system.name: [] for system in systems}
    rows = []
    for number in range(1, plan.latency_rounds + 1):
        for system in systems:
            progress(
                f"latency: round {number} of {plan.latency_rounds}, {system.name}, {count} "
                f"orders at {plan.latency_rate:.0f}/s"
            )
            label = f"LAT{number}-{system.name}"
            r = await bench.round(
                system, order_bodies(label, count), "latency", rate=plan.latency_rate
            )
            ms = [v * 1000 for v in r.load.latencies]
            pooled[system.name] += ms
            sent_rate = r.orders / (r.load.last_answer - r.load.started)
            rows.append(
                (
                    f"{system.name} round {number}",
                    percentile(ms, 50),
                    percentile(ms, 99),
                    max(ms),
                    sent_rate,
                    r.usage.others_cpus,
                    f"{r.usage.steal_pct:.1f}%",
                )
            )
    for name, ms in pooled.items():
        rows.append(
            (f"{name}, all rounds", percentile(ms, 50), percentile(ms, 99), max(ms), "", "", "")
        )
    # Steal: CPU time the VM's host gave to others while we wanted it. A few per cent of it
    # moves this p99 by tens of ms on a 2-CPU VM (docs/performance.md).
    table(("", "p50 ms", "p99 ms", "max ms", "answered/s", "others' CPUs", "steal"), rows)
    gateway_p99 = percentile(pooled[bench.gateway.name], 99)
    emit(
        f"=> gateway intake p99 {gateway_p99:.1f} ms at {plan.latency_rate:.0f} orders/s "
        f"(all rounds); target < {P99_TARGET_MS:.0f} ms: {verdict(gateway_p99 < P99_TARGET_MS)}"
    )


# -- 3. cost per order ---------------------------------------------------------------------------


def case_3(results: Results) -> None:
    heading("3", "Cost per order (case 1's rounds, each measured from its first POST to rest)")
    gateway_rounds = [g for _, g in results.pairs]
    floor_rounds = [f for f, _ in results.pairs]
    orders = sum(r.orders for r in gateway_rounds)

    def total(name: str) -> float:
        return sum(r.metric(name) for r in gateway_rounds)

    commits = total("dropship_store_commits_total")
    jobs = total("dropship_store_jobs_total")
    floor_orders = sum(r.orders for r in floor_rounds)
    rows = [
        (
            "CPU ms per order (gateway process)",
            median([r.cpu_ms_per_order for r in gateway_rounds]),
        ),
        ("CPU ms per order (floor process)", median([r.cpu_ms_per_order for r in floor_rounds])),
        ("SQL statements per order", total("dropship_store_statements_total") / orders),
        ("MQTT messages per order", total("dropship_mqtt_published_total") / orders),
        ("store commits per order", commits / orders),
        ("store jobs per commit", jobs / commits if commits else float("nan")),
        (
            "database bytes per order (gateway)",
            sum(r.after.db_bytes - r.before.db_bytes for r in gateway_rounds) / orders,
        ),
        (
            "database bytes per order (floor)",
            sum(r.after.db_bytes - r.before.db_bytes for r in floor_rounds) / floor_orders,
        ),
        (
            "supplier POSTs per order (gateway)",
            sum(r.supplier_posts for r in gateway_rounds) / orders,
        ),
        ("log lines per order (gateway)", sum(r.log_lines for r in gateway_rounds) / orders),
    ]
    table(("", "figure"), rows)
    print_census(results)


def print_census(results: Results) -> None:
    """What the gateway publishes per order, counted on the broker during the warm-up."""
    n = results.census_orders
    if not n:
        return
    emit()
    emit(f"   what the gateway published for {n} warm-up orders, counted by a subscriber:")
    rows = [(kind, count, count / n) for kind, count in sorted(results.census.items())]
    total = sum(results.census.values())
    rows.append(("total", total, total / n))
    table(("topic", "messages", "per order"), rows, indent="     ")
    emit(
        f"     (its /metrics counted {results.census_published:,.0f} published; the floor "
        "publishes 1 message per order)"
    )


# -- 4. memory -----------------------------------------------------------------------------------


async def case_4(bench: Bench, results: Results) -> None:
    assert bench.gateway is not None
    plan = bench.plan
    heading(
        "4",
        f"Peak RSS: after case 1, and under {plan.flood_orders:,} orders from "
        f"{plan.flood_clients} clients",
    )
    after_case_1 = results.pairs[-1][1].after.peak_rss_mib if results.pairs else float("nan")
    progress(f"flood: {plan.flood_orders} orders, {plan.flood_clients} clients")
    flood = await bench.round(
        bench.gateway,
        order_bodies("FLOOD", plan.flood_orders),
        "flood",
        clients=plan.flood_clients,
    )
    describe_round(1, flood)
    peak = flood.after.peak_rss_mib
    table(
        ("", "figure"),
        [
            ("gateway VmHWM after case 1, MiB", after_case_1),
            ("gateway VmHWM after the flood, MiB", peak),
            ("gateway VmRSS now, MiB", machine.memory_mib(bench.gateway.pid, "VmRSS")),
            ("flood: accepted orders/s", flood.accepted_rate),
            ("flood: completed orders/s", flood.completed_rate),
            ("flood: 202 p99 ms", percentile(flood.load.latencies, 99) * 1000),
        ],
    )
    worst = max(after_case_1, peak)
    emit(
        f"=> peak RSS {worst:.0f} MiB; target < {RSS_TARGET_MB:.0f} MB: "
        f"{verdict(worst * 2**20 < RSS_TARGET_MB * 1e6)}"
    )


# -- 5. growth -----------------------------------------------------------------------------------


async def case_5(bench: Bench, results: Results, grown_db: Path, built_s: str) -> None:
    """The gateway on the grown store against one on an empty store, their rounds interleaved
    with the floor's (floor, empty, grown, floor, ...): compared with case 1's ratio, measured
    minutes earlier, the machine's own drift showed as growth (2026-12-03 16:07: both systems
    ran 25-35 % faster in case 5 than in case 1, the floor more, and the ratio fell 12 %)."""
    assert bench.floor is not None
    plan = bench.plan
    heading(
        "5",
        f"Growth: gateways on a store of {plan.grown_orders:,} orders and on an empty one, "
        "rounds interleaved with the floor's",
    )
    counts = grown_store.summary(grown_db)
    emit(
        f"   store: {counts['orders']:,} orders, {counts['purchase_orders']:,} POs, "
        f"{counts['shipments']:,} shipments, {counts['events']:,} events; "
        f"{counts['bytes'] / 2**30:.2f} GiB ({built_s})"
    )
    grown = await bench.start_gateway("gateway-grown")
    emit(f"   the gateway started on it in {grown.start_s:.1f} s")
    empty = await bench.start_gateway("gateway-empty", beside=True)
    for gateway, label in ((empty, "WARM-GE"), (grown, "WARM-GG")):
        await bench.round(gateway, order_bodies(label, plan.warmup), "warm-up", 16)
    for number in range(1, plan.rounds + 1):
        progress(f"C5: round {number} of {plan.rounds}, floor, empty store, grown store")
        trio = []
        for system, name in ((bench.floor, "F"), (empty, "E"), (grown, "G")):
            r = await bench.round(
                system, order_bodies(f"C5{name}{number}", plan.orders), "C5", plan.clients
            )
            describe_round(number, r, "" if system is bench.floor else f" ({name.lower()})")
            trio.append(r)
        floor_round, empty_round, grown_round = trio
        results.grown_pairs.append((floor_round, grown_round))
        results.empty_pairs.append((floor_round, empty_round))
    emit()
    rows = []
    for number, ((f, g), (_, e)) in enumerate(
        zip(results.grown_pairs, results.empty_pairs, strict=True), start=1
    ):
        rows.append(
            (
                f"round {number}",
                f.completed_rate,
                e.completed_rate,
                g.completed_rate,
                e.completed_rate / f.completed_rate,
                g.completed_rate / f.completed_rate,
            )
        )
    empty_ratio = median_ratio(results.empty_pairs)
    grown_ratio = median_ratio(results.grown_pairs)
    rows.append(
        (
            "median",
            median([f.completed_rate for f, _ in results.grown_pairs]),
            median([e.completed_rate for _, e in results.empty_pairs]),
            median([g.completed_rate for _, g in results.grown_pairs]),
            empty_ratio,
            grown_ratio,
        )
    )
    table(
        (
            "",
            "floor completed/s",
            "empty store",
            f"{counts['orders']:,} stored",
            "empty/floor",
            "grown/floor",
        ),
        rows,
    )
    change = grown_ratio / empty_ratio - 1
    cpu_empty = median([e.cpu_ms_per_order for _, e in results.empty_pairs])
    cpu_grown = median([g.cpu_ms_per_order for _, g in results.grown_pairs])
    emit(
        f"   gateway CPU per order: {cpu_empty:.2f} ms empty, {cpu_grown:.2f} ms grown "
        f"({(cpu_grown / cpu_empty - 1) * 100:+.0f}%); case 1's ratio was {results.ratio:.2f}"
    )
    emit(
        f"=> gateway/floor {grown_ratio:.2f} with {counts['orders']:,} orders stored against "
        f"{empty_ratio:.2f} empty in the same rounds ({change * 100:+.0f}%); target within "
        f"{GROWTH_TARGET * 100:.0f}%: {verdict(change >= -GROWTH_TARGET)}"
    )
    await bench.stop_others()
    await bench.stop_gateway()


# -- 6. write paths ------------------------------------------------------------------------------


async def case_6(bench: Bench) -> None:
    plan = bench.plan
    heading(
        "6",
        f"Write paths: store {write_path.GROUP} orders with their events, then route them "
        f"({plan.write_groups} groups, synchronous = {bench.synchronous})",
    )
    emit(f"   load avg before: {machine.load_average()}")
    timings = await write_path.compare(
        plan.write_groups, plan.write_rounds, bench.synchronous, bench.workdir
    )
    by_driver: dict[str, list[write_path.Timing]] = {}
    for t in timings:
        by_driver.setdefault(t.driver, []).append(t)
    table(
        ("driver", "orders", "wall µs/order", "CPU µs/order"),
        [
            (
                name,
                sum(t.orders for t in runs),
                median([t.wall_us for t in runs]),
                median([t.cpu_us for t in runs]),
            )
            for name, runs in by_driver.items()
        ],
    )
    emit("   (medians over rounds; CPU is this whole process, both threads)")


# -- profile -------------------------------------------------------------------------------------


async def profiled_round(bench: Bench, output: Path) -> None:
    """An extra gateway round of case 1 under py-spy (not in any figure above)."""
    assert bench.gateway is not None
    plan = bench.plan
    heading("P", f"Profile of the gateway: one more round of case 1 under py-spy -> {output}")
    with profile.recording(bench.gateway.pid, output):
        r = await bench.round(
            bench.gateway, order_bodies("PROFILE", plan.orders), "profile", plan.clients
        )
    describe_round(1, r)
    for line in profile.report(profile.summarise(output), r.orders):
        emit(line)
