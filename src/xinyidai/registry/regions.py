"""GB/T 2260 administrative divisions (行政区划代码) for the domains: the kernel's table, re-exported.

See ``xinyidai.kernel.divisions`` for the table, its source and the naming rules.
"""

from xinyidai.kernel.divisions import (
    PLACEHOLDER_NAMES,
    Region,
    RegionLevel,
    all_regions,
    full_names,
    is_known,
    province_of,
    region,
    region_name,
)

__all__ = [
    "PLACEHOLDER_NAMES",
    "Region",
    "RegionLevel",
    "all_regions",
    "full_names",
    "is_known",
    "province_of",
    "region",
    "region_name",
]
