"""A small evaluated world for the push, facts and page tests: two banks with their people, three enterprises with
registry subjects, records and logins, authorizations made through consent's own service functions, and a batch run.

Users are created through `principal.create_user` (Argon2, slow), so a test module builds the world once per test
and keeps the number of people small.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tests.factories import ADMIN, PASSWORD, uscc_for
from tests.integration.evaluation.evaluation_data import add_record, add_subject, penalty
from xinyidai import consent, principal
from xinyidai.consent import AuthorizationTerms, DateRange, FetchType, Frequency, FrequencyUnit, Keyring, Purpose, Scope
from xinyidai.db import Database
from xinyidai.evaluation.batch import RunSummary, run_evaluation
from xinyidai.kernel.actor import ActorKind, ActorRef
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher
from xinyidai.principal import ROLE_PERMISSIONS, AuthMethod, Principal, Role

AS_OF = date(2026, 6, 30)
RECEIVED = datetime(2026, 1, 10, tzinfo=UTC)
RUN_ACTOR = ActorRef.system("evaluation-world")
HOOK_SECRET = "bank-a-evaluation-webhook-secret-0123456789"
HOOK_URL = "https://bank-a.example/hooks/evaluation"


@dataclass(frozen=True)
class World:
    """Who and what the tests use: banks A and B, their people, three enterprises (good, bad, plain) and logins."""

    bank_a: uuid.UUID
    bank_b: uuid.UUID
    admin_a: Principal
    officer_a: Principal
    admin_b: Principal
    good: str
    bad: str
    plain: str
    enterprises: dict[str, Principal]
    usernames: dict[str, str]


def as_principal(user_id: uuid.UUID, role: Role, *, label: str, institution_id: uuid.UUID | None = None,
                 enterprise_uscc: str | None = None) -> Principal:  # fmt: skip
    """The principal a logged-in user of `role` is."""
    return Principal(
        kind=ActorKind.USER,
        id=user_id,
        label=label,
        permissions=ROLE_PERMISSIONS[role],
        method=AuthMethod.SESSION,
        role=role,
        institution_id=institution_id,
        enterprise_uscc=enterprise_uscc,
    )


def add_enterprises(db: Database, *, base: int) -> tuple[str, str, str]:
    """Three registry subjects with records: `good` (long-established, tax grade A, taxes paid), `bad` (new, listed as
    a dishonest debtor, two penalties, late utility bills) and `plain` (no records); returns their USCCs."""
    good, bad, plain = uscc_for(base + 1), uscc_for(base + 2), uscc_for(base + 3)
    with db.transaction() as s:
        add_subject(s, base + 1, established_on=date(2010, 1, 1), capital="800")
        add_subject(s, base + 2, established_on=date(2025, 12, 1))
        add_subject(s, base + 3)
        add_record(s, "tax_credit_grade", good, {"year": 2025, "grade": "A", "evaluated_on": "2026-04-01"}, received_at=RECEIVED)
        for month in range(1, 7):
            add_record(s, "tax_payment", good, {"period": f"2026-{month:02d}", "tax_type": "增值税", "amount_paid": "1.5",
                                                "declared_on": f"2026-{month:02d}-15"}, received_at=RECEIVED)  # fmt: skip
        for month in (3, 4, 5):
            bill = {
                "utility": "water",
                "period": f"2026-{month:02d}",
                "amount_due": "1",
                "amount_paid": "1",
                "paid_on_time": "false",
            }
            add_record(s, "utility_payment", bad, bill, received_at=RECEIVED)
        penalty(s, bad, decided=date(2026, 2, 1), received_at=RECEIVED, severity="serious")
        penalty(s, bad, decided=date(2026, 3, 1), received_at=RECEIVED)
        add_record(s, "dishonest_debtor", bad, {"case_no": "（2026）闽01执1号", "listed_on": "2026-03-01"}, received_at=RECEIVED)
    return good, bad, plain


def build_world(db: Database, clock: FrozenClock, cipher: PiiCipher, unique: str, *, base: int = 9100) -> World:
    """Banks A and B with an admin each (and an officer at A), the three enterprises of `add_enterprises` and a login
    for each enterprise."""
    bank_a = principal.create_institution(
        db, actor=ADMIN, clock=clock, code=f"EA{unique}", name=f"评价甲银行{unique}", kind="bank", region_code="350100"
    )
    bank_b = principal.create_institution(
        db, actor=ADMIN, clock=clock, code=f"EB{unique}", name=f"评价乙银行{unique}", kind="bank", region_code="350100"
    )
    good, bad, plain = add_enterprises(db, base=base)
    names = {key: f"{key.replace('_', '')}{unique}" for key in ("admin_a", "officer_a", "admin_b", "good", "bad", "plain")}

    def user(key: str, role: Role, **kw: object) -> uuid.UUID:
        return principal.create_user(
            db, actor=ADMIN, clock=clock, cipher=cipher, username=names[key], password=PASSWORD, role=role,
            display_name=f"{role.label}{key}", **kw,  # type: ignore[arg-type]
        )  # fmt: skip

    admin_a = as_principal(user("admin_a", Role.INSTITUTION_ADMIN, institution_id=bank_a), Role.INSTITUTION_ADMIN,
                           label="甲行管理员", institution_id=bank_a)  # fmt: skip
    officer_a = as_principal(user("officer_a", Role.INSTITUTION_OFFICER, institution_id=bank_a), Role.INSTITUTION_OFFICER,
                             label="甲行客户经理", institution_id=bank_a)  # fmt: skip
    admin_b = as_principal(user("admin_b", Role.INSTITUTION_ADMIN, institution_id=bank_b), Role.INSTITUTION_ADMIN,
                           label="乙行管理员", institution_id=bank_b)  # fmt: skip
    enterprises = {
        uscc: as_principal(
            user(key, Role.ENTERPRISE, enterprise_uscc=uscc), Role.ENTERPRISE, label=f"企业{key}", enterprise_uscc=uscc
        )
        for key, uscc in (("good", good), ("bad", bad), ("plain", plain))
    }
    return World(bank_a, bank_b, admin_a, officer_a, admin_b, good, bad, plain, enterprises, names)


def evaluation_terms(clock: FrozenClock, *, items: frozenset[str] = frozenset({"credit_evaluation"})) -> AuthorizationTerms:
    """Credit-approval terms covering `items` (by default the evaluation itself) for 60 days."""
    now = clock.now()
    return AuthorizationTerms(
        purpose=Purpose.CREDIT_APPROVAL,
        scope=Scope(frozenset(), items),
        data_range=DateRange(now.date().replace(year=now.year - 2), now.date()),
        fetch_type=FetchType.PERIODIC,
        frequency=Frequency(2, FrequencyUnit.WEEK),
        data_life_days=90,
        starts_at=None,
        expires_at=now + timedelta(days=60),
    )


def authorize(
    db: Database, clock: FrozenClock, keyring: Keyring, *, officer: Principal, enterprise: Principal,
    items: frozenset[str] = frozenset({"credit_evaluation"}),
) -> uuid.UUID:  # fmt: skip
    """The officer asks, the enterprise approves with its password: an active authorization; returns its id."""
    assert enterprise.enterprise_uscc is not None
    asked = consent.request_authorization(
        db, actor=officer, clock=clock, enterprise_uscc=enterprise.enterprise_uscc, terms=evaluation_terms(clock, items=items)
    )
    consent.approve_authorization(
        db, actor=enterprise, clock=clock, keyring=keyring, authorization_id=asked.id, password=PASSWORD
    )
    return asked.id


def evaluate(db: Database, clock: FrozenClock, directory: Path) -> RunSummary:
    """A batch run as of `AS_OF` over everything in the database."""
    return run_evaluation(db, actor=RUN_ACTOR, as_of=AS_OF, clock=clock, directory=directory)
