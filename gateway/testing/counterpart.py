"""What an adapter author supplies to the conformance kit besides the adapter: a counterpart,
i.e. a stand-in for the supplier's system that speaks the adapter's dialect and does what the kit
scripts. For an HTTP dialect, subclass `gateway.testing.HttpCounterpart`; for anything else
(SFTP, a message queue, a fake transport handed to the adapter through its options), implement
this protocol."""

from __future__ import annotations

from typing import Any, Protocol

from gateway.testing.answers import Answer, Operation, ReceivedPo, Report


class SupplierCounterpart(Protocol):
    """A supplier's system in miniature, scripted by the kit. One instance serves one rule's
    check; the kit starts it, builds the adapter against it, and stops it afterwards."""

    async def start(self) -> None:
        """Start serving (bind a port on 127.0.0.1, create a folder...)."""
        ...

    async def stop(self) -> None:
        """Stop serving and release everything; calls still held (`NoAnswer`) end now."""
        ...

    def url(self) -> str:
        """The `SupplierContext.url` the adapter is built with."""
        ...

    def options(self) -> dict[str, Any]:
        """Options the adapter needs to reach this counterpart (a folder, a port), merged over
        the author's own options into `SupplierContext.options`."""
        ...

    def script(self, operation: Operation, po_id: str | None, answer: Answer) -> None:
        """Answer the next call of `operation` about `po_id` (None for inventory) with `answer`,
        said in the dialect. Answers queue up per (operation, po_id); once the queue is empty
        the counterpart answers normally (takes POs, confirms cancellations, knows no PO, has no
        stock). Raise CannotExpress if the dialect has no way to say `answer`."""
        ...

    def publish(self, report: Report) -> None:
        """Make a report available to the adapter's `collect_reports` (an answer file, a queue
        message), in the dialect. Raise CannotExpress if the dialect has no reports."""
        ...

    def received(self) -> list[ReceivedPo]:
        """Every attempt of a PO that reached the supplier, in order, as the supplier read it."""
        ...

    def cancelled(self) -> list[str]:
        """The po_ids of every cancellation that reached the supplier, in order."""
        ...

    async def wait_for_call(self, operation: Operation, count: int = 1) -> None:
        """Return once `count` calls of `operation` have reached the supplier (so that the kit
        can cancel a call while the supplier holds it)."""
        ...
