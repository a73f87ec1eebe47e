"""Prometheus metrics (`GET /metrics`). One registry per gateway instance, not the global
default, so two gateways in one test process never mix their figures.

Label values come from the config (channel and supplier ids), never from a request: each new
value is a new series kept for the life of the process, so a client naming a fresh channel in
every order would otherwise grow /metrics without bound."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


# The label of every channel the config does not name.
OTHER_CHANNEL = "other"
# Orders posted over HTTP without a channel.
DEFAULT_CHANNEL = "api"


class ChannelCounter:
    """A counter labelled by channel, where a channel the config does not know is counted
    under `other`. Used like the prometheus counter it wraps: `.labels(channel, result)`."""

    def __init__(self, counter: Counter, channels: Iterable[str]) -> None:
        self._counter = counter
        self._known = frozenset(channels) | {DEFAULT_CHANNEL}
        # The labelled children, by (label, *others): prometheus_client's `labels` validates
        # and locks on every call, a few µs on each order's path (issue 5).
        self._children: dict[tuple[str, ...], Any] = {}

    def label_of(self, channel: str) -> str:
        return channel if channel in self._known else OTHER_CHANNEL

    def labels(self, channel: str, *others: str) -> Any:
        key = (self.label_of(channel), *others)  # the label, not the channel: a bounded set
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._counter.labels(*key)
        return child


class Metrics:
    def __init__(self, channels: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.orders_received = ChannelCounter(
            Counter(
                "dropship_orders_received",
                "Orders offered to intake, by channel and result (accepted, duplicate,"
                " rejected). Channels the config does not name are counted as `other`.",
                ["channel", "result"],
                registry=r,
            ),
            channels,
        )
        self.intake_busy = Counter(
            "dropship_intake_busy",
            "Submissions answered 429 (or IntakeBusy) because the store was behind.",
            registry=r,
        )
        self.orders_routed = Counter(
            "dropship_orders_routed",
            "Routing decisions, by outcome (routed, on_hold).",
            ["outcome"],
            registry=r,
        )
        self.po_outcomes = Counter(
            "dropship_purchase_orders",
            "Purchase orders finished by their supplier actor, by supplier and outcome.",
            ["supplier", "outcome"],
            registry=r,
        )
        self.po_retries = Counter(
            "dropship_purchase_order_retries",
            "Failed attempts to deliver a purchase order that will be retried.",
            ["supplier"],
            registry=r,
        )
        self.adapter_errors = Counter(
            "dropship_adapter_errors",
            "Calls on which a supplier adapter raised outside its contract (bugs, unreadable"
            " answers): each a failed attempt of its PO.",
            ["supplier"],
            registry=r,
        )
        self.supplier_latency = Histogram(
            "dropship_supplier_request_seconds",
            "Time a supplier took to answer a purchase order.",
            ["supplier"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.shipments = Counter(
            "dropship_shipments",
            "Shipment notices recorded, by supplier.",
            ["supplier"],
            registry=r,
        )
        self.bad_signatures = Counter(
            "dropship_notice_signature_failures",
            "Shipment notices refused for a missing, malformed, stale or wrong signature.",
            ["supplier", "reason"],
            registry=r,
        )
        self.outbox_depth = Gauge(
            "dropship_outbox_depth", "Feed messages waiting for the MQTT broker.", registry=r
        )
        self.mqtt_connected = Gauge(
            "dropship_mqtt_connected", "1 while connected to the MQTT broker.", registry=r
        )
        self.mqtt_published = Counter(
            "dropship_mqtt_published", "Feed messages acknowledged by the broker.", registry=r
        )
        self.actor_restarts = Counter(
            "dropship_actor_restarts", "Actor restarts by their supervisor.", ["actor"], registry=r
        )
        self.actor_down = Gauge(
            "dropship_actor_down",
            "1 while an actor is down past its restart limit.",
            ["actor"],
            registry=r,
        )

    def watch_store(self, store: StoreFigures) -> None:
        """Publish the store's own counters; jobs per commit shows how well group commit works."""
        self.registry.register(_StoreCollector(store))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class StoreFigures(Protocol):
    """What the store counts about itself (the Database has these attributes)."""

    commits: int
    jobs: int
    statements: int
    callback_errors: int
    waiting_units: int


class _StoreCollector:
    def __init__(self, store: StoreFigures) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        store = self._store
        yield CounterMetricFamily(
            "dropship_store_commits", "SQLite transactions committed.", value=store.commits
        )
        yield CounterMetricFamily(
            "dropship_store_jobs",
            "Write jobs committed (several share a commit).",
            value=store.jobs,
        )
        yield CounterMetricFamily(
            "dropship_store_statements",
            "SQL statements the writer ran.",
            value=store.statements,
        )
        yield CounterMetricFamily(
            "dropship_store_callback_errors",
            "After-commit callbacks that raised (logged; the writer carries on).",
            value=store.callback_errors,
        )
        yield GaugeMetricFamily(
            "dropship_store_waiting_units",
            "Orders taken in and queued for the writer, not yet committed.",
            value=store.waiting_units,
        )
