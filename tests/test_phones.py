"""Phone normalization: Excel's damage repaired only when lossless, phonenumbers decides validity."""

from __future__ import annotations

import csv
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat

from runner.campaign import campaign_from_dict
from runner.phones.parse import Phone, normalize, region_for
from runner.planning.plan import plan_file

from .conftest import BASE_CAMPAIGN, DATA
from .rows import row_results


def expected_rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize(
    ("input_name", "expected_name"),
    [("phones.csv", "phones.expected.csv"), ("phones.xlsx", "phones.xlsx.expected.csv")],
)
def test_golden_phone_cases(input_name: str, expected_name: str) -> None:
    campaign = campaign_from_dict(BASE_CAMPAIGN, base_dir=DATA)
    plan = plan_file(DATA / input_name, campaign)
    got = row_results(plan)
    expected = expected_rows(expected_name)
    assert len(got) == len(expected)
    for result, want in zip(got, expected, strict=True):
        assert (str(result.row), result.e164, result.status) == (want["row"], want["e164"], want["status"])
        assert result.reason.startswith(want["reason"]), (result.row, result.reason)


def test_numeric_xlsx_phone_cells_are_repaired(tmp_path: Path) -> None:
    campaign = campaign_from_dict({**BASE_CAMPAIGN, "sheet": "Leads"}, base_dir=DATA)
    plan = plan_file(DATA / "numeric.xlsx", campaign)
    assert [r.e164 for r in row_results(plan)] == ["+12025550130", "+12025550131", "+447400123458"]


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("12025550123.0", "US", Phone(e164="+12025550123")),
        ("+12025550123.00", "US", Phone(e164="+12025550123")),
        ("1.2025550123E10", "US", Phone(e164="+12025550123")),
        ("1,2025550123E+10", "US", Phone(e164="+12025550123")),
        ("2.02555E+09", "US", None),
        ("1.2025550123E5", "US", None),
        ("tel:+1-202-555-0123;ext=45", "US", Phone(e164="+12025550123", extension="45")),
        ("TEL:+12025550123", "US", Phone(e164="+12025550123")),
        ("\u200b+1 202 555 0123\ufeff", "US", Phone(e164="+12025550123")),
        ("020 7946 0018", "GB", Phone(e164="+442079460018")),
        ("00 44 20 7946 0018", "GB", Phone(e164="+442079460018")),
        ("011 44 20 7946 0018", "US", Phone(e164="+442079460018")),
        ("202-555-0123 Ext: 7", "US", Phone(e164="+12025550123", extension="7")),
        ("sips:ops@10.0.0.1", "US", Phone(sip_uri="sips:ops@10.0.0.1")),
    ],
)
def test_normalize_cases(raw: str, region: str, expected: Phone | None) -> None:
    result = normalize(raw, region)
    if expected is None:
        assert result.reason is not None
        assert result.e164 is None
    else:
        assert result == expected


def test_lost_digits_reason_is_specific() -> None:
    assert (normalize("2.02555E+09", "US").reason or "").startswith("lost digits: Excel stored 2.02555E+09")


def test_international_without_plus_accepted_only_if_valid_and_said() -> None:
    accepted = normalize("447400123456", "US")
    assert accepted.e164 == "+447400123456"
    assert accepted.note and "had no '+'" in accepted.note
    assert normalize("99999999999", "US").reason is not None


@pytest.mark.parametrize("raw", ["call 202 555 0174 after 5", "ask for 447400123456", "2025550174 ext"])
def test_digits_among_words_are_never_read_as_an_international_number(raw: str) -> None:
    """Gathered from around the words, "call 202 555 0174 after 5" is 20255501745: valid as
    +20 (Egypt), a stranger. Only a cell of digits and separators is read as a lost '+'."""
    result = normalize(raw, "US")
    assert result.e164 is None and result.reason is not None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("202 555 0174 / 202 555 0175", "2 numbers in one cell (+12025550174, +12025550175): put one number per row"),
        ("+44 20 7946 0958 or 202-555-0175", "2 numbers in one cell (+442079460958, +12025550175): put one"),
        ("Home: 202-555-0174 Work: 202-555-0175", "2 numbers in one cell (+12025550174, +12025550175)"),
        # phonenumbers read the second as an extension (a dialler's ";" pause): 212-555-0104 ext 2125550105.
        ("2125550104; 2125550105", "2 numbers in one cell (+12125550104, +12125550105): put one number per row"),
        ("202 555 0174 / 0175", "too long"),
    ],
)
def test_several_numbers_in_one_cell_are_named_not_chosen(raw: str, reason: str) -> None:
    result = normalize(raw, "US")
    assert result.e164 is None and (result.reason or "").startswith(reason)


