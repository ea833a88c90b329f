"""Detection on text as the cache keeps it (``ethos.cache.keys.normalise``: case,
punctuation and ``@`` folded), and the card-context rule."""

from __future__ import annotations

import pytest

from ethos.cache.keys import normalise
from ethos.pii import detect, redact


def ents(text: str) -> list[tuple[str, str]]:
    return [(f.entity, text[f.start : f.end]) for f in detect(text)]


def kinds(text: str) -> set[str]:
    return {f.entity for f in detect(text)}


#: (entity, raw text): the raw text is found, and so is its normalised form
RAW = [
    ("EMAIL_ADDRESS", "my email is jane.citizen@gmail.com"),
    ("EMAIL_ADDRESS", "write to jane.citizen+news@example.com.au please"),
    ("EMAIL_ADDRESS", "Email: TOM_O@Mail.co"),
    ("EMAIL_ADDRESS", "Send the invoice to b.nguyen@smithbros.net thanks"),
    ("EMAIL_ADDRESS", "(harry.potter@hogwarts.org.uk)"),
    ("PHONE_NUMBER", "Call me on 0412 345 678 after 3pm."),
    ("PHONE_NUMBER", "ph: (02) 9876-5432"),
    ("PHONE_NUMBER", "ring +61 412 345 678"),
    ("PHONE_NUMBER", "I'm on +64 21 381 5688 most days"),
    ("PHONE_NUMBER", "my mobile is +1 763 484 2684"),
    ("CREDIT_CARD", "card 4111-1111-1111-1111"),
    ("CREDIT_CARD", "Visa: 4111 1111 1111 1111, cvv 123"),
    ("IBAN_CODE", "Our IBAN is DE89 3704 0044 0532 0130 00."),
    ("IBAN_CODE", "pay to IBAN GB82WEST12345698765432 please"),
    ("IP_ADDRESS", "server: 10.20.30.40"),
    ("IP_ADDRESS", "the requests come from fe80:0000:0000:0000:0202:b3ff:fe1e:8329"),
    ("AU_TFN", "My TFN is 123-456-782."),
    ("AU_MEDICARE", "Medicare: 2123-45670-1"),
    ("AU_ABN", "ABN: 51 824 753 556"),
    ("AU_ACN", "ACN 004-085-616."),
    ("AU_PASSPORT", "passport no. PA1234567"),
    ("AU_DRIVERS_LICENCE", "Licence no: S12345 (NSW)"),
    ("US_SSN", "My SSN is 123-45-6789."),
    ("STREET_ADDRESS", "I live at 12 Smith St, Carlton VIC 3053"),
    ("STREET_ADDRESS", "Postal: PO Box 123, Carlton VIC 3053"),
    ("STREET_ADDRESS", "Unit 4/12 Smith Street, Carlton"),
    ("DATE_OF_BIRTH", "DOB: 03/04/1985"),
    ("DATE_OF_BIRTH", "D.O.B. 1985-04-03"),
    ("DATE_OF_BIRTH", "my date of birth is 7/3/85"),
    ("DATE_OF_BIRTH", "I was born on March 3, 1985"),
    ("PERSON", "Hi Sarah, what does Team cost?"),
    ("PERSON", "What does it include?\nThanks,\nSarah Walker"),
    ("PERSON", "My name's Victoria and I manage our socials."),
    ("PERSON", "Please ask for Mr Green when you call back."),
    ("PERSON", "Hey, I'm Carolyn and I work at Acme."),
    ("PERSON", "Hello, this is Edward from Butler Diaz."),
    ("PERSON", "Can you send the quote to me, Gary Salinas, please?"),
    ("PERSON", "Name: Kristen Knight\nCompany: Acme"),
    ("PERSON", "Can I pay annually? Cheers, Steven"),
]


@pytest.mark.parametrize(("entity", "raw"), RAW)
def test_normalised_forms_are_found_as_the_raw_text_is(entity: str, raw: str) -> None:
    assert entity in kinds(raw), ents(raw)
    folded = normalise(raw)
    assert entity in kinds(folded), (folded, ents(folded))


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        ("my email is jane citizen gmail com", "EMAIL_ADDRESS", "citizen gmail com"),
        ("contact jane at gmail dot com", "EMAIL_ADDRESS", "jane at gmail dot com"),
        ("reach me on j smith acme net au if easier", "EMAIL_ADDRESS", "smith acme net au"),
        ("please email me at christopher98 example org", "EMAIL_ADDRESS", "christopher98 example org"),
        ("my mobile is 0412 345 678", "PHONE_NUMBER", "0412 345 678"),
        ("call me on 61 2 9876 5432", "PHONE_NUMBER", "61 2 9876 5432"),
        ("dob 26 08 2005 thanks", "DATE_OF_BIRTH", "26 08 2005"),
        ("date of birth 1963 02 03", "DATE_OF_BIRTH", "1963 02 03"),
        ("d o b 4 6 57", "DATE_OF_BIRTH", "4 6 57"),
        ("pay to iban gb82west12345698765432 please", "IBAN_CODE", "gb82west12345698765432"),
        ("bank details de89 3704 0044 0532 0130 00 eur account", "IBAN_CODE", "de89 3704 0044 0532 0130 00"),
        ("passport no pb6710699", "AU_PASSPORT", "pb6710699"),
        ("drivers license s14058", "AU_DRIVERS_LICENCE", "s14058"),
        ("server 171.29.164.142", "IP_ADDRESS", "171.29.164.142"),
        ("our office ip is 7f1b 103c df15 82b0 eab4 77d3 6415 479c", "IP_ADDRESS",
         "7f1b 103c df15 82b0 eab4 77d3 6415 479c"),
        ("my names victoria and i manage our socials", "PERSON", "victoria"),
        ("dear margaret the business plan includes sso", "PERSON", "margaret"),
        ("what does the team plan include kind regards jose gibbs", "PERSON", "jose gibbs"),
        ("does it support sso john here quick question", "PERSON", "john"),
        ("please ask for mrs odom when you call back", "PERSON", "mrs odom"),
        ("i live at 12 smith st carlton vic 3053", "STREET_ADDRESS", "12 smith st carlton vic 3053"),
        ("my card number is 9111 1111 1111 1110", "CREDIT_CARD", "9111 1111 1111 1110"),
    ],
)
def test_hand_written_normalised_forms(text: str, entity: str, value: str) -> None:
    assert (entity, value) in ents(text), ents(text)


