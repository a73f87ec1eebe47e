"""The config file (CONTRACT §2): TOML decoded into typed Structs.

Unknown keys are errors, not silently ignored: a typo in `max_in_flight` must not quietly leave a
default in place. Every problem is reported with its key path, all at once (`run.py check`).

Layers, last one wins: the file, then `GATEWAY__SECTION__KEY` environment variables. A string
value `env:NAME` anywhere in the file is read from the environment variable NAME (secrets).
"""

from __future__ import annotations

import csv
import os
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yarl
from msgspec import Meta

from gateway.domain.access import (
    MIN_TOKEN_LENGTH,
    TOKEN_NAME_PATTERN,
    Role,
    parse_role,
    valid_digest,
)
from gateway.domain.fields import (
    Identifier,
    Money,
    NonNegativeSeconds,
    PluginName,
    Port,
    PositiveSeconds,
    Slug,
    Text,
)
from gateway.domain.regions import is_valid_region_pattern
from gateway.domain.validation import PathPart, Problem, collect_problems

ENV_PREFIX = "GATEWAY__"
SECRET_PREFIX = "env:"


class _Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class GatewaySection(_Section, kw_only=True):
    data_dir: str = "var"
    # "full" makes every commit survive a power cut, not only a crash; group commit keeps it cheap.
    sqlite_synchronous: Literal["full", "normal"] = "full"
    shutdown_grace_s: NonNegativeSeconds = 10.0
    # Extra plugin modules by import path, for local plugins without a package of their own.
    plugin_modules: list[str] = []
    # How long one plugin's import, or one call of its hook, may take at start-up before the
    # plugin is reported as hanging and skipped (the others load regardless).
    plugin_timeout_s: PositiveSeconds = 10.0
    # OTP-style restart limit of every supervisor: more than `restart_intensity` crashes within
    # `restart_period_s` and the child is marked down (and tried again after `revive_after_s`).
    restart_intensity: Annotated[int, Meta(ge=0)] = 3
    restart_period_s: PositiveSeconds = 30.0
    restart_backoff_s: NonNegativeSeconds = 0.5
    restart_backoff_max_s: NonNegativeSeconds = 10.0
    revive_after_s: PositiveSeconds = 300.0
    # Admission control: orders taken in but not yet committed. Past this, intake answers 429
    # with Retry-After instead of buffering without limit while the store is behind.
    intake_max_pending: Annotated[int, Meta(ge=1)] = 10_000


class HttpSection(_Section, kw_only=True):
    host: str = "127.0.0.1"
    port: Port = 8080
    max_body_bytes: Annotated[int, Meta(ge=1024)] = 4 * 1024 * 1024
    # Hostile and broken clients (issue 6): every connection is bounded in number and in time.
    max_connections: Annotated[int, Meta(ge=1, le=100_000)] = 256
    header_timeout_s: PositiveSeconds = 10.0  # from a request's first byte to its last header
    body_timeout_s: PositiveSeconds = 30.0  # to receive a whole request body
    idle_timeout_s: PositiveSeconds = 60.0  # an open connection with no request under way
    # How far a shipment notice's signed timestamp may be from the gateway's clock (a
    # supplier's own `notice_window_s` overrides it).
    notice_window_s: PositiveSeconds = 300.0
    # HTTPS when both are set: PEM certificate chain and its private key (issue 9).
    tls_cert_file: str | None = None
    tls_key_file: str | None = None


class MqttSection(_Section, kw_only=True):
    url: str = "mqtt://127.0.0.1:1883"
    topic_prefix: Annotated[str, Meta(pattern=r"^[^#+\s]+$")] = "dropship"
    client_id: Annotated[str, Meta(min_length=1, max_length=64)] = "dropship-gateway"
    username: str | None = None
    password: str | None = None
    keepalive_s: Annotated[int, Meta(ge=5, le=3600)] = 30
    reconnect_max_s: PositiveSeconds = 30.0
    # The publisher reads at most one batch of events per this many seconds, so that an
    # order's quick succession of changes goes out with one retained status.
    linger_s: Annotated[float, Meta(ge=0, le=5)] = 0.05
    # Where the in-process broker listens when url = "embedded".
    embedded_listen: str = "127.0.0.1:1883"
    # mqtts:// only: the CA that signed the broker's certificate (default: the system's), and a
    # client certificate and key for brokers that ask for one (issue 9).
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None


