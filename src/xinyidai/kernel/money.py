"""Money: exact decimals, amounts in 万元 (ten thousand yuan) as the catalog states them."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

#: Six decimal places of 万元 is 0.01 yuan: the finest amount any source reports.
WAN_QUANTUM = Decimal("0.000001")


def parse_wan(text: str | int | Decimal) -> Decimal:
    """Parse an amount in 万元 exactly; raises ValueError on anything that is not a finite number."""
    try:
        value = text if isinstance(text, Decimal) else Decimal(str(text).strip().replace(",", ""))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {text!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {text!r}")
    return value.quantize(WAN_QUANTUM, rounding=ROUND_HALF_EVEN)


def format_wan(value: Decimal) -> str:
    """Render an amount in 万元 without trailing zeros, e.g. '120.5'."""
    normal = value.normalize()
    text = format(normal, "f")
    return text
