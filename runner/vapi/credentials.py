"""Where the API key and base URL come from: the environment first, then a `.env` file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from runner.errors import RunnerError
from runner.vapi.client import DEFAULT_BASE_URL, clean_key, redact_url

KEY_VARIABLE = "VAPI_API_KEY"
URL_VARIABLE = "VAPI_BASE_URL"


class MissingKeyError(RunnerError):
    """No key anywhere: the message says how to set one (or to try --sandbox)."""


def _lookup(name: str, environ: Mapping[str, str], dotenv: Path) -> str | None:
    value = environ.get(name)
    if not value and dotenv.is_file():
        value = dotenv_values(dotenv).get(name)
    return value or None


def api_key(environ: Mapping[str, str] = os.environ, dotenv: Path = Path(".env")) -> str:
    key = _lookup(KEY_VARIABLE, environ, dotenv)
    if key is None:
        raise MissingKeyError(
            f"no Vapi API key: set {KEY_VARIABLE} (export {KEY_VARIABLE}=… or a line "
            f"{KEY_VARIABLE}=… in .env), or try the local sandbox with --sandbox"
        )
    return clean_key(key, KEY_VARIABLE)


class BadUrlError(RunnerError):
    """The base URL is not an http(s) URL: caught before anything is planned or sent."""


def base_url(explicit: str | None, environ: Mapping[str, str] = os.environ, dotenv: Path = Path(".env")) -> str:
    """--base-url, else $VAPI_BASE_URL (or .env), else Vapi's; refused unless it is http(s)://host…"""
    source = "--base-url" if explicit else URL_VARIABLE
    url = explicit or _lookup(URL_VARIABLE, environ, dotenv) or DEFAULT_BASE_URL
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 0) >= 0
    except ValueError:  # "http://[::1" (an IPv6 host never closed), a port that is not a number
        valid = False
    if not valid and "://" in url and url.split("://")[0] in ("http", "https"):
        raise BadUrlError(
            f"{source} {redact_url(url)!r} is not a valid URL: check its host and port (an IPv6 host goes in "
            "closed brackets: http://[::1]:8787)"
        )
    if not valid:
        shown = redact_url(url)
        raise BadUrlError(
            f"{source} {shown!r} is not an http(s) URL; write it with its scheme, for example "
            f"http://{shown.split('://')[-1]} or {DEFAULT_BASE_URL}"
        )
    return url
