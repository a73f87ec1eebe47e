"""The third-party-app signature K3Cloud checks on every WebAPI call (auth version 2.0).

Learned from Kingdee's Python SDK (`kingdee-cdp-webapi-sdk` 8.x, `WebApiClient.BuildHeader`);
our own code. An app id issued by the Kingdee console is ``<client id>_<scrambled secret>``:
the second half is the client secret XOR-ed with a fixed pad and Base64-encoded. Each call
carries an HMAC-SHA256 of the request line keyed with that client secret (``X-Api-Signature``)
and one of the caller's identity (account, user, LCID, organisation) keyed with the app secret
(``X-Kd-Signature``). Kingdee writes each HMAC as its hex digest, Base64-encoded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import quote

# Fixed in the SDK (ROT13 of four 8-character pieces; the random digit it appends to each piece
# is dropped again before use).
_SECRET_PAD = b"0054f397c6234378b09ca7d3e5debce7"


class BadAppId(ValueError):
    """The app id does not have the console's ``<client id>_<32 characters>`` form."""


def kingdee_hmac(content: str, key: str) -> str:
    digest = hmac.new(key.encode(), content.encode(), hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode()).decode()


def client_credentials(app_id: str) -> tuple[str, str]:
    """(client id, client secret) of an app id."""
    client_id, sep, scrambled = app_id.partition("_")
    if not sep or not client_id or len(scrambled) != 32:
        raise BadAppId(
            "app_id: expected '<client id>_<32 characters>' as the Kingdee console shows it"
        )
    try:
        raw = base64.b64decode(scrambled, validate=True)
    except ValueError:
        raise BadAppId("app_id: the part after '_' is not Base64") from None
    plain = bytes(b ^ _SECRET_PAD[i] for i, b in enumerate(raw))
    return client_id, base64.b64encode(plain).decode()


def signature_headers(
    *,
    path: str,
    app_id: str,
    app_secret: str,
    acct_id: str,
    user_name: str,
    lcid: int,
    org_number: str,
    unix_time: int,
    nonce: str | None = None,
) -> dict[str, str]:
    """The headers of one signed call to `path` (the URL's path, not yet percent-encoded)."""
    client_id, client_secret = client_credentials(app_id)
    timestamp = str(unix_time)
    nonce = nonce or secrets.token_hex(8)
    request_line = (
        f"POST\n{quote(path, safe='')}\n\nx-api-nonce:{nonce}\nx-api-timestamp:{timestamp}\n"
    )
    app_data = f"{acct_id},{user_name},{lcid},{org_number}"
    return {
        "X-Api-ClientID": client_id,
        "X-Api-Auth-Version": "2.0",
        "x-api-timestamp": timestamp,
        "x-api-nonce": nonce,
        "x-api-signheaders": "x-api-timestamp,x-api-nonce",
        "X-Api-Signature": kingdee_hmac(request_line, client_secret),
        "X-Kd-Appkey": app_id,
        "X-Kd-Appdata": base64.b64encode(app_data.encode()).decode(),
        "X-Kd-Signature": kingdee_hmac(app_id + app_data, app_secret),
    }
