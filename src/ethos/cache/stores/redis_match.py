"""fnmatch globs (the cache's key patterns) as Redis MATCH patterns.

Redis MATCH has its own syntax (``\\`` escapes, ``[^x]`` negates, ``^`` and an unclosed ``[``
mean something) and matches bytes, not characters; keys may hold any of those as data.
The translation selects a superset, and the store filters what SCAN returns with
:func:`ethos.cache.keys.glob_matches`, so the result is exactly fnmatch's.
"""

from __future__ import annotations


def escape_match(literal: str) -> str:
    """``literal`` as a Redis MATCH pattern that matches only itself."""
    return "".join("\\" + c if c in "\\*?[]^" else c for c in literal)


def glob_to_match(glob: str) -> str:
    """An fnmatch glob as a Redis MATCH pattern selecting a superset of the same keys.

    Redis matches bytes, fnmatch matches characters, so ``?`` and negated classes (which
    must also accept a multi-byte character) are widened with ``*``; callers filter the
    results with :func:`~ethos.cache.keys.glob_matches`. Characters Redis treats as syntax
    but fnmatch as data (``\\``, ``^``, an unclosed ``[``) are escaped; ``[!x]`` → ``[^x]``.
    """
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        i += 1
        if c == "*":
            out.append("*")
        elif c == "?":
            out.append("?*")
        elif c == "[":
            j = i
            if j < n and glob[j] == "!":
                j += 1
            if j < n and glob[j] == "]":  # fnmatch: a leading ']' is a member
                j += 1
            while j < n and glob[j] != "]":
                j += 1
            if j >= n:  # no closing ']': fnmatch reads '[' literally
                out.append("\\[")
                continue
            body, i = glob[i:j], j + 1
            negated = body.startswith("!")
            if negated:
                body = body[1:]
            if not body.isascii():
                out.append("?*")
                continue
            members = "".join("\\" + ch if ch in "\\]^[" else ch for ch in body)
            out.append(f"[^{members}]*" if negated else f"[{members}]")
        else:
            out.append(escape_match(c))
    return "".join(out)
