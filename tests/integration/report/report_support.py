"""Helpers of the report tests: small department files for one subject, ingested through `ingest.ingest_file`; an
authorization approved for it, the authorized report pulled under it, and the audit events a test looks at."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.factories import PASSWORD
from tests.integration.consent.consent_support import SUBJECT, People, terms
from xinyidai import consent, ingest, report
from xinyidai.audit.tables import AuditEvent
from xinyidai.catalog import load_catalog
from xinyidai.consent import Keyring, Purpose
from xinyidai.db import Database
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import Clock, FrozenClock
from xinyidai.kernel.pii import PiiCipher
from xinyidai.kernel.uscc import make_uscc
from xinyidai.principal import Principal

ADMIN = ActorRef.system("test")
AUTHORITY = make_uscc("1", "1", "350100", "00000011")
#: A resident ID number that passes the GB 11643 check (the generator's format), for the masking tests.
ID_NUMBER = "350102198001010011"


def write_csv(path: Path, item: str, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Rows of `item` as a CSV with the catalog's header."""
    names = load_catalog().item(item).field_names
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(names)
        for row in rows:
            writer.writerow(["" if row.get(n) is None else row.get(n) for n in names])
    return path


def penalty(uscc: str, n: int, decided: str, **overrides: str) -> dict[str, str]:
    """A 行政处罚 row (public, negative) of `uscc`."""
    row = {
        "CF_XDR_MC": "福州市报告测试贸易有限公司",
        "CF_XDR_LB": "法人及非法人组织",
        "CF_XDR_SHXYM": uscc,
        "CF_FRDB": "张三丰",
        "CF_FR_ZJLX": "身份证",
        "CF_FR_ZJHM": ID_NUMBER,
        "CF_WSH": f"榕市监罚〔2025〕{n}号",
        "CF_WFXW": "不明码标价",
        "CF_SY": "销售商品未按规定明码标价",
        "CF_YJ": "《中华人民共和国价格法》第四十二条",
        "CF_CFLB": "罚款",
        "CF_NR": "罚款人民币2000元",
        "CF_NR_FK": "0.2",
        "CF_JDRQ": decided,
        "CF_CFJG": "福州市市场监督管理局",
        "CF_CFJGDM": AUTHORITY,
        "CF_SJLY": "福州市市场监督管理局",
        "CF_SJLYDM": AUTHORITY,
    }
    row.update(overrides)
    return row


def utility(uscc: str, period: str) -> dict[str, str]:
    """A 水电气费 row (authorized) of `uscc` for a month ``YYYY-MM``."""
    return {
        "uscc": uscc,
        "utility": "electricity",
        "period": period,
        "amount_due": "1.2",
        "amount_paid": "1.2",
        "paid_on_time": "是",
        "days_late": "0",
    }


def tax(uscc: str, declared: str) -> dict[str, str]:
    """A 纳税 row (authorized) of `uscc`."""
    return {
        "uscc": uscc,
        "period": declared[:7],
        "tax_type": "增值税",
        "amount_paid": "3.5",
        "declared_on": declared,
        "paid_on": declared,
        "overdue_days": "0",
    }


def coercion(uscc: str, decided: str) -> dict[str, str]:
    """A 行政强制 row (public, negative) of `uscc`."""
    return {
        "uscc": uscc,
        "subject_name": "福州市报告测试贸易有限公司",
        "decision_no": f"榕强〔{decided[:4]}〕1号",
        "coercion_type": "行政强制措施",
        "content": "查封涉案设备",
        "decided_on": decided,
        "authority": "福州市市场监督管理局",
        "authority_code": AUTHORITY,
    }


def load(
    db: Database,
    *,
    clock: Clock,
    cipher: PiiCipher,
    tmp: Path,
    item: str,
    rows: Iterable[Mapping[str, Any]],
    source: str | None = None,
) -> ingest.BatchResult:
    """Ingest rows of one item as the operator's CLI would."""
    var = tmp / "var"
    var.mkdir(exist_ok=True)
    path = write_csv(tmp / f"{item}-{len(list(tmp.iterdir()))}.csv", item, rows)
    return ingest.ingest_file(
        db,
        actor=ADMIN,
        clock=clock,
        cipher=cipher,
        var_dir=var,
        path=path,
        item=item,
        source=source,
        channel=ingest.Channel.CLI,
        register_unknown=True,
    )


def audit_events(db: Database, action: str) -> list[AuditEvent]:
    """The audit events of ``action``, oldest first."""
    with db.transaction() as s:
        return list(s.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def authorize(db: Database, clock: FrozenClock, people: People, keyring: Keyring) -> uuid.UUID:
    """An authorization officer A requests on the subject and the enterprise approves; its id."""
    view = consent.request_authorization(
        db, actor=people.officer_a, clock=clock, enterprise_uscc=SUBJECT, terms=terms(clock), note="流动资金贷款"
    )
    consent.approve_authorization(
        db, actor=people.enterprise, clock=clock, keyring=keyring, authorization_id=view.id, password=PASSWORD
    )
    return view.id


def pull(
    db: Database,
    clock: FrozenClock,
    keyring: Keyring,
    actor: Principal,
    authorization_id: uuid.UUID,
    purpose: Purpose = Purpose.CREDIT_APPROVAL,
) -> report.ReportDocument:
    """The authorized report ``actor`` pulls on the subject under ``authorization_id`` for ``purpose``."""
    return report.create_authorized_report(
        db, actor=actor, clock=clock, keyring=keyring, uscc=SUBJECT, authorization_id=authorization_id, purpose=purpose
    )
