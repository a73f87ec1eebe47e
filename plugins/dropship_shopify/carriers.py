"""A supplier's carrier code (`SF`, `YTO`, `顺丰`) as Shopify's `trackingInfo.company`.

Shopify makes tracking numbers clickable, and follows the parcel, when `company` is one of its
supported tracking companies, spelled exactly as its list spells it (capitalisation matters).
For a carrier that is not on that list, Shopify's advice is to send a tracking `url` too; those
get a tracking page URL here. Channel options (`carriers`) add carriers or override these.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from dropship_shopify.options import CarrierOption

_KUAIDI100 = "https://www.kuaidi100.com/chaxun?com={com}&nu={{number}}"


class Tracking(msgspec.Struct, frozen=True):
    company: str
    url: str | None = None


# Names from Shopify's list of supported tracking companies: no URL needed.
_SHOPIFY_KNOWN: dict[str, str] = {
    "SF": "SF Express",
    "SFEXPRESS": "SF Express",
    "顺丰": "SF Express",
    "顺丰速运": "SF Express",
    "EMS": "China Post",
    "CHINAPOST": "China Post",
    "中国邮政": "China Post",
    "邮政": "China Post",
    "4PX": "4PX",
    "递四方": "4PX",
    "YUNEXPRESS": "YunExpress",
    "云途": "YunExpress",
    "DHL": "DHL Express",
    "DHLEXPRESS": "DHL Express",
    "FEDEX": "FedEx",
    "UPS": "UPS",
    "USPS": "USPS",
}

# Carriers Shopify does not list: their name, and a public tracking page for the number.
_WITH_URL: dict[str, tuple[str, str]] = {
    "YTO": ("YTO Express", "yuantong"),
    "圆通": ("YTO Express", "yuantong"),
    "ZTO": ("ZTO Express", "zhongtong"),
    "中通": ("ZTO Express", "zhongtong"),
    "STO": ("STO Express", "shentong"),
    "申通": ("STO Express", "shentong"),
    "YUNDA": ("Yunda Express", "yunda"),
    "YD": ("Yunda Express", "yunda"),
    "韵达": ("Yunda Express", "yunda"),
    "JD": ("JD Logistics", "jd"),
    "京东": ("JD Logistics", "jd"),
    "京东物流": ("JD Logistics", "jd"),
    "BEST": ("Best Express", "huitongkuaidi"),
    "百世": ("Best Express", "huitongkuaidi"),
    "DEPPON": ("Deppon Express", "debangwuliu"),
    "德邦": ("Deppon Express", "debangwuliu"),
    "JT": ("J&T Express", "jtexpress"),
    "J&T": ("J&T Express", "jtexpress"),
    "极兔": ("J&T Express", "jtexpress"),
}


def _key(carrier: str) -> str:
    return "".join(c for c in carrier.upper() if not c.isspace() and c not in "-_.")


class Carriers:
    """Looks carriers up: the channel's own table first, then the built-in one."""

    def __init__(self, overrides: Mapping[str, CarrierOption] | None = None) -> None:
        self._overrides = {_key(code): option for code, option in (overrides or {}).items()}

    def tracking(self, carrier: str, number: str) -> Tracking:
        key = _key(carrier)
        override = self._overrides.get(key)
        if override is not None:
            url = override.url.replace("{number}", number) if override.url else None
            return Tracking(override.company, url)
        if key in _SHOPIFY_KNOWN:
            return Tracking(_SHOPIFY_KNOWN[key])
        if key in _WITH_URL:
            company, com = _WITH_URL[key]
            return Tracking(company, _KUAIDI100.format(com=com).replace("{number}", number))
        # Unknown to us: Shopify keeps the name and guesses a URL from the number's format.
        return Tracking(carrier.strip())
