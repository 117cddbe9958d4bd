"""Answers are checked against the catalog item's record schema; anything wrong refuses the whole answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from xinyidai.catalog import load_catalog
from xinyidai.demodata import generate
from xinyidai.exchange import MalformedAnswer, parse_answer
from xinyidai.simulator import DataIndex

USCC = "91350100M000100Y43"
OTHER = "914403001922038216"
AS_OF = "2026-06-30T10:00:00+08:00"
TAX = load_catalog().item("tax_payment")
PENALTY = load_catalog().item("admin_penalty")


def _tax_record(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "uscc": USCC,
        "period": "2026-05",
        "tax_type": "增值税",
        "amount_paid": "1.25",
        "declared_on": "2026-06-10",
        "paid_on": "2026-06-12",
        "overdue_days": 0,
    }
    record.update(changes)
    return record


def _body(rows: Any, **envelope: Any) -> bytes:
    doc = {"item": "tax_payment", "uscc": USCC, "as_of": AS_OF, "records": rows}
    doc.update(envelope)
    return json.dumps(doc, ensure_ascii=False).encode()


def test_a_good_answer_is_normalised() -> None:
    answer = parse_answer(
        _body([_tax_record(amount_paid=1.50, overdue_days="3"), _tax_record(paid_on=None, amount_paid="0.000000")]),
        item=TAX,
        uscc=USCC,
    )
    assert answer.as_of.utcoffset() is not None
    first, second = answer.records
    assert first["amount_paid"] == "1.5"  # a JSON number kept exact, as 万元 text
    assert first["overdue_days"] == 3
    assert "paid_on" not in second
    assert second["amount_paid"] == "0"


def test_an_empty_answer_is_valid() -> None:
    assert parse_answer(_body([]), item=TAX, uscc=USCC).records == ()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"item": "tax_payment", "records": [', "not JSON"),
        (b"[1, 2]", "not an object"),
        (_body([], uscc=OTHER), "for subject"),
        (_body([], item="tax_credit_grade"), "for item"),
        (_body([], as_of="2026-06-30T10:00:00"), "no UTC offset"),
        (_body([], as_of=None), "as_of is missing"),
        (_body({"a": 1}), "records must be a list"),
        (_body(["x"]), "is not an object"),
        (_body([_tax_record(uscc=OTHER)]), "names another subject"),
        (_body([_tax_record(extra="x")]), "not in the schema"),
        (_body([_tax_record(tax_type=None)]), "tax_type is required"),
        (_body([_tax_record(amount_paid="lots")]), "not an amount"),
        (_body([_tax_record(amount_paid=True)]), "must be an amount"),
        (_body([_tax_record(overdue_days=1.5)]), "must be an integer"),
        (_body([_tax_record(declared_on="2026-02-30")]), "not a date"),
        (_body([_tax_record(period="2026-13")]), "not a month"),
        (_body([_tax_record(tax_type="x" * 65)]), "longer than 64"),
        (_body([_tax_record(tax_type=7)]), "must be text"),
    ],
)
def test_malformed_answers_are_refused_with_their_problems(body: bytes, expected: str) -> None:
    with pytest.raises(MalformedAnswer, match=expected):
        parse_answer(body, item=TAX, uscc=USCC)


def test_code_lists_uscc_fields_and_cross_field_rules_are_checked() -> None:
    record = {
        "CF_XDR_MC": "某公司",
        "CF_XDR_LB": "法人及非法人组织",
        "CF_XDR_SHXYM": USCC,
        "CF_WSH": "榕市监罚〔2026〕1号",
        "CF_WFXW": "虚假宣传",
        "CF_SY": "事实",
        "CF_YJ": "依据",
        "CF_CFLB": "罚款",
        "CF_NR": "罚款",
        "CF_JDRQ": "2026-05-01",
        "CF_YXQ": "2026-04-01",
        "CF_CFJG": "某局",
        "CF_CFJGDM": "not-a-code",
    }
    odd_kind = {**record, "CF_XDR_LB": "法人"}
    body = json.dumps({"item": "admin_penalty", "uscc": USCC, "as_of": AS_OF, "records": [record, odd_kind]}).encode()
    with pytest.raises(MalformedAnswer) as info:
        parse_answer(body, item=PENALTY, uscc=USCC)
    text = " ".join(info.value.problems)
    assert "records[1].CF_XDR_LB is not one of the item's codes" in text
    assert "CF_CFJGDM is required" not in text  # present but wrong is reported once, as wrong
    assert "CF_CFJGDM is not a valid USCC" in text
    assert "CF_YXQ is before CF_JDRQ" in text
    assert "CF_FRDB is required when CF_XDR_LB" in text


def test_long_problem_lists_are_cut_in_the_message_but_kept_whole() -> None:
    records = [_tax_record(extra=i) for i in range(30)]
    with pytest.raises(MalformedAnswer) as info:
        parse_answer(_body(records), item=TAX, uscc=USCC)
    assert len(info.value.problems) == 30
    assert "… 10 more" in str(info.value)


def test_every_generated_record_passes_as_the_simulator_serves_it(tmp_path: Path) -> None:
    generate(enterprises=120, seed=3, out_dir=tmp_path)
    index = DataIndex.load(tmp_path)
    checked = 0
    for item in index.items:
        for uscc in index.subjects(item.code):
            records = index.records(item.code, uscc)
            body = json.dumps({"item": item.code, "uscc": uscc, "as_of": AS_OF, "records": records}).encode()
            assert len(parse_answer(body, item=item, uscc=uscc).records) == len(records)
            checked += len(records)
    assert checked == sum(index.row_count(item.code) for item in index.items)
    assert checked > 1_000
