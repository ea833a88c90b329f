"""One positive set and the marketing negatives per entity."""

from __future__ import annotations

import pytest

from ethos.pii import detect

POSITIVES = [
    ("EMAIL_ADDRESS", "write to jane.citizen+news@example.com.au please", "jane.citizen+news@example.com.au"),
    ("EMAIL_ADDRESS", "Email: TOM_O@Mail.co", "TOM_O@Mail.co"),
    ("PHONE_NUMBER", "my mobile is 0412 345 678", "0412 345 678"),
    ("PHONE_NUMBER", "call 0412345678 after 5", "0412345678"),
    ("PHONE_NUMBER", "ph: 0412-345-678", "0412-345-678"),
    ("PHONE_NUMBER", "mob 0412.345.678", "0412.345.678"),
    ("PHONE_NUMBER", "landline (02) 9876 5432", "(02) 9876 5432"),
    ("PHONE_NUMBER", "on 02 9876 5432", "02 9876 5432"),
    ("PHONE_NUMBER", "ring +61 412 345 678", "+61 412 345 678"),
    ("PHONE_NUMBER", "ring +61 (0) 412 345 678", "+61 (0) 412 345 678"),
    ("PHONE_NUMBER", "work +61 3 9123 4567", "+61 3 9123 4567"),
    ("PHONE_NUMBER", "+61412345678 is me", "+61412345678"),
    ("PHONE_NUMBER", "US office +1 415 555 2671", "+1 415 555 2671"),
    ("PHONE_NUMBER", "London +44 20 7946 0958", "+44 20 7946 0958"),
    ("PHONE_NUMBER", "call me on 9876 5432", "9876 5432"),
    ("CREDIT_CARD", "card 4111 1111 1111 1111", "4111 1111 1111 1111"),
    ("CREDIT_CARD", "charge 5500-0000-0000-0004 ok", "5500-0000-0000-0004"),
    ("CREDIT_CARD", "amex 378282246310005", "378282246310005"),
    ("IBAN_CODE", "IBAN GB82 WEST 1234 5698 7654 32", "GB82 WEST 1234 5698 7654 32"),
    ("IBAN_CODE", "pay DE89370400440532013000 now", "DE89370400440532013000"),
    ("IP_ADDRESS", "from 203.0.113.42 today", "203.0.113.42"),
    ("IP_ADDRESS", "ipv6 2001:db8::ff00:42:8329 here", None),
    ("AU_TFN", "my TFN is 123 456 782", "123 456 782"),
    ("AU_TFN", "tax file number: 123456782", "123456782"),
    ("AU_MEDICARE", "Medicare 2123 45670 1", "2123 45670 1"),
    ("AU_MEDICARE", "medicare card 2123456701", "2123456701"),
    ("AU_ABN", "ABN 51 824 753 556", "51 824 753 556"),
    ("AU_ABN", "our abn is 51824753556", "51824753556"),
    ("AU_ACN", "ACN 004 085 616", "004 085 616"),
    ("AU_PASSPORT", "passport no. PA1234567", "PA1234567"),
    ("AU_PASSPORT", "N1234567 is my passport", "N1234567"),
    ("AU_DRIVERS_LICENCE", "driver licence 12345678", "12345678"),
    ("AU_DRIVERS_LICENCE", "licence number: S12345", "S12345"),
    ("US_SSN", "SSN 536-90-4399", "536-90-4399"),
    ("US_SSN", "social security number 536904399", "536904399"),
    ("STREET_ADDRESS", "send it to 12 Smith St, Carlton VIC 3053", "12 Smith St, Carlton VIC 3053"),
    ("STREET_ADDRESS", "Unit 4, 56 George Street, Sydney NSW 2000", None),
    ("STREET_ADDRESS", "it's 4/56 George St Sydney", None),
    ("STREET_ADDRESS", "PO Box 123, Fitzroy VIC 3065", "PO Box 123, Fitzroy VIC 3065"),
    ("STREET_ADDRESS", "I live at 7 Maple Drive", None),
    ("DATE_OF_BIRTH", "my date of birth is 14/02/1987", "14/02/1987"),
    ("DATE_OF_BIRTH", "born 3 March 1990", "3 March 1990"),
    ("DATE_OF_BIRTH", "DOB: 1987-02-14", "1987-02-14"),
    ("DATE_OF_BIRTH", "birthday March 3, 1990", "March 3, 1990"),
    ("PERSON", "Hi, my name is Priya Raman and I run a cafe", "Priya Raman"),
    ("PERSON", "my name is john smith and i need help", "john smith"),
    ("PERSON", "I'm Oliver, the owner", "Oliver"),
    ("PERSON", "this is Kate from Acme", "Kate"),
    ("PERSON", "Cheers,\nJohn O'Brien", "John O'Brien"),
    ("PERSON", "thanks heaps. Regards, Mia", "Mia"),
    ("PERSON", "Hi Tom, the Team plan is $49/month.", "Tom"),
    ("PERSON", "Please ask Mrs Nguyen", "Mrs Nguyen"),
    ("PERSON", "Sarah here, quick question", "Sarah"),
]


