"""A local Vapi-compatible HTTP server for the demo, the tests and fault drills."""

from runner.sandbox.server import Sandbox, SandboxConfig

__all__ = ["Sandbox", "SandboxConfig"]
