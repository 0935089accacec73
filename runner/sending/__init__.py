"""Placing the planned calls at most once and following them: `admission` decides who may be called
as each request leaves, `submitter` sends, `cancel` deletes, `preflight` checks before the first
POST, `run` is a run folder, and `single` one call."""
