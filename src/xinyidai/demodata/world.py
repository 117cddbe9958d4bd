"""The fixed world records are drawn from: places (GB/T 2260), industries (GB/T 4754) and authorities."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from random import Random

from xinyidai.demodata.acts import Department
from xinyidai.demodata.vocab import PROVINCE_ABBREVIATIONS, PROVINCE_WEIGHTS
from xinyidai.kernel import divisions as regions
from xinyidai.kernel.uscc import make_uscc
from xinyidai.registry import industries

#: Provinces with no mainland registration authorities issuing USCCs (台湾, 香港, 澳门).
_EXCLUDED_PROVINCES = frozenset({"71", "81", "82"})
#: Registrations per county-level place relative to a county (县): districts and unsplit cities weigh more.
_DISTRICT_WEIGHT = 3.0
_COUNTY_CITY_WEIGHT = 2.0
_COUNTY_WEIGHT = 1.0
_UNSPLIT_CITY_WEIGHT = 6.0

LEVEL_COUNTY = "county"
LEVEL_CITY = "city"
LEVEL_PROVINCE = "province"
_LEVEL_NUMBERS = {LEVEL_COUNTY: 0, LEVEL_CITY: 1, LEVEL_PROVINCE: 2}


@dataclass(frozen=True, slots=True)
class Place:
    """A county-level place where enterprises register, with the names its authorities use."""

    code: str
    province_code: str
    province: str
    #: The city as its authorities name it: 深圳市; 北京市 for a municipality; 仙桃市 for a province-run city.
    city: str
    city_code: str
    #: The county-level place as its authorities name it: 深圳市南山区, 北京市海淀区, 平和县, 东莞市.
    label: str
    #: GB/T 2260 full name used at the start of an address: 广东省深圳市南山区.
    full_name: str
    #: Abbreviations used in document numbers: 深 + 南 for 深圳市南山区; 京 for Beijing.
    city_short: str
    county_short: str
    #: Court code prefix of the place's basic court, e.g. 粤0305.
    court_code: str
    #: True when the place is a city itself (no separate city level above it).
    city_level: bool


@dataclass(frozen=True, slots=True)
class Authority:
    """An administrative authority: its name, its own USCC (11… 机关) and document-number prefix."""

    name: str
    uscc: str
    doc_prefix: str


@dataclass(frozen=True, slots=True)
class Industry:
    """A GB/T 4754 大类 an enterprise is registered under, coded with its section letter (``C39``)."""

    code: str
    section: str

    @property
    def division(self) -> str:
        """The two-digit 大类 code."""
        return self.code[1:]


@dataclass(slots=True)
class World:
    """Places with sampling weights, industries by section, and a cache of authorities."""

    places: tuple[Place, ...]
    place_cumulative: tuple[float, ...]
    industries_by_section: dict[str, tuple[Industry, ...]]
    region_numbers: dict[str, int]
    _authorities: dict[tuple[str, str, str], Authority] = field(default_factory=dict)

    def pick_place(self, rng: Random) -> Place:
        """Draw a registration place, weighted toward populous provinces and urban districts."""
        target = rng.random() * self.place_cumulative[-1]
        return self.places[bisect_right(self.place_cumulative, target)]

    def pick_industry(self, rng: Random, section: str, divisions: tuple[str, ...] = ()) -> Industry:
        """Draw a 大类 within a section (门类), among ``divisions`` when given."""
        choices = self.industries_by_section[section]
        if divisions:
            choices = tuple(i for i in choices if i.division in divisions) or choices
        return choices[int(rng.random() * len(choices))]

    def authority(self, department: Department, place: Place, level: str = LEVEL_COUNTY) -> Authority:
        """The department's authority over ``place`` at ``level`` (county, city or province)."""
        if department.province_name:
            level = LEVEL_PROVINCE
        elif place.city_level and level == LEVEL_COUNTY:
            level = LEVEL_CITY
        if level == LEVEL_COUNTY:
            key = (department.key, level, place.code)
        else:
            key = (department.key, level, place.city_code if level == LEVEL_CITY else place.province_code)
        found = self._authorities.get(key)
        if found is None:
            found = self._build_authority(department, place, level)
            self._authorities[key] = found
        return found

    def _build_authority(self, department: Department, place: Place, level: str) -> Authority:
        if level == LEVEL_PROVINCE:
            region_code = place.province_code
            name = department.province_name.format(province=place.province)
            prefix = PROVINCE_ABBREVIATIONS[place.province_code[:2]]
        elif level == LEVEL_CITY:
            region_code = place.city_code
            name = department.city_name.format(city=place.city)
            prefix = place.city_short
        else:
            region_code = place.code
            name = department.county_name.format(county=place.label)
            prefix = _county_prefix(place)
        # Bodies 00xxxxxx are reserved for authorities: enterprise bodies never start with 00.
        number = self.region_numbers[region_code] * 64 + department.number * 3 + _LEVEL_NUMBERS[level]
        uscc = make_uscc("1", "1", region_code, f"00{number:06d}")
        return Authority(name, uscc, prefix + department.doc_code)


