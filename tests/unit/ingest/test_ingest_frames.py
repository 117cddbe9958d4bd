"""The column-wise rules equal the pure ones; a chunk's rejects and accepted rows; order does not matter."""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyidai.catalog import FieldType, load_catalog
from xinyidai.demodata.formats import resident_id
from xinyidai.ingest import frames, model
from xinyidai.ingest.frames import ChunkContext, plan_for
from xinyidai.ingest.model import HeaderMatch, Layout
from xinyidai.kernel import uscc as uscc_rules
from xinyidai.kernel.pii import mask_id_number, mask_name
from xinyidai.kernel.uscc import ALPHABET, make_uscc

PENALTY = load_catalog().item("admin_penalty")
PLAN = plan_for(PENALTY)
MATCH = HeaderMatch("admin_penalty", Layout.CURRENT, tuple(enumerate(PENALTY.field_names)), (), ())
AUTHORITY = make_uscc("1", "1", "350100", "00000011")
dirty_text = st.text(
    alphabet=st.sampled_from(list("福州市 有限公司（）ab1\t\n\u3000\u00a0ＡＢ１２\x01-")), max_size=30
) | st.text(max_size=20)


def _series(values: list[str | None]) -> pl.Series:
    return pl.Series("v", values, dtype=pl.String)


@given(st.lists(dirty_text, max_size=20))
def test_text_columns_normalise_like_the_reference(values: list[str]) -> None:
    assert frames.normalise_text_column(_series(list(values))).to_list() == [model.normalise_text(v) for v in values]


@given(st.lists(dirty_text, max_size=20), st.booleans())
def test_code_columns_normalise_like_the_reference(values: list[str], upper: bool) -> None:
    got = frames.normalise_code_column(_series(list(values)), upper=upper).to_list()
    assert got == [model.normalise_code(v, upper=upper) for v in values]


@given(
    st.lists(
        st.one_of(st.dates(min_value=date(1890, 1, 1), max_value=date(2110, 1, 1)).map(str), st.text(max_size=12)), max_size=15
    )
)
def test_date_columns_parse_like_the_reference(values: list[str]) -> None:
    cleaned = [model.normalise_code(v) for v in values]
    got = frames.canonical_dates(_series(cleaned)).to_list()
    want = [None if c is None else (d.isoformat() if (d := model.parse_date_text(c)) else None) for c in cleaned]
    assert got == want


@pytest.mark.parametrize(
    "values",
    [["2024-1-5", "20240105", "2024年1月5日", "2024/01/05", "2024-02-30", "2024-01-05 00:00:00", None, "x"]],
)
def test_date_forms_column_wise(values: list[str | None]) -> None:
    cleaned = [model.normalise_code(v) for v in values]
    assert frames.canonical_dates(_series(cleaned)).to_list() == [
        "2024-01-05",
        "2024-01-05",
        "2024-01-05",
        "2024-01-05",
        None,
        "2024-01-05",
        None,
        None,
    ]


amounts = st.one_of(
    st.decimals(min_value=0, max_value=10**15, places=7, allow_nan=False, allow_infinity=False).map(lambda d: format(d, "f")),
    st.text(alphabet="0123456789.,-", max_size=12),
)


@given(st.lists(amounts, max_size=15))
def test_decimal_and_integer_columns_equal_the_reference(values: list[str]) -> None:
    cleaned = [model.normalise_code(v) for v in values]
    assert frames.canonical_decimals(_series(cleaned)).to_list() == [
        None if c is None else model.canonical_decimal(c) for c in cleaned
    ]
    assert frames.canonical_integers(_series(cleaned)).to_list() == [
        None if c is None else model.canonical_integer(c) for c in cleaned
    ]


@given(st.lists(st.text(alphabet="0123456789.-/", max_size=8), max_size=15))
def test_period_columns_equal_the_reference(values: list[str]) -> None:
    cleaned = [model.normalise_code(v) for v in values]
    assert frames.canonical_periods(_series(cleaned)).to_list() == [
        None if c is None else model.parse_period_text(c) for c in cleaned
    ]


def _mutations(code: str) -> st.SearchStrategy[str]:
    return st.tuples(st.integers(0, 17), st.sampled_from(ALPHABET + "IOSVZa-")).map(
        lambda t: code[: t[0]] + t[1] + code[t[0] + 1 :]
    )


usccs = st.builds(
    make_uscc,
    st.sampled_from(["9", "1", "5", "N", "Y"]).flatmap(lambda a: st.just(a)),
    st.just("1"),
    st.sampled_from(["350100", "110105", "440300", "650102"]),
    st.text(alphabet=ALPHABET, min_size=8, max_size=8),
).flatmap(lambda code: st.one_of(st.just(code), _mutations(code)))


