"""The last stage: the results sheet. `write` is the table (the input's columns, then ours) and its
CSV; `xlsx` the workbook; `summary` the counts a person wants first; `run_results` joins a run's
plan with its ledger; `plan_sheet` writes a plan's sheet before anything is sent."""
