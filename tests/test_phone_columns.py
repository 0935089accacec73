"""The bulk path must return exactly what the one-at-a-time path returns (and so what phonenumbers
returns): E.164, validity, extension, reason, on random and adversarial input."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import phonenumbers
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, geocoder, timezone

from runner import arrays
from runner.hours import state_for
from runner.phones import columns as phone_columns
from runner.phones.columns import NANP_REGIONS, normalize_many
from runner.phones.facts import _nanp_places, facts_column, number_facts
from runner.phones.parse import normalize
from runner.planning.plan import plan_file

from .conftest import ROOT
from .rows import row_results

sys.path.insert(0, str(ROOT / "bench"))
from plan_bench import make_input

SEPARATORS = st.sampled_from(["", " ", "-", ".", "  "])


@st.composite
def nanp_cells(draw: st.DrawFn) -> str:
    """North American numbers the way spreadsheets hold them, valid or not."""
    area = draw(st.text("0123456789", min_size=3, max_size=3))
    exchange = draw(st.text("0123456789", min_size=3, max_size=3))
    line = draw(st.text("0123456789", min_size=4, max_size=4))
    sep = draw(SEPARATORS)
    shape = draw(st.integers(0, 7))
    digits = area + exchange + line
    body = {
        0: digits,
        1: f"1{digits}",
        2: f"+1{digits}",
        3: f"({area}){sep}{exchange}{sep}{line}",
        4: f"+1{sep}{area}{sep}{exchange}{sep}{line}",
        5: f"1{digits}.0",
        6: f"1.{digits}E+10",
        7: f"{area}{sep}{exchange}{sep}{line}",
    }[shape]
    extension = draw(st.sampled_from(["", " x12", " ext. 45", " #3", " x12345678901", ";ext=9"]))
    padding = draw(st.sampled_from(["", " ", "\u00a0", "'"]))
    return padding + body + extension + draw(st.sampled_from(["", " "]))


ADVERSARIAL = st.one_of(
    nanp_cells(),
    st.text(alphabet="0123456789+-.() xXeE#;,'", max_size=24),
    st.text(max_size=20),
    st.sampled_from(["+2025550123", "1202555012", "(202 555-0123", "+1 (202) 555-0123 x", "2.02555E+09"]),
)


ALL_REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


@st.composite
def international_cells(draw: st.DrawFn) -> str:
    """Any country's number after a '+' (or a tel: URI), grouped as people write them, valid or not:
    an example number with its last digits redrawn, sometimes longer or shorter, sometimes with the
    national prefix left in ('+44 07400…', '+44 (0)…')."""
    region = draw(st.sampled_from(ALL_REGIONS))
    kind = draw(st.sampled_from(list(phonenumbers.PhoneNumberType.values())))
    example = phonenumbers.example_number_for_type(region, kind) or phonenumbers.example_number(region)
    assert example is not None
    national = phonenumbers.national_significant_number(example)
    cut = draw(st.integers(0, min(4, len(national))))
    national = national[: len(national) - cut] + draw(st.text("0123456789", min_size=max(0, cut - 1), max_size=cut + 1))
    national = draw(st.sampled_from(["", "", "", "0", "1", "(0)", "8"])) + national
    sep = draw(SEPARATORS)
    split = draw(st.integers(0, len(national)))
    body = f"+{example.country_code}{sep}{national[:split]}{sep}{national[split:]}"
    scheme = draw(st.sampled_from(["", "", "tel:", "TEL:", "tel: "]))
    extension = draw(st.sampled_from(["", "", " x7", ";ext=12", " ext 99999999999"]))
    return scheme + body + extension


@pytest.mark.slow
@settings(max_examples=400)
@given(st.lists(international_cells(), max_size=20), st.sampled_from(["US", "GB", "JM", "DE", "IT", "AG"]))
def test_bulk_equals_one_at_a_time_for_every_country(cells: list[str], region: str) -> None:
    assert normalize_many(cells, region) == [normalize(cell, region) for cell in cells]


@pytest.mark.slow
@settings(max_examples=100)
@given(st.lists(nanp_cells(), max_size=20), st.sampled_from(sorted(NANP_REGIONS)))
def test_bulk_equals_one_at_a_time_in_every_nanp_region(cells: list[str], region: str) -> None:
    assert normalize_many(cells, region) == [normalize(cell, region) for cell in cells]


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The cells that went the slow way (phonenumbers, one distinct cell at a time)."""
    cells_sent: list[str] = []
    real_slow = phone_columns._slow

    def counted(cells: list[str], region: str) -> Any:
        cells_sent.extend(cells)
        return real_slow(cells, region)

    monkeypatch.setattr(phone_columns, "_slow", counted)
    return cells_sent


def test_the_vectorized_path_proves_the_common_shapes_itself(slow: list[str]) -> None:
    """Equal answers would also come from sending everything the slow way: these shapes must not."""
    cells = [
        "(202) 456-1414", "1-202-456-1414", "+1 202 456 1414 x12", "12024561414.0", "1.2024561414E+10",
        "+44 20 7946 0958", "+44-7400-123456", "tel:+1-416-555-0199", "+49 30 901820", "+33 1 42 68 53 00",
        "416 555 0199", "+61 2 9374 4000",
    ]  # fmt: skip
    phones = normalize_many(cells, "US")
    assert [phone.e164 for phone in phones] == [normalize(cell, "US").e164 for cell in cells]
    assert all(phone.e164 for phone in phones)
    assert slow == []


