"""统一社会信用代码 rules: known codes, every error code, lenient mode, and check-character properties."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xinyidai.kernel import uscc
from xinyidai.kernel.errors import InvalidInput
from xinyidai.kernel.uscc import (
    ALPHABET,
    LEGACY_PILOT_CODES,
    ORG_TYPES,
    InvalidUscc,
    IssueCode,
    UsccResult,
    compute_check_char,
    compute_org_check_char,
    make_uscc,
    validate,
)

WORKED_EXAMPLE = "91350100M000100Y43"
KNOWN_GOOD = [
    WORKED_EXAMPLE,
    "914403001922038216",
    "91330100716105852F",
    "91440300708461136T",
    "91110000600037341L",
    # Registered with a national authority: region segment 100000.
    "91100000100003962T",
    "911000001000013428",
]
LEGACY = "91350100M0001TGQXM"

alphabet_chars = st.sampled_from(ALPHABET)
first17s = st.text(alphabet=ALPHABET, min_size=17, max_size=17)
kinds = st.sampled_from([(a, t) for a, types in ORG_TYPES.items() for t in types])
known_regions = st.sampled_from(["110000", "110108", "350100", "440300", "429004", "500229", "650000", "100000"])
bodies = st.text(alphabet=ALPHABET, min_size=8, max_size=8)


@st.composite
def valid_codes(draw: st.DrawFn) -> str:
    """Any well-formed code: known authority/type, a known region, any body, both checks computed."""
    authority, org_type = draw(kinds)
    return make_uscc(authority, org_type, draw(known_regions), draw(bodies))


def reference_check(first17: str) -> str:
    """The standard's arithmetic written out once more, independently of the module."""
    values = [ALPHABET.index(ch) for ch in first17]
    total = sum(v * pow(3, i, 31) for i, v in enumerate(values))
    return ALPHABET[(31 - total % 31) % 31]


# --- known codes -----------------------------------------------------------------------------


def test_worked_example_sums_to_1640() -> None:
    first17 = WORKED_EXAMPLE[:17]
    assert sum(ALPHABET.index(ch) * w for ch, w in zip(first17, uscc.WEIGHTS, strict=True)) == 1640
    assert 1640 % 31 == 28
    assert compute_check_char(first17) == "3"
    assert compute_org_check_char("M000100Y") == "4"


@pytest.mark.parametrize("code", KNOWN_GOOD)
def test_known_good_codes_validate_strictly(code: str) -> None:
    result = validate(code)
    assert result.valid, result.errors
    assert result.errors == ()
    assert result.warnings == ()
    assert result.code == code
    assert compute_check_char(code[:17]) == code[17]
    assert compute_org_check_char(code[8:16]) == code[16]


def test_decoded_parts_of_the_worked_example() -> None:
    result = validate(WORKED_EXAMPLE)
    assert (result.authority, result.org_type) == ("工商/市场监管", "企业")
    assert (result.region_code, result.region_name) == ("350100", "福建省福州市")
    assert validate("914403001922038216").region_name == "广东省深圳市"
    assert validate("91110000600037341L").region_name == "北京市"
    assert validate("91100000100003962T").region_name == "中华人民共和国"


def test_to_json_has_exactly_the_eight_keys_and_lists() -> None:
    payload = validate("91350100M000100Y44").to_json()
    assert set(payload) == {"code", "valid", "errors", "warnings", "authority", "org_type", "region_code", "region_name"}
    assert isinstance(payload["errors"], list)
    assert isinstance(payload["warnings"], list)
    assert payload["valid"] is False
    json.dumps(payload, ensure_ascii=False)


def test_result_is_frozen() -> None:
    result = validate(WORKED_EXAMPLE)
    with pytest.raises(AttributeError):
        result.valid = False  # type: ignore[misc]


# --- normalisation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "  91350100M000100Y43\n",
        "91350100m000100y43",
        "９１３５０１００Ｍ０００１００Ｙ４３",  # full-width digits and letters
        "\u3000９１３５０１００ｍ０００１００ｙ４３\u3000",  # full-width lower case and ideographic spaces
    ],
)
def test_normalisation_strip_upper_full_width(raw: str) -> None:
    result = validate(raw)
    assert result.valid
    assert result.code == WORKED_EXAMPLE


# --- each error code -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("", {"length"}),
        ("91350100M000100Y4", {"length"}),
        ("91350100M000100Y433", {"length"}),
        ("91350100M0I0100Y43", {"charset"}),  # I is not in the alphabet; no check is computed over it
        ("9135010OM000100Y43", {"charset", "region_format"}),
        ("B1350100M000100Y43", {"authority", "check"}),
        ("98350100M000100Y43", {"org_type", "check"}),
        ("Y2350100M000100Y43", {"org_type", "check"}),  # Y has only type 1
        ("91AB0100M000100Y43", {"region_format", "check"}),
        ("91990100M000100Y43", {"region_format", "check"}),  # no province 99
        ("91350100M000100Y53", {"org_check", "check"}),
        ("91350100M000100Y44", {"check"}),
    ],
)
def test_each_error_code(code: str, expected: set[str]) -> None:
    result = validate(code)
    assert not result.valid
    assert set(result.error_codes) == expected
    for entry in result.errors:
        machine, message = entry.split(": ", 1)
        assert machine in set(IssueCode)
        assert message  # a Chinese explanation follows the machine code


