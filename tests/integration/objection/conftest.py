"""Objection fixtures: two departments, a 行政处罚 source linked to the first, two records of one enterprise
ingested from a hand-written CSV, and the people involved as principals."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.factories import ADMIN, uscc_for
from tests.integration.ingest.conftest import AUTHORITY, penalty_row, write_csv
from xinyidai import ingest, principal
from xinyidai.catalog import load_catalog
from xinyidai.db import Database
from xinyidai.kernel.actor import ActorKind
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher
from xinyidai.principal import ROLE_PERMISSIONS, Principal, Role
from xinyidai.principal.model import AuthMethod


def as_principal(
    role: Role, *, department_id: uuid.UUID | None = None, uscc: str | None = None, label: str = "测试"
) -> Principal:
    """A logged-in user of ``role`` for service tests."""
    return Principal(
        kind=ActorKind.USER,
        id=uuid.uuid4(),
        label=label,
        permissions=ROLE_PERMISSIONS[role],
        method=AuthMethod.SESSION,
        role=role,
        department_id=department_id,
        enterprise_uscc=uscc,
    )


@dataclass
class World:
    """Departments A (owns the records' source) and B, the enterprise and another, an operator, a regulator."""

    dept_a: uuid.UUID
    dept_b: uuid.UUID
    clerk_a: Principal
    clerk_b: Principal
    enterprise: Principal
    other: Principal
    operator: Principal
    regulator: Principal
    record: ingest.RecordView
    second: ingest.RecordView
    var_dir: Path


@pytest.fixture
def world(db: Database, clock: FrozenClock, cipher: PiiCipher, tmp_var: Path, tmp_path: Path, unique: str) -> World:
    """Fresh departments, a linked source and two records of one enterprise for each test."""
    dept_a = principal.create_department(
        db, actor=ADMIN, clock=clock, code=f"OA{unique}", name="福州市市场监督管理局", region_code="350100"
    )
    dept_b = principal.create_department(
        db, actor=ADMIN, clock=clock, code=f"OB{unique}", name="福州市税务局", region_code="350100"
    )
    ingest.create_source(
        db,
        actor=ADMIN,
        clock=clock,
        code=AUTHORITY,
        name="福州市市场监督管理局",
        department_code=load_catalog().item("admin_penalty").department.code,
        items=["admin_penalty"],
        department_id=dept_a,
    )
    rows = [penalty_row(7), penalty_row(7, CF_WSH="榕市监罚〔2025〕77号")]
    ingest.ingest_file(
        db,
        actor=ADMIN,
        clock=clock,
        cipher=cipher,
        var_dir=tmp_var,
        path=write_csv(tmp_path / "p.csv", rows),
        channel=ingest.Channel.CLI,
    )
    found = [
        ingest.find_record(db, item="admin_penalty", key={"CF_WSH": wsh, "CF_CFJGDM": AUTHORITY})
        for wsh in ("榕市监罚〔2025〕7号", "榕市监罚〔2025〕77号")
    ]
    assert found[0] is not None
    assert found[1] is not None
    uscc = str(found[0].subject_uscc)
    return World(
        dept_a=dept_a,
        dept_b=dept_b,
        clerk_a=as_principal(Role.DEPARTMENT_CLERK, department_id=dept_a, label="市场监管经办人"),
        clerk_b=as_principal(Role.DEPARTMENT_CLERK, department_id=dept_b, label="税务经办人"),
        enterprise=as_principal(Role.ENTERPRISE, uscc=uscc, label="企业经办人"),
        other=as_principal(Role.ENTERPRISE, uscc=uscc_for(99_999), label="另一企业"),
        operator=as_principal(Role.OPERATOR, label="运营人员"),
        regulator=as_principal(Role.REGULATOR, label="监管人员"),
        record=found[0],
        second=found[1],
        var_dir=tmp_var,
    )