class SupplierConfig(_Section, kw_only=True):
    id: Slug
    name: Text
    adapter: PluginName = "http_json"
    url: str
    regions: Annotated[list[str], Meta(min_length=1)]
    webhook_secret: str | None = None
    # Shipment notices (CONTRACT §3): `legacy_signature` also accepts the old body-only
    # signature; `unsigned_notices` lets a supplier without a secret post notices at all.
    legacy_signature: bool = False
    unsigned_notices: bool = False
    notice_window_s: PositiveSeconds | None = None  # default: http.notice_window_s
    enabled: bool = True
    timeout_s: PositiveSeconds = 10.0
    max_in_flight: Annotated[int, Meta(ge=1, le=512)] = 8
    retry_base_s: PositiveSeconds = 0.5
    retry_max_s: PositiveSeconds = 60.0
    # A PO that no attempt could deliver for this long is marked failed (a visible exception).
    give_up_after_s: PositiveSeconds = 86400.0
    # A PO whose delivery made the adapter itself raise this many times is failed (poison).
    max_adapter_errors: Annotated[int, Meta(ge=1, le=100)] = 5
    # How often a reporting adapter (answers in files, a queue) is asked for new reports.
    poll_interval_s: PositiveSeconds = 30.0
    options: dict[str, Any] = {}


class CatalogEntry(_Section, kw_only=True):
    sku: Identifier
    supplier: Slug
    cost: Money
    stock: Annotated[int, Meta(ge=0)]
    priority: int = 100

    @property
    def unit_cost(self) -> Decimal:
        return Decimal(self.cost)


class RoutingSection(_Section, kw_only=True):
    strategy: Literal["cost", "priority", "score"] = "cost"
    split: Literal["allow", "never", "minimize"] = "allow"
    catalog_files: list[str] = []


class ChannelConfig(_Section, kw_only=True):
    id: Slug
    adapter: PluginName
    options: dict[str, Any] = {}


class ServiceConfig(_Section, kw_only=True):
    id: Slug
    plugin: PluginName
    options: dict[str, Any] = {}


class MetricsSection(_Section, kw_only=True):
    # Channel names that get their own label on /metrics besides the [[channels]] ids and
    # "api" (orders posted over HTTP with a channel of their own, such as "erp"). Any other
    # channel a client names is counted under "other": label values never come from requests.
    channels: list[Annotated[str, Meta(max_length=40)]] = []


class LogSection(_Section, kw_only=True):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


# -- issue 9: KPIs and alert rules ---------------------------------------------------------------


class KpiSection(_Section, kw_only=True):
    # A purchase order is on time when fully shipped within this many hours of its order's
    # receipt; per-supplier figures in `supplier_ship_sla_h` ({"sup-a" = 24}) override it.
    ship_sla_h: Annotated[float, Meta(gt=0)] = 48.0
    supplier_ship_sla_h: dict[str, Annotated[float, Meta(gt=0)]] = {}
    # Days of "orders per day" start at midnight of this UTC offset (8 for China).
    utc_offset_h: Annotated[int, Meta(ge=-12, le=14)] = 0
    top_skus: Annotated[int, Meta(ge=1, le=500)] = 10
    # A catalog SKU with no order for this many days is listed as idle (滞销).
    idle_sku_days: Annotated[int, Meta(ge=1, le=3650)] = 30


AlertType = Literal[
    "supplier_error_rate",
    "supplier_latency",
    "circuit_open",
    "supplier_down",
    "exception_backlog",
    "outbox_age",
    "channel_silent",
    "stock_cover",
]
Severity = Literal["critical", "warning", "info"]
AlertName = Annotated[
    str,
    Meta(
        pattern=r"^[a-z][a-z0-9_]{0,39}$",
        extra={"hint": "expected a-z, 0-9 and _, starting with a letter (it names a topic)"},
    ),
]


