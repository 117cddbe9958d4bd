"""Principal tables: organisations, users, API clients, web sessions and login failures."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.db import Base


class Institution(Base):
    """A financial institution (接入机构) that joins the platform."""

    __tablename__ = "institution"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    uscc: Mapped[str | None] = mapped_column(sa.String(18))
    kind: Mapped[str] = mapped_column(sa.String(40))
    region_code: Mapped[str] = mapped_column(sa.String(6))
    created_at: Mapped[datetime] = mapped_column()


class Department(Base):
    """A government department that owns catalog data (数据源部门)."""

    __tablename__ = "department"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    region_code: Mapped[str] = mapped_column(sa.String(6))
    created_at: Mapped[datetime] = mapped_column()


class User(Base):
    """A person who logs in to the web pages."""

    __tablename__ = "app_user"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(80), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(120))
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(40))
    institution_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("institution.id"), index=True)
    department_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("department.id"), index=True)
    enterprise_uscc: Mapped[str | None] = mapped_column(sa.String(18), index=True)
    phone_enc: Mapped[str | None] = mapped_column(sa.String(200))
    phone_mask: Mapped[str | None] = mapped_column(sa.String(20))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column()
    last_login_at: Mapped[datetime | None] = mapped_column()


class ApiClient(Base):
    """A system that calls the API with OAuth2 client credentials."""

    __tablename__ = "api_client"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    secret_hash: Mapped[str] = mapped_column(sa.String(200))
    org_kind: Mapped[str] = mapped_column(sa.String(20))
    institution_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("institution.id"), index=True)
    department_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("department.id"), index=True)
    scopes: Mapped[list[str]] = mapped_column()
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column()


class WebSession(Base):
    """A login session; the cookie holds a random token whose SHA-256 is stored here."""

    __tablename__ = "web_session"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(300))


class LoginFailure(Base):
    """A failed login, counted by the throttle."""

    __tablename__ = "login_failure"
    __table_args__ = (sa.Index("ix_login_failure_username_at", "username", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(80))
    ip: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    at: Mapped[datetime] = mapped_column()
