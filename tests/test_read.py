"""Loading real-world spreadsheet shapes into text tables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import Workbook

from runner.campaign import Columns
from runner.errors import InputError
from runner.planning.plan import plan_file
from runner.planning.roles import with_roles
from runner.sheets.read import Sheet, load_sheet

from .conftest import DATA
from .rows import row_results


def read(path: Path, columns: Columns | None = None) -> Sheet:
    """The sheet as planning sees it: loaded, and its columns' roles found."""
    columns = columns or Columns()
    return with_roles(load_sheet(path, columns), columns)


def test_cp1252_semicolons_title_block_and_blank_row() -> None:
    sheet = read(DATA / "cp1252_semicolon.csv")
    assert sheet.table.column_names == ["Telefon Nummer", "Name", "Stadt"]
    assert sheet.table.column("Name").to_pylist() == ["Jürgen Weiß", "Zoë Ç"]
    assert sheet.row_numbers.tolist() == [4, 6]  # as Excel numbers them: title, blank, header come first
    assert sheet.roles["number"] == "Telefon Nummer"
    assert any("Windows-1252" in w for w in sheet.warnings)
    assert any("rows 1-2 above the header" in w for w in sheet.warnings)
    assert any("1 blank row" in w for w in sheet.warnings)


def test_excel_unicode_text_export_is_utf16_with_tabs() -> None:
    sheet = load_sheet(DATA / "unicode_text.txt")
    assert sheet.table.to_pylist() == [
        {"Phone": "202 555 0140", "Name": "Ana", "Note": "NA"},
        {"Phone": "202 555 0141", "Name": "Bo", "Note": "null"},
    ]
    assert sheet.warnings == []


def test_pipes_with_bom_and_cell_header() -> None:
    sheet = read(DATA / "pipes.txt")
    assert sheet.roles == {"number": "cell", "name": "name"}
    assert sheet.table.column("cell").to_pylist() == ["2025550142", "2025550143"]


def test_numeric_xlsx_cells_become_the_text_a_person_sees() -> None:
    sheet = load_sheet(DATA / "numeric.xlsx", sheet="Leads")
    assert sheet.table.to_pylist() == [
        {"Mobile": "12025550130", "Zip": "02134", "Signed up": "2026-11-02", "Count": "3"},
        {"Mobile": "12025550131", "Zip": "00501", "Signed up": "2026-11-02 09:30:00", "Count": "2.5"},
        {"Mobile": "447400123458", "Zip": "NA", "Signed up": "", "Count": "0"},
    ]
    assert sheet.row_numbers.tolist() == [2, 3, 4]


def test_xlsx_first_sheet_with_numbers_by_default_and_unknown_sheet_named() -> None:
    sheet = load_sheet(DATA / "numeric.xlsx")
    assert "read sheet 'Leads' (passed over: 'Ignored')" in " ".join(sheet.warnings)
    with pytest.raises(InputError, match=r"no phone number column; its headers are: not this sheet"):
        with_roles(load_sheet(DATA / "numeric.xlsx", sheet="Ignored"), Columns())
    with pytest.raises(InputError, match=r"no sheet named 'Nope'; its sheets are: 'Ignored', 'Leads'"):
        load_sheet(DATA / "numeric.xlsx", sheet="Nope")


def test_ragged_rows_short_is_padded_long_is_a_row_problem() -> None:
    sheet = load_sheet(DATA / "ragged.csv")
    assert sheet.table.column("city").to_pylist() == ["", "Boston", "Austin"]
    assert set(sheet.row_problems) == {1}
    assert "row has 4 cells but the header has 3" in sheet.row_problems[1]


