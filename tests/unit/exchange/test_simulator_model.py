"""The simulator's fault plans and its data index (no network: the ASGI app is tested in integration)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xinyidai.demodata import generate
from xinyidai.simulator import DataDirectoryError, DataIndex, FaultMode, FaultPlan, MalformedKind, Reply, next_action


def test_normal_plans_answer_with_data_at_once() -> None:
    action, after = next_action(FaultPlan(), u=0.0)
    assert action.reply is Reply.DATA
    assert action.delay_s == 0
    assert after == FaultPlan()


def test_slow_plans_wait_and_default_to_one_second() -> None:
    assert next_action(FaultPlan(mode=FaultMode.SLOW), u=0.0)[0].delay_s == 1.0
    action = next_action(FaultPlan(mode=FaultMode.SLOW, delay_ms=250), u=0.0)[0]
    assert (action.delay_s, action.reply) == (0.25, Reply.DATA)


def test_forced_failures_come_first_and_are_used_up() -> None:
    plan = FaultPlan(fail_next=2, status=500)
    replies = []
    for _ in range(3):
        action, plan = next_action(plan, u=0.99)
        replies.append((action.reply, action.status))
    assert replies == [(Reply.FAILURE, 500), (Reply.FAILURE, 500), (Reply.DATA, 200)]


@given(st.floats(min_value=0, max_value=1), st.floats(min_value=0, max_value=1, exclude_max=True))
def test_flaky_plans_fail_with_their_rate(rate: float, u: float) -> None:
    action, _ = next_action(FaultPlan(mode=FaultMode.FLAKY, fail_rate=rate), u=u)
    assert (action.reply is Reply.FAILURE) is (u < rate)


def test_malformed_plans_say_how() -> None:
    action, _ = next_action(FaultPlan(mode=FaultMode.MALFORMED, malformed=MalformedKind.WRONG_SUBJECT), u=0.0)
    assert (action.reply, action.malformed, action.status) == (Reply.MALFORMED, MalformedKind.WRONG_SUBJECT, 200)


def test_plans_from_control_bodies_refuse_bad_values() -> None:
    plan = FaultPlan.from_json({"mode": "fail", "status": "500", "department": "tax"})
    assert plan.mode is FaultMode.FAIL
    assert plan.status == 500
    assert plan.to_json()["mode"] == "fail"
    for body in (
        {"mode": "sideways"},
        {"delay_ms": -1},
        {"delay_ms": 10**9},
        {"fail_rate": 2},
        {"status": 200},
        {"fail_next": -1},
        {"delay_ms": True},
        {"surprise": 1},
    ):
        with pytest.raises(ValueError, match=r"."):
            FaultPlan.from_json(body)


def test_the_index_finds_every_row_of_a_subject_and_only_those(tmp_path: Path) -> None:
    generate(enterprises=60, seed=5, out_dir=tmp_path)
    index = DataIndex.load(tmp_path)
    assert index.enterprises == 60
    assert set(index.departments()) >= {"samr", "tax", "hrss", "hpf", "utilities", "water", "power", "gas", "court"}
    for item in index.items:
        with (tmp_path / f"{item.code}.csv").open(encoding="utf-8", newline="") as handle:
            expected: dict[str, int] = {}
            for row in csv.DictReader(handle):
                expected[row[item.subject_field]] = expected.get(row[item.subject_field], 0) + 1
        for uscc, count in expected.items():
            records = index.records(item.code, uscc)
            assert len(records) == count
            assert {r[item.subject_field] for r in records} == {uscc}
    assert index.records("tax_payment", "91350100M000100Y43") == []


def test_a_group_member_answers_only_for_its_own_records(tmp_path: Path) -> None:
    generate(enterprises=40, seed=9, out_dir=tmp_path)
    index = DataIndex.load(tmp_path)
    uscc = next(iter(index.subjects("utility_payment")))
    every = index.records("utility_payment", uscc)
    power = index.records("utility_payment", uscc, department="power")
    water = index.records("utility_payment", uscc, department="water")
    assert {r["utility"] for r in power} <= {"electricity"}
    assert {r["utility"] for r in water} <= {"water"}
    assert len(power) + len(water) <= len(every)
    assert all(isinstance(r["paid_on_time"], bool) for r in every)


def test_rows_with_quoted_line_breaks_are_indexed_whole(tmp_path: Path) -> None:
    generate(enterprises=5, seed=1, out_dir=tmp_path)
    path = tmp_path / "honour.csv"
    uscc = "91350100M000100Y43"
    with path.open("a", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerow([uscc, "诚信\n示范", "某局", "市级", "2025-01-02"])
    index = DataIndex.load(tmp_path)
    assert index.records("honour", uscc) == [
        {"uscc": uscc, "title": "诚信\n示范", "grantor": "某局", "level": "市级", "granted_on": "2025-01-02"}
    ]


def test_a_directory_without_a_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataDirectoryError, match="not a generated delivery"):
        DataIndex.load(tmp_path)
