"""The item codes a report reads, split by disclosure once per catalog version."""

from __future__ import annotations

from datetime import date

from xinyidai import catalog
from xinyidai.report import service


def test_public_and_private_items_partition_the_version_in_force() -> None:
    day = date(2026, 6, 30)
    version = catalog.version_for(None, on=day)
    split = service._disclosure_on(day)
    in_force = {item.code: item for category in version.categories for item in version.items_in(category.code)}
    assert set(split.public) | set(split.private) == set(in_force)
    assert not set(split.public) & set(split.private)
    assert split.public_set == frozenset(split.public)
    assert all(in_force[code].disclosure is catalog.Disclosure.PUBLIC for code in split.public)
    assert all(in_force[code].disclosure is not catalog.Disclosure.PUBLIC for code in split.private)
    assert split.private  # an authorized report has something to authorize
    assert service._disclosure_on(day) is split  # worked out once


def test_shown_fields_are_worked_out_once_per_item_and_unknown_items_show_nothing() -> None:
    item, shown = service._shown_item("admin_penalty")
    assert item is not None
    assert item.code == "admin_penalty"
    assert shown == service._shown_fields(item)
    assert all(name != item.subject_field for name, *_ in shown)
    assert service._shown_item("admin_penalty")[1] is shown
    assert service._shown_item("no_such_item") == (None, ())