def test_the_vectorized_path_gives_invalid_numbers_their_reason(slow: list[str]) -> None:
    """A column of junk numbers must not fall back to phonenumbers one distinct cell at a time."""
    cells = ["+1 202 123 4567", "(202) 123-4567", "+1 268 123 4567", "+44 7999 99", "+44 1234", "+7 999 123"]
    reasons = [phone.reason for phone in normalize_many(cells, "US")]
    assert reasons == [normalize(cell, "US").reason for cell in cells]
    assert reasons[2:4] == ["invalid for region AG", "invalid for region GB"]  # not the sheet's US
    assert slow == []


@pytest.mark.slow
@settings(max_examples=300)
@given(st.lists(ADVERSARIAL, max_size=30), st.sampled_from(["US", "CA", "GB"]))
@example(["+10", "+1 2", "+44 1"], "US")  # fewer than 3 digits: "not a number" to phonenumbers, not "too short"
def test_bulk_equals_one_at_a_time(cells: list[str], region: str) -> None:
    assert normalize_many(cells, region) == [normalize(cell, region) for cell in cells]


@pytest.mark.slow
@settings(max_examples=200)
@given(nanp_cells())
def test_bulk_agrees_with_phonenumbers(cell: str) -> None:
    [phone] = normalize_many([cell], "US")
    if phone.e164 is not None:
        parsed = phonenumbers.parse(phone.e164, None)
        assert phonenumbers.is_valid_number(parsed)


@st.composite
def valid_numbers(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(["US", "CA", "GB", "DE", "PR", "JM"]))
    kind = draw(st.sampled_from([phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.TOLL_FREE]))
    example = phonenumbers.example_number_for_type(region, kind)
    if example is None:
        example = phonenumbers.example_number(region)
    assert example is not None
    national = str(example.national_number)
    tail = draw(st.text("0123456789", min_size=2, max_size=2))
    candidate = phonenumbers.parse(f"+{example.country_code}{national[:-2]}{tail}", None)
    if not phonenumbers.is_valid_number(candidate):
        candidate = example
    return phonenumbers.format_number(candidate, PhoneNumberFormat.E164)


@settings(max_examples=200)
@given(valid_numbers())
def test_number_facts_agree_with_the_public_functions(e164: str) -> None:
    number = phonenumbers.parse(e164, None)
    facts = number_facts(e164)
    assert facts.region == phonenumbers.region_code_for_number(number) or number.country_code != 1
    kind = phonenumbers.number_type(number)
    public_zones = tuple(z for z in timezone.time_zones_for_number(number) if z != "Etc/Unknown")
    if facts.geographic and kind != phonenumbers.PhoneNumberType.TOLL_FREE:
        assert facts.zones == public_zones
    else:
        assert kind not in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE)
    if facts.region == "US":
        assert facts.state == state_for(geocoder.description_for_number(number, "en"))


def test_nanp_places_are_the_whole_geocoder_tables_plus_one_part() -> None:
    from phonenumbers.geodata import GEOCODE_DATA

    assert _nanp_places() == {key: names for key, names in GEOCODE_DATA.items() if key.startswith("1")}


@pytest.mark.slow
@settings(max_examples=100)
@given(st.lists(st.one_of(st.none(), valid_numbers()), max_size=25))
def test_column_facts_equal_number_facts(numbers: list[str | None]) -> None:
    indexes, facts = facts_column(pa.array(numbers, pa.string()))
    column = [facts[index] if index >= 0 else None for index in indexes]
    assert column == [number_facts(e164) if e164 else None for e164 in numbers]


def test_planned_sheet_equals_the_slow_path_row_by_row(tmp_path: Path, make_campaign: Callable[..., Path]) -> None:
    """A messy bench sheet, planned in bulk: every row's E.164 or reason is what normalize() says."""
    source = tmp_path / "messy.csv"
    make_input(source, 3000, seed=11)
    plan = plan_file(source, make_campaign())
    cells = pd.read_csv(source, dtype=str, keep_default_na=False)["Phone"].tolist()
    for result, cell in zip(row_results(plan), cells, strict=True):
        phone = normalize(cell, "US")
        assert result.e164 == (phone.e164 or ""), cell
        assert (result.status == "invalid") == (phone.reason is not None), cell
        if phone.reason:
            assert result.reason.startswith(phone.reason), cell


def test_planning_in_slices_gives_what_one_slice_gives(
    tmp_path: Path, make_campaign: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Columns are worked on in row slices on every core; the plan must not depend on where they fall."""
    source = tmp_path / "messy.csv"
    make_input(source, 2000, seed=5)
    campaign = make_campaign(variables={"appointment": "Appointment"})
    whole = plan_file(source, campaign)
    monkeypatch.setattr(arrays, "SLICE_ROWS", 37)
    sliced = plan_file(source, campaign)
    assert [(r.id, r.body_json) for r in sliced.requests] == [(r.id, r.body_json) for r in whole.requests]
    assert row_results(sliced) == row_results(whole)