def test_csv_named_xlsx_is_read_as_text_with_a_warning() -> None:
    sheet = load_sheet(DATA / "csv_named.xlsx")
    assert sheet.table.column("phone").to_pylist() == ["202 555 0170"]
    assert any("named .xlsx but is a text file" in w for w in sheet.warnings)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.csv", "the file is empty"),
        ("garbage.xlsx", "binary content, not a spreadsheet"),
        ("no_number.csv", "no phone number column; its headers are: Name, Email"),
        ("missing.csv", "file not found"),
    ],
)
def test_unusable_files_name_the_file_and_the_problem(name: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        read(DATA / name)
    assert str(caught.value).startswith(str(DATA / name))
    assert message in str(caught.value)


def test_configured_column_missing_lists_the_headers(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"column 'Tel' \(from \[columns\] number\) is not in the file"):
        read(DATA / "pipes.txt", Columns(number="Tel"))


def test_configured_column_matches_loosely_and_beats_detection() -> None:
    sheet = read(DATA / "dashboard.csv", Columns(number="NUMBER", name="appointment"))
    assert sheet.roles["number"] == "number"
    assert sheet.roles["name"] == "appointment"


def test_a_two_megabyte_cell_sets_its_row_aside(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("phone,notes\n2025550180,ok\n2025550181," + "x" * 2_000_000 + "\n")
    sheet = load_sheet(path)
    assert sheet.row_problems == {1: "column 'notes': cell of 2,000,000 characters is too long"}


def test_text_stays_text(tmp_path: Path) -> None:
    path = tmp_path / "text.csv"
    path.write_text("phone,zip,flag,plus\n0123,02134,NA,+1\n")
    assert list(load_sheet(path).table.to_pylist()[0].values()) == ["0123", "02134", "NA", "+1"]


def test_duplicate_and_blank_headers_are_renamed(tmp_path: Path) -> None:
    path = tmp_path / "dupes.csv"
    path.write_text("phone,name,name,\n2025550190,A,B,C\n")
    sheet = load_sheet(path)
    assert sheet.table.column_names == ["phone", "name", "name (2)", "Column D"]
    assert len(sheet.warnings) == 2


def stray_quote_file(tmp_path: Path, line: int, rows: int = 1000) -> Path:
    lines = ["phone,name"] + [f"+1202555{1000 + i:04d},Person {i}" for i in range(rows)]
    lines[line - 1] = lines[line - 1].replace(",Person", ',"Person')
    path = tmp_path / "stray.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("line", [12, 995, 1001])
def test_a_stray_quote_is_refused_with_its_line_not_swallowing_rows(tmp_path: Path, line: int) -> None:
    with pytest.raises(InputError, match=f"line {line}: a quoted cell starting there is never closed"):
        load_sheet(stray_quote_file(tmp_path, line))


def test_a_stray_quote_closed_by_a_later_quoted_cell_is_refused(tmp_path: Path) -> None:
    path = stray_quote_file(tmp_path, 12)
    lines = path.read_text().splitlines()
    lines[40] = '+12025559999,"Smith, J"'
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="line 12: a quoted cell starting there breaks the quoting at line 41"):
        load_sheet(path)


def test_cells_over_a_few_lines_are_read_and_said(tmp_path: Path) -> None:
    path = tmp_path / "addresses.csv"
    path.write_text('phone,address\n+12025550100,"12 Main St,\nSpringfield"\n+12025550101,Elm St\n')
    sheet = load_sheet(path)
    assert sheet.table.num_rows == 2 and sheet.row_numbers.tolist() == [2, 3]
    assert sheet.table.column("address")[0].as_py() == "12 Main St,\nSpringfield"
    assert any("runs across lines (lines 2-3)" in w for w in sheet.warnings)


def test_the_binary_check_names_what_it_saw(tmp_path: Path) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(b"phone,name\n+12025550100,Bad\x00Name\n+12025550101," + b"\x00\x01" * 8 + b"\n")
    with pytest.raises(InputError, match=r"17 control characters .* first NUL byte at line 2 \(byte 28\)"):
        load_sheet(path)


def test_a_few_control_characters_are_cells_not_binary(tmp_path: Path) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(b"phone,name\n+12025550100,Bad\x00Name\n")
    assert load_sheet(path).table.column("name").to_pylist() == ["Bad\x00Name"]


@pytest.mark.parametrize(
    ("headers", "roles"),
    [
        ("Mobile #,First Name,E-mail", {"number": "Mobile #", "name": "First Name", "email": "E-mail"}),
        ("Phone No.,Full Name:,Opt-in?", {"number": "Phone No.", "name": "Full Name:", "consent": "Opt-in?"}),
        ("Teléfono,Nombre,Correo", {"number": "Teléfono"}),
        ("#,Tel:,Name*", {"number": "Tel:", "name": "Name*"}),
    ],
)
def test_headers_are_read_past_punctuation_and_accents(tmp_path: Path, headers: str, roles: dict[str, str]) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(f"{headers}\n2025550150,Ana,yes\n", encoding="utf-8")
    assert read(path).roles == roles


def test_a_crm_workbook_with_a_mobile_hash_column_is_planned(
    tmp_path: Path, make_campaign: Callable[..., Path]
) -> None:
    """The shape a new user brought: a notes sheet first, then "Mobile #" holding numbers as Excel
    numbers; the sheet and the column are found and said, every row accounted for."""
    book = Workbook(write_only=True)
    book.create_sheet("Notes").append(["Exported from the CRM on 2026-12-01"])
    leads = book.create_sheet("Leads")
    for record in (["First Name", "Mobile #"], ["Ann", 2025550151], ["Bob", 12025550152.0], ["Cy", None]):
        leads.append(record)
    path = tmp_path / "crm.xlsx"
    book.save(path)
    plan = plan_file(path, make_campaign())
    assert plan.sheet.roles["number"] == "Mobile #"
    assert "columns: number = 'Mobile #', name = 'First Name'" in plan.summary_lines()
    assert any("read sheet 'Leads'" in warning for warning in plan.warnings)
    results = [(r.row, r.e164, r.status) for r in row_results(plan)]
    assert results == [(2, "+12025550151", "planned"), (3, "+12025550152", "planned"), (4, "", "invalid")]


def test_formulas_with_no_saved_value_are_said(tmp_path: Path) -> None:
    """Issue 44, case 10: a file written by a program that does not calculate (openpyxl here) holds
    formulas with no saved value: they read as empty rows, silently."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["phone", "name"])
    sheet.append(['="+1202555"&"0100"', "Ann"])
    sheet.append(["+12025550101", "Bob"])
    book.save(tmp_path / "formulas.xlsx")
    loaded = load_sheet(tmp_path / "formulas.xlsx", Columns())
    assert any(
        "1 cell(s) hold a formula with no saved value (A2): they read as empty; open the file in Excel or "
        "LibreOffice and save it" in warning
        for warning in loaded.warnings
    ), loaded.warnings


def test_a_windows_1252_line_in_a_utf8_file_spoils_no_other_line(tmp_path: Path) -> None:
    """Issue 44, case 9: one cp1252 line turned every accented UTF-8 name into mojibake, which was
    sent ("Müller" went to Vapi as "MÃ¼ller"). Each line is read as it is written."""
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        "phone,name\n+12025550100,Ana Müller\n".encode() + "+12025550101,Björn Ødegaard\n".encode("cp1252")
        + "+12025550102,Zoë Ça\n".encode()
    )  # fmt: skip
    loaded = load_sheet(path, Columns())
    assert loaded.table.column("name").to_pylist() == ["Ana Müller", "Björn Ødegaard", "Zoë Ça"]
    assert any("UTF-8, but 1 line(s) are Windows-1252 (cp1252): line(s) 3" in w for w in loaded.warnings)
