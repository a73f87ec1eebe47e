"""The rules of the adapter contract, each with a stable id: what the conformance kit checks and
names when an adapter breaks one. docs/plugins.md lists them (generated from this module)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    id: str  # stable: `pytest -k send.refused` selects it, the docs anchor is derived from it
    title: str  # the rule, as one sentence an author can act on
    why: str  # what goes wrong in the gateway when it is broken

    @property
    def anchor(self) -> str:
        return "rule-" + self.id.replace(".", "-").replace("_", "-")

    @property
    def reference(self) -> str:
        return f"docs/plugins.md#{self.anchor}"


SUPPLIER_RULES: tuple[Rule, ...] = (
    Rule(
        "adapter.lifecycle",
        "The factory returns at once an object with the adapter's async methods; `start()` opens "
        "what it needs and `close()` releases it all (no task, session or connection left "
        "behind).",
        "the actor builds a new adapter after every restart: anything left open leaks each time",
    ),
    Rule(
        "send.accepted",
        "When the supplier takes the PO, `send_purchase_order` returns `Accepted(supplier_ref)` "
        "with the supplier's reference (or `Submitted` when its answer comes later, through "
        "`collect_reports`), and the supplier got the PO with its lines.",
        "any other value is an adapter error: the PO is retried, then failed as `adapter_error`; "
        "a lost reference cannot be shown",
    ),
    Rule(
        "send.idempotency_key",
        "Every attempt of a PO carries `po.po_id` where the supplier deduplicates (an "
        "`Idempotency-Key` header, its 'your reference' field), the same on every retry.",
        "a PO whose answer was lost is sent again: without the key the supplier ships it twice",
    ),
    Rule(
        "send.duplicate",
        "When the supplier says it already has this PO (a retry of an attempt that reached it), "
        "the adapter returns `Accepted`, with the reference if the answer carries one.",
        "a retry after a lost answer would otherwise turn an accepted PO into an exception",
    ),
    Rule(
        "send.refused",
        "When the supplier refuses this PO, the adapter raises `SupplierRejected(reason, "
        "message)` with the supplier's reason as a short stable code (`out_of_stock`).",
        "the order is held with that reason; anything else retries a PO that will never pass",
    ),
    Rule(
        "send.retry_after",
        "When the supplier says 'busy, try again in N seconds', the adapter raises "
        "`SupplierUnavailable(message, retry_after=N)`.",
        "the actor waits as the supplier asked instead of hammering it",
    ),
    Rule(
        "send.temporary",
        "A failure that may pass (5xx, 429 without a delay) is `SupplierUnavailable` with "
        "`retry_after=None`, after exactly one attempt: the adapter never retries or sleeps.",
        "the actor owns retries, backoff, the circuit and the give-up deadline",
    ),
    Rule(
        "send.permanent_failure",
        "A failure that is not about this PO and that retrying cannot fix (bad credentials, a "
        "wrong URL: 401, 403, 404) is `SupplierFailed(reason, message)`.",
        "a retried 401 retries for a day; a rejected one blames the order for a config problem",
    ),
    Rule(
        "send.timeout",
        "When the supplier does not answer, the adapter gives up after `ctx.timeout_s` and raises "
        "`SupplierUnavailable`.",
        "a call that never returns holds one of the supplier's `max_in_flight` slots for good",
    ),
    Rule(
        "send.unreadable",
        "An answer the adapter cannot read is `SupplierUnavailable`, never a parse error.",
        "any other exception is an adapter error: the PO fails as `adapter_error` after "
        "`max_adapter_errors` instead of waiting for the supplier",
    ),
    Rule(
        "send.connection_lost",
        "A connection the supplier drops without answering is `SupplierUnavailable`.",
        "a leaked `aiohttp.ClientError` is an adapter error, and a few of them fail the PO",
    ),
    Rule(
        "send.cancellation",
        "A call cancelled mid-way (shutdown, actor restart) ends promptly with "
        "`asyncio.CancelledError`, and `close()` still works afterwards.",
        "shutdown waits for the call; a swallowed cancellation leaves the call running",
    ),
    Rule(
        "errors.no_personal_data",
        "Exception messages carry no personal data of the PO (name, phone, address, ID number).",
        "messages are shown in the API and published on MQTT as they are",
    ),
    Rule(
        "cancel.confirmed",
        "`cancel_purchase_order` returns `None` once the supplier confirmed the cancellation, "
        "and the supplier got the cancellation of that PO.",
        "an order cancelled in the gateway would still be shipped",
    ),
    Rule(
        "cancel.unknown",
        "`cancel_purchase_order` of a PO the supplier does not know returns `None` (final).",
        "the cancellation would be retried forever",
    ),
    Rule(
        "cancel.temporary",
        "A cancellation that may pass later is `SupplierUnavailable`.",
        "the gateway retries the cancellation until the supplier has heard it",
    ),
    Rule(
        "status.report",
        "`fetch_purchase_order` returns a `PurchaseOrderReport` with the supplier's status as "
        "one of the gateway's PO statuses (`accepted`, `shipped`, ...) and its reference.",
        "a status outside the gateway's vocabulary cannot move the PO",
    ),
    Rule(
        "status.shipments",
        "`fetch_purchase_order` reports every shipment: carrier, tracking number, ship time and "
        "the (sku, quantity) of each line.",
        "tracking numbers are what the shop and the customer wait for",
    ),
    Rule(
        "status.unknown",
        "`fetch_purchase_order` of a PO the supplier does not know returns `None`.",
        "an error instead reads as a supplier outage",
    ),
    Rule(
        "status.unreadable",
        "An unreadable status answer is `SupplierUnavailable`.",
        "any other exception is an adapter error, not a supplier that may come back",
    ),
    Rule(
        "inventory.levels",
        "`fetch_inventory` returns one `StockLevel(sku, available)` per SKU, with whole numbers.",
        "routing sends orders to suppliers by their known stock",
    ),
    Rule(
        "inventory.temporary",
        "A failed inventory call that may pass is `SupplierUnavailable`.",
        "any other exception is an adapter error, not a supplier that may come back",
    ),
    Rule(
        "inventory.unreadable",
        "An unreadable inventory answer is `SupplierUnavailable`.",
        "any other exception is an adapter error, not a supplier that may come back",
    ),
    Rule(
        "reports.acknowledged",
        "A reporting adapter's `collect_reports` returns the supplier's acceptance of a PO as "
        "`PoAcknowledged(po_id, supplier_ref)`.",
        "a `Submitted` PO stays `sent` until its acknowledgement is collected",
    ),
    Rule(
        "reports.refused",
        "`collect_reports` returns a refusal as `PoRefused(po_id, reason, message)` with the "
        "supplier's reason as a short stable code.",
        "the order is held with that reason",
    ),
    Rule(
        "reports.shipment",
        "`collect_reports` returns a shipment as `PoShipment` with carrier, tracking number and "
        "the (sku, quantity) of each line.",
        "tracking numbers are what the shop and the customer wait for",
    ),
    Rule(
        "reports.problem",
        "A report that cannot be read becomes a `ReportProblem` naming its source, beside the "
        "good reports of the same batch, never an exception.",
        "one bad row would otherwise stop every report behind it",
    ),
    Rule(
        "reports.confirm",
        "Reports are consumed at the supplier only in `confirm_reports(receipt)`: collected "
        "again before that, they come again; after it, they do not.",
        "a crash between collecting and recording would lose the supplier's answers",
    ),
    Rule(
        "reports.empty",
        "With nothing to report, `collect_reports` returns an empty `ReportBatch` promptly.",
        "the actor polls every `poll_interval_s`; a call that waits for news blocks it",
    ),
)

CHANNEL_RULES: tuple[Rule, ...] = (
    Rule(
        "channel.submits",
        "The channel hands the source's new orders to `ctx.submit` in the intake format "
        "(each order valid for `POST /api/v1/orders`).",
        "orders the intake cannot decode are rejected instead of delivered",
    ),
    Rule(
        "channel.confirms_after_submit",
        "The channel confirms orders to the source only after `ctx.submit` returned.",
        "a crash between confirming and storing would lose the orders",
    ),
    Rule(
        "channel.refused_orders",
        "An order the intake refuses does not stop the channel: the orders after it flow.",
        "one bad order would otherwise block every order behind it",
    ),
    Rule(
        "channel.intake_busy",
        "When `ctx.submit` raises `IntakeBusy`, the channel confirms nothing, waits "
        "`retry_after_s` on `ctx.clock` and submits the orders again.",
        "the gateway's store is behind: a crash restarts the channel into the same wall, and a "
        "confirmation loses the orders",
    ),
    Rule(
        "channel.source_away",
        "When the source is away the channel keeps running (no crash, one log line) and takes "
        "the orders in once it is back.",
        "a crash per poll takes the channel down after a few minutes of ERP maintenance",
    ),
    Rule(
        "channel.clock",
        "The channel waits with `ctx.clock.sleep`, not `asyncio.sleep`.",
        "tests and the gateway's own clock cannot drive it",
    ),
    Rule(
        "channel.cancellation",
        "`run` ends promptly with `asyncio.CancelledError` when cancelled.",
        "shutdown waits for the channel",
    ),
    Rule(
        "channel.write_back",
        "A channel that writes back reads `ctx.updates`, writes each update to the source and "
        "acknowledges it with `ctx.updates.ack(seq)` only after writing it.",
        "an update acknowledged before it was written is lost at a crash",
    ),
)


def rule(rule_id: str) -> Rule:
    for candidate in (*SUPPLIER_RULES, *CHANNEL_RULES):
        if candidate.id == rule_id:
            return candidate
    raise KeyError(rule_id)
