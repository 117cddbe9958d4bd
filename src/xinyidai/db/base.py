"""Declarative base, naming convention and the column types every domain shares."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware datetimes stored in UTC; naive values are refused, results are always aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store timezone-aware values")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: JSON stored as JSONB on PostgreSQL and as JSON text on SQLite.
JsonValue = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

#: JSON kept as its text, checked but not decomposed (``json`` on PostgreSQL, JSON text on SQLite): for documents
#: written in bulk and always read whole, never queried inside by SQL — the record store's ``data``. A ``jsonb``
#: value is parsed into its binary form on every write and printed back to text on every read (ADR 0008).
JsonText = sa.JSON()

#: UUIDs: native uuid on PostgreSQL, CHAR(32) on SQLite.
GUID = sa.Uuid(as_uuid=True)


class Base(DeclarativeBase):
    """Base of every mapped class."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        uuid.UUID: GUID,
        dict[str, Any]: JsonValue,
        list[Any]: JsonValue,
        list[str]: JsonValue,
    }
