from __future__ import annotations

import pytest

from ethos.cache.stores.redis_match import escape_match, glob_to_match


@pytest.mark.parametrize(
    ("glob", "match"),
    [
        ("marketing:*pricing*", "marketing:*pricing*"),
        ("a?b", "a?*b"),  # one character may be several bytes
        ("v[12]:*", "v[12]:*"),
        ("v[!1]:*", "v[^1]*:*"),  # fnmatch's negation; widened for multi-byte characters
        ("[^a]", "[\\^a]"),  # fnmatch: '^' is a member here, not a negation
        ("a[b", "a\\[b"),  # no closing ']': a literal '['
        ("[]a]", "[\\]a]"),  # a leading ']' is a member
        ("x^y]z", "x\\^y\\]z"),
        ("[é]", "?*"),  # non-ASCII class: left to the exact filter
        ("50%_off'", "50%_off'"),  # SQL's metacharacters mean nothing to Redis
    ],
)
def test_glob_to_match(glob: str, match: str) -> None:
    assert glob_to_match(glob) == match


def test_escape_match_makes_a_literal() -> None:
    assert escape_match("ethos:[x]*?\\^") == "ethos:\\[x\\]\\*\\?\\\\\\^"
