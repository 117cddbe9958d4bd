"""The demo: one organisation and one login per role, registration data loaded from the generator, and the
financing service's demo data (products, needs, applications in every state, a loan)."""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from xinyidai import exchange, ingest, principal, registry, simulator
from xinyidai.http.container import Container
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.errors import Conflict
from xinyidai.lending.seed import DemoFinancing, seed_demo
from xinyidai.principal import Role

DEMO_ACTOR = ActorRef.system("demo")


@dataclass(frozen=True, slots=True)
class DemoLogin:
    """A demo account, printed by `make demo`."""

    role: Role
    username: str
    password: str
    display_name: str


DEMO_PASSWORD_SUFFIX = "-Demo2026"  # noqa: S105 - demo accounts only, printed by `make demo`


def seed_principals(container: Container, *, enterprise_uscc: str) -> list[DemoLogin]:
    """Create the demo institution, department and one user per role (idempotent)."""
    db, clock, cipher = container.db, container.clock, container.cipher
    inst = principal.find_institution(db, code="DEMO-BANK") or principal.create_institution(
        db, actor=DEMO_ACTOR, clock=clock, code="DEMO-BANK", name="示范商业银行福州分行", kind="bank", region_code="350100"
    )
    dept = principal.find_department(db, code="FZ-SAMR") or principal.create_department(
        db, actor=DEMO_ACTOR, clock=clock, code="FZ-SAMR", name="福州市市场监督管理局", region_code="350100"
    )
    people = [
        (Role.ENTERPRISE, "enterprise", "企业用户（示范）", {"enterprise_uscc": enterprise_uscc}),
        (Role.INSTITUTION_OFFICER, "officer", "张客户经理", {"institution_id": inst}),
        (Role.INSTITUTION_ADMIN, "bankadmin", "李机构管理员", {"institution_id": inst}),
        (Role.DEPARTMENT_CLERK, "clerk", "王经办人", {"department_id": dept}),
        (Role.OPERATOR, "operator", "陈运营", {}),
        (Role.REGULATOR, "regulator", "刘监管", {}),
        (Role.AUDITOR, "auditor", "赵审计", {}),
    ]
    logins: list[DemoLogin] = []
    for role, username, name, org in people:
        password = username + DEMO_PASSWORD_SUFFIX
        with contextlib.suppress(Conflict):  # already seeded: keep the account as it is
            principal.create_user(
                db,
                actor=DEMO_ACTOR,
                clock=clock,
                cipher=cipher,
                username=username,
                password=password,
                role=role,
                display_name=name,
                phone="13800138000",
                **org,  # type: ignore[arg-type]
            )
        logins.append(DemoLogin(role, username, password, name))
    return logins


SIMULATOR_PORT = 8100
SIMULATOR_TOKEN = "demo-simulator-token"  # noqa: S105 - the demo's local department simulator only


def load_demo_data(container: Container, data_dir: Path) -> list[ingest.DirectoryEntry]:
    """Register the departments' sources and ingest every file the generator wrote (registration first)."""
    departments = {"samr": dept} if (dept := principal.find_department(container.db, code="FZ-SAMR")) else None
    ingest.seed_sources(container.db, DEMO_ACTOR, container.clock, departments=departments)
    entries = ingest.ingest_directory(
        container.db,
        actor=DEMO_ACTOR,
        clock=container.clock,
        cipher=container.cipher,
        var_dir=container.settings.var_dir,
        directory=data_dir,
    )
    registration = data_dir / "registration.csv"
    if registration.exists():
        # The demo enterprise is the first active one (as `xinyidai demo` picks it); the next ones fill the queues.
        active = [row["uscc"] for _line, row in read_csv_rows(registration) if row["status"] in ("存续", "在业")]
        if len(active) >= 2:
            seed_financing(container, enterprise_uscc=active[0], other_usccs=active[1:5])
    return entries


def seed_financing(container: Container, *, enterprise_uscc: str, other_usccs: list[str]) -> DemoFinancing:
    """The financing service's demo data for the demo bank and a second institution (idempotent): products the demo
    enterprise can find in 产品超市, needs, and applications in every state for the officer's queue and the regulator."""
    db, clock = container.db, container.clock
    bank = principal.find_institution(db, code="DEMO-BANK") or principal.create_institution(
        db, actor=DEMO_ACTOR, clock=clock, code="DEMO-BANK", name="示范商业银行福州分行", kind="bank", region_code="350100"
    )
    rural = principal.find_institution(db, code="DEMO-RCB") or principal.create_institution(
        db, actor=DEMO_ACTOR, clock=clock, code="DEMO-RCB", name="示范农村商业银行", kind="bank", region_code="350100"
    )
    named = []
    for iid in (bank, rural):
        view = principal.get_institution(db, institution_id=iid)
        named.append((iid, view.name if view else "示范银行"))
    return seed_demo(container, institutions=named, enterprise_uscc=enterprise_uscc, other_usccs=other_usccs)


@contextlib.contextmanager
def department_simulator(container: Container, data_dir: Path, *, port: int = SIMULATOR_PORT) -> Iterator[str]:
    """Serve the generated data as the departments' query interfaces (系统接口调用) and point the sources at it."""
    index = simulator.DataIndex.load(data_dir)
    app = simulator.create_simulator_app(index, default_token=SIMULATOR_TOKEN)
    with simulator.running(app, port=port) as running:
        url = f"http://127.0.0.1:{port}"
        exchange.set_endpoints_at(
            container.db,
            actor=DEMO_ACTOR,
            clock=container.clock,
            cipher=container.cipher,
            url=url,
            token=SIMULATOR_TOKEN,
            sources=index.departments(),
        )
        del running
        yield url


def read_csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) from a UTF-8 CSV with a header (line numbers count the header as 1)."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        yield from enumerate(csv.DictReader(fh), start=2)


def load_registration_file(container: Container, path: Path) -> registry.LoadSummary:
    """Load the generator's registration.csv into the registry."""
    return registry.load_registrations(
        container.db, actor=DEMO_ACTOR, clock=container.clock, cipher=container.cipher, rows=read_csv_rows(path), source=path.name
    )
