"""Ship-to regions as ISO 3166-2 codes: what intake normalises to and routing compares."""

from __future__ import annotations

import pytest

from gateway.domain.regions import (
    CN_NAME_BY_CODE,
    UnknownRegion,
    is_valid_region_pattern,
    region_code,
    region_covered,
)


@pytest.mark.parametrize(
    ("country", "province", "code"),
    [
        ("CN", "浙江省", "CN-ZJ"),
        ("CN", "浙江", "CN-ZJ"),
        ("CN", "CN-ZJ", "CN-ZJ"),
        ("CN", "cn-zj", "CN-ZJ"),
        ("CN", "  上海市 ", "CN-SH"),
        ("CN", "广西壮族自治区", "CN-GX"),
        ("CN", "广西", "CN-GX"),
        ("CN", "香港", "CN-HK"),
        ("US", "US-CA", "US-CA"),
        ("US", "us-ny", "US-NY"),
        ("GB", "GB-ENG", "GB-ENG"),
        ("US", "California", "US"),
        ("US", "CN-ZJ", "US"),
        ("JP", "", "JP"),
    ],
)
def test_region_code(country: str, province: str, code: str) -> None:
    assert region_code(country, province) == code


@pytest.mark.parametrize("province", ["火星", "Zhejiang", "", "CN-XX", "浙江省杭州市"])
def test_unknown_chinese_province_is_an_error(province: str) -> None:
    with pytest.raises(UnknownRegion, match="CN-ZJ"):
        region_code("CN", province)


def test_every_chinese_province_resolves_by_full_name_short_name_and_code() -> None:
    assert len(CN_NAME_BY_CODE) == 34
    for code, full_name in CN_NAME_BY_CODE.items():
        short = full_name.removesuffix("省").removesuffix("市")
        assert region_code("CN", full_name) == code
        assert region_code("CN", code) == code
        if short != full_name:
            assert region_code("CN", short) == code


@pytest.mark.parametrize(
    ("pattern", "valid"),
    [
        ("*", True),
        ("CN", True),
        ("US", True),
        ("CN-ZJ", True),
        ("US-CA", True),
        ("GB-ENG", True),
        ("CN-XX", False),  # not a Chinese province
        ("cn-zj", False),
        ("cn", False),
        ("CN-", False),
        ("US-ABCD", False),
        ("**", False),
        ("", False),
        ("浙江", False),
    ],
)
def test_is_valid_region_pattern(pattern: str, valid: bool) -> None:
    assert is_valid_region_pattern(pattern) is valid


@pytest.mark.parametrize(
    ("region", "patterns", "covered"),
    [
        ("CN-ZJ", ["*"], True),
        ("CN-ZJ", ["CN"], True),
        ("CN-ZJ", ["CN-ZJ"], True),
        ("CN-ZJ", ("CN-SH", "CN-ZJ"), True),
        ("CN-ZJ", ["CN-SH"], False),
        ("CN-ZJ", ["US"], False),
        ("CN-ZJ", [], False),
        ("US", ["US"], True),  # a region known only by its country
        ("US", ["US-CA"], False),  # ... is not inside any one subdivision
        ("US-CA", ["US"], True),
        ("US-CA", ["CN"], False),
    ],
)
def test_region_covered(region: str, patterns: list[str], covered: bool) -> None:
    assert region_covered(region, patterns) is covered
