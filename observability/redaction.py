"""What must never reach a log line: passwords, tokens, tickets, credentials and chat text.

``redact`` rewrites a rendered log message; the patterns cover the shapes secrets take in
this project's logs: query strings (``?ticket=...``), headers (``Authorization: Bearer ...``),
JSON and Python reprs (``"password": "..."``), protobuf text format (``text: "..."``) and bare
JWTs (``eyJ...``). Pure: no Django, tested without a database.
"""

from __future__ import annotations

import re

MASK = "[redacted]"

# Keys whose values are secret wherever they appear. ``text`` is chat (private to the room).
_HIDDEN_FIELDS = (
    r"[A-Za-z_]*password[A-Za-z_0-9]*|passwd|secret|token|access|refresh|ticket|authorization"
    r"|api_?key|sessionid|csrftoken|csrfmiddlewaretoken|cookie|set-cookie|text|chat_text"
)
# A JWT: base64url JSON header (always starting "eyJ"), payload and optional signature.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){0,2}")
# key=value in query strings and form bodies.
_QUERY = re.compile(rf"(?i)\b({_HIDDEN_FIELDS})=([^&\s\"'<>]+)")
# "key": "value" / 'key': 'value' (JSON, Python reprs) and key: "value" (protobuf text).
_QUOTED = re.compile(
    rf"""(?ix)
    (["']?)\b({_HIDDEN_FIELDS})\1      # the key, maybe quoted
    (\s*[:=]\s*)                     # separator
    (?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')   # a quoted value
    """
)
# Authorization schemes, in headers or anywhere else.
_SCHEME = re.compile(r"(?i)\b(Bearer|Basic|Token|JWT)\s+[A-Za-z0-9._~+/=-]{6,}")


def redact(text: str) -> str:
    """``text`` with every secret value replaced by ``[redacted]``."""
    if not text:
        return text
    text = _QUOTED.sub(lambda m: f'{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}"{MASK}"', text)
    text = _SCHEME.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _QUERY.sub(lambda m: f"{m.group(1)}={MASK}", text)
    return _JWT.sub(MASK, text)


def is_secret_key(name: str) -> bool:
    """Whether a field called ``name`` holds a secret (``extra={"password": ...}``)."""
    return re.fullmatch(_HIDDEN_FIELDS, name, flags=re.IGNORECASE) is not None
