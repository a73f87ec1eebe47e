"""The `options` of a `file_exchange` supplier, and their check for `run.py check`.

Every key has a default that matches a plain supplier (UTF-8, comma, English headers), so a
config names only what its supplier does differently: GBK, semicolons, Chinese headers.
"""

from __future__ import annotations

import codecs
import re
import string
from datetime import timedelta, timezone
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from gateway.plugin_api import OptionProblem

# What a PO file's columns can hold: one row per PO line, PO fields repeated on every row.
PO_FIELDS = (
    "po_id",
    "order_id",
    "order_external_id",
    "supplier_id",
    "created_at",
    "order_created_at",
    "priority",
    "currency",
    "line_id",
    "sku",
    "quantity",
    "unit_cost",
    "line_total",
    "ship_to.name",
    "ship_to.phone",
    "ship_to.country",
    "ship_to.region",
    "ship_to.province",
    "ship_to.city",
    "ship_to.district",
    "ship_to.address1",
    "ship_to.address2",
    "ship_to.full_address",
    "ship_to.postal_code",
    "ship_to.id_number",
)

DEFAULT_PO_COLUMNS = (
    "po_id",
    "order_external_id",
    "created_at",
    "line_id",
    "sku",
    "quantity",
    "unit_cost",
    "ship_to.name",
    "ship_to.phone",
    "ship_to.province",
    "ship_to.city",
    "ship_to.district",
    "ship_to.address1",
    "ship_to.address2",
    "ship_to.postal_code",
)

# Fields of the supplier's answer files, and which of them a file must have.
ACK_FIELDS = ("po_id", "status", "supplier_ref", "reason", "message")
ACK_REQUIRED = ("po_id", "status")
SHIPMENT_FIELDS = ("po_id", "carrier", "tracking_number", "shipped_at", "sku", "quantity")
SHIPMENT_REQUIRED = ("po_id", "carrier", "tracking_number")

PO_FILE_PLACEHOLDERS = ("po_id", "order_external_id", "supplier_id", "created")

_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def default_header(field: str) -> str:
    """`ship_to.name` is written under the header `ship_to_name` unless a config says otherwise."""
    return field.replace(".", "_")


class Column(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """One column of a PO file: which PO field, under which header."""

    field: str
    header: str | None = None

    @property
    def title(self) -> str:
        return self.header if self.header is not None else default_header(self.field)


class FileExchangeOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    # -- logging in: a password or a private key; and how the server's host key is trusted
    password: str | None = None
    private_key: str | None = None  # path to a private key file (OpenSSH or PEM)
    private_key_passphrase: str | None = None
    host_key: str | None = None  # the server's public key: "ssh-ed25519 AAAA..."
    known_hosts: str | None = None  # path to an OpenSSH known_hosts file
    insecure_skip_host_key_check: bool = False  # only for a lab; logged as a warning
    # -- folders, relative to the path of the supplier's sftp:// URL
    po_folder: str = "purchase_orders"
    reply_folder: str = "replies"
    processed_folder: str = "replies/processed"
    # -- the files
    po_file_name: str = "PO_{po_id}.csv"
    ack_file_pattern: str = "ACK_*.csv"
    shipment_file_pattern: str = "SHIP_*.csv"
    encoding: str = "utf-8"
    delimiter: Annotated[str, Meta(min_length=1, max_length=1)] = ","
    po_columns: list[str | Column] = msgspec.field(default_factory=lambda: list(DEFAULT_PO_COLUMNS))
    ack_columns: dict[str, str] = {}  # field -> header, for headers that differ
    shipment_columns: dict[str, str] = {}
    # -- values in the answer files
    accepted_values: list[str] = msgspec.field(
        default_factory=lambda: ["accepted", "ok", "接单", "已接单", "确认"]
    )
    rejected_values: list[str] = msgspec.field(
        default_factory=lambda: ["rejected", "refused", "拒单", "拒绝"]
    )
    # The supplier's refusal reasons -> ours: {"缺货" = "out_of_stock"}.
    reason_map: dict[str, str] = {}
    time_offset: str = "+08:00"  # for times written, and for times read without an offset
    max_files_per_poll: Annotated[int, Meta(ge=1, le=1000)] = 50
    max_file_bytes: Annotated[int, Meta(ge=1024)] = 16 * 1024 * 1024

    def columns(self) -> list[Column]:
        return [Column(field=c) if isinstance(c, str) else c for c in self.po_columns]

    def tz(self) -> timezone:
        match = _OFFSET.match(self.time_offset)
        if match is None:
            raise ValueError(f"time_offset {self.time_offset!r}: expected +HH:MM")
        sign = -1 if match.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))

    def read_encoding(self) -> str:
        """Files saved by Excel as UTF-8 start with a byte-order mark: read it away."""
        return "utf-8-sig" if codecs.lookup(self.encoding).name == "utf-8" else self.encoding

    def ack_header(self, field: str) -> str:
        return self.ack_columns.get(field, field)

    def shipment_header(self, field: str) -> str:
        return self.shipment_columns.get(field, field)


def parse_options(options: dict[str, Any]) -> FileExchangeOptions:
    """Options as the adapter uses them; raises msgspec.ValidationError naming the bad key."""
    return msgspec.convert(options, FileExchangeOptions, strict=False)


