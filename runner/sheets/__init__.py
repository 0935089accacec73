"""Spreadsheets in: `read` loads CSV/TSV/XLSX as marketers make them into a table of text."""
