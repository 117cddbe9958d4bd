"""Factories: valid rows and principals for tests, built from the rules rather than by hand."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import factory

from xinyidai import principal
from xinyidai.db import Database
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import Clock
from xinyidai.kernel.pii import PiiCipher
from xinyidai.kernel.uscc import make_uscc

ADMIN = ActorRef.system("test")
PASSWORD = "Correct-Horse-9"


def uscc_for(n: int, region: str = "350102") -> str:
    """A valid enterprise USCC whose organisation code is derived from n."""
    return make_uscc("9", "1", region, f"{n:08d}"[-8:].replace("I", "1"))


class RegistrationRowFactory(factory.DictFactory):  # type: ignore[misc]
    """A registration row as the market-regulation department delivers it."""

    uscc = factory.Sequence(lambda n: uscc_for(10_000_000 + n))
    name = factory.Sequence(lambda n: f"福州市测试{n}号科技有限公司")
    entity_type = "有限责任公司"
    legal_rep_name = "张三"
    legal_rep_id_type = "居民身份证"
    legal_rep_id_no = "35010219800101123X"
    registered_capital = "100.5"
    established_on = "2015-03-02"
    region_code = "350102"
    industry_code = "6510"
    address = "福建省福州市鼓楼区五四路1号"
    business_scope = "软件开发"
    status = "存续"
    registration_authority = "福州市鼓楼区市场监督管理局"


@dataclass(frozen=True)
class Org:
    """Ids of an institution and a department created for a test."""

    institution_id: uuid.UUID
    department_id: uuid.UUID


def make_org(db: Database, clock: Clock, suffix: str) -> Org:
    """An institution and a department."""
    inst = principal.create_institution(
        db, actor=ADMIN, clock=clock, code=f"B{suffix}", name=f"测试银行{suffix}", kind="bank", region_code="350100"
    )
    dept = principal.create_department(
        db, actor=ADMIN, clock=clock, code=f"D{suffix}", name=f"测试部门{suffix}", region_code="350100"
    )
    return Org(inst, dept)


def make_user(
    db: Database,
    clock: Clock,
    cipher: PiiCipher,
    *,
    role: principal.Role,
    username: str,
    org: Org | None = None,
    uscc: str | None = None,
) -> uuid.UUID:
    """A user of the role, attached to what the role needs."""
    kw: dict[str, Any] = {}
    if role in (principal.Role.INSTITUTION_OFFICER, principal.Role.INSTITUTION_ADMIN):
        assert org is not None
        kw["institution_id"] = org.institution_id
    if role is principal.Role.DEPARTMENT_CLERK:
        assert org is not None
        kw["department_id"] = org.department_id
    if role is principal.Role.ENTERPRISE:
        kw["enterprise_uscc"] = uscc or uscc_for(1)
    return principal.create_user(
        db,
        actor=ADMIN,
        clock=clock,
        cipher=cipher,
        username=username,
        password=PASSWORD,
        role=role,
        display_name=f"{role.label}测试",
        **kw,
    )
