"""Which template variables an assistant's messages use (LiquidJS, as Vapi renders them), and
which of those need a value from the sheet: not Vapi's built-ins, not locals a tag assigns, and
not a use with a `default` filter."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

# Vapi fills these itself (docs: assistants/dynamic-variables): the time, and every customer.* and transport.*.
BUILT_INS = frozenset({"now", "date", "time", "year", "month", "day", "customer", "transport"})
# The assistant fields whose text Vapi renders before a call says it.
MESSAGE_FIELDS = ("firstMessage", "voicemailMessage", "endCallMessage")
_LITERALS = frozenset({"true", "false", "nil", "null", "empty", "blank"})
_UNPARSED = re.compile(r"{%-?\s*(raw|comment)\s*-?%}.*?{%-?\s*end\1\s*-?%}", re.S)
_OUTPUT = re.compile(r"{{-?(.*?)-?}}", re.S)
_LOCAL = re.compile(
    r"{%-?\s*(?:(?:assign|capture|increment|decrement)\s+([A-Za-z_][\w-]*)|(?:for|tablerow)\s+([A-Za-z_][\w-]*)\s+in\b)"
)
_ROOT = re.compile(r"\s*([A-Za-z_][\w-]*)")
_DEFAULT = re.compile(r"\|\s*default\s*:")


def message_texts(assistant: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, text) of every message the assistant says or is prompted with: firstMessage,
    model.messages[i].content, voicemailMessage, endCallMessage."""
    for key in MESSAGE_FIELDS[:1]:
        if isinstance(assistant.get(key), str):
            yield key, assistant[key]
    model = assistant.get("model")
    messages = model.get("messages") if isinstance(model, Mapping) else None
    for index, message in enumerate(messages if isinstance(messages, list) else []):
        if isinstance(message, Mapping) and isinstance(message.get("content"), str):
            yield f"model.messages[{index}].content", message["content"]
    for key in MESSAGE_FIELDS[1:]:
        if isinstance(assistant.get(key), str):
            yield key, assistant[key]


def needed_variables(text: str) -> list[str]:
    """The variables `text` prints that must have a value, in order of first use: each output
    (`{{ x }}`, `{{x.y}}`, `{{ x | upcase }}`) whose root is not a literal, a built-in, a local
    the template assigns itself, or given a `| default:`."""
    text = _UNPARSED.sub("", text)
    local = {name for pair in _LOCAL.findall(text) for name in pair if name}
    needed: list[str] = []
    for expression in _OUTPUT.findall(text):
        root = _ROOT.match(expression)
        if root is None or _DEFAULT.search(expression):
            continue  # a literal ("now" | date: …), a number, a range, or a defaulted value
        name = root.group(1)
        if name not in _LITERALS and name not in BUILT_INS and name not in local and name not in needed:
            needed.append(name)
    return needed
