"""What the conformance kit asks a counterpart to do, in the gateway's words. A counterpart
renders each answer in its supplier's dialect (`Refuse("out_of_stock")` may become HTTP 422, an
error code `E102`, or a row in an answer file); the adapter must bring it back to the same words.

A counterpart that cannot express an answer in its dialect raises `CannotExpress`; the rules that
need it are then reported as not applicable, with the reason.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from gateway.plugin_api.adapters import PoAcknowledged, PoRefused, PoShipment, ShipmentReport


class Operation(enum.StrEnum):
    SEND = "send"  # send_purchase_order
    CANCEL = "cancel"  # cancel_purchase_order
    STATUS = "status"  # fetch_purchase_order
    INVENTORY = "inventory"  # fetch_inventory


class CannotExpress(Exception):
    """The counterpart's dialect has no way to say this answer (a file drop has no 'busy')."""


# -- answers to a call -------------------------------------------------------------------------


@dataclass(frozen=True)
class Take:
    """Send: the supplier takes the PO. `supplier_ref` None: its answer carries no reference."""

    supplier_ref: str | None = None


@dataclass(frozen=True)
class AlreadyHave:
    """Send: the supplier already has this PO (the answer to a retry)."""

    supplier_ref: str | None = None


@dataclass(frozen=True)
class Refuse:
    """Send: the supplier refuses this PO (`out_of_stock`, `unknown_sku`, `bad_address`)."""

    reason: str
    message: str = ""


@dataclass(frozen=True)
class Busy:
    """Any call: a failure that may pass (HTTP 429 or 503); `retry_after_s` when it says when."""

    retry_after_s: float | None = None


@dataclass(frozen=True)
class NotAllowed:
    """Any call: the supplier refuses the caller, not the PO (bad credentials: HTTP 401)."""


@dataclass(frozen=True)
class NoAnswer:
    """Any call: the supplier takes the request and never answers."""


@dataclass(frozen=True)
class Garbled:
    """Any call: an answer that cannot be read (not the dialect at all, or cut off)."""


@dataclass(frozen=True)
class Hangup:
    """Any call: the supplier drops the connection without answering."""


@dataclass(frozen=True)
class Confirmed:
    """Cancel: the supplier cancelled the PO."""


@dataclass(frozen=True)
class UnknownPo:
    """Cancel or status: the supplier does not know this PO."""


@dataclass(frozen=True)
class Status:
    """Status: what the supplier says about the PO. `status` is one of the gateway's PO statuses;
    the counterpart says it in its own words, the adapter must say it in ours again."""

    status: str
    supplier_ref: str | None = None
    shipments: tuple[ShipmentReport, ...] = ()


@dataclass(frozen=True)
class Stock:
    """Inventory: units available per SKU."""

    levels: dict[str, int] = field(default_factory=dict)


Answer = (
    Take
    | AlreadyHave
    | Refuse
    | Busy
    | NotAllowed
    | NoAnswer
    | Garbled
    | Hangup
    | Confirmed
    | UnknownPo
    | Status
    | Stock
)


@dataclass(frozen=True)
class Malformed:
    """A report the supplier publishes that cannot be read (a row with a missing column)."""

    po_id: str | None = None


Report = PoAcknowledged | PoRefused | PoShipment | Malformed


# -- what the supplier got ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedPo:
    """One attempt of a PO as the supplier read it."""

    po_id: str
    idempotency_key: str | None  # what the supplier deduplicates on, as sent
    lines: tuple[tuple[str, int], ...]  # (sku, quantity)
    at: datetime | None = None


def describe(answer: Answer | Report) -> str:
    """The answer in words, for a broken rule's message."""
    match answer:
        case Take(supplier_ref=ref):
            return f"took the PO (reference {ref!r})" if ref else "took the PO"
        case AlreadyHave(supplier_ref=ref):
            return f"said it already has the PO (reference {ref!r})"
        case Refuse(reason=reason, message=message):
            return f"refused the PO with reason {reason!r} ({message!r})"
        case Busy(retry_after_s=None):
            return "answered 'busy' without saying when to come back"
        case Busy(retry_after_s=seconds):
            return f"answered 'busy, try again in {seconds:g} s'"
        case NotAllowed():
            return "refused the caller (bad credentials)"
        case NoAnswer():
            return "took the request and never answered"
        case Garbled():
            return "answered something unreadable"
        case Hangup():
            return "dropped the connection without answering"
        case Confirmed():
            return "confirmed the cancellation"
        case UnknownPo():
            return "said it does not know the PO"
        case Status(status=status, shipments=shipments):
            return f"said the PO is {status!r} with {len(shipments)} shipment(s)"
        case Stock(levels=levels):
            return f"reported stock {levels}"
        case Malformed():
            return "published a report that cannot be read"
        case PoAcknowledged() | PoRefused() | PoShipment():
            return f"published {answer!r}"