@pytest.mark.parametrize("illegal", ["I", "O", "S", "V", "Z"])
def test_letters_outside_the_alphabet_are_charset_errors(illegal: str) -> None:
    code = WORKED_EXAMPLE[:10] + illegal + WORKED_EXAMPLE[11:]
    assert "charset" in validate(code).error_codes


def test_charset_message_names_the_position() -> None:
    (entry,) = [e for e in validate("91350100M0I0100Y43").errors if e.startswith("charset")]
    assert "第11位" in entry
    assert "I" in entry


def test_check_error_message_gives_the_expected_character() -> None:
    (entry,) = validate("91350100M000100Y44").errors
    assert entry.startswith("check: ")
    assert "“3”" in entry


def test_unknown_but_well_formed_region_is_only_a_warning() -> None:
    code = make_uscc("9", "1", "350199", "M000100Y")
    result = validate(code)
    assert result.valid
    assert result.warning_codes == ("region_unknown",)
    assert (result.region_code, result.region_name) == ("350199", None)


def test_historic_region_of_an_abolished_division_is_still_named() -> None:
    # 330104 江干区 was abolished in 2021; codes issued before carry it.
    assert validate(make_uscc("9", "1", "330104", "12345678")).region_name == "浙江省杭州市江干区"


# --- authorities A, N, Y ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authority", "org_type", "authority_name", "type_name"),
    [
        ("A", "1", "中央军委改革和编制办公室", "军队事业单位"),
        ("A", "9", "中央军委改革和编制办公室", "其他"),
        ("N", "1", "农业", "组级集体经济组织"),
        ("N", "2", "农业", "村级集体经济组织"),
        ("N", "3", "农业", "乡镇级集体经济组织"),
        ("Y", "1", "其他", "其他"),
        ("5", "3", "民政", "基金会"),
        ("1", "2", "机构编制", "事业单位"),
        ("9", "2", "工商/市场监管", "个体工商户"),
        ("9", "3", "工商/市场监管", "农民专业合作社"),
    ],
)
def test_letter_and_other_authorities_are_valid(authority: str, org_type: str, authority_name: str, type_name: str) -> None:
    code = make_uscc(authority, org_type, "350100", "MA2Y3K4L")
    result = validate(code)
    assert result.valid, result.errors
    assert (result.authority, result.org_type) == (authority_name, type_name)


# --- lenient vs strict -----------------------------------------------------------------------


def test_legacy_pilot_code_strict_rejects_lenient_accepts() -> None:
    assert LEGACY in LEGACY_PILOT_CODES
    strict = validate(LEGACY)
    assert not strict.valid
    assert strict.error_codes == ("check",)
    assert strict.warning_codes == ("legacy_pilot",)

    lenient = validate(LEGACY, lenient=True)
    assert lenient.valid
    assert lenient.errors == ()
    assert lenient.warning_codes == ("legacy_pilot",)
    assert lenient.region_name == "福建省福州市"


@pytest.mark.parametrize("code", ["91350100M000100Y44", "91350100M000100Y53", "91350100M000100Y5Q"])
def test_check_only_failures_are_accepted_leniently(code: str) -> None:
    assert not validate(code).valid
    result = validate(code, lenient=True)
    assert result.valid
    assert result.warning_codes == ("check_lenient",)


@pytest.mark.parametrize("code", ["B1350100M000100Y44", "98350100M000100Y43", "91990100M000100Y43", "91350100M000100Y4"])
def test_lenient_does_not_forgive_structural_errors(code: str) -> None:
    result = validate(code, lenient=True)
    assert not result.valid
    assert "check_lenient" not in result.warning_codes


def test_custom_legacy_list() -> None:
    bad = "91350100M000100Y44"
    assert validate(bad, lenient=True, legacy={bad}).warning_codes == ("legacy_pilot",)


def test_parse_returns_the_normalised_code_or_raises() -> None:
    assert uscc.parse(" 91350100m000100y43 ") == WORKED_EXAMPLE
    with pytest.raises(InvalidUscc) as caught:
        uscc.parse(LEGACY)
    assert isinstance(caught.value, InvalidInput)
    assert caught.value.result.error_codes == ("check",)
    assert uscc.parse(LEGACY, lenient=True) == LEGACY


# --- make_uscc and the reference functions ---------------------------------------------------


def test_make_uscc_rebuilds_known_codes() -> None:
    for code in KNOWN_GOOD:
        assert make_uscc(code[0], code[1], code[2:8], code[8:16]) == code


