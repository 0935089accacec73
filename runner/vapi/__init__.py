"""The network edge: the Vapi client, credentials, which API to open, and reading Vapi's call list."""
