"""Regenerates the small input files in this folder (run by hand; the files are committed).

Each file is one real-world shape of spreadsheet; `*.expected.csv` beside it holds, per input row,
the row number, E.164, status and the start of the reason that the pipeline must produce.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import openpyxl
from openpyxl.worksheet.worksheet import Worksheet

HERE = Path(__file__).parent

PHONE_CASES = [  # (cell as typed, name)
    ("12025550123.0", "Float Fay"),
    ("1.2025550124E+10", "Sci Sam"),
    ("2.02555E+09", "Lost Lee"),
    ("'+1 415 555 0142", "Quote Quinn"),
    ("\uff12\uff10\uff12\uff15\uff15\uff15\uff10\uff11\uff12\uff15", "Wide Wen"),
    ("202\u00a0555\u00a00126", "Nbsp Ned"),
    ("tel:+1-212-555-0127;ext=9", "Tel Tia"),
    ("011 44 7400 123456", "Idd Ida"),
    ("447400123457", "Plus Pia"),
    ("(305) 555-0142 x12", "Ext Eli"),
    ("512-555-0111 ext. 45", "Ext Edd"),
    ("206.555.0100 #3", "Hash Hui"),
    ("sip:desk@pbx.example.com", "Sip Sid"),
    ("202-555-0123", "Dup Dee"),
    ("", "Empty Em"),
    ("call me", "Words Wu"),
    ("555-01", "Short Shu"),
    ("+1 202 555 0123 4567 8901", "Long Lu"),
    ("(123) 456-7890", "Bad Bo"),
    ("+1 202 555 0199 x12345678901", "Ext Long"),
    ("sip:nohost", "Sip Bad"),
]

PHONE_EXPECTED = [  # (e164, status, reason prefix)
    ("+12025550123", "planned", ""),
    ("+12025550124", "planned", ""),
    ("", "invalid", "lost digits"),
    ("+14155550142", "planned", ""),
    ("+12025550125", "planned", ""),
    ("+12025550126", "planned", ""),
    ("+12125550127", "planned", ""),
    ("+447400123456", "planned", ""),
    ("+447400123457", "planned", "read as international +447400123457"),
    ("+13055550142", "planned", ""),
    ("+15125550111", "planned", ""),
    ("+12065550100", "planned", ""),
    ("sip:desk@pbx.example.com", "planned", ""),
    ("+12025550123", "duplicate", "same number as row 2"),
    ("", "invalid", "empty"),
    ("", "invalid", "not a number"),
    ("", "invalid", "too short"),
    ("", "invalid", "too long"),
    ("", "invalid", "invalid for region US"),
    ("", "invalid", "too long: extension"),
    ("", "invalid", "not a number: malformed SIP URI"),
]


def write_expected(name: str, expected: list[tuple[str, str, str]], first_row: int = 2) -> None:
    lines = ["row,e164,status,reason"]
    for offset, (e164, status, reason) in enumerate(expected):
        lines.append(f"{first_row + offset},{e164},{status},{reason}")
    (HERE / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    # Phone repairs, as a UTF-8 CSV and as an XLSX whose phone cells are text.
    header = "Phone,Name\n"
    body = "".join(f'"{raw}",{name}\n' for raw, name in PHONE_CASES)
    (HERE / "phones.csv").write_text(header + body, encoding="utf-8")
    write_expected("phones.expected.csv", PHONE_EXPECTED)
    book = openpyxl.Workbook()
    sheet = book.active
    assert isinstance(sheet, Worksheet)
    sheet.append(["Phone", "Name"])
    for raw, name in PHONE_CASES:
        sheet.append([raw, name])
        sheet.cell(sheet.max_row, 1).data_type = "s"
    book.save(HERE / "phones.xlsx")
    write_expected("phones.xlsx.expected.csv", PHONE_EXPECTED)

    # Excel's numeric cells: a float phone number, a zip code that must stay text, a date.
    book = openpyxl.Workbook()
    sheet = book.active
    assert isinstance(sheet, Worksheet)
    sheet.title = "Ignored"
    sheet.append(["not this sheet"])
    second = book.create_sheet("Leads")
    second.append(["Mobile", "Zip", "Signed up", "Count"])
    second.append([12025550130, "02134", datetime.date(2026, 11, 2), 3])
    second.append([1.2025550131e10, "00501", datetime.datetime(2026, 11, 2, 9, 30), 2.5])
    second.append([447400123458, "NA", None, 0])
    book.save(HERE / "numeric.xlsx")

    # European Excel: cp1252, semicolons, a title block above the header, a blank row.
    text = (
        "Kundenliste;;\r\n\r\nTelefon Nummer;Name;Stadt\r\n"
        "030 1234567;Jürgen Weiß;Köln\r\n;;\r\n+49 151 12345678;Zoë Ç;Zürich\r\n"
    )
    (HERE / "cp1252_semicolon.csv").write_bytes(text.encode("cp1252"))

    # Excel's "Unicode text" export: UTF-16 with a BOM and tabs.
    text = "Phone\tName\tNote\r\n202 555 0140\tAna\tNA\r\n202 555 0141\tBo\tnull\r\n"
    (HERE / "unicode_text.txt").write_bytes(text.encode("utf-16"))

    # UTF-8 with BOM, pipes.
    (HERE / "pipes.txt").write_text("cell|name\n2025550142|Cy\n2025550143|Di\n", encoding="utf-8-sig")

    # Ragged rows: one short (trailing cells missing: fine), one long (shifted: set aside).
    (HERE / "ragged.csv").write_text(
        "phone,name,city\n202 555 0150,Al\n202 555 0151,Bea,Boston,extra\n202 555 0152,Cal,Austin\n",
        encoding="utf-8",
    )

    # Vapi dashboard format: number, name, every other filled column a {{variable}}.
    (HERE / "dashboard.csv").write_text(
        "number,name,appointment,doctor\n+12025550160,Ann,Dec 2,Dr. Who\n"
        "+12025550161,Ben,Dec 3,\n+12025550162,Cy,Dec 2,Dr. Who\n",
        encoding="utf-8",
    )

    # Files that cannot be used at all.
    (HERE / "empty.csv").write_bytes(b"")
    (HERE / "no_number.csv").write_text("Name,Email\nAnn,ann@example.com\n", encoding="utf-8")
    (HERE / "garbage.xlsx").write_bytes(bytes(range(256)) * 8)
    (HERE / "csv_named.xlsx").write_text("phone,name\n202 555 0170,Ed\n", encoding="utf-8")


if __name__ == "__main__":
    main()
