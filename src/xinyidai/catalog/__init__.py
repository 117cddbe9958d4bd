"""Public credit information catalog (公共信用信息基础目录): versioned, effective-dated data."""

from xinyidai.catalog.loader import CatalogDataError, load_catalog
from xinyidai.catalog.model import (
    Catalog,
    CatalogVersion,
    Disclosure,
    Field,
    FieldType,
    Item,
    NoRuleInForce,
    NotInCatalog,
    Severity,
    Window,
    publication_window,
    retention_end,
)
from xinyidai.catalog.service import catalog_document, item_document, version_for

__all__ = [
    "Catalog",
    "CatalogDataError",
    "CatalogVersion",
    "Disclosure",
    "Field",
    "FieldType",
    "Item",
    "NoRuleInForce",
    "NotInCatalog",
    "Severity",
    "Window",
    "catalog_document",
    "item_document",
    "load_catalog",
    "publication_window",
    "retention_end",
    "version_for",
]
