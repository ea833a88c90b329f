"""A labelled corpus of chat-style texts: half carry PII, half are clean marketing text.

Seeded (Faker ``en_AU`` plus ``random.Random``), so every run builds the same texts.
The PII half rotates through every entity type, each written in several formats and
phrasings (lower case, no separators, context word before or after or missing where
people leave it out), inside ordinary pricing chatter. The clean half is questions and
answers full of prices, plan names, event dates, quantities, version numbers, figures and
our own published contacts.

    .venv/bin/python bench/pii_corpus/generate.py [--n 2000] [--seed 7] [--out FILE.jsonl]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pii_corpus.values import PLANS, Gen  # noqa: E402

ENTITY_TYPES = (
    "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "AU_TFN",
    "AU_MEDICARE", "AU_ABN", "AU_ACN", "AU_PASSPORT", "AU_DRIVERS_LICENCE", "US_SSN",
    "STREET_ADDRESS", "DATE_OF_BIRTH", "PERSON",
)


@dataclass
class Text:
    """A text being built, with its labelled spans."""

    parts: list[str] = field(default_factory=list)
    spans: list[dict] = field(default_factory=list)
    length: int = 0

    def add(self, s: str) -> Text:
        self.parts.append(s)
        self.length += len(s)
        return self

    def ent(self, entity: str, value: str) -> Text:
        self.spans.append({"entity": entity, "start": self.length, "end": self.length + len(value)})
        return self.add(value)

    def done(self, label: str) -> dict:
        return {"text": "".join(self.parts), "label": label, "spans": self.spans}


def _pii_text(g: Gen, primary: str) -> dict:
    """One chat message (or answer) with the primary entity and maybe one or two more."""
    t = Text()
    f = g.filler()
    lead = g.r.random() < 0.5
    if lead and f:
        t.add(f + " ")
    kinds = [primary] + g.r.sample(ENTITY_TYPES, g.r.choice([0, 0, 1, 1, 2]))
    if "PERSON" in kinds:  # a sign-off ends the message, so names come last
        kinds = [k for k in kinds if k != "PERSON"] + ["PERSON"]
        lead = True
    for i, k in enumerate(kinds):
        if i:
            t.add(g.pick(" Also, ", " ", "\n", " And ", ". "))
        PHRASES[k](g, t)
    if not lead and f:
        t.add(" " + f)
    return t.done("pii")


def _person(g: Gen, t: Text) -> None:
    f, r = g.f, g.r
    first, last = f.first_name(), f.last_name()
    full = g.pick(first, f"{first} {last}", f"{first} {last}")
    k = r.randrange(18)
    if k == 0:
        t.add("Hi, my name is ").ent("PERSON", full).add(" and I run a small agency.")
    elif k == 1:
        t.add("my name is ").ent("PERSON", full.lower()).add(" and i want to upgrade")
    elif k == 2:
        t.add("Hey, I'm ").ent("PERSON", first).add(g.pick(", the marketing lead at ", " from ", " and I work at ") + f.company() + ".")
    elif k == 3:
        t.add("Hello, this is ").ent("PERSON", full).add(g.pick(" from ", " at ") + f.company() + ".")
    elif k == 4:
        t.add("What does the Team plan include?\n" + g.pick("Thanks,", "Cheers,", "Regards,", "Kind regards,", "Many thanks,") + "\n").ent("PERSON", full)
    elif k == 5:
        t.add("Can I pay annually? " + g.pick("Thanks, ", "Cheers, ", "Best, ", "Ta, ")).ent("PERSON", first)
    elif k == 6:
        t.add(g.pick("Hi ", "Hello ", "Dear ")).ent("PERSON", first).add(", the Business plan includes SSO and audit logs.")
    elif k == 7:
        t.ent("PERSON", first).add(" here, quick question about the Starter plan limits.")
    elif k == 8:
        t.add("Name: ").ent("PERSON", full).add("\nCompany: " + f.company())
    elif k == 9:
        t.add("I am ").ent("PERSON", full).add(", the office manager.")
    elif k == 10:
        t.add("Please ask for ").ent("PERSON", f"{g.pick('Mr', 'Ms', 'Mrs', 'Dr')} {last}").add(" when you call back.")
    elif k == 11:
        t.add("Sounds good, we'll try the Free plan first.\n- ").ent("PERSON", first)
    elif k == 12:
        t.add("Thanks ").ent("PERSON", first).add("! Your question about Enterprise pricing is a good one.")
    elif k == 14:
        t.add("Hi there, it's ").ent("PERSON", first).add(" from " + f.company() + " again.")
    elif k == 15:
        t.add("Can you send the quote to me, ").ent("PERSON", full).add(", please?")
    elif k == 16:
        t.add("Is SSO included?\n\nBest,\n").ent("PERSON", full)
    else:
        t.add("My name's ").ent("PERSON", first).add(" and I manage our socials.")


def _simple(entity: str, value_fn, phrasings):
    def add(g: Gen, t: Text) -> None:
        before, after = g.r.choice(phrasings)
        t.add(before).ent(entity, value_fn(g)).add(after)

    return add


PHRASES = {
    "EMAIL_ADDRESS": _simple("EMAIL_ADDRESS", Gen.email, [
        ("Please email me at ", "."), ("my email is ", ""), ("Reach me on ", " if easier."),
        ("Send the invoice to ", " thanks"), ("", " is my work address."), ("contact: ", ""),
        ("can you cc ", " on the quote?"), ("(", ")"), ("e: ", " | m: later"),
    ]),
    "PHONE_NUMBER": _simple("PHONE_NUMBER", Gen.phone, [
        ("Call me on ", " after 3pm."), ("my mobile is ", ""), ("You can reach me at ", "."),
        ("ph ", ""), ("Best number: ", " (mornings)."), ("text me on ", " pls"),
        ("", " is my direct line."), ("Please ring ", " to discuss the Business plan."),
        ("you can call me at ", " or email"), ("whatsapp ", ""), ("mob: ", "\n"),
        ("I'm on ", " most days"),
    ]),
    "CREDIT_CARD": _simple("CREDIT_CARD", Gen.card, [
        ("Charge it to my card ", "."), ("card number ", " exp 11/28"), ("Visa: ", ""),
        ("use ", " for the annual plan"), ("my credit card is ", ", cvv 123"),
        ("please bill ", " monthly"), ("mastercard ending... actually the full number is ", ""),
    ]),
    "IBAN_CODE": _simple("IBAN_CODE", Gen.iban, [
        ("Our IBAN is ", "."), ("pay to IBAN ", " please"), ("Bank details: ", " (EUR account)."),
        ("", " is the account for the refund."),
    ]),
    "IP_ADDRESS": _simple("IP_ADDRESS", Gen.ip, [
        ("Please whitelist our IP ", "."), ("the requests come from ", ""), ("server: ", ""),
        ("I get a 403 from ", " since yesterday."), ("our office IP is ", " for the allow-list"),
    ]),
    "AU_TFN": _simple("AU_TFN", Gen.tfn, [
        ("My TFN is ", "."), ("tax file number: ", ""), ("TFN ", " for the contractor form"),
        ("here's my tax file no. ", ""), ("", " is my TFN"),
    ]),
    "AU_MEDICARE": _simple("AU_MEDICARE", Gen.medicare, [
        ("Medicare number ", "."), ("my medicare card is ", ""), ("Medicare: ", " (for the health plan)"),
        ("medicare no ", " exp 05/27"), ("", " is my Medicare number"),
    ]),
    "AU_ABN": _simple("AU_ABN", Gen.abn, [
        ("Our ABN is ", "."), ("ABN: ", ""), ("invoice to ABN ", " please"),
        ("australian business number ", ""), ("", " (ABN) is on the form."),
    ]),
    "AU_ACN": _simple("AU_ACN", Gen.acn, [
        ("ACN ", "."), ("our company ACN is ", ""), ("Australian Company Number: ", ""),
        ("company number ", " for the contract"),
    ]),
    "AU_PASSPORT": _simple("AU_PASSPORT", Gen.passport, [
        ("My passport number is ", "."), ("passport no. ", ""), ("Passport: ", " (Australian)"),
        ("for ID, passport ", " expiring 2029"), ("", " is my passport number"),
    ]),
    "AU_DRIVERS_LICENCE": _simple("AU_DRIVERS_LICENCE", Gen.licence, [
        ("My driver's licence number is ", "."), ("drivers license ", ""), ("Licence no: ", " (NSW)"),
        ("DL ", " for ID"), ("licence number ", ", VIC"), ("", " is my licence number"),
    ]),
    "US_SSN": _simple("US_SSN", Gen.ssn, [
        ("My SSN is ", "."), ("social security number ", ""), ("SSN: ", " (US contractor)"),
        ("ssn ", ""),
    ]),
    "STREET_ADDRESS": _simple("STREET_ADDRESS", Gen.address, [
        ("Please ship it to ", "."), ("I live at ", ""), ("Our office is at ", ", come by."),
        ("Address: ", ""), ("send the contract to ", " thanks"), ("", " is our postal address."),
        ("we moved to ", " last month"), ("deliver to: ", ""), ("my address is ", "\n"),
        ("Postal: ", ""),
    ]),
    "DATE_OF_BIRTH": _simple("DATE_OF_BIRTH", Gen.dob, [
        ("My date of birth is ", "."), ("DOB: ", ""), ("I was born on ", ""), ("born ", " in Perth"),
        ("D.O.B. ", ""), ("my birthday is ", " if you need it"), ("Date of birth - ", ""),
    ]),
    "PERSON": _person,
}


CLEAN_TEMPLATES = (
    "How much is the {plan} plan? I saw {price} on the website.",
    "The {plan} plan costs {price} and includes {n},000 requests per month.",
    "We have {n} seats on {plan}. Can we move to {plan2} at {price} from {date}?",
    "Version {ver} was released on {date}; upgrade from {ver2} takes about {n} minutes.",
    "Our webinar on prompt libraries is on {date} at {time} AEST. Seats are limited to {n}.",
    "{plan} includes {n} team members, SSO and 99.9% uptime. Enterprise adds a 24/7 SLA.",
    "Hi there! Thanks for asking. For {n} users the {plan} plan is {price}, or AUD {big} a year.",
    "Can I get an invoice for {price}? Our PO number is PO-{n}{n2}.",
    "Questions? Email support@ethosprompt.com or call 1300 384 677 (9:00-17:00 AEST, Mon-Fri).",
    "For sales, write to sales@ethosprompt.com or phone +61 2 8000 4000.",
    "Privacy questions go to privacy@ethosprompt.com; we reply within {n} business days.",
    "We process roughly 10^{e} tokens a day, about {n}x more than last year, with p95 under {n2} ms.",
    "Rate limits: {n} requests/minute on {plan}, {big} requests/day on {plan2}.",
    "The SDK {ver} adds streaming; API v{n}.{n2} is deprecated on {date}.",
    "Connect {n} Google Drive accounts and {n2} Slack workspaces on the {plan} tier.",
    "Save {pct}% with annual billing: {price} instead of ${big}.",
    "From {date}, the Free plan allows {n} chats a month; Starter gets {big}.",
    "ISO 27001 and SOC 2 Type II reports are available on the Enterprise plan.",
    "Our 2025 survey of {big} marketers found {pct}% use AI weekly.",
    "Ticket #{n}{n2}{n}: the export of {big} rows failed at row {n2},{n}00.",
    "Best, the EthosPrompt team. P.S. {plan} is {price}.",
    "Cheers, Ethos Support",
    "Thanks, Team",
    "I'm interested in the {plan} plan for {n} people; is {price} per seat right?",
    "Is there an education discount? We're a school with {big} students and {n} staff.",
    "We run {n} campaigns a month and spend about AUD {big} on ads; which plan fits?",
    "The price went from ${n}/month to ${n2}/month on {date}, why?",
    "Please compare Starter ({price}) and Team ({price2}) for a {n}-person agency.",
    "Our quarterly review is on {date}; we expect {big} conversations and a {pct}% lift.",
    "Order {n} licences before {date} to lock in {price}.",
    "Up to {big} MAU on Business; beyond that, Enterprise starts at {price}.",
    "Port {port} must be open; the webhook retries {n} times over {n2} hours.",
    "{n}/{n2} of our users chose the Team plan after the trial (that's {pct}%).",
    "In {year} we grew from {n} to {big} customers across {n2} countries.",
    "The Level {n} support tier answers within {n2} hours on {plan}.",
    "Does the {plan} plan include {n} GB of storage and {n2} projects?",
    "Our office hours are 9:00-17:00 Monday to Friday, closed on {date}.",
    "We moved from v{ver} to v{ver2}; the changelog lists {n} fixes.",
    "The {plan} trial lasts {n} days; after that it's {price}.",
    "Build {n}{n2}.{n}: fixed the {pct}% CPU spike seen on {date}.",
    "Hi there! Here's a quick comparison:\n- **Starter**: {price}\n- **Team**: {price2}\n- **Enterprise**: custom\nLet me know if you have questions.",
    "We integrate with:\n- Slack\n- HubSpot\n- Google Drive\n- Salesforce",
    "Great question! The {plan} plan includes:\n1. {n} seats\n2. {big} prompts a month\n3. SSO (SAML 2.0)",
    "Best regards,\nThe EthosPrompt Team",
    "Thanks for reaching out! Our support line is 1300 384 677 and we're open 8am-6pm AEST.",
    "The {plan} plan renews every 12 months; cancel any time before day 30 for a refund.",
    "In Q{q} FY{fy} we shipped {n} features and cut latency by {pct}%.",
    "Our API handles ~{n}k requests/sec at p99 {n2} ms across {n2} regions.",
    "Enterprise customers get a 99.95% SLA, {n}-hour response and a named CSM.",
    "Use code SAVE{pct} at checkout for {pct}% off your first {n} months.",
    "Student pricing is {price}; non-profits pay {pct}% less than list.",
    "The {plan} tier is capped at {big} API calls and {n} GB; overage is $0.{n2} per 1,000 calls.",
    "Our Melbourne meetup is on {date} at {time}; RSVP by {date2}.",
    "Yes - the {plan} plan supports {n} languages, including Japanese and Hindi.",
    "Release notes for {ver}: {n} bug fixes, {n2} improvements, 1 breaking change.",
    "Pricing (AUD, incl. GST): Free $0, Starter $19, Team $49, Business $99 per seat/month.",
    "We have customers in 30+ countries and {big} daily active users.",
    "Download the {ver} installer (about {n2}0 MB) from the dashboard.",
    "Dear customer, thanks for your interest in the {plan} plan. It costs {price}.",
)


def _clean_text(g: Gen) -> dict:
    r = g.r

    def date() -> str:
        day, mon, year = r.randint(1, 28), r.randint(1, 12), r.choice([2025, 2026, 2027])
        return g.pick(f"{day} {g.pick('March', 'April', 'June', 'July', 'October', 'November')} {year}",
                      f"{day:02d}/{mon:02d}/{year}", f"{year}-{mon:02d}-{day:02d}",
                      f"{g.pick('March', 'June', 'September')} {day}, {year}", f"{day}/{mon}/{year}")

    def ver() -> str:
        return g.pick(f"{r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 9)}",
                      f"{r.randint(1, 4)}.{r.randint(0, 9)}", f"{r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(0, 99)}")

    parts = []
    for _ in range(r.choice([1, 1, 2, 3])):
        tpl = r.choice(CLEAN_TEMPLATES)
        parts.append(tpl.format(
            plan=g.pick(*PLANS), plan2=g.pick(*PLANS), price=g.price(), price2=g.price(),
            n=r.randint(2, 90), n2=r.randint(2, 60), big=f"{r.randint(1, 99)},{r.randint(100, 999)}",
            date=date(), time=g.pick("10am", "2:30pm", "14:00", "9.30am"), ver=ver(), ver2=ver(),
            pct=r.randint(5, 60), e=r.randint(5, 9), port=g.pick(443, 8080, 5432, 6379),
            year=r.randint(2019, 2026), q=r.randint(1, 4), fy=r.randint(24, 27), date2=date(),
        ))
    return Text().add(" ".join(parts)).done("clean")


def build_corpus(n: int = 2000, seed: int = 7) -> list[dict]:
    """``n`` texts: the first half with PII (entity types in rotation), the rest clean."""
    g = Gen(seed)
    half = n // 2
    out = [_pii_text(g, ENTITY_TYPES[i % len(ENTITY_TYPES)]) for i in range(half)]
    out += [_clean_text(g) for _ in range(n - half)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default="-")
    a = ap.parse_args()
    out = sys.stdout if a.out == "-" else open(a.out, "w", encoding="utf-8")  # noqa: SIM115
    for row in build_corpus(a.n, a.seed):
        out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
