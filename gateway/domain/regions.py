"""Ship-to regions as ISO 3166-2 codes, so routing compares codes and never spellings.

Chinese channels send province names in several forms (浙江省, 浙江, sometimes the code); suppliers
declare the regions they cover as codes (`CN-ZJ`). Everything is normalised to the code at intake.
"""

from __future__ import annotations

import re

# ISO 3166-2:CN codes (the letter codes in use since 2017) with the full and short names.
_CN_PROVINCES: tuple[tuple[str, str, str], ...] = (
    ("CN-BJ", "北京市", "北京"),
    ("CN-TJ", "天津市", "天津"),
    ("CN-HE", "河北省", "河北"),
    ("CN-SX", "山西省", "山西"),
    ("CN-NM", "内蒙古自治区", "内蒙古"),
    ("CN-LN", "辽宁省", "辽宁"),
    ("CN-JL", "吉林省", "吉林"),
    ("CN-HL", "黑龙江省", "黑龙江"),
    ("CN-SH", "上海市", "上海"),
    ("CN-JS", "江苏省", "江苏"),
    ("CN-ZJ", "浙江省", "浙江"),
    ("CN-AH", "安徽省", "安徽"),
    ("CN-FJ", "福建省", "福建"),
    ("CN-JX", "江西省", "江西"),
    ("CN-SD", "山东省", "山东"),
    ("CN-HA", "河南省", "河南"),
    ("CN-HB", "湖北省", "湖北"),
    ("CN-HN", "湖南省", "湖南"),
    ("CN-GD", "广东省", "广东"),
    ("CN-GX", "广西壮族自治区", "广西"),
    ("CN-HI", "海南省", "海南"),
    ("CN-CQ", "重庆市", "重庆"),
    ("CN-SC", "四川省", "四川"),
    ("CN-GZ", "贵州省", "贵州"),
    ("CN-YN", "云南省", "云南"),
    ("CN-XZ", "西藏自治区", "西藏"),
    ("CN-SN", "陕西省", "陕西"),
    ("CN-GS", "甘肃省", "甘肃"),
    ("CN-QH", "青海省", "青海"),
    ("CN-NX", "宁夏回族自治区", "宁夏"),
    ("CN-XJ", "新疆维吾尔自治区", "新疆"),
    ("CN-TW", "台湾省", "台湾"),
    ("CN-HK", "香港特别行政区", "香港"),
    ("CN-MO", "澳门特别行政区", "澳门"),
)

_CN_BY_NAME: dict[str, str] = {}
CN_NAME_BY_CODE: dict[str, str] = {}
for _code, _full, _short in _CN_PROVINCES:
    _CN_BY_NAME[_full] = _code
    _CN_BY_NAME[_short] = _code
    _CN_BY_NAME[_code] = _code
    CN_NAME_BY_CODE[_code] = _full

_SUBDIVISION = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


class UnknownRegion(ValueError):
    """The province cannot be mapped to an ISO 3166-2 code of its country."""


def region_code(country: str, province: str) -> str:
    """The ISO 3166-2 code of a ship-to province (`CN-ZJ`), or the country code alone when the
    country's subdivisions are not known to us and the province is not given as a code."""
    province = province.strip()
    if country == "CN":
        code = _CN_BY_NAME.get(province) or _CN_BY_NAME.get(province.upper())
        if code is None:
            raise UnknownRegion(
                f"unknown province {province!r}: give a Chinese name (浙江省, 浙江) "
                "or an ISO 3166-2 code (CN-ZJ)"
            )
        return code
    if _SUBDIVISION.match(province.upper()) and province.upper().startswith(f"{country}-"):
        return province.upper()
    return country


def is_valid_region_pattern(pattern: str) -> bool:
    """A supplier's region entry: `*`, a country (`CN`) or a subdivision code (`CN-ZJ`)."""
    if pattern == "*":
        return True
    if _COUNTRY.match(pattern):
        return True
    if pattern.startswith("CN-"):
        return pattern in CN_NAME_BY_CODE
    return bool(_SUBDIVISION.match(pattern))


def region_covered(region: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """Whether a ship-to region code falls under any of a supplier's region patterns."""
    country = region.split("-", 1)[0]
    return any(p in ("*", region, country) for p in patterns)