@pytest.mark.parametrize(
    "args",
    [
        ("B", "1", "350100", "12345678"),
        ("9", "4", "350100", "12345678"),
        ("9", "1", "35010", "12345678"),
        ("9", "1", "35010A", "12345678"),
        ("9", "1", "350100", "1234567"),
        ("9", "1", "350100", "1234567O"),
    ],
)
def test_make_uscc_rejects_bad_parts(args: tuple[str, str, str, str]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - message is Chinese text, the type is the contract
        make_uscc(*args)


@pytest.mark.parametrize("bad", ["", "91350100M000100Y", "91350100M000100YI", "91350100M000100Y4X"])
def test_compute_check_char_rejects_bad_input(bad: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        compute_check_char(bad)


def test_org_check_maps_10_to_x_and_11_to_0() -> None:
    # Σ mod 11 == 1 → 10 → X;  Σ mod 11 == 0 → 11 → 0.
    found = {compute_org_check_char(f"{n:08d}") for n in range(200)}
    assert {"X", "0"} <= found
    for n in range(200):
        body = f"{n:08d}"
        total = sum(int(ch) * w for ch, w in zip(body, uscc.ORG_WEIGHTS, strict=True)) % 11
        expected = {1: "X", 0: "0"}.get(total, str(11 - total))
        assert compute_org_check_char(body) == expected


def test_org_check_uses_a_equals_10_not_alphabet_values() -> None:
    # Letters after H differ between the two numberings (J is 18 in the alphabet, 19 in GB 11714):
    # 19·3 = 57 ≡ 2 (mod 11) → 9, where the alphabet value would give 54 ≡ 10 → 1.
    assert compute_org_check_char("J0000000") == "9"


# --- properties ------------------------------------------------------------------------------


@given(first17s)
def test_fast_check_equals_reference(first17: str) -> None:
    expected = reference_check(first17)
    assert compute_check_char(first17) == expected
    assert chr(uscc._fast_check_byte((first17 + "0").encode())) == expected


@given(bodies)
def test_fast_org_check_equals_reference(body: str) -> None:
    raw = ("00000000" + body + "00").encode()
    assert chr(uscc._fast_org_check_byte(raw)) == compute_org_check_char(body)


@given(first17s)
def test_any_17_characters_plus_computed_check_pass_the_usccs_check(first17: str) -> None:
    result = validate(first17 + compute_check_char(first17))
    assert "check" not in result.error_codes
    assert "length" not in result.error_codes
    assert "charset" not in result.error_codes


@given(valid_codes())
def test_well_formed_codes_with_computed_checks_validate(code: str) -> None:
    result = validate(code)
    assert result.valid, result.errors
    assert result.errors == ()


@given(valid_codes(), st.integers(min_value=0, max_value=17), alphabet_chars)
def test_any_single_substitution_is_detected(code: str, position: int, replacement: str) -> None:
    # A change of value δ ≠ 0 at position i alters Σ by δ·w_i mod 31; 31 is prime and no weight is 0,
    # so the check always catches it (position 18 has weight 1 on the same footing).
    if code[position] == replacement:
        replacement = ALPHABET[(ALPHABET.index(replacement) + 1) % 31]
    changed = code[:position] + replacement + code[position + 1 :]
    result = validate(changed)
    assert not result.valid
    assert "check" in result.error_codes


@given(valid_codes(), st.integers(min_value=0, max_value=16), st.integers(min_value=1, max_value=17))
def test_any_transposition_within_positions_1_to_18_except_1_with_18_is_detected(code: str, i: int, gap: int) -> None:
    # Swapping a ≠ b at positions i < j alters Σ by (a - b)(w_i - w_j). The weights 3^0 … 3^16 are distinct
    # (3 has order 30 mod 31), and the check character acts with weight 1 = w_1: so every transposition is
    # caught except the one of position 1 with position 18.
    j = i + gap
    if j > 17 or code[i] == code[j] or (i, j) == (0, 17):
        return
    swapped = list(code)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    assert "check" in validate("".join(swapped)).error_codes


def test_the_one_undetected_transposition_is_first_with_last() -> None:
    # 9…3 → 3…9: the USCC check still passes (w_1 = 1 = weight of the check character). Here the result
    # is even a fully valid code of another authority (3 司法行政, 1 律师执业机构): a blind spot of the
    # standard, not of this implementation.
    code = WORKED_EXAMPLE
    swapped = code[17] + code[1:17] + code[0]
    assert swapped == "31350100M000100Y49"
    result = validate(swapped)
    assert "check" not in result.error_codes
    assert result.valid
    assert result.authority == "司法行政"


@given(st.text(max_size=30))
def test_validate_never_raises_and_errors_are_well_formed(text: str) -> None:
    result = validate(text)
    assert isinstance(result, UsccResult)
    assert result.valid == (result.errors == ())
    known = {str(code) for code in IssueCode}
    assert set(result.error_codes) <= known
    assert set(result.warning_codes) <= known
