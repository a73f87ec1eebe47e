"""The `[[channels]] options` of a Shopify channel, and their check for `run.py check`.

```toml
[[channels]]
id = "shopify"
adapter = "shopify"
[channels.options]
shop_url = "https://acme.myshopify.com"     # the shop's admin address
access_token = "env:SHOPIFY_ACCESS_TOKEN"   # Admin API access token (read_orders,
                                            # write_merchant_managed_fulfillment_orders)
api_secret = "env:SHOPIFY_API_SECRET"       # the app's client secret: signs the webhooks
listen = "127.0.0.1:8091"                   # where the webhook listener accepts connections
```
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlparse

import msgspec
from msgspec import Meta

from gateway.plugin_api import OptionProblem

API_VERSION = "2024-10"
_AT_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_NAMED_FIELD = re.compile(
    r"^Object (?P<kind>contains unknown|missing required) field `(?P<field>[^`]+)`$"
)
_VERSION = re.compile(r"^(\d{4}-(01|04|07|10)|unstable)$")
_LISTEN = re.compile(r"^(?P<host>[^:\s]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})$")

Seconds = Annotated[float, Meta(gt=0)]


class CarrierOption(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """How one carrier code of the gateway appears in Shopify."""

    company: str  # the tracking company's name, exactly as in Shopify's list where it is there
    url: str | None = None  # tracking URL template with {number}, for companies Shopify lacks


class ShopifyOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    shop_url: str
    access_token: Annotated[str, Meta(min_length=1)]
    api_secret: Annotated[str, Meta(min_length=1)]
    api_version: str = API_VERSION
    listen: str = "127.0.0.1:8091"
    webhook_path: str = "/shopify/webhooks"
    max_body_bytes: Annotated[int, Meta(gt=0)] = 5 * 1024 * 1024
    # Reconciliation: list orders updated since the last run, every `reconcile_every_s`.
    reconcile_every_s: Seconds = 300.0
    reconcile_lookback_s: Seconds = 86400.0  # how far back the first run looks
    reconcile_overlap_s: Annotated[float, Meta(ge=0)] = 120.0  # clock skew and same-second edits
    reconcile_page_size: Annotated[int, Meta(ge=1, le=250)] = 250
    # Payment: Shopify's `authorized` (captured later) counts as paid unless this is true.
    hold_authorized: bool = False
    # Write-back of tracking as fulfillments.
    write_back: bool = True
    notify_customer: bool = False
    carriers: dict[str, CarrierOption] = {}
    timeout_s: Seconds = 30.0
    retry_max_s: Seconds = 60.0  # longest wait between attempts while Shopify is away
    event_memory_s: Seconds = 86400.0  # how long a webhook's event id is remembered

    @property
    def admin_base(self) -> str:
        return f"{self.shop_url.rstrip('/')}/admin/api/{self.api_version}"

    @property
    def listen_address(self) -> tuple[str, int]:
        match = _LISTEN.match(self.listen)
        assert match is not None  # checked by `check_options`
        return match["host"].strip("[]"), int(match["port"])


def parse_options(options: dict[str, Any]) -> ShopifyOptions:
    """The options as a Struct; raises ValueError naming every problem with its path."""
    problems = check_options(options)
    if problems:
        raise ValueError(
            "; ".join(f"{'.'.join(map(str, p.path)) or '(options)'}: {p.message}" for p in problems)
        )
    return msgspec.convert(options, ShopifyOptions)


def check_options(options: dict[str, Any]) -> list[OptionProblem]:
    """Every problem of a Shopify channel's options, each with its key path."""
    problems = _type_problems(options)
    bad = {p.path[0] for p in problems if p.path}
    # Each value that has the right type is checked for sense, whatever is wrong elsewhere.
    valid = {k: v for k, v in options.items() if k in _DEFAULTS and k not in bad}
    value = {**_DEFAULTS, **valid}
    if "shop_url" in valid:
        url = urlparse(value["shop_url"])
        if url.scheme not in ("http", "https") or not url.netloc:
            problems.append(
                OptionProblem(
                    ("shop_url",), "expected the shop's URL, like https://acme.myshopify.com"
                )
            )
    if not _VERSION.match(value["api_version"]):
        problems.append(
            OptionProblem(("api_version",), "expected a Shopify API version such as 2024-10")
        )
    match = _LISTEN.match(value["listen"])
    if match is None or int(match["port"]) > 65535:
        problems.append(OptionProblem(("listen",), "expected host:port, like 127.0.0.1:8091"))
    if not value["webhook_path"].startswith("/"):
        problems.append(OptionProblem(("webhook_path",), "expected a path starting with /"))
    carriers = msgspec.convert(value["carriers"], dict[str, CarrierOption])
    for code, carrier in carriers.items():
        if carrier.url is not None and "{number}" not in carrier.url:
            problems.append(
                OptionProblem(("carriers", code, "url"), "expected a URL containing {number}")
            )
    return problems


# Every option's default; the required ones have a stand-in that passes the checks of sense.
def _default(field: msgspec.structs.FieldInfo) -> Any:
    if field.default is not msgspec.NODEFAULT:
        return field.default
    if field.default_factory is not msgspec.NODEFAULT:
        return field.default_factory()
    return None


_DEFAULTS: dict[str, Any] = {
    f.encode_name: _default(f) for f in msgspec.structs.fields(ShopifyOptions)
}


def _type_problems(options: dict[str, Any]) -> list[OptionProblem]:
    """Unknown, missing and mistyped options, all of them (msgspec stops at the first)."""
    fields = {f.encode_name: f for f in msgspec.structs.fields(ShopifyOptions)}
    problems = [OptionProblem((key,), "unknown option") for key in options if key not in fields]
    for name, field in fields.items():
        if name not in options:
            if field.required:
                problems.append(OptionProblem((name,), "required"))
            continue
        try:
            msgspec.convert(options[name], field.type)
        except msgspec.ValidationError as error:
            problem = _problem(error)
            problems.append(OptionProblem((name, *problem.path), problem.message))
    return problems


def _problem(error: msgspec.ValidationError) -> OptionProblem:
    text = str(error)
    match = _AT_PATH.search(text)
    path: list[str | int] = []
    message = text
    if match is not None:
        path = [int(index) if index else name for name, index in _PATH_PART.findall(match["path"])]
        message = text[: match.start()]
    named = _NAMED_FIELD.match(message)
    if named is not None:  # the field is the problem: name it in the path
        path.append(named["field"])
        message = "unknown option" if named["kind"] == "contains unknown" else "required"
    return OptionProblem(tuple(path), message)
