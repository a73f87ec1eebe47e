"""How a K3Cloud server checks the third-party-app signature of a WebAPI call.

Written from what Kingdee's Python SDK (`kingdee-cdp-webapi-sdk` 8.x, `WebApiClient.BuildHeader`)
sends on every call, so that the simulator accepts exactly what the SDK produces:

- ``X-Api-ClientID``: the part of the app id before ``_``; the part after it is the app's client
  secret, scrambled (XOR with a fixed pad, then Base64) so that it is not in clear text.
- ``X-Api-Auth-Version: 2.0``, ``x-api-timestamp`` (Unix seconds), ``x-api-nonce``,
  ``x-api-signheaders: x-api-timestamp,x-api-nonce``.
- ``X-Api-Signature``: HMAC-SHA256, keyed with the client secret, of
  ``"POST\\n" + percent-encoded path + "\\n\\nx-api-nonce:" + nonce + "\\nx-api-timestamp:" + ts
  + "\\n"``; the digest is written in hex and that text Base64-encoded.
- ``X-Kd-Appkey``: the app id; ``X-Kd-Appdata``: Base64 of ``"acct,user,lcid,org"``;
  ``X-Kd-Signature``: the same HMAC construction over ``app id + app data``, keyed with the
  app secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import quote

# The SDK builds its pad from four 8-character pieces (ROT13 of a string in its source) with a
# random digit after each, which it skips again: the pad is fixed.
_PAD = b"0054f397c6234378b09ca7d3e5debce7"


def hmac_text(content: str, key: str) -> str:
    """Kingdee's signature format: hex digest of HMAC-SHA256, Base64-encoded as text."""
    digest = hmac.new(key.encode(), content.encode(), hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode()).decode()


def _xor(data: bytes) -> bytes:
    return bytes(b ^ _PAD[i] for i, b in enumerate(data))


def scramble_client_secret(client_secret: str) -> str:
    """The second half of an app id, as the Kingdee console issues it, for a client secret
    (24 bytes written as 32 Base64 characters)."""
    return base64.b64encode(_xor(base64.b64decode(client_secret))).decode()


def unscramble_client_secret(scrambled: str) -> str | None:
    if len(scrambled) != 32:
        return None
    try:
        raw = base64.b64decode(scrambled, validate=True)
    except ValueError:
        return None
    return base64.b64encode(_xor(raw)).decode()


def canonical_request(path: str, nonce: str, timestamp: str) -> str:
    encoded = quote(path, safe="")
    return f"POST\n{encoded}\n\nx-api-nonce:{nonce}\nx-api-timestamp:{timestamp}\n"


@dataclass(frozen=True)
class AppData:
    acct_id: str
    user_name: str
    lcid: int
    org_number: str


class SignatureInvalid(Exception):
    """The request's signature headers do not check out; the message says which."""


def verify(
    headers: dict[str, str],
    path: str,
    app_secrets: dict[str, str],
    now_s: float,
    window_s: float,
) -> AppData:
    """Check the signature headers of one call against the registered apps
    (app id → app secret). Returns who is calling; raises SignatureInvalid."""
    lower = {k.lower(): v for k, v in headers.items()}
    app_id = lower.get("x-kd-appkey", "")
    if app_id not in app_secrets:
        raise SignatureInvalid(f"应用ID {app_id!r} 未注册或未授权")
    client_id, _, scrambled = app_id.partition("_")
    if lower.get("x-api-clientid") != client_id:
        raise SignatureInvalid("X-Api-ClientID 与应用ID不一致")
    if lower.get("x-api-auth-version") != "2.0":
        raise SignatureInvalid("X-Api-Auth-Version 必须为 2.0")
    timestamp = lower.get("x-api-timestamp", "")
    nonce = lower.get("x-api-nonce", "")
    if not timestamp.isdigit() or abs(int(timestamp) - now_s) > window_s:
        raise SignatureInvalid("x-api-timestamp 已过期或无效")
    if lower.get("x-api-signheaders", "").replace(" ", "").lower() != "x-api-timestamp,x-api-nonce":
        raise SignatureInvalid("x-api-signheaders 必须为 x-api-timestamp,x-api-nonce")
    client_secret = unscramble_client_secret(scrambled)
    if client_secret is None:
        raise SignatureInvalid("应用ID格式不正确")
    expected = hmac_text(canonical_request(path, nonce, timestamp), client_secret)
    if not hmac.compare_digest(expected, lower.get("x-api-signature", "")):
        raise SignatureInvalid("X-Api-Signature 签名不正确")
    try:
        app_data = base64.b64decode(lower.get("x-kd-appdata", ""), validate=True).decode()
    except ValueError:
        raise SignatureInvalid("X-Kd-Appdata 不是有效的 Base64") from None
    expected_kd = hmac_text(app_id + app_data, app_secrets[app_id])
    if not hmac.compare_digest(expected_kd, lower.get("x-kd-signature", "")):
        raise SignatureInvalid("X-Kd-Signature 签名不正确")
    parts = app_data.split(",")
    if len(parts) != 4 or not parts[2].isdigit():
        raise SignatureInvalid("X-Kd-Appdata 应为 账套ID,用户名,LCID,组织编码")
    return AppData(parts[0], parts[1], int(parts[2]), parts[3])
