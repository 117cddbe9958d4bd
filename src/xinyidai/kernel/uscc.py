"""统一社会信用代码 (USCC, GB 32100-2015): normalise, validate, explain and build codes.

Structure of the 18 characters (all from ``ALPHABET``, which omits I, O, S, V, Z):

====  ===================================================================
1     registration authority (登记管理部门), see ``AUTHORITIES``
2     organisation type within that authority (机构类别), see ``ORG_TYPES``
3-8   GB/T 2260 division code of the registering authority
9-17  GB 11714 organisation code: 8 body characters + 1 check character
18    USCC check character
====  ===================================================================

Every problem found is reported as one string ``"<code>: <中文说明>"``: the part
before the first ``": "`` is a stable machine code (an ``IssueCode``), the rest is
a message for people and may change wording. ``UsccResult.error_codes`` and
``UsccResult.warning_codes`` give the machine codes alone.

Error codes: ``length``, ``charset``, ``authority``, ``org_type``,
``region_format``, ``org_check``, ``check``. Warning codes: ``region_unknown``
(a well-formed division code that the region table does not know: historic codes
of abolished divisions are still carried by codes issued before),
``check_lenient`` and ``legacy_pilot`` (see ``validate``).

Region names come from the GB/T 2260 table in ``xinyidai.kernel.divisions``
(read on first use); pass ``region_names`` to ``validate`` to use another table.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import NewType

from xinyidai.kernel.divisions import full_names
from xinyidai.kernel.errors import InvalidInput

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
LENGTH = 18

#: USCC check weights w_i = 3^(i-1) mod 31 for positions i = 1..17.
WEIGHTS: tuple[int, ...] = tuple(pow(3, i, 31) for i in range(17))
#: GB 11714 check weights on the 8 body characters (positions 9-16 of a USCC).
ORG_WEIGHTS: tuple[int, ...] = (3, 7, 9, 10, 5, 8, 4, 2)

Uscc = NewType("Uscc", str)
"""A normalised code that passed ``validate`` (strict unless made with ``lenient=True``)."""

#: 登记管理部门代码 → name (GB 32100-2015 table 1).
AUTHORITIES: Mapping[str, str] = MappingProxyType({
    "1": "机构编制",
    "2": "外交",
    "3": "司法行政",
    "4": "文化",
    "5": "民政",
    "6": "旅游",
    "7": "宗教",
    "8": "工会",
    "9": "工商/市场监管",
    "A": "中央军委改革和编制办公室",
    "N": "农业",
    "Y": "其他",
})  # fmt: skip

#: 登记管理部门代码 → 机构类别代码 → name (GB 32100-2015 table 2).
ORG_TYPES: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "1": MappingProxyType({"1": "机关", "2": "事业单位", "3": "群众团体", "9": "其他"}),
    "2": MappingProxyType({"1": "外国常住新闻机构", "9": "其他"}),
    "3": MappingProxyType({
        "1": "律师执业机构", "2": "公证处", "3": "基层法律服务所", "4": "司法鉴定机构", "5": "仲裁委员会", "9": "其他",
    }),
    "4": MappingProxyType({"1": "外国在华文化中心", "9": "其他"}),
    "5": MappingProxyType({"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他"}),
    "6": MappingProxyType({
        "1": "外国旅游部门常驻代表机构", "2": "港澳台地区旅游部门常驻内地（大陆）代表机构", "9": "其他",
    }),
    "7": MappingProxyType({"1": "宗教活动场所", "2": "宗教院校", "9": "其他"}),
    "8": MappingProxyType({"1": "基层工会", "9": "其他"}),
    "9": MappingProxyType({"1": "企业", "2": "个体工商户", "3": "农民专业合作社"}),
    "A": MappingProxyType({"1": "军队事业单位", "9": "其他"}),
    "N": MappingProxyType({"1": "组级集体经济组织", "2": "村级集体经济组织", "3": "乡镇级集体经济组织", "9": "其他"}),
    "Y": MappingProxyType({"1": "其他"}),
})  # fmt: skip

#: Codes really issued in the 2015 pilot that fail a check character. Rule for
#: adding one: the issuing authority's own public record shows the code as
#: issued, and the code is well-formed apart from its check characters. Strict
#: validation rejects them; lenient validation accepts them with ``legacy_pilot``.
LEGACY_PILOT_CODES: frozenset[str] = frozenset({
    "91350100M0001TGQXM",  # 福州 pilot; fails the USCC check only (DOMAIN.md, Identifiers)
})  # fmt: skip


class IssueCode(StrEnum):
    """Stable machine codes of the problems ``validate`` reports."""

    LENGTH = "length"
    CHARSET = "charset"
    AUTHORITY = "authority"
    ORG_TYPE = "org_type"
    REGION_FORMAT = "region_format"
    ORG_CHECK = "org_check"
    CHECK = "check"
    REGION_UNKNOWN = "region_unknown"
    CHECK_LENIENT = "check_lenient"
    LEGACY_PILOT = "legacy_pilot"


def issue_code(entry: str) -> str:
    """Return the machine code of one ``"<code>: <说明>"`` entry."""
    return entry.split(": ", 1)[0]


@dataclass(frozen=True, slots=True)
class UsccResult:
    """What ``validate`` found: the normalised code, verdict, issues and decoded parts."""

    code: str
    valid: bool
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    authority: str | None
    org_type: str | None
    region_code: str | None
    region_name: str | None

    @property
    def error_codes(self) -> tuple[str, ...]:
        """Machine codes of ``errors``."""
        return tuple(issue_code(e) for e in self.errors)

    @property
    def warning_codes(self) -> tuple[str, ...]:
        """Machine codes of ``warnings``."""
        return tuple(issue_code(w) for w in self.warnings)

    def to_json(self) -> dict[str, object]:
        """Return a JSON-ready dict of the eight fields (lists instead of tuples)."""
        return {
            "code": self.code,
            "valid": self.valid,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "authority": self.authority,
            "org_type": self.org_type,
            "region_code": self.region_code,
            "region_name": self.region_name,
        }


class InvalidUscc(InvalidInput):
    """A code that does not pass validation; ``result`` says why."""

    code = "invalid_uscc"
    title = "统一社会信用代码无效"

    def __init__(self, result: UsccResult) -> None:
        super().__init__("；".join(result.errors) or self.title, uscc=result.code)
        self.result = result


_VALUE: Mapping[str, int] = {ch: i for i, ch in enumerate(ALPHABET)}
_ALPHABET_BYTES = ALPHABET.encode("ascii")
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
# (authority code + org type code) → (authority name, org type name), for the fast path.
_KINDS: Mapping[str, tuple[str, str]] = {
    a + t: (AUTHORITIES[a], name) for a, types in ORG_TYPES.items() for t, name in types.items()
}


def _gb11714_value(ch: str) -> int:
    """GB 11714 value of a character: digits 0-9, letters A=10 ... Z=35."""
    return int(ch, 36)


def _org_check_for(remainder: int) -> str:
    """GB 11714 check character for ``Σ mod 11``."""
    value = 11 - remainder
    return "X" if value == 10 else "0" if value == 11 else str(value)


# Fast path. Σ c_i·3^(i-1) mod 31 equals int(reversed digits, 34) mod 31, because
# 34 ≡ 3 (mod 31): translating the 17 characters to base-34 digits of their values
# and letting int() do the polynomial in C is ~10x faster than a Python loop.
# The GB 11714 weights are 2^8 … 2^1 mod 11, and 13 ≡ 2 (mod 11): with each value
# reduced mod 11 to one base-13 digit, Σ = 2·int(body, 13) mod 11. Every byte
# outside ALPHABET translates to "!", so int() raises on an illegal character and
# the caller falls back to the full diagnosis. The reference implementations
# below (compute_check_char, compute_org_check_char) spell the standard's
# arithmetic out; the tests hold the two equal.
def _translation(digit_of: Mapping[str, int]) -> bytes:
    table = bytearray(b"!" * 256)
    for ch, value in digit_of.items():
        table[ord(ch)] = ord("0123456789abcdefghijklmnopqrstuvwxyz"[value])
    return bytes(table)


_TO_BASE34 = _translation(_VALUE)
_TO_BASE13 = _translation({ch: _gb11714_value(ch) % 11 for ch in ALPHABET})
_CHECK_BYTE = tuple(ord(ALPHABET[(31 - r) % 31]) for r in range(31))
_ORG_CHECK_BYTE = tuple(ord(_org_check_for(r)) for r in range(11))


def _fast_check_byte(raw: bytes) -> int:
    """Expected 18th byte for ``raw[:17]``; ValueError if a character is illegal."""
    return _CHECK_BYTE[int(raw[16::-1].translate(_TO_BASE34), 34) % 31]


def _fast_org_check_byte(raw: bytes) -> int:
    """Expected 17th byte for ``raw[8:16]``; ValueError if a character is illegal."""
    return _ORG_CHECK_BYTE[2 * int(raw[8:16].translate(_TO_BASE13), 13) % 11]


def compute_check_char(first17: str) -> str:
    """Return the 18th character for the first 17 (GB 32100-2015, weights 3^(i-1) mod 31)."""
    if len(first17) != 17 or any(ch not in _VALUE for ch in first17):
        raise ValueError(f"需要17个代码字符集内的字符: {first17!r}")
    total = sum(_VALUE[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def compute_org_check_char(body8: str) -> str:
    """Return the GB 11714 check character (``0``-``9`` or ``X``) for an 8-character body."""
    if len(body8) != 8 or not body8.isascii() or not body8.isalnum() or body8.upper() != body8:
        raise ValueError(f"需要8位数字或大写字母: {body8!r}")
    total = sum(_gb11714_value(ch) * w for ch, w in zip(body8, ORG_WEIGHTS, strict=True))
    return _org_check_for(total % 11)


def normalize(code: str) -> str:
    """Strip, map full-width characters to half-width, upper-case."""
    if not code.isascii():
        code = code.translate(_FULLWIDTH)
    return code.strip().upper()


def _province_known(region: str, names: Mapping[str, str]) -> bool:
    return region[:2] + "0000" in names


def validate(
    code: str,
    *,
    lenient: bool = False,
    legacy: Collection[str] = LEGACY_PILOT_CODES,
    region_names: Mapping[str, str] | None = None,
) -> UsccResult:
    """Validate a USCC and decode its parts.

    Strict (default): any error makes the code invalid. Lenient: a code that is
    well-formed and fails only its check characters (``org_check``/``check``) is
    accepted; the check errors become one warning, ``legacy_pilot`` if the code is
    in ``legacy`` (known pilot codes) and ``check_lenient`` otherwise. A
    well-formed division code the region table does not know is only a
    ``region_unknown`` warning in both modes.
    """
    names = full_names() if region_names is None else region_names
    # Fast path for the common case, a valid code already in normal form (18
    # ASCII alphabet characters); anything else is normalised and diagnosed.
    if len(code) == LENGTH and code.isascii():
        raw = code.encode("ascii")
        try:  # _fast_check_byte and _fast_org_check_byte, inlined: this is the hot path
            checks_pass = (
                _CHECK_BYTE[int(raw[16::-1].translate(_TO_BASE34), 34) % 31] == raw[17]
                and _ORG_CHECK_BYTE[2 * int(raw[8:16].translate(_TO_BASE13), 13) % 11] == raw[16]
            )
        except ValueError:  # an illegal character among the first 17
            checks_pass = False
        if checks_pass:
            kind = _KINDS.get(code[:2])
            region = code[2:8]
            region_name = names.get(region)
            if kind is not None and region_name is not None:
                return UsccResult(code, True, (), (), kind[0], kind[1], region, region_name)
    norm = normalize(code)
    if norm != code:
        return validate(norm, lenient=lenient, legacy=legacy, region_names=names)
    return _diagnose(norm, lenient=lenient, legacy=legacy, names=names)


def _diagnose(norm: str, *, lenient: bool, legacy: Collection[str], names: Mapping[str, str]) -> UsccResult:
    """Collect every problem of a normalised code (the slow, explanatory path)."""
    errors: list[str] = []
    warnings: list[str] = []
    authority: str | None = None
    org_type: str | None = None
    region_code: str | None = None
    region_name: str | None = None

    if len(norm) != LENGTH:
        errors.append(f"{IssueCode.LENGTH}: 长度应为18位，实际为{len(norm)}位")
    all_legal = norm.isascii() and not norm.encode("ascii").translate(None, _ALPHABET_BYTES)
    bad = [] if all_legal else [(i, ch) for i, ch in enumerate(norm, 1) if ch not in _VALUE]
    if bad:
        where = "、".join(f"第{i}位“{ch}”" for i, ch in bad[:5]) + ("等" if len(bad) > 5 else "")
        errors.append(f"{IssueCode.CHARSET}: 含非法字符：{where}（只允许数字和除I、O、S、V、Z以外的大写字母）")
    if len(norm) != LENGTH:
        return UsccResult(norm, False, tuple(errors), (), None, None, None, None)

    types = ORG_TYPES.get(norm[0])
    if types is None:
        errors.append(f"{IssueCode.AUTHORITY}: 第1位登记管理部门代码“{norm[0]}”不存在")
    else:
        authority = AUTHORITIES[norm[0]]
        org_type = types.get(norm[1])
        if org_type is None:
            errors.append(f"{IssueCode.ORG_TYPE}: 登记管理部门“{authority}”下没有第2位机构类别代码“{norm[1]}”")

    region = norm[2:8]
    if region.isascii() and region.isdigit() and _province_known(region, names):
        region_code = region
        region_name = names.get(region)
        if region_name is None:
            warnings.append(f"{IssueCode.REGION_UNKNOWN}: 第3-8位行政区划码“{region}”不在区划表中（可能是已撤销的区划）")
    else:
        errors.append(f"{IssueCode.REGION_FORMAT}: 第3-8位行政区划码“{region}”应为6位数字且以省级代码开头")

    checks: list[str] = []
    raw = norm.encode("ascii", "replace")  # one byte per character, positions kept
    if not any(9 <= i <= 16 for i, _ in bad):
        expected = chr(_fast_org_check_byte(raw))
        if norm[16] != expected:
            checks.append(f"{IssueCode.ORG_CHECK}: 第17位组织机构代码校验码应为“{expected}”，实际为“{norm[16]}”")
    if not bad or bad[0][0] > 17:
        expected = chr(_fast_check_byte(raw))
        if norm[17] != expected:
            checks.append(f"{IssueCode.CHECK}: 第18位校验码应为“{expected}”，实际为“{norm[17]}”")

    if checks:
        is_legacy = norm in legacy
        if lenient and not errors:
            details = "；".join(c.split(": ", 1)[1] for c in checks)
            if is_legacy:
                warnings.append(f"{IssueCode.LEGACY_PILOT}: 已知的试点期代码，校验不通过（{details}），宽松模式下接受")
            else:
                warnings.append(f"{IssueCode.CHECK_LENIENT}: 校验码不符（{details}），宽松模式下接受")
        else:
            errors.extend(checks)
            if is_legacy:
                warnings.append(f"{IssueCode.LEGACY_PILOT}: 已知的试点期代码，严格模式下不接受，宽松模式下接受")

    return UsccResult(norm, not errors, tuple(errors), tuple(warnings), authority, org_type, region_code, region_name)


def parse(code: str, *, lenient: bool = False) -> Uscc:
    """Return the normalised code, or raise ``InvalidUscc`` carrying the result."""
    result = validate(code, lenient=lenient)
    if not result.valid:
        raise InvalidUscc(result)
    return Uscc(result.code)


def make_uscc(authority: str, org_type: str, region_code: str, org_body8: str) -> str:
    """Build a valid code from its parts, computing both check characters.

    ``authority`` and ``org_type`` are the one-character codes (``"9"``, ``"1"``),
    ``region_code`` six digits, ``org_body8`` eight characters of ``ALPHABET``.
    """
    if org_type not in ORG_TYPES.get(authority, {}):
        raise ValueError(f"未知的登记管理部门/机构类别: {authority!r}/{org_type!r}")
    if len(region_code) != 6 or not region_code.isascii() or not region_code.isdigit():
        raise ValueError(f"行政区划码应为6位数字: {region_code!r}")
    if len(org_body8) != 8 or any(ch not in _VALUE for ch in org_body8):
        raise ValueError(f"组织机构代码本体应为8个代码字符集内的字符: {org_body8!r}")
    first17 = authority + org_type + region_code + org_body8 + compute_org_check_char(org_body8)
    return first17 + compute_check_char(first17)
