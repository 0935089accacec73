"""Placing the planned calls at most once and following them: `client` speaks Vapi's API,
`credentials` and `connect` choose the API, `ledger` records every intent and answer, `submitter`
sends, `history` keeps the campaign's contacts across runs, `refresh` fetches outcomes, `run` is a
run folder, and `run_results` joins it all into the results table."""
