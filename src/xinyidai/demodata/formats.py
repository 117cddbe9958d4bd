"""Exact text forms of generated values: 万元 amounts from integers, ISO dates, months, ID numbers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Final

#: GB 11643-1999 weights of the first 17 digits of a resident identity number.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def wan_from_fen(fen: int) -> str:
    """Render an amount given in fen (0.01 yuan) as 万元 text without trailing zeros: 1234500 → '1.2345'.

    The text equals ``xinyidai.kernel.money.format_wan`` of the same amount, built
    from integers so that no float rounding noise can enter.
    """
    if fen < 0:
        return "-" + wan_from_fen(-fen)
    if fen % 1_000_000 == 0:
        return str(fen // 1_000_000)
    digits = "%07d" % fen  # noqa: UP031 - the fastest form on this hot path
    return (digits[:-6] + "." + digits[-6:]).rstrip("0")


def wan_from_yuan(yuan: int) -> str:
    """Render an amount given in whole yuan as 万元 text (at most 4 decimals): 5000 → '0.5'."""
    return wan_from_fen(yuan * 100)


class _IsoMemo(dict[int, str]):
    """Ordinal → ISO text; a run touches a few tens of thousands of days, so the memo stays small."""

    def __missing__(self, ordinal: int) -> str:
        text = self[ordinal] = date.fromordinal(ordinal).isoformat()
        return text


class _PeriodMemo(dict[int, str]):
    def __missing__(self, month: int) -> str:
        year, rest = divmod(month, 12)
        text = self[month] = f"{year:04d}-{rest + 1:02d}"
        return text


class _MonthStartMemo(dict[int, int]):
    def __missing__(self, month: int) -> int:
        year, rest = divmod(month, 12)
        ordinal = self[month] = date(year, rest + 1, 1).toordinal()
        return ordinal


#: ISO ``YYYY-MM-DD`` text of a proleptic Gregorian ordinal (memoised: on every hot path).
iso: Final[Callable[[int], str]] = _IsoMemo().__getitem__
#: ``YYYY-MM`` text of a month index (``year * 12 + month - 1``).
period: Final[Callable[[int], str]] = _PeriodMemo().__getitem__
#: Ordinal of the first day of a month index.
month_first_ordinal: Final[Callable[[int], int]] = _MonthStartMemo().__getitem__


def month_index(day: date) -> int:
    """Months since year 0 (``year * 12 + month - 1``), so consecutive months differ by one."""
    return day.year * 12 + day.month - 1


def resident_id_check(first17: str) -> str:
    """GB 11643 check character of the first 17 digits of a resident identity number."""
    total = sum(int(ch) * weight for ch, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def resident_id(region_code: str, birth: date, sequence: int) -> str:
    """An 18-digit resident identity number; an odd ``sequence`` (1–999) denotes a man, even a woman."""
    if not 0 < sequence < 1000:
        raise ValueError(f"sequence out of range: {sequence}")
    first17 = f"{region_code}{birth:%Y%m%d}{sequence:03d}"
    return first17 + resident_id_check(first17)
