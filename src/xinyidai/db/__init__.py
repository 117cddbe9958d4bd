"""Storage: declarative base with one naming convention, engines, transactions, migrations."""

from xinyidai.db.base import GUID, Base, JsonText, JsonValue, UtcDateTime
from xinyidai.db.engine import Database, create_database_engine

__all__ = ["GUID", "Base", "Database", "JsonText", "JsonValue", "UtcDateTime", "create_database_engine"]
