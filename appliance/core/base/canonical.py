"""Canonical JSON: the one byte form of a JSON value that the project signs or hashes (the
seal's header, the audit log's lines and their hashes)."""

from __future__ import annotations

import json


def canonical_json(obj: object) -> bytes:
    """Sorted keys, no spaces, raw UTF-8 (no `\\u` escapes for non-ASCII), so equal values
    always give equal bytes. Raises ValueError for NaN and Infinity (not JSON) and for
    text that UTF-8 cannot encode (lone surrogates)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")
