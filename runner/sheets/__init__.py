"""Spreadsheets in and out: `read` loads CSV/TSV/XLSX as marketers make them into a table of text;
`write` writes the results sheet (CSV, or XLSX through `xlsx`), with `summary`'s counts."""