class AlertRule(_Section, kw_only=True):
    """One rule. `threshold` means, by type: supplier_error_rate a share of failed calls
    (0.2), supplier_latency a p95 in milliseconds, exception_backlog a number of orders on
    hold, outbox_age seconds the oldest feed message has waited, channel_silent seconds
    without an order, stock_cover days of sales the suppliers' stock still covers; for
    circuit_open and supplier_down it is unused. The condition must hold for `for_s` seconds
    before the alert fires; it resolves once the condition has been false for `resolve_after_s`.
    """

    type: AlertType
    name: AlertName | None = None  # the alert's kind on {p}/alerts/{kind}; default per type
    threshold: float = 0.0
    for_s: NonNegativeSeconds = 0.0
    resolve_after_s: NonNegativeSeconds = 0.0
    severity: Severity = "warning"
    suppliers: list[str] = []  # supplier rules: only these (default every supplier)
    channels: list[str] = []  # channel_silent: these channels (default the configured ones)
    skus: list[str] = []  # stock_cover: only these SKUs (default the whole catalog)
    # stock_cover: the sales rate is the ordered units of the last `window_days` per day.
    window_days: Annotated[int, Meta(ge=1, le=365)] = 7

    @property
    def kind(self) -> str:
        """The alert kind it publishes: its name, else its type; supplier_down publishes
        `supplier_outage`, apart from the health reporter's immediate `supplier_down`."""
        return self.name or _DEFAULT_ALERT_KINDS.get(self.type, self.type)


_DEFAULT_ALERT_KINDS = {"supplier_down": "supplier_outage"}


WebhookFormat = Literal["generic", "dingtalk", "wecom"]


class AlertWebhook(_Section, kw_only=True):
    url: str
    format: WebhookFormat = "generic"
    # DingTalk robots with the "加签" security setting: the secret (SEC...) signs each request.
    secret: str | None = None
    min_severity: Severity = "info"
    kinds: list[str] = []  # only these alert kinds (default all)
    timeout_s: PositiveSeconds = 10.0
    # Retries with exponential backoff (tenacity) from `retry_base_s` until `retry_for_s`.
    retry_base_s: PositiveSeconds = 1.0
    retry_for_s: PositiveSeconds = 300.0


class AlertsSection(_Section, kw_only=True):
    evaluate_every_s: PositiveSeconds = 15.0
    rules: list[AlertRule] = []
    webhooks: list[AlertWebhook] = []


# -- access control and limits (issue 9) ---------------------------------------------------------


class TokenConfig(_Section, kw_only=True):
    """An API token given in the config. The token itself (`env:NAME`) or only its SHA-256
    (`python run.py token hash`), so the file need not hold the secret."""

    name: Annotated[str, Meta(pattern=TOKEN_NAME_PATTERN)]
    role: str  # viewer | operator | admin | supplier:<supplier id>
    token: str | None = None
    sha256: str | None = None


class AuthSection(_Section, kw_only=True):
    tokens: list[TokenConfig] = []
    public_health: bool = True  # /healthz and /readyz answer without a token
    public_metrics: bool = False  # /metrics answers without a token
    session_ttl_s: PositiveSeconds = 12 * 3600.0  # a dashboard login lasts this long


class LimitsSection(_Section, kw_only=True):
    # Per token, on POST /api/v1/orders: a token bucket of `intake_burst` requests refilled at
    # `intake_rate_per_s`; past it, 429 with Retry-After. 0 turns the limit off.
    intake_rate_per_s: Annotated[float, Meta(ge=0)] = 50.0
    intake_burst: Annotated[int, Meta(ge=1)] = 100


