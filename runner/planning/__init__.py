"""From the loaded sheet to the requests, with no network: `customers` normalizes every row,
`screen` applies duplicates, consent, do-not-call, history and calling hours, `requests` groups
and chunks the callable rows, `body` says what a POST /call body is, and `plan` chains them."""
