"""`xinyidai users …` / `xinyidai clients …`: bootstrap accounts from the command line."""

from __future__ import annotations

import getpass
import uuid

import typer

from xinyidai.cli.root import emit, settings
from xinyidai.kernel.actor import ActorRef

users_app = typer.Typer(help="Users.", no_args_is_help=True)
clients_app = typer.Typer(help="API clients (OAuth2 client credentials).", no_args_is_help=True)
CLI_ACTOR = ActorRef.system("cli")


@users_app.command("create")
def create_user(
    username: str,
    role: str = typer.Option(
        ..., help="enterprise | institution_officer | institution_admin | department_clerk | operator | regulator | auditor"
    ),
    display_name: str = typer.Option(..., help="Name shown on pages."),
    institution: str | None = typer.Option(None, help="Institution code (institution roles)."),
    department: str | None = typer.Option(None, help="Department code (department clerks)."),
    uscc: str | None = typer.Option(None, help="Enterprise USCC (enterprise users)."),
) -> None:
    """Create a user; the password is read from the terminal (or XINYIDAI_NEW_PASSWORD)."""
    import os

    from xinyidai import principal
    from xinyidai.app import build_container

    password = os.environ.get("XINYIDAI_NEW_PASSWORD") or getpass.getpass("密码: ")
    c = build_container(settings())
    inst = principal.find_institution(c.db, code=institution) if institution else None
    dept = principal.find_department(c.db, code=department) if department else None
    user_id = principal.create_user(
        c.db,
        actor=CLI_ACTOR,
        clock=c.clock,
        cipher=c.cipher,
        username=username,
        password=password,
        role=principal.Role(role),
        display_name=display_name,
        institution_id=inst,
        department_id=dept,
        enterprise_uscc=uscc,
    )
    emit({"user_id": str(user_id), "username": username, "role": role})


@clients_app.command("create")
def create_client(
    name: str,
    scope: list[str] = typer.Option(..., help="Permission to grant, e.g. registry:subject:read (repeatable)."),
    institution: str | None = typer.Option(None, help="Institution code."),
    department: str | None = typer.Option(None, help="Department code."),
    platform: bool = typer.Option(False, help="A platform-internal client (monitoring)."),
) -> None:
    """Register an API client and print its id and secret (the secret is shown only once)."""
    from xinyidai import principal
    from xinyidai.app import build_container

    c = build_container(settings())
    inst: uuid.UUID | None = principal.find_institution(c.db, code=institution) if institution else None
    dept: uuid.UUID | None = principal.find_department(c.db, code=department) if department else None
    creds = principal.create_client(
        c.db,
        actor=CLI_ACTOR,
        clock=c.clock,
        name=name,
        scopes=set(scope),
        institution_id=inst,
        department_id=dept,
        platform=platform,
    )
    emit({"client_id": creds.client_id, "client_secret": creds.client_secret, "scopes": list(creds.scopes)})


def register(app: typer.Typer) -> None:
    """Attach the commands."""
    app.add_typer(users_app, name="users")
    app.add_typer(clients_app, name="clients")