class Config(_Section, kw_only=True):
    gateway: GatewaySection = msgspec.field(default_factory=GatewaySection)
    http: HttpSection = msgspec.field(default_factory=HttpSection)
    mqtt: MqttSection = msgspec.field(default_factory=MqttSection)
    suppliers: list[SupplierConfig] = []
    catalog: list[CatalogEntry] = []
    routing: RoutingSection = msgspec.field(default_factory=RoutingSection)
    channels: list[ChannelConfig] = []
    services: list[ServiceConfig] = []
    metrics: MetricsSection = msgspec.field(default_factory=MetricsSection)
    log: LogSection = msgspec.field(default_factory=LogSection)
    kpis: KpiSection = msgspec.field(default_factory=KpiSection)
    alerts: AlertsSection = msgspec.field(default_factory=AlertsSection)
    auth: AuthSection = msgspec.field(default_factory=AuthSection)
    limits: LimitsSection = msgspec.field(default_factory=LimitsSection)

    def supplier(self, supplier_id: str) -> SupplierConfig | None:
        return next((s for s in self.suppliers if s.id == supplier_id), None)


class ConfigError(Exception):
    """The config cannot be used; `problems` says every reason, each with its key path."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(f"{p.key_path()}: {p.message}" for p in problems))
        self.problems = problems


def config_path_from(argument: str | None, environ: Mapping[str, str]) -> Path:
    """`--config`, else `GATEWAY_CONFIG`, else `config/default.toml`."""
    return Path(argument or environ.get("GATEWAY_CONFIG") or "config/default.toml")


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, merge, resolve and validate a config file. Raises ConfigError."""
    environ = os.environ if environ is None else environ
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([Problem((), f"config file {str(path)!r} does not exist")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([Problem((), f"cannot read {str(path)!r}: {error}")]) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([Problem((), f"{path}: not valid TOML: {error}")]) from None

    problems: list[Problem] = []
    from_env: dict[tuple[PathPart, ...], str] = {}
    problems += _apply_env_overrides(raw, environ, from_env)
    problems += _resolve_secrets(raw, environ, ())
    routing = raw.get("routing")
    files = routing.get("catalog_files", []) if isinstance(routing, dict) else []
    catalog_rows, catalog_problems = _read_catalog_files(files, path.parent)
    problems += catalog_problems
    problems += collect_problems(raw, Config, strict=False)
    problems += cross_check(raw, catalog_rows)
    if problems:
        raise ConfigError([_name_env_source(p, from_env) for p in problems])
    config = msgspec.convert(raw, Config, strict=False)
    catalog = [msgspec.convert(row.values, CatalogEntry, strict=False) for row in catalog_rows]
    return msgspec.structs.replace(config, catalog=[*config.catalog, *catalog])


def _name_env_source(problem: Problem, from_env: dict[tuple[PathPart, ...], str]) -> Problem:
    """A problem with a value that came from the environment says which variable set it."""
    for depth in range(len(problem.path), 0, -1):
        variable = from_env.get(problem.path[:depth])
        if variable is not None:
            return Problem(problem.path, f"{problem.message} (set by {variable})")
    return problem


def _apply_env_overrides(
    raw: dict[str, Any], environ: Mapping[str, str], from_env: dict[tuple[PathPart, ...], str]
) -> list[Problem]:
    """`GATEWAY__HTTP__PORT=8081` sets raw["http"]["port"]; numeric parts index arrays
    (`GATEWAY__SUPPLIERS__0__URL`). `from_env` learns which variable set which key."""
    problems: list[Problem] = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        parts: list[PathPart] = [
            int(p) if p.isdigit() else p.lower() for p in name[len(ENV_PREFIX) :].split("__")
        ]
        if not parts or any(p == "" for p in parts):
            problems.append(Problem((), f"environment variable {name}: malformed key"))
            continue
        node: Any = raw
        for depth, part in enumerate(parts[:-1]):
            nxt = parts[depth + 1]
            if isinstance(part, int):
                if not isinstance(node, list) or part >= len(node):
                    problems.append(
                        Problem(tuple(parts[: depth + 1]), f"{name}: no such array entry")
                    )
                    break
                node = node[part]
            else:
                if not isinstance(node, dict):
                    problems.append(Problem(tuple(parts[:depth]), f"{name}: not a table"))
                    break
                node = node.setdefault(part, [] if isinstance(nxt, int) else {})
        else:
            last = parts[-1]
            if isinstance(last, int) or not isinstance(node, dict):
                problems.append(Problem(tuple(parts), f"{name}: cannot set an array entry"))
                continue
            node[last] = _parse_env_value(environ[name], node.get(last))
            from_env[tuple(parts)] = name
    return problems


def _parse_env_value(text: str, replaced: Any) -> Any:
    """The value of an override. An array or inline table is read as TOML
    (`["CN-ZJ", "CN-SH"]`). A scalar takes the type of the value it replaces in the file, so
    free-form plugin `options` keep their types too; a new key stays text, and the schema's lax
    conversion decides (a port "8081" becomes an int, a password "123456" stays a string)."""
    if text.lstrip().startswith(("[", "{")):
        try:
            return tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            return text
    try:
        if isinstance(replaced, bool):
            return {"true": True, "false": False}.get(text.strip().lower(), text)
        if isinstance(replaced, int):
            return int(text)
        if isinstance(replaced, float):
            return float(text)
    except ValueError:
        return text  # reported by the type check, with the variable's name
    return text


def _resolve_secrets(
    node: Any, environ: Mapping[str, str], path: tuple[PathPart, ...]
) -> list[Problem]:
    """Replace every `env:NAME` string with the value of NAME, in place."""
    problems: list[Problem] = []
    if isinstance(node, dict):
        items = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    else:
        return problems
    for key, value in items:
        if isinstance(value, str) and value.startswith(SECRET_PREFIX):
            variable = value[len(SECRET_PREFIX) :]
            if variable not in environ:
                problems.append(
                    Problem((*path, key), f"environment variable {variable} is not set")
                )
            else:
                node[key] = environ[variable]
        elif isinstance(value, dict | list):
            problems += _resolve_secrets(value, environ, (*path, key))
    return problems


_CATALOG_COLUMNS = ("sku", "supplier", "cost", "stock", "priority")


class CatalogRow(msgspec.Struct, frozen=True):
    """One row of a catalog CSV file, and where it came from (for error messages)."""

    where: tuple[PathPart, ...]
    label: str
    values: dict[str, str]


def _read_catalog_files(files: Any, base: Path) -> tuple[list[CatalogRow], list[Problem]]:
    """Rows of the catalog CSV files (`sku,supplier,cost,stock,priority`), type-checked."""
    rows: list[CatalogRow] = []
    problems: list[Problem] = []
    if not isinstance(files, list):
        return rows, problems
    for index, name in enumerate(files):
        if not isinstance(name, str):
            continue
        where: tuple[PathPart, ...] = ("routing", "catalog_files", index)
        file = base / name
        try:
            with file.open(newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                missing = [c for c in _CATALOG_COLUMNS[:4] if c not in (reader.fieldnames or [])]
                if missing:
                    problems.append(Problem(where, f"{name}: missing columns {', '.join(missing)}"))
                    continue
                for row in reader:
                    values = {k: v for k, v in row.items() if k in _CATALOG_COLUMNS and v}
                    row_problems = collect_problems(values, CatalogEntry, strict=False)
                    problems += [
                        Problem(
                            where, f"{name} line {reader.line_num}: {p.key_path()}: {p.message}"
                        )
                        for p in row_problems
                    ]
                    if not row_problems:
                        rows.append(CatalogRow(where, f"{name} line {reader.line_num}", values))
        except OSError as error:
            problems.append(Problem(where, f"cannot read {name}: {error.strerror or error}"))
    return rows, problems


def _tables(raw: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    value = raw.get(key)
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def cross_check(raw: dict[str, Any], catalog_rows: list[CatalogRow]) -> list[Problem]:
    """Rules between keys that types cannot express.

    Works on the raw tables, tolerating wrong types (those are reported by the type check), so
    that one run of `check` lists every problem at once.
    """
    problems: list[Problem] = []
    supplier_ids: set[str] = set()
    for index, supplier in _tables(raw, "suppliers"):
        where: tuple[PathPart, ...] = ("suppliers", index)
        supplier_id = supplier.get("id")
        if isinstance(supplier_id, str):
            if supplier_id in supplier_ids:
                problems.append(Problem((*where, "id"), f"duplicate supplier id {supplier_id!r}"))
            supplier_ids.add(supplier_id)
        url = supplier.get("url")
        if isinstance(url, str) and not _is_supplier_url(url):
            problems.append(Problem((*where, "url"), "not a valid URL"))
        regions = supplier.get("regions")
        for r_index, region in enumerate(regions if isinstance(regions, list) else []):
            if isinstance(region, str) and not is_valid_region_pattern(region):
                problems.append(
                    Problem(
                        (*where, "regions", r_index),
                        f"{region!r} is not an ISO 3166-2 code (CN-ZJ), a country (CN) or *",
                    )
                )
    seen: set[tuple[str, str]] = set()
    catalog: list[tuple[tuple[PathPart, ...], str, dict[str, Any]]] = [
        (("catalog", i), "", row) for i, row in _tables(raw, "catalog")
    ]
    catalog += [(row.where, f"{row.label}: ", row.values) for row in catalog_rows]
    for where, label, row in catalog:
        sku, supplier_id = row.get("sku"), row.get("supplier")
        if not isinstance(sku, str) or not isinstance(supplier_id, str):
            continue
        if supplier_id not in supplier_ids:
            at = where if label else (*where, "supplier")
            problems.append(Problem(at, f"{label}no supplier {supplier_id!r}"))
        if (sku, supplier_id) in seen:
            problems.append(
                Problem(where, f"{label}SKU {sku!r} listed twice for supplier {supplier_id!r}")
            )
        seen.add((sku, supplier_id))
    for section in ("channels", "services"):
        ids: set[str] = set()
        for index, item in _tables(raw, section):
            item_id = item.get("id")
            if isinstance(item_id, str) and item_id in ids:
                problems.append(Problem((section, index, "id"), f"duplicate id {item_id!r}"))
            ids.add(str(item_id))
    mqtt = raw.get("mqtt")
    if not isinstance(mqtt, dict):
        mqtt = {}
    url = mqtt.get("url", MqttSection().url)
    if isinstance(url, str) and url != "embedded" and not _is_mqtt_url(url):
        problems.append(
            Problem(("mqtt", "url"), 'expected "embedded" or mqtt://host:port (mqtts:// for TLS)')
        )
    listen = mqtt.get("embedded_listen", MqttSection().embedded_listen)
    if url == "embedded" and isinstance(listen, str) and not _is_host_port(listen):
        problems.append(Problem(("mqtt", "embedded_listen"), "expected host:port"))
    problems += _check_alerts(raw, supplier_ids)
    problems += _check_security(raw, supplier_ids)
    return problems


_THRESHOLD_TYPES = {
    "supplier_error_rate",
    "supplier_latency",
    "exception_backlog",
    "outbox_age",
    "channel_silent",
    "stock_cover",
}


def _check_alerts(raw: dict[str, Any], supplier_ids: set[str]) -> list[Problem]:
    """Alert rules name real suppliers and have a threshold where their type needs one;
    webhooks have http(s) URLs."""
    problems: list[Problem] = []
    alerts = raw.get("alerts")
    if not isinstance(alerts, dict):
        return problems
    kinds: set[str] = set()
    for index, rule in _tables(alerts, "rules"):
        where: tuple[PathPart, ...] = ("alerts", "rules", index)
        rule_type = str(rule.get("type"))
        kind = rule.get("name") or _DEFAULT_ALERT_KINDS.get(rule_type, rule_type)
        if isinstance(kind, str) and kind in kinds:
            problems.append(
                Problem((*where, "name"), f"another rule publishes {kind!r}: give this one a name")
            )
        kinds.add(str(kind))
        if rule.get("type") in _THRESHOLD_TYPES and "threshold" not in rule:
            problems.append(Problem((*where, "threshold"), f"required for {rule['type']}"))
        threshold = rule.get("threshold")
        is_share = rule.get("type") == "supplier_error_rate"
        if is_share and isinstance(threshold, int | float) and not 0 <= threshold <= 1:
            problems.append(Problem((*where, "threshold"), "expected a share from 0 to 1"))
        listed = rule.get("suppliers")
        for s_index, supplier_id in enumerate(listed if isinstance(listed, list) else []):
            if isinstance(supplier_id, str) and supplier_id not in supplier_ids:
                problems.append(
                    Problem((*where, "suppliers", s_index), f"no supplier {supplier_id!r}")
                )
    for index, hook in _tables(alerts, "webhooks"):
        url = hook.get("url")
        if isinstance(url, str) and not _is_http_url(url):
            problems.append(Problem(("alerts", "webhooks", index, "url"), "not a valid URL"))
    return problems


def _check_security(raw: dict[str, Any], supplier_ids: set[str]) -> list[Problem]:
    """Tokens, TLS files (issue 9)."""
    problems: list[Problem] = []
    auth = raw.get("auth")
    tokens = _tables(auth, "tokens") if isinstance(auth, dict) else []
    names: set[str] = set()
    digests: set[str] = set()
    for index, token in tokens:
        where: tuple[PathPart, ...] = ("auth", "tokens", index)
        name = token.get("name")
        if isinstance(name, str):
            if name in names:
                problems.append(Problem((*where, "name"), f"duplicate token name {name!r}"))
            names.add(name)
        role = token.get("role")
        if isinstance(role, str):
            try:
                kind, supplier_id = parse_role(role)
            except ValueError as error:
                problems.append(Problem((*where, "role"), str(error)))
            else:
                if kind == Role.SUPPLIER and supplier_id not in supplier_ids:
                    problems.append(Problem((*where, "role"), f"no supplier {supplier_id!r}"))
        secret, digest = token.get("token"), token.get("sha256")
        if (secret is None) == (digest is None):
            problems.append(Problem(where, "give either token (use env:NAME) or sha256"))
        if isinstance(secret, str) and len(secret) < MIN_TOKEN_LENGTH:
            problems.append(
                Problem((*where, "token"), f"too short: at least {MIN_TOKEN_LENGTH} characters")
            )
        if isinstance(digest, str):
            if not valid_digest(digest):
                problems.append(Problem((*where, "sha256"), "expected 64 lowercase hex digits"))
            elif digest in digests:
                problems.append(Problem((*where, "sha256"), "the same token is given twice"))
            digests.add(digest)
    for section in ("http", "mqtt"):
        table = raw.get(section)
        if not isinstance(table, dict):
            continue
        cert, key = table.get("tls_cert_file"), table.get("tls_key_file")
        if (cert is None) != (key is None):
            problems.append(
                Problem((section, "tls_key_file" if key is None else "tls_cert_file"),
                        "tls_cert_file and tls_key_file go together")
            )  # fmt: skip
        for name in ("tls_cert_file", "tls_key_file", "tls_ca_file"):
            path = table.get(name)
            if isinstance(path, str) and not Path(path).is_file():
                problems.append(Problem((section, name), f"no such file: {path}"))
    return problems


def _is_http_url(text: str) -> bool:
    try:
        url = yarl.URL(text)
    except (ValueError, TypeError):
        return False
    return url.scheme in ("http", "https") and bool(url.host)


def _is_supplier_url(text: str) -> bool:
    """http(s) for API suppliers; sftp://user@host/folder for file-exchange suppliers (the
    adapter itself checks that it got the scheme it speaks)."""
    try:
        url = yarl.URL(text)
    except (ValueError, TypeError):
        return False
    return url.scheme in ("http", "https", "sftp") and bool(url.host)


def _is_mqtt_url(text: str) -> bool:
    try:
        url = yarl.URL(text)
    except (ValueError, TypeError):
        return False
    return url.scheme in ("mqtt", "mqtts", "tcp") and bool(url.host)


def _is_host_port(text: str) -> bool:
    host, _, port = text.rpartition(":")
    return bool(host) and port.isdigit() and 0 <= int(port) <= 65535
