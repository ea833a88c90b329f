"""Rules learnt on mixed messages: context words, joined numbers, versions, names."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from ethos.pii import detect


def ents(text: str) -> list[tuple[str, str]]:
    return [(f.entity, text[f.start : f.end]) for f in detect(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("865-141-080 is my TFN", [("AU_TFN", "865-141-080")]),
        ("12 918 325 780 (ABN) is on the form", [("AU_ABN", "12 918 325 780")]),
        (
            "tax file number: 493257383\nDate of birth - 20.07.1972",
            [("AU_TFN", "493257383"), ("DATE_OF_BIRTH", "20.07.1972")],
        ),
        (
            "Australian Company Number: 582378863 Medicare: 3583-39171-9",
            [("AU_ACN", "582378863"), ("AU_MEDICARE", "3583-39171-9")],
        ),
        ("passport no. RA0985434 And medicare no 3827820998", None),
        ("P9149862 is my passport number And Call me on 9933-1132 after 3pm", None),
    ],
)
def test_the_nearest_keyword_in_the_same_clause_decides(text, expected) -> None:
    got = ents(text)
    if expected is None:
        assert len({e for e, _ in got}) == 2, got
    else:
        assert got == expected


def test_a_number_glued_to_a_year_is_still_found() -> None:
    text = "for ID, passport N9820879 expiring 2029 0432232446 is my direct line"
    assert ("PHONE_NUMBER", "0432232446") in ents(text)
    text = "passport N9820879 expiring 2029 12 918 325 780 (ABN) is on the form."
    assert ("AU_ABN", "12 918 325 780") in ents(text)
    assert all(e != "CREDIT_CARD" for e, _ in ents(text))


@pytest.mark.parametrize(
    "text",
    [
        "The SDK 3.9.5.15 adds streaming.",
        "upgrade from 9.0.3.95 takes about 80 minutes",
        "Version 2.6.6.32 was released on September 14, 2026",
        "build 10.0.19041.1 is out",
    ],
)
def test_four_part_versions_are_not_ip_addresses(text: str) -> None:
    assert ents(text) == []


def test_an_ip_after_a_version_sentence_is_still_an_ip() -> None:
    text = "We're on v3.11.6 of the SDK. I get a 403 from 10.14.134.214 since yesterday."
    assert ents(text) == [("IP_ADDRESS", "10.14.134.214")]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Can I pay annually? Ta, Kelly", "Kelly"),
        ("Free plan first.\n- Beverly", "Beverly"),
        ("Kind regards,\nLindsey Rocha card number follows", "Lindsey Rocha"),
        ("Cheers, Matthew. australian business number follows", "Matthew"),
        ("Does it support SSO? Melissa here, quick question.", "Melissa"),
        ("Hey, I'm Kelly and I work at Acme", "Kelly"),
    ],
)
def test_names(text: str, name: str) -> None:
    assert ("PERSON", name) in ents(text)


@pytest.mark.parametrize(
    "text",
    [
        "I'm Really keen on the Team plan.",
        "I'm Looking at Business.",
        "Thanks, Team",
        "Cheers, Ethos Support",
        "Plans:\n- Slack integration\n- Team: $49/month",
        "Thanks heaps!",
    ],
)
def test_not_names(text: str) -> None:
    assert [e for e, _ in ents(text) if e == "PERSON"] == []


def test_lowercase_addresses_need_a_postcode_or_a_word() -> None:
    assert ents("92 phillips rd sa 5012 is our postal address") == [
        ("STREET_ADDRESS", "92 phillips rd sa 5012")
    ]
    assert ents("send the contract to 459 lopez grove thanks")[0][0] == "STREET_ADDRESS"
    assert ents("we act on 5 great road trips") == []


def test_card_numbers_need_brand_length_and_grouping() -> None:
    assert ents("card 4111 1111 1111 1111") == [("CREDIT_CARD", "4111 1111 1111 1111")]
    # Luhn-valid, but not how cards are written: a card only after a card word
    # (test_folded_forms.py has the card-context rule)
    assert ents("ref 4111 11111 1111 111") == []
    assert ents("card 2720118625276014")[0][0] == "CREDIT_CARD"


def test_concurrent_calls_agree_with_sequential_ones() -> None:
    texts = [
        f"TFN 123 456 782, call 0412 345 678, I'm Ana, {i} seats at $49/month" if i % 2 else
        f"Medicare 2123 45670 1 and ABN 51 824 753 556, version {i}.2.1.4"
        for i in range(200)
    ]
    expected = [detect(t) for t in texts]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(detect, texts))
    assert got == expected


@pytest.mark.parametrize(
    "text",
    [
        "Integrations:\n- Slack\n- HubSpot\n- Google Drive",
        "We integrate with:\n- Slack\n- Asana",
        "It's Slack, not Teams.",
        "Hello World, meet the Starter plan.",
        "Dear Valued Customer, the Team plan is $49/month.",
        "I'm Ethos, the EthosPrompt assistant.",
        "Best regards,\nThe EthosPrompt Team",
    ],
)
def test_answer_formatting_is_not_a_name(text: str) -> None:
    assert [e for e, _ in ents(text) if e == "PERSON"] == []


def test_dash_signoff_only_at_the_end() -> None:
    assert ents("Sounds good.\n- Larry") == [("PERSON", "Larry")]
    assert ents("It's Sarah from Acme, hi") == [("PERSON", "Sarah")]


def test_vocative_after_me() -> None:
    assert ents("Can you send the quote to me, Sarah Walker, please?") == [("PERSON", "Sarah Walker")]
    assert ents("Tell me, Enterprise or Business?") == []


def test_address_words_count_only_in_the_same_sentence() -> None:
    text = "Can we move to Team from 13/05/2027? Connect 16 Google Drive accounts."
    assert ents(text) == []


def test_a_label_right_before_wins_over_a_keyword_after() -> None:
    text = "Australian Company Number: 087388270 My date of birth is 29.01.1947."
    assert ents(text) == [("AU_ACN", "087388270"), ("DATE_OF_BIRTH", "29.01.1947")]


def test_more_writings() -> None:
    assert ents("text me on (02).4156.9805 pls") == [("PHONE_NUMBER", "(02).4156.9805")]
    assert ents("Postal: 24 thomas circlet, st. kilda, vic, 3182")[0] == (
        "STREET_ADDRESS", "24 thomas circlet, st. kilda, vic, 3182"
    )