@settings(max_examples=300)
@given(st.lists(st.one_of(usccs, st.text(max_size=20)), max_size=20))
def test_vectorised_uscc_check_equals_the_kernel(codes: list[str]) -> None:
    cleaned = [model.normalise_code(c, upper=True) for c in codes]
    got = frames.uscc_valid(_series(cleaned)).to_list()
    assert got == [None if c is None else uscc_rules.validate(c).valid for c in cleaned]


@given(st.lists(st.one_of(st.text(alphabet="0123456789X", min_size=18, max_size=18), st.text(max_size=20)), max_size=20))
def test_vectorised_resident_id_check_equals_the_reference(ids: list[str]) -> None:
    assert frames.resident_ids_ok(_series(list(ids))).to_list() == [model.resident_id_ok(v) for v in ids]


@given(st.lists(st.text(min_size=1, max_size=30).filter(lambda s: s.strip() == s and s), max_size=10))
def test_masks_equal_the_kernel(values: list[str]) -> None:
    assert frames.mask_column(_series(list(values)), FieldType.ID_NUMBER).to_list() == [mask_id_number(v) for v in values]
    assert frames.mask_column(_series(list(values)), FieldType.STRING).to_list() == [mask_name(v) for v in values]


def _row(n: int, **overrides: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = dict.fromkeys(PENALTY.field_names)
    row.update(
        CF_XDR_MC=f"测试{n}号有限公司",
        CF_XDR_LB="法人及非法人组织",
        CF_XDR_SHXYM=make_uscc("9", "1", "350102", f"{20_000_000 + n:08d}"),
        CF_FRDB="张三",
        CF_FR_ZJHM=resident_id("350102", date(1980, 1, 1), 1 + n % 900),
        CF_WSH=f"榕罚〔2025〕{n}号",
        CF_WFXW="不明码标价",
        CF_SY="事实",
        CF_YJ="《价格法》",
        CF_CFLB="罚款",
        CF_NR="罚款2000元",
        CF_NR_FK="0.2",
        CF_JDRQ="2025-05-20",
        CF_CFJG="福州市市场监督管理局",
        CF_CFJGDM=AUTHORITY,
        CF_SJLY="福州市市场监督管理局",
        CF_SJLYDM=AUTHORITY,
    )
    row.update(overrides)
    return row


def _raw(rows: list[dict[str, str | None]], first_line: int = 2) -> pl.DataFrame:
    data: dict[str, object] = {
        f"c{i}": pl.Series([r[name] for r in rows], dtype=pl.String) for i, name in enumerate(PENALTY.field_names)
    }
    data[frames.LINE] = pl.Series(range(first_line, first_line + len(rows)), dtype=pl.Int64)
    return pl.DataFrame(data)


CTX = ChunkContext(plan=PLAN, match=MATCH, today=date(2026, 6, 30), pepper="pepper", source_ids={AUTHORITY: "a" * 32})


def test_a_chunk_yields_accepted_rows_and_every_reject_with_line_field_value_and_reason() -> None:
    rows = [_row(1), _row(2, CF_JDRQ="2025-02-30", CF_NR_FK="-1"), _row(3, CF_SJLYDM=make_uscc("1", "1", "350100", "00000099"))]
    prepared = frames.prepare(_raw(rows), CTX)
    assert (prepared.total, prepared.rejected, prepared.rows.height) == (3, 2, 1)
    rejects = prepared.rejects.select("line", "field", "value", "code").rows()
    assert (3, "CF_JDRQ", "2025-02-30", "date") in rejects
    assert (3, "CF_NR_FK", "-1", "decimal") in rejects
    assert (4, "CF_SJLYDM", make_uscc("1", "1", "350100", "00000099"), "source_unknown") in rejects
    stored = prepared.rows.row(0, named=True)
    assert stored["id"] == model.record_id("admin_penalty", ["榕罚〔2025〕1号", AUTHORITY]).hex
    data = json.loads(stored["data"])
    assert (data["CF_FRDB"], data["CF_FR_ZJHM"][:6]) == ("张*", "350102")
    assert json.loads(stored["pii"]) == {"CF_FRDB": "张三", "CF_FR_ZJHM": rows[0]["CF_FR_ZJHM"]}
    assert "CF_XDR_GSZC" not in data  # empty fields are left out
    assert (stored["severity"], stored["publication_rule"], stored["publication_end"]) == (
        "general",
        "ndrc_order_58",
        date(2028, 5, 20),
    )
    assert stored["retention_end"] == date(2030, 5, 20)
    assert stored["source_id"] == "a" * 32


@settings(max_examples=25, deadline=None)
@given(st.permutations(list(range(1, 9))))
def test_any_row_order_gives_the_same_records(order: list[int]) -> None:
    rows = [_row(n, CF_NR_FK=f"0.{n}") for n in order]
    prepared = frames.prepare(_raw(rows), CTX)
    reference = frames.prepare(_raw([_row(n, CF_NR_FK=f"0.{n}") for n in range(1, 9)]), CTX)
    key = ["id", "content_hash", "data"]
    assert prepared.rows.select(key).sort("id").equals(reference.rows.select(key).sort("id"))


@settings(max_examples=25, deadline=None)
@given(st.lists(dirty_text, min_size=1, max_size=3))
def test_normalised_rows_prepare_to_the_same_content(noise: list[str]) -> None:
    """Re-delivering rows that were already normalised changes nothing (same ids and hashes)."""
    name = "".join(noise).strip() or "测试"
    first = frames.prepare(_raw([_row(1, CF_XDR_MC=name)]), CTX)
    if first.rows.is_empty():
        return
    clean = json.loads(first.rows["data"][0])["CF_XDR_MC"]
    again = frames.prepare(_raw([_row(1, CF_XDR_MC=clean)]), CTX)
    assert again.rows["content_hash"].to_list() == first.rows["content_hash"].to_list()


def test_in_file_duplicates_are_found_by_the_key_index() -> None:
    raw = _raw([_row(1), _row(2), _row(1, CF_NR_FK="0.3"), _row(1, CF_NR_FK="0.5")])
    index = frames.keys_of(raw, MATCH, CTX)
    assert frames.superseded_lines(index) == {2: 5, 4: 5}


@pytest.mark.parametrize(
    ("decided", "types", "sectors", "expected"),
    [
        (date(2023, 4, 30), "罚款", (), ("general", "ndrc_2019_527", date(2023, 7, 30), date(2024, 4, 30))),
        (
            date(2023, 4, 30),
            "责令停产停业",
            ("food_safety",),
            ("serious_specific", "ndrc_2019_527", date(2026, 4, 30), date(2026, 4, 30)),
        ),
        (date(2023, 5, 1), "罚款", ("work_safety",), ("general", "ndrc_order_58", date(2024, 5, 1), date(2026, 5, 1))),
        (date(2026, 3, 31), "罚款", (), ("general", "ndrc_order_58", date(2026, 6, 30), date(2029, 3, 31))),
        (date(2026, 4, 1), "罚款", (), ("general", "gov_2025_22", date(2026, 7, 1), date(2027, 4, 1))),
        (date(2026, 4, 1), "警告", (), ("minor", "gov_2025_22", date(2026, 4, 1), date(2026, 3, 31))),
        (date(2018, 6, 1), "罚款", (), ("general", None, None, date(2018, 5, 31))),
    ],
)
def test_publication_terms_at_the_regime_boundaries(
    decided: date, types: str, sectors: tuple[str, ...], expected: tuple[object, ...]
) -> None:
    terms = frames.publication_terms(PENALTY, decided, types, sectors)
    assert (terms.severity, terms.rule, terms.min_end, terms.end) == expected


@given(st.lists(st.tuples(dirty_text, dirty_text), min_size=1, max_size=10))
def test_json_objects_round_trip_normalised_values(pairs: list[tuple[str, str]]) -> None:
    a = frames.normalise_text_column(_series([x for x, _ in pairs]))
    b = frames.normalise_text_column(_series([y for _, y in pairs]))
    built = frames.json_objects(pl.DataFrame({"a": a, 'b\\"': b}), ["a", 'b\\"']).to_list()
    for text, x, y in zip(built, a.to_list(), b.to_list(), strict=True):
        expected = {k: v for k, v in (("a", x), ('b\\"', y)) if v is not None}
        assert (json.loads(text) if text is not None else {}) == expected


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2040, 12, 31)))
def test_the_memoised_retention_end_equals_the_catalog_rule(day: date) -> None:
    from xinyidai.catalog import NoRuleInForce, retention_end

    try:
        expected: date | None = retention_end(PENALTY, event_end=day)
    except NoRuleInForce:
        expected = None
    assert frames.cached_retention_end(PENALTY, day) == expected
    assert frames.cached_retention_end(PENALTY, day) == expected  # from the cache the second time
