"""The loader refuses broken catalog data and names the file and entry of every problem."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from xinyidai.catalog.loader import CatalogDataError, load_catalog, read_catalog


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A writable copy of the shipped catalog data."""
    source = resources.files("xinyidai.catalog") / "data"
    for entry in source.iterdir():
        if entry.name.endswith(".toml"):
            (tmp_path / entry.name).write_bytes(entry.read_bytes())
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text not found in {path.name}: {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def problems(directory: Path) -> tuple[str, ...]:
    with pytest.raises(CatalogDataError) as caught:
        read_catalog(directory)
    return caught.value.problems


def test_an_unchanged_copy_reads_like_the_shipped_data(data_dir: Path) -> None:
    assert read_catalog(data_dir) == load_catalog()


def test_unknown_category(data_dir: Path) -> None:
    edit(data_dir / "items_financing.toml", 'category = "credit_evaluation"', 'category = "credit_scores"')
    (problem,) = problems(data_dir)
    assert problem.startswith("items_financing.toml: item 'tax_credit_grade'")
    assert problem.endswith("category 'credit_scores' does not exist in catalog 2021, 2022, 2024")


def test_item_older_than_its_category(data_dir: Path) -> None:
    edit(data_dir / "items_other.toml", "since = 2024", "since = 2022")
    found = problems(data_dir)
    assert found == (
        "items_other.toml: item 'intellectual_property': category 'intellectual_property' does not exist in catalog 2022",
    )


def test_natural_key_must_name_a_field(data_dir: Path) -> None:
    edit(data_dir / "items_administrative.toml", 'natural_key = ["CF_WSH", "CF_CFJGDM"]', 'natural_key = ["CF_WSH", "CF_JGDM"]')
    (problem,) = problems(data_dir)
    assert problem == "items_administrative.toml, item 'admin_penalty': natural_key 'CF_JGDM' is not a field of the record"


def test_subject_field_must_hold_a_uscc(data_dir: Path) -> None:
    edit(data_dir / "items_core.toml", 'subject_field = "uscc"', 'subject_field = "name"')
    (problem,) = problems(data_dir)
    assert "item 'registration'" in problem
    assert "subject_field 'name' must be of type uscc" in problem


def test_code_list_must_not_be_empty(data_dir: Path) -> None:
    edit(data_dir / "items_financing.toml", 'code_list = ["A", "B", "M", "C", "D"]', "code_list = []")
    (problem,) = problems(data_dir)
    assert problem == "items_financing.toml, item 'tax_credit_grade', field 'grade': 'code_list' must not be empty"


def test_duplicate_item_code_across_files(data_dir: Path) -> None:
    edit(data_dir / "items_other.toml", 'code = "self_reported"', 'code = "registration"')
    (problem,) = problems(data_dir)
    assert problem == "items_other.toml: item 'registration' is already defined in items_core.toml"


def test_misspelt_key_is_not_ignored(data_dir: Path) -> None:
    edit(
        data_dir / "items_core.toml",
        'negative = true\nsince = 2021\nnatural_key = ["case_no"',
        'negativ = true\nsince = 2021\nnatural_key = ["case_no"',
    )
    found = problems(data_dir)
    assert "items_core.toml, item 'court_judgment': missing 'negative'" in found
    assert "items_core.toml, item 'court_judgment': unknown key 'negativ'" in found


def test_unknown_department_and_disclosure(data_dir: Path) -> None:
    edit(data_dir / "items_financing.toml", 'department = "hpf"', 'department = "provident"')
    edit(data_dir / "items_financing.toml", 'disclosure = "authorized"', 'disclosure = "private"')
    found = problems(data_dir)
    assert (
        "items_financing.toml, item 'tax_payment': 'disclosure' must be one of public, authorized, consent, not 'private'"
        in found
    )
    assert "items_financing.toml, item 'housing_fund': unknown department 'provident'" in found


def test_personal_id_numbers_must_be_marked_personal(data_dir: Path) -> None:
    edit(
        data_dir / "items_core.toml",
        'type = "id_number", max_length = 64, personal = true',
        'type = "id_number", max_length = 64',
    )
    (problem,) = problems(data_dir)
    assert problem.startswith("items_core.toml, item 'registration', field 'legal_rep_id_no'")


def test_legacy_alias_must_target_a_field(data_dir: Path) -> None:
    edit(data_dir / "items_administrative.toml", 'CF_JG = "CF_NR"', 'CF_JG = "CF_JG_NR"')
    (problem,) = problems(data_dir)
    assert (
        problem
        == "items_administrative.toml, item 'admin_penalty': legacy alias 'CF_JG' maps to 'CF_JG_NR', which is not a field"
    )


def test_cross_field_rule_must_name_fields_of_the_right_type(data_dir: Path) -> None:
    edit(data_dir / "items_administrative.toml", 'other = "XK_YXQZ" }', 'other = "XK_NR" }')
    (problem,) = problems(data_dir)
    assert "item 'admin_license'" in problem
    assert "'XK_NR' must be of type date" in problem


def test_publication_rules_must_not_overlap(data_dir: Path) -> None:
    edit(data_dir / "rules.toml", "effective_to = 2023-04-30", "effective_to = 2023-05-01")
    (problem,) = problems(data_dir)
    assert problem == "rules.toml: publication rules 'ndrc_2019_527' and 'ndrc_order_58' overlap for item 'admin_penalty'"


def test_publication_minimum_not_above_maximum_and_every_severity_present(data_dir: Path) -> None:
    edit(
        data_dir / "rules.toml",
        '{ severity = "general", minimum = "P3M", maximum = "P1Y" },',
        '{ severity = "general", minimum = "P2Y", maximum = "P1Y" },',
    )
    edit(data_dir / "rules.toml", '{ severity = "minor", minimum = "P3M", maximum = "P3Y" },', "")
    found = problems(data_dir)
    assert "rules.toml, publication rule 'ndrc_2019_527', term 'general': minimum P2Y is longer than maximum P1Y" in found
    assert "rules.toml, publication rule 'ndrc_order_58': needs exactly one term for severity 'minor', has 0" in found


def test_unconfirmed_must_name_a_key(data_dir: Path) -> None:
    edit(data_dir / "versions.toml", 'unconfirmed = ["issued_on", "effective_on"]', 'unconfirmed = ["issued", "effective_on"]')
    (problem,) = problems(data_dir)
    assert problem == "versions.toml, version 2021: 'unconfirmed' names 'issued', which is not a key of this table"


def test_invalid_toml_names_the_file(data_dir: Path) -> None:
    (data_dir / "items_core.toml").write_text("[[item]\ncode = ", encoding="utf-8")
    found = problems(data_dir)
    assert any(p.startswith("items_core.toml: not valid TOML") for p in found)


def test_missing_file(data_dir: Path) -> None:
    (data_dir / "departments.toml").unlink()
    found = problems(data_dir)
    assert found[0].startswith("departments.toml: file missing")


def test_every_problem_is_reported_at_once(data_dir: Path) -> None:
    edit(data_dir / "items_financing.toml", 'category = "credit_evaluation"', 'category = "credit_scores"')
    edit(data_dir / "items_core.toml", 'subject_field = "uscc"', 'subject_field = "name"')
    with pytest.raises(CatalogDataError, match=r"2 problem\(s\) in the catalog data") as caught:
        read_catalog(data_dir)
    assert len(caught.value.problems) == 2


def test_items_removed_by_a_version(data_dir: Path) -> None:
    edit(data_dir / "items_other.toml", 'code = "self_reported"', 'code = "self_reported"\nuntil = 2024')
    catalog = read_catalog(data_dir)
    assert catalog.item("self_reported").until == 2024
    assert "self_reported" in {i.code for i in catalog.version(2022).items}
    assert "self_reported" not in {i.code for i in catalog.version(2024).items}