def check_options(options: dict[str, Any]) -> list[OptionProblem]:
    """Every problem of a `file_exchange` supplier's options, each with its key path."""
    problems = _type_problems(options)
    if problems:
        return problems
    parsed = parse_options(options)

    def problem(path: tuple[str | int, ...], message: str) -> None:
        problems.append(OptionProblem(path, message))

    trusts = [k for k in ("host_key", "known_hosts") if getattr(parsed, k)]
    if parsed.insecure_skip_host_key_check:
        trusts.append("insecure_skip_host_key_check")
    if not trusts:
        problem((), "say how to trust the server: host_key, known_hosts or "
                "insecure_skip_host_key_check = true")  # fmt: skip
    elif len(trusts) > 1:
        problem((trusts[1],), f"give only one of {', '.join(trusts)}")
    if parsed.host_key is not None:
        problem_text = _host_key_problem(parsed.host_key)
        if problem_text:
            problem(("host_key",), problem_text)
    if parsed.password is None and parsed.private_key is None:
        problem((), "give a password or a private_key to log in with")
    for key, encoding in (("encoding", parsed.encoding),):
        try:
            codecs.lookup(encoding)
        except LookupError:
            problem((key,), f"unknown encoding {encoding!r} (utf-8, gbk, gb18030, utf-8-sig...)")
    if parsed.delimiter in ('"', "\r", "\n"):
        problem(("delimiter",), f"{parsed.delimiter!r} cannot separate CSV fields")
    for index, column in enumerate(parsed.columns()):
        if column.field not in PO_FIELDS:
            at: tuple[str | int, ...] = ("po_columns", index)
            if not isinstance(parsed.po_columns[index], str):
                at = (*at, "field")
            problem(at, f"unknown field {column.field!r} (one of: {', '.join(PO_FIELDS)})")
    if not parsed.po_columns:
        problem(("po_columns",), "a PO file needs at least one column")
    elif "po_id" not in [c.field for c in parsed.columns()]:
        problem(("po_columns",), "a PO file needs the po_id column: the supplier answers with it")
    problems += _file_name_problems(parsed.po_file_name)
    for key, known, table in (
        ("ack_columns", ACK_FIELDS, parsed.ack_columns),
        ("shipment_columns", SHIPMENT_FIELDS, parsed.shipment_columns),
    ):
        for field in table:
            if field not in known:
                problem((key, field), f"unknown field (one of: {', '.join(known)})")
    for key in ("ack_file_pattern", "shipment_file_pattern"):
        pattern = getattr(parsed, key)
        if not pattern or "/" in pattern:
            problem((key,), "a file name pattern such as ACK_*.csv, without a folder")
    if parsed.ack_file_pattern == parsed.shipment_file_pattern:
        problem(("shipment_file_pattern",), "must differ from ack_file_pattern")
    both = {v.casefold() for v in parsed.accepted_values} & {
        v.casefold() for v in parsed.rejected_values
    }
    if both:
        problem(("rejected_values",), f"also in accepted_values: {', '.join(sorted(both))}")
    try:
        parsed.tz()
    except ValueError as error:
        problem(("time_offset",), str(error))
    for key in ("po_folder", "reply_folder", "processed_folder"):
        if ".." in getattr(parsed, key).split("/"):
            problem((key,), "must stay inside the supplier's folder (no '..')")
    if parsed.processed_folder.strip("/") == parsed.reply_folder.strip("/"):
        problem(("processed_folder",), "must differ from reply_folder")
    return problems


def _file_name_problems(template: str) -> list[OptionProblem]:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        return [OptionProblem(("po_file_name",), f"not a valid template: {error}")]
    problems = [
        OptionProblem(
            ("po_file_name",),
            f"unknown placeholder {{{name}}} (one of: {', '.join(PO_FILE_PLACEHOLDERS)})",
        )
        for name in names
        if name not in PO_FILE_PLACEHOLDERS
    ]
    if "po_id" not in names:
        problems.append(
            OptionProblem(("po_file_name",), "must contain {po_id}: one file per PO, never reused")
        )
    if "/" in template:
        problems.append(OptionProblem(("po_file_name",), "a file name, without a folder"))
    return problems


def _host_key_problem(text: str) -> str | None:
    import asyncssh  # the check runs without connecting, but it parses the key like a connection

    try:
        asyncssh.import_public_key(text)
    except (asyncssh.KeyImportError, ValueError) as error:
        return f"not a public key ({error}); expected e.g. 'ssh-ed25519 AAAA...'"
    return None


def _type_problems(options: dict[str, Any]) -> list[OptionProblem]:
    """Each unknown key and each value of the wrong type, every one of them, with its path."""
    fields = {f.encode_name: f for f in msgspec.structs.fields(FileExchangeOptions)}
    problems: list[OptionProblem] = []
    for key, value in options.items():
        field = fields.get(key)
        if field is None:
            problems.append(OptionProblem((key,), "unknown option"))
            continue
        try:
            msgspec.convert(value, field.type, strict=False)
        except msgspec.ValidationError as error:
            problems.append(_with_path(error, (key,)))
    return problems


def _with_path(error: msgspec.ValidationError, prefix: tuple[str | int, ...]) -> OptionProblem:
    """msgspec says "Expected `str`, got `int` - at `$[0].field`": keep the path."""
    message, _, where = str(error).rpartition(" - at `$")
    if not message:
        return OptionProblem(prefix, str(error))
    path: list[str | int] = list(prefix)
    for key, index in re.findall(r"\.([^.\[`]+)|\[(\d+)\]", where.rstrip("`")):
        path.append(int(index) if index else key)
    return OptionProblem(tuple(path), message)