def _county_prefix(place: Place) -> str:
    """深南 for 深圳市南山区 (a district names its city first); 平 for 平和县."""
    if place.label.startswith(place.city) and place.label != place.city:
        return place.city_short + place.county_short
    return place.county_short


def _place_weight(name: str, city_level: bool) -> float:
    if city_level:
        return _UNSPLIT_CITY_WEIGHT
    if name.endswith("区"):
        return _DISTRICT_WEIGHT
    if name.endswith("市"):
        return _COUNTY_CITY_WEIGHT
    return _COUNTY_WEIGHT


def _build_places() -> tuple[list[Place], list[float]]:
    table = regions.all_regions()
    placeholder = regions.PLACEHOLDER_NAMES
    has_children: set[str] = set()
    for entry in table.values():
        if entry.parent_code is not None:
            has_children.add(entry.parent_code)
    places: list[Place] = []
    weights: list[float] = []
    for code in sorted(table):
        entry = table[code]
        province_code = code[:2] + "0000"
        if code[:2] in _EXCLUDED_PROVINCES or entry.name in placeholder:
            continue
        province_entry = table.get(province_code)
        if province_entry is None:
            continue
        province = province_entry.name
        abbreviation = PROVINCE_ABBREVIATIONS.get(code[:2], province[0])
        if entry.level is regions.RegionLevel.COUNTY:
            parent = table.get(entry.parent_code) if entry.parent_code is not None else None
            if parent is None or parent.level is not regions.RegionLevel.CITY:
                continue
            if parent.name in placeholder:
                municipality = parent.name in ("市辖区", "县")
                city = province if municipality else entry.name
                city_code = province_code if municipality else code
                city_short = abbreviation if municipality else entry.name[0]
                city_level = not municipality
            else:
                city, city_code, city_short, city_level = parent.name, parent.code, parent.name[0], False
            if city_level:
                label = entry.name
            elif entry.name.endswith("区") or city == province:
                label = city + entry.name
            else:
                label = entry.name
        elif entry.level is regions.RegionLevel.CITY and code not in has_children:
            city, city_code, city_short, city_level, label = entry.name, code, entry.name[0], True, entry.name
        else:
            continue
        places.append(
            Place(
                code=code,
                province_code=province_code,
                province=province,
                city=city,
                city_code=city_code,
                label=label,
                full_name=entry.full_name,
                city_short=city_short,
                county_short=entry.name[0],
                court_code=abbreviation + code[2:6],
                city_level=city_level,
            )
        )
        weights.append(PROVINCE_WEIGHTS.get(code[:2], 1) * _place_weight(entry.name, city_level))
    # Normalise within each province so a province's share does not depend on how many counties it has.
    totals: dict[str, float] = {}
    for place, weight in zip(places, weights, strict=True):
        totals[place.province_code] = totals.get(place.province_code, 0.0) + weight / PROVINCE_WEIGHTS.get(place.code[:2], 1)
    normalised = [weight / totals[place.province_code] for place, weight in zip(places, weights, strict=True)]
    return places, normalised


@lru_cache(maxsize=1)
def load_world() -> World:
    """Build the world once from the registry's region and industry tables."""
    places, weights = _build_places()
    cumulative: list[float] = []
    total = 0.0
    for weight in weights:
        total += weight
        cumulative.append(total)
    numbers = {code: number for number, code in enumerate(sorted(regions.all_regions()))}
    return World(
        places=tuple(places),
        place_cumulative=tuple(cumulative),
        industries_by_section=_industries_by_section(),
        region_numbers=numbers,
    )


#: 大类 no ordinary enterprise registers under: state monopolies, banks and insurers, public bodies.
_EXCLUDED_DIVISIONS = frozenset(
    {"07", "16", "53", "56", "57", "60", "63", "66", "68", "76", "79", "91", "92", "93", "94", "95", "96", "97"}
)


def _industries_by_section() -> dict[str, tuple[Industry, ...]]:
    found: dict[str, list[Industry]] = {}
    for entry in industries.divisions():
        if entry.code in _EXCLUDED_DIVISIONS:
            continue
        found.setdefault(entry.section, []).append(Industry(entry.section + entry.code, entry.section))
    return {section: tuple(sorted(items, key=lambda i: i.code)) for section, items in sorted(found.items())}