def test_a_sheet_with_such_cells_calls_only_its_clear_numbers(tmp_path: Path) -> None:
    source = tmp_path / "leads.csv"
    source.write_text("phone\n202 555 0176\ncall 202 555 0174 after 5\n202-555-0174; 202-555-0175\n447400123456\n")
    plan = plan_file(source, campaign_from_dict(BASE_CAMPAIGN, base_dir=tmp_path))
    assert [(r.e164, r.status, r.reason.split(" (")[0]) for r in row_results(plan)] == [
        ("+12025550176", "planned", ""),
        ("", "invalid", "too long"),
        ("", "invalid", "2 numbers in one cell"),
        ("+447400123456", "planned", "read as international +447400123456: not valid for region US and had no '+'"),
    ]
    called = [customer["number"] for request in plan.requests for customer in request.body["customers"]]
    assert called == ["+12025550176", "+447400123456"]


def test_region_for_country_cells() -> None:
    assert region_for("", "US") == "US"
    assert region_for(" gb ", "US") == "GB"
    assert region_for("UK", "US") == "GB"
    assert region_for("Narnia", "US") is None


@pytest.mark.parametrize(
    ("cell", "region"),
    [("Canada", "CA"), ("United States of America", "US"), ("U.S.A.", "US"), ("DEU", "DE"), ("England", "GB"),
     ("côte d'ivoire", "CI"), ("Holland", "NL"), ("XK", "XK"), ("Deutschland", None), ("Canadia", None)],
)  # fmt: skip
def test_country_cells_may_name_the_country(cell: str, region: str | None) -> None:
    """Looked up exactly (ISO 3166's codes and names, and a few usual others), never fuzzily."""
    assert region_for(cell, "US") == region


def test_a_sheet_with_country_names_is_planned_for_each_country(tmp_path: Path) -> None:
    source = tmp_path / "leads.csv"
    source.write_text("phone,country\n604 555 0101,Canada\n020 7946 0958,United Kingdom\n020 7946 0959,Narnia\n")
    plan = plan_file(source, campaign_from_dict(BASE_CAMPAIGN, base_dir=tmp_path))
    assert [(r.e164, r.status) for r in row_results(plan)] == [
        ("+16045550101", "planned"),
        ("+442079460958", "planned"),
        ("", "invalid"),
    ]
    assert "unknown country 'Narnia' in column 'country'" in row_results(plan)[2].reason


REGIONS = ["US", "GB", "DE", "FR", "IN", "BR", "AU", "JP", "MX", "CA"]


@st.composite
def formatted_numbers(draw: st.DrawFn) -> tuple[str, str, phonenumbers.PhoneNumber]:
    """A number as phonenumbers itself would format it (clean input), valid or not."""
    region = draw(st.sampled_from(REGIONS))
    code = phonenumbers.country_code_for_region(region)
    national = draw(st.text(alphabet="0123456789", min_size=4, max_size=12))
    number = phonenumbers.parse(f"+{code}{national}", None)
    style = draw(st.sampled_from([PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL]))
    return phonenumbers.format_number(number, style), region, number


@given(formatted_numbers())
def test_property_agrees_with_phonenumbers_on_clean_input(case: tuple[str, str, phonenumbers.PhoneNumber]) -> None:
    text, region, _ = case
    result = normalize(text, region)
    parsed = phonenumbers.parse(text, region)
    if phonenumbers.is_valid_number(parsed):
        assert result.e164 == phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
        assert result.reason is None
    else:
        assert result.e164 is None
        assert result.reason


@given(st.sampled_from(REGIONS), st.data())
def test_property_national_format_of_valid_numbers(region: str, data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from([phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]))
    example = phonenumbers.example_number_for_type(region, kind)
    if example is None:
        return
    national = phonenumbers.format_number(example, PhoneNumberFormat.NATIONAL)
    assert normalize(national, region).e164 == phonenumbers.format_number(example, PhoneNumberFormat.E164)


@given(st.text(max_size=40), st.sampled_from(REGIONS))
def test_property_never_raises_and_always_decides(raw: str, region: str) -> None:
    result = normalize(raw, region)
    assert (result.reason is None) != (result.e164 is None and result.sip_uri is None)
    if result.e164:
        assert phonenumbers.is_valid_number(phonenumbers.parse(result.e164, None))