@pytest.mark.parametrize(("entity", "text", "value"), POSITIVES)
def test_positive(entity: str, text: str, value: str | None) -> None:
    found = [f for f in detect(text) if f.entity == entity]
    assert found, f"{entity} not found in {text!r}: {detect(text)}"
    if value is not None:
        assert any(text[f.start : f.end] == value for f in found), [text[f.start : f.end] for f in found]


NEGATIVES = [
    "The Team plan is $49/month, billed monthly.",
    "Business costs AUD 1,200 per year, or A$110 a month.",
    "Enterprise starts at $2,500/mo for 50 seats.",
    "We released version 2.3.1 on 12 March 2026.",
    "Each plan includes 10,000 requests; overage is $0.002 per request.",
    "Call us on 1300 384 677 or write to support@ethosprompt.com.",
    "Sales: sales@ethosprompt.com, +61 2 8000 4000.",
    "The webinar is on 12/03/2026 at 2pm AEDT.",
    "We handle 1.5M messages a day and roughly 10^6 tokens per hour.",
    "Upgrade to v3.2.0.1 for the new API; SDK 4.12.0 is out.",
    "Hi there! Thanks for asking about the Starter plan.",
    "I'm interested in the Business plan. Thanks, Team",
    "Order 12 licences by 30 June 2026 and save 15%.",
    "Our office hours are 9:00-17:00, Monday to Friday.",
    "Free plan: 100 chats per month; Starter: 2,000; Team: 20,000.",
    "We've had 123,456,789 conversations since 2021.",
    "Connect 2 Google Drive accounts and 3 Slack workspaces.",
    "Best value: the annual plan at $490/year saves 2 months.",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_marketing_text_is_clean(text: str) -> None:
    assert detect(text) == []


def test_allow_list_parameter_replaces_default() -> None:
    assert detect("call 1300 384 677", allow=[]) != []
    assert detect("call 0412 345 678", allow=["0412345678"]) == []
    assert detect("mail me@x.io", allow=["ME@X.IO"]) == []


def test_allow_list_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETHOS_PII_ALLOW", "help@partner.com, 02 9999 0000")
    assert detect("help@partner.com or (02) 9999 0000") == []
    assert detect("support@ethosprompt.com") == []  # the default stays


def test_findings_are_ordered_and_disjoint() -> None:
    text = "Jo, 0412 345 678, jo@x.com, TFN 123 456 782, 12 Smith St, Carlton VIC 3053"
    fs = detect(text)
    assert [f.start for f in fs] == sorted(f.start for f in fs)
    assert all(a.end <= b.start for a, b in zip(fs, fs[1:]))
    assert all(0 < f.score <= 1 for f in fs)
