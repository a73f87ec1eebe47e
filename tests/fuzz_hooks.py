"""Schemathesis hooks for `tests/test_fuzz_api.py` and `make fuzz`: shipment notices are signed
the way CONTRACT §3 says (`X-Signature: t=<unix seconds>,sha256=<hex HMAC-SHA256 of "<t>." +
the body>`), so that the fuzzer's notices get past the signature check and their bodies are
what gets tested. The secret comes from the environment the test sets (FUZZ_NOTICE_SECRET)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import schemathesis

from gateway.domain.notices import SIGNATURE_HEADER, sign


def _wire_bytes(body: Any) -> bytes:
    """The bytes schemathesis sends for a JSON body (through `requests`' `json=`)."""
    if isinstance(body, bytes):
        return body
    if body is None:
        return b"null"
    return json.dumps(body, allow_nan=False).encode()


@schemathesis.hook
def before_call(ctx: Any, case: Any, kwargs: dict[str, Any]) -> None:
    secret = os.environ.get("FUZZ_NOTICE_SECRET")
    if not secret or not case.path.endswith("/shipments") or case.method != "POST":
        return
    # The fuzzer's own X-Signature, if it made one, is replaced: bad signatures have their own
    # tests (tests/test_hostile_http.py); here the body is what is tried.
    try:
        body = b"" if case.body.__class__.__name__ == "NotSet" else _wire_bytes(case.body)
    except ValueError:  # NaN or infinity: requests refuses to send it anyway
        return
    case.headers = {**(case.headers or {}), SIGNATURE_HEADER: sign(secret, body, int(time.time()))}
