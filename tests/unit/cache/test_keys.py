from __future__ import annotations

import pytest

from ethos.cache.keys import (
    PATTERN_MAX_CHARS,
    SLUG_MAX_CHARS,
    InvalidPattern,
    Scope,
    glob_matches,
    make_key,
    normalise,
    parse_pattern,
    slug,
    validate_namespace,
)

SCOPE = Scope("marketing", 1, "kb", "p1", "kb1")


# --- normalise ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What are your pricing plans?", "what are your pricing plans"),
        ("  WHAT   are your\tpricing\nplans ?!  ", "what are your pricing plans"),
        ("ＰＲＩＣＩＮＧ", "pricing"),  # full width
        ("What's the price?", "whats the price"),
        ("What’s the price?", "whats the price"),
        ("snake_case", "snake case"),
        ("Straße", "strasse"),
        ("café", "café"),
    ],
)
def test_normalise_folds_what_does_not_change_the_meaning(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,200 seats", "1.200 seats"),
        ("$4.50 a month", "$4.50 a month"),
        ("50% off €10 or £5 or ¥300", "50% off €10 or £5 or ¥300"),
        ("version 1.2", "version 1.2"),
        ("the end. 3. item", "the end 3 item"),
    ],
)
def test_normalise_keeps_numbers_and_currency(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_numbers_that_differ_stay_apart() -> None:
    assert normalise("$4.50") != normalise("$450")
    assert normalise("1,200 seats") != normalise("1 200 seats")
    assert normalise("plan 10%") != normalise("plan 10")


def test_nul_in_input_is_not_a_separator() -> None:
    assert normalise("a\x00b") == "a b"


# --- slug --------------------------------------------------------------------------
def test_slug_joins_words_and_never_holds_a_colon() -> None:
    assert slug("what are your pricing plans") == "what-are-your-pricing-plans"
    assert ":" not in slug("time 10:30")


def test_slug_is_truncated_without_a_trailing_dash() -> None:
    s = slug(("word " * 40).strip())
    assert len(s) <= SLUG_MAX_CHARS
    assert not s.endswith("-")


# --- make_key ----------------------------------------------------------------------
def test_key_reads_namespace_format_scope_slug_hash() -> None:
    key, norm = make_key(SCOPE, "What are your pricing plans?")
    assert norm == "what are your pricing plans"
    ns, fv, digest, sl, h = key.split(":")
    assert (ns, fv, digest, sl) == ("marketing", "v1", SCOPE.digest, "what-are-your-pricing-plans")
    assert len(h) == 16
    assert key.startswith(SCOPE.prefix)


def test_same_question_differently_typed_gives_the_same_key() -> None:
    assert make_key(SCOPE, "What are your pricing plans?")[0] == make_key(
        SCOPE, "  what ARE your pricing plans "
    )[0]


def test_long_questions_sharing_a_prefix_get_different_keys() -> None:
    base = "tell me " * 20
    a, _ = make_key(SCOPE, base + "about startups")
    b, _ = make_key(SCOPE, base + "about enterprises")
    assert a != b


def test_empty_question_has_a_readable_key() -> None:
    key, norm = make_key(SCOPE, "?!")
    assert norm == ""
    assert ":empty:" in key


@pytest.mark.parametrize(
    "other",
    [
        Scope("support", 1, "kb", "p1", "kb1"),
        Scope("marketing", 2, "kb", "p1", "kb1"),
        Scope("marketing", 1, "llm:gpt-4o-mini", "p1", "kb1"),
        Scope("marketing", 1, "kb", "p2", "kb1"),
        Scope("marketing", 1, "kb", "p1", "kb2"),
    ],
)
def test_scopes_never_share_keys(other: Scope) -> None:
    q = "What are your pricing plans?"
    assert make_key(other, q)[0] != make_key(SCOPE, q)[0]
    assert other.prefix != SCOPE.prefix
    assert not make_key(other, q)[0].startswith(SCOPE.prefix)


def test_scope_digest_fields_cannot_bleed_into_each_other() -> None:
    assert Scope("m", 1, "kb", "ab", "c").digest != Scope("m", 1, "kb", "a", "bc").digest


def test_namespace_validation() -> None:
    assert validate_namespace("marketing-2_x") == "marketing-2_x"
    for bad in ("", "Marketing", "-x", "a:b", "a*", "x" * 64):
        with pytest.raises(ValueError):
            validate_namespace(bad)


# --- patterns ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "glob"),
    [
        ("all", "*"),
        ("ALL", "*"),
        ("*", "*"),
        ("marketing:v3:*pricing*", "marketing:v3:*pricing*"),
        ("marketing:v?:*", "marketing:v?:*"),
        ("marketing:v[!1]:*", "marketing:v[!1]:*"),
        ("marketing:*:$4.50*", "marketing:*:$4.50*"),
        ("marketing:*50%*", "marketing:*50%*"),
        ("marketing:*:café-*", "marketing:*:café-*"),
        ("marketing:*:[a-c]*:[!0-9]?", "marketing:*:[a-c]*:[!0-9]?"),
        ("marketing:*:£5*", "marketing:*:£5*"),
    ],
)
def test_parse_pattern_accepts(given: str, glob: str) -> None:
    assert parse_pattern(given) == glob


@pytest.mark.parametrize(
    "given",
    [
        "",
        "   ",
        "x" * (PATTERN_MAX_CHARS + 1),
        "marketing:*' OR 1=1 --",
        "a;b",
        "a b",
        "a\\*",
        "a{b,c}",
        "a^b",
        "a/b",
        'a"b',
        "marketing:[v1",
        "marketing:v1]",
        "  all  ",  # keys never hold a space: surrounding space is refused, not stripped
        "all\n",
        "a\x00b",
        "[!]",
        "a[]b",
        "a[^b]",
        "a[b\\]",
        "a%_'",
        "a--b;",
    ],
)
def test_parse_pattern_rejects(given: str) -> None:
    with pytest.raises(InvalidPattern):
        parse_pattern(given)


def test_glob_matches_is_case_sensitive_fnmatch() -> None:
    assert glob_matches("marketing:*pricing*", "marketing:v1:abc:pricing:1")
    assert not glob_matches("Marketing:*", "marketing:v1")
    assert glob_matches("a[!b]c", "axc")
    assert not glob_matches("a[!b]c", "abc")