def test_the_issue_example_is_found_and_redacted() -> None:
    assert redact("my email is jane citizen gmail com") == "my email is jane <EMAIL_ADDRESS>"


@pytest.mark.parametrize(
    "raw",
    [
        "Visit ethosprompt.com for pricing.",
        "Log in at app.ethosprompt.com and open Settings.",
        "Docs are at docs.ethosprompt.com/api.",
        "Find us at ethosprompt.com.au or on LinkedIn.",
        "Reach our blog at blog.example.org for tips.",
        "Prices are net of GST.",
        "Payment terms are net 30 days.",
        "See the product info page.",
        "Hi team, quick question about SSO.",
        "Hi there, thanks so much!",
        "Best plan for a small agency?",
        "Best regards, the Ethos team",
        "What's the name of the plan with SSO?",
        "Company name and ABN go on the invoice.",
        "I'm based in Sydney and I'm keen on the Team plan.",
        "This is great, thanks!",
        "Click here to see the details.",
        "Dear customer, your plan renews soon.",
        "I am happy with the Starter plan.",
        "Our API handles 55k requests/sec at p99 40 ms across 40 regions.",
        "We process 10^6 tokens a day with p95 under 30 ms. ISO 27001 reports are available.",
        "The webinar is on 12/03/2026 at 2pm.",
        "Order 19 licences before 2026-02-03 to lock in $49.",
        "Order 2 licences before June 20, 2027 to lock in the price.",
        "Our office hours are 9:00-17:00, closed on 21/11/2025. 18/13 of our users chose Team.",
        "The webhook retries 13 times over 7 hours. Port 8080 must be open.",
        "Release 2.4.1 ships on June 20, 2026.",
        "Version 10.2.3.4 fixed the crash.",
        "Card payments via Visa and Mastercard are accepted.",
        "Email support@ethosprompt.com or sales@ethosprompt.com.",
        "Write to privacy at ethosprompt dot com.",
        "For sales, write to sales@ethosprompt.com or phone +61 2 8000 4000.",
        "Questions? Call 1300 384 677 (9:00-17:00 AEST, Mon-Fri).",
        "A 12 month plan at $1,200 per year, or AUD 4,102 for 75,000 requests.",
    ],
)
def test_clean_texts_are_not_flagged_raw_or_normalised(raw: str) -> None:
    assert ents(raw) == []
    folded = normalise(raw)
    assert ents(folded) == [], folded


# --- card context -------------------------------------------------------------------
#: Luhn-valid, 16 digits, outside every issuer range the detector knows
OUT_OF_RANGE = "9111 1111 1111 1110"


@pytest.mark.parametrize(
    "text",
    [
        f"my card number is {OUT_OF_RANGE}",
        "credit card 9111-1111-1111-1110 exp 11/28",
        "card no. 9111111111111110",
        "Visa: 9111 1111 1111 1110",
        "mastercard 9111 1111 1111 1110",
        "card 123456781234568",  # 15 digits
        "my card is 1234 5678 1234 5678 129",  # 19 digits
        "my card is 123456789015",  # 12 digits
    ],
)
def test_in_card_context_any_luhn_valid_12_to_19_digits_is_a_card(text: str) -> None:
    assert [e for e, _ in ents(text)] == ["CREDIT_CARD"], ents(text)
    assert "CREDIT_CARD" in kinds(normalise(text))


def test_without_card_context_the_issuer_rules_stay() -> None:
    assert ents(f"order {OUT_OF_RANGE} shipped") == []
    assert ents("ref 4111 11111 1111 111") == []  # Luhn-valid, odd grouping, no card word
    # a known issuer still needs no context
    assert ents("use 4111 1111 1111 1111 for the annual plan") == [
        ("CREDIT_CARD", "4111 1111 1111 1111")
    ]


@pytest.mark.parametrize(
    "text",
    ["my card number is 9111 1111 1111 1111", "credit card 1234 5678 1234 5678", "visa 12345678901"],
)
def test_in_card_context_a_luhn_invalid_or_short_number_is_no_card(text: str) -> None:
    assert "CREDIT_CARD" not in kinds(text)


def test_card_context_does_not_turn_other_numbers_into_cards() -> None:
    assert ents("my medicare card is 2123 45670 1") == [("AU_MEDICARE", "2123 45670 1")]
    assert kinds("card holder phone +61 412 345 678") == {"PHONE_NUMBER"}
