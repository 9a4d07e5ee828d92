"""One error schema for every non-2xx answer of the service, and messages safe to show a client.

Every error body is ``{"error": "<one line>", "type": "<short code>", "detail": [...] | null}``. Messages never
carry server file paths or exception class names: those go to the server log, and a 500 answer names only an
error id to look up there.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

__all__ = ["ERROR_TYPES", "error_body", "public_message", "new_error_id"]

# type code -> HTTP status it goes with (documented in docs/server.md)
ERROR_TYPES: dict[str, int] = {
    "invalid_request": 422,      # validation: missing/unknown fields, wrong types, limits of this server
    "bad_input": 400,            # input the pipeline refuses (rerankit InputError)
    "body_too_large": 413,
    "not_found": 404,
    "method_not_allowed": 405,
    "not_enabled": 501,          # endpoint the config does not serve
    "not_ready": 503,            # models loading, or the load failed
    "overloaded": 503,           # request queue full (with Retry-After)
    "shutting_down": 503,
    "internal": 500,
    "client_closed": 499,        # the client went away first (logged; nobody reads the answer)
}

# An absolute POSIX path of two or more parts (/x/y; "/search" alone is an endpoint), a home path (~/x) or a
# Windows drive path, up to whitespace, a quote or a bracket. URLs (http://...) are left alone.
_END = r"[^\s'\"()\[\]{},;]"
_QUOTED = re.compile(r"""(['"])(?:/|~/|[A-Za-z]:\\)[^'"\n]*\1""")  # a quoted path may hold spaces
_PATH = re.compile(rf"(?<![\w.:/~])(?:/{_END[:-1]}/]+/{_END}*|~/{_END}*|[A-Za-z]:\\{_END}*)")


def public_message(message: str) -> str:
    """`message` with absolute file paths replaced by ``<path>`` (the full message belongs in the server log)."""
    return _PATH.sub("<path>", _QUOTED.sub(r"\1<path>\1", message))


def error_body(type_: str, message: str, detail: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON body of an error answer; `type_` is one of :data:`ERROR_TYPES`."""
    if type_ not in ERROR_TYPES:
        raise ValueError(f"unknown error type {type_!r}")
    return {"error": public_message(message), "type": type_, "detail": detail}


def new_error_id() -> str:
    """A short id that ties a 500 answer to its server log line."""
    return uuid.uuid4().hex[:12]
