"""Bounds on a message's free-form `context` (device contract v1; issue 14, finding 1).

`context` is stored as jsonb next to every reading of its message, so whatever a device puts
there reaches the database's JSON serialiser. A context nested ~1,000 levels deep passed the
JSON parser and made the serialiser raise RecursionError, stopping the ingest for everybody.
`problem` walks a parsed context iteratively (no recursion, so no depth can break the walk itself)
and names the first bound it exceeds, or returns None. Pure; never raises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

_NUMBER_LIMIT = 2**63  # numbers must lie strictly inside ±2**63 (a signed 64-bit integer)


@dataclass(frozen=True, slots=True)
class ContextBounds:
    depth: int = 8  # nesting levels of objects and arrays, the context itself being level 1
    keys: int = 100  # object keys in all
    items: int = 100  # array elements in all
    string_chars: int = 1_024  # per string, keys included
    total_chars: int = 4_096  # sum of all key and string lengths plus 8 per scalar

    def __post_init__(self) -> None:
        if min(self.depth, self.keys, self.items, self.string_chars, self.total_chars) < 1:
            raise ValueError("context bounds must be positive")


def problem(context: dict[str, Any], bounds: ContextBounds) -> str | None:
    """The first bound `context` exceeds, as a short text without its values; None if none."""
    stack: list[tuple[Any, int]] = [(context, 1)]
    keys = items = total = 0
    while stack:
        node, depth = stack.pop()
        if depth > bounds.depth and (type(node) is dict or type(node) is list):
            return f"nested deeper than {bounds.depth} levels"
        if type(node) is dict:
            keys += len(node)
            if keys > bounds.keys:
                return f"more than {bounds.keys} keys"
            for key, value in node.items():
                total += len(key)
                if len(key) > bounds.string_chars:
                    return f"a key longer than {bounds.string_chars} characters"
                stack.append((value, depth + 1))
        elif type(node) is list:
            items += len(node)
            if items > bounds.items:
                return f"more than {bounds.items} array items"
            stack.extend((value, depth + 1) for value in node)
        else:
            error = _scalar(node, bounds)
            if error is not None:
                return error
            total += len(node) if type(node) is str else 8
        if total > bounds.total_chars:
            return f"larger than {bounds.total_chars} characters in all"
    return None


def _scalar(node: Any, bounds: ContextBounds) -> str | None:
    if type(node) is str:
        too_long = len(node) > bounds.string_chars
        return f"a string longer than {bounds.string_chars} characters" if too_long else None
    if type(node) is int or type(node) is float:
        if not (math.isfinite(node) and -_NUMBER_LIMIT < node < _NUMBER_LIMIT):
            return "a number outside ±2**63"
        return None
    if node is None or type(node) is bool:
        return None
    return "a value that is not JSON"  # cannot come from the parser; kept total
