"""Catalog use cases: the catalog as documents for the API, the CLI and pages."""

from __future__ import annotations

from datetime import date
from typing import Any

from xinyidai.catalog.loader import load_catalog
from xinyidai.catalog.model import CatalogVersion, Item


def version_for(version: str | None, *, on: date | None = None) -> CatalogVersion:
    """The named version, or the one in force on `on` (default: today)."""
    catalog = load_catalog()
    if version:
        return catalog.version(version)
    return catalog.in_force(on or date.today())


def item_document(item: Item) -> dict[str, Any]:
    """An item as plain JSON: identity, owner, disclosure class, keys, schema, rules."""
    return {
        "code": item.code,
        "name_zh": item.name_zh,
        "name_en": item.name_en,
        "category": item.category,
        "department": {"code": item.department.code, "name_zh": item.department.name_zh},
        "disclosure": item.disclosure.value,
        "disclosure_zh": item.disclosure.label_zh,
        "negative": item.negative,
        "natural_key": list(item.natural_key),
        "subject_field": item.subject_field,
        "event_date_field": item.event_date_field,
        "freshness": str(item.freshness),
        "delivery_deadline": str(item.delivery_deadline) if item.delivery_deadline else None,
        "since": item.since,
        "until": item.until,
        "fields": [
            {
                "name": f.name,
                "label_zh": f.label_zh,
                "type": f.type.value,
                "required": f.required,
                "code_list": list(f.code_list),
                "max_length": f.max_length,
                "personal": f.personal,
            }
            for f in item.record_schema
        ],
        "rules": [{"rule": r.rule.value, "field": r.field, "other": r.other, "values": list(r.values)} for r in item.rules],
        "legacy_aliases": dict(item.legacy_aliases),
        "publication_rules": [
            {
                "code": r.code,
                "name_zh": r.name_zh,
                "document": r.document,
                "effective_from": r.effective_from,
                "effective_to": r.effective_to,
            }
            for r in item.publication_rules
        ],
        "unconfirmed": sorted(item.unconfirmed),
    }


def catalog_document(version: str | None = None, *, on: date | None = None) -> dict[str, Any]:
    """A whole catalog version as plain JSON."""
    v = version_for(version, on=on)
    return {
        "version": v.key,
        "name_zh": v.name_zh,
        "document_no": v.document_no,
        "issued_on": v.issued_on.isoformat(),
        "effective_on": v.effective_on.isoformat(),
        "versions": [x.key for x in load_catalog().versions],
        "categories": [
            {"code": c.code, "name_zh": c.name_zh, "name_en": c.name_en, "items": [i.code for i in v.items_in(c.code)]}
            for c in v.categories
        ],
        "items": [item_document(i) for i in v.items],
        "unconfirmed": sorted(v.unconfirmed),
    }
