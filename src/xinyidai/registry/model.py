"""Pure registry rules: normalising a registration record and deciding who may read a subject."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from xinyidai.kernel import uscc as uscc_rules
from xinyidai.kernel.money import parse_wan

#: Operating states of a subject as registration authorities report them.
STATUSES = ("存续", "在业", "吊销", "注销", "迁出", "撤销", "停业", "清算")

REQUIRED = ("uscc", "name", "status")


@dataclass(frozen=True, slots=True)
class Registration:
    """A validated registration record, ready to store (the ID number still in clear)."""

    uscc: str
    name: str
    entity_type: str | None
    authority_code: str
    org_type_code: str
    region_code: str
    industry_code: str | None
    legal_rep_name: str | None
    legal_rep_id_type: str | None
    legal_rep_id_no: str | None
    registered_capital: Decimal | None
    established_on: date | None
    address: str | None
    business_scope: str | None
    status: str
    registration_authority: str | None

    def content_hash(self) -> str:
        """Digest of the record's content: an identical re-delivery changes nothing."""
        body = {k: (None if v is None else str(v)) for k, v in asdict(self).items()}
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_registration(row: dict[str, Any]) -> tuple[Registration | None, list[str]]:
    """Validate one registration row; returns the record or the list of reasons it was rejected."""
    errors: list[str] = []
    for name in REQUIRED:
        if not _clean(row.get(name)):
            errors.append(f"{name}: 必填")
    if errors:
        return None, errors
    result = uscc_rules.validate(str(row["uscc"]))
    if not result.valid:
        return None, [f"uscc: {e}" for e in result.errors]
    capital: Decimal | None = None
    if _clean(row.get("registered_capital")):
        try:
            capital = parse_wan(str(row["registered_capital"]))
        except ValueError:
            errors.append(f"registered_capital: 不是有效金额 {row['registered_capital']!r}")
        else:
            if capital < 0:
                errors.append("registered_capital: 不能为负")
    established: date | None = None
    if _clean(row.get("established_on")):
        try:
            established = date.fromisoformat(str(row["established_on"]).strip())
        except ValueError:
            errors.append(f"established_on: 日期格式应为 YYYY-MM-DD，实际 {row['established_on']!r}")
    status = str(row["status"]).strip()
    if status not in STATUSES:
        errors.append(f"status: 未知的登记状态 {status!r}")
    region = _clean(row.get("region_code")) or result.region_code or ""
    if len(region) != 6 or not region.isdigit():
        errors.append(f"region_code: 应为6位行政区划代码，实际 {region!r}")
    if errors:
        return None, errors
    code = result.code
    return (
        Registration(
            uscc=code,
            name=str(row["name"]).strip(),
            entity_type=_clean(row.get("entity_type")),
            authority_code=code[0],
            org_type_code=code[1],
            region_code=region,
            industry_code=_clean(row.get("industry_code")),
            legal_rep_name=_clean(row.get("legal_rep_name")),
            legal_rep_id_type=_clean(row.get("legal_rep_id_type")),
            legal_rep_id_no=_clean(row.get("legal_rep_id_no")),
            registered_capital=capital,
            established_on=established,
            address=_clean(row.get("address")),
            business_scope=_clean(row.get("business_scope")),
            status=status,
            registration_authority=_clean(row.get("registration_authority")),
        ),
        [],
    )


@dataclass(frozen=True, slots=True)
class ReadDecision:
    """Whether a principal may read a subject's record, and why."""

    allowed: bool
    reasons: tuple[str, ...]


def may_read_subject(*, can_read_all: bool, can_read_own: bool, own_uscc: str | None, uscc: str) -> ReadDecision:
    """Institutions, departments, operators read any subject; an enterprise only its own (deny by default)."""
    if can_read_all:
        return ReadDecision(True, ("持有主体查询权限",))
    if can_read_own and own_uscc is not None and own_uscc == uscc:
        return ReadDecision(True, ("企业查看本企业信息",))
    return ReadDecision(False, ("只能查看本企业信息",))
