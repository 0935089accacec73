"""State on disk (and in PostgreSQL): the run ledger, the call history, the calls fetched, the plan's
record and the campaign's opt-out list."""
