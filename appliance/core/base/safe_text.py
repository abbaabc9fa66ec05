"""Text from unauthenticated clients, made safe to echo in an answer or the audit log."""

from __future__ import annotations

ELLIPSIS = "…"


def bounded_text(text: str, limit: int) -> str:
    """`text` with every unprintable character (controls, line breaks, lone surrogates,
    format characters) written as a `\\x..`/`\\u....` escape, cut to at most `limit`
    characters with a closing "…". The result always encodes as UTF-8 and is one line.

    What a client sends (a header's field names, a value) may reach an error message; this
    keeps an attacker from growing the audit log with it, splitting its lines or making it
    unwritable (a lone surrogate cannot be encoded as UTF-8)."""
    pieces: list[str] = []
    length = 0
    for char in text:  # stops early: a long text is never escaped whole
        piece = char if char.isprintable() else _escape(char)
        pieces.append(piece)
        length += len(piece)
        if length > limit:
            break
    else:
        return "".join(pieces)
    kept: list[str] = []
    room = limit - len(ELLIPSIS)
    for piece in pieces:
        room -= len(piece)
        if room < 0:
            break
        kept.append(piece)
    return "".join(kept) + ELLIPSIS


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 \
        else f"\\U{code:08x}"
