"""Values of every entity type, in the many ways people write them (seeded).

Checksum numbers are valid (``python-stdnum`` computes the check digits); phone numbers,
addresses and names come from Faker ``en_AU`` and from the common Australian writings.
"""

from __future__ import annotations

import random

from faker import Faker

PLANS = ("Free", "Starter", "Team", "Business", "Enterprise")
STATES = ("NSW", "VIC", "QLD", "SA", "WA", "TAS", "NT", "ACT")


class Gen:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.f = Faker("en_AU")
        self.f.seed_instance(seed)
        self.intl = {loc: Faker(loc) for loc in ("de_DE", "en_GB", "fr_FR", "nl_NL", "es_ES", "it_IT")}
        for i, fk in enumerate(self.intl.values()):
            fk.seed_instance(seed + i + 1)

    def pick(self, *xs):
        return self.r.choice(xs)

    def digits(self, n: int) -> str:
        return "".join(self.r.choice("0123456789") for _ in range(n))

    # --- values ---------------------------------------------------------------------
    def email(self) -> str:
        f, r = self.f, self.r
        first, last = f.first_name().lower(), f.last_name().lower()
        v = self.pick(
            f.email(), f.free_email(), f.company_email(),
            f"{first}.{last}@{f.domain_name()}", f"{first}{r.randint(1, 99)}@gmail.com",
            f"{first[0]}{last}@{f.domain_word()}.com.au", f"{first}_{last}@outlook.com",
            f"{first}+ethos@{f.free_email_domain()}", f"{first.title()}.{last.title()}@{f.domain_name()}",
        )
        return v

    def phone(self) -> str:
        r = self.r
        mob = "4" + self.digits(8)
        area = self.pick("2", "3", "7", "8")
        land = area + self.pick("9", "8", "6", "5", "4") + self.digits(7)
        fmt = r.randrange(25)
        m, ln = mob, land
        return [
            f"0{m[:3]} {m[3:6]} {m[6:]}", f"0{m}", f"0{m[:3]}-{m[3:6]}-{m[6:]}",
            f"0{m[:3]}.{m[3:6]}.{m[6:]}", f"+61 {m[:3]} {m[3:6]} {m[6:]}", f"+61{m}",
            f"+61 (0) {m[:3]} {m[3:6]} {m[6:]}", f"0061 {m[:3]} {m[3:6]} {m[6:]}",
            f"(0{ln[0]}) {ln[1:5]} {ln[5:]}", f"0{ln[0]} {ln[1:5]} {ln[5:]}", f"0{ln}",
            f"+61 {ln[0]} {ln[1:5]} {ln[5:]}", f"+61-{ln[0]}-{ln[1:5]}-{ln[5:]}",
            f"1300 {self.digits(3)} {self.digits(3)}", f"1800-{self.digits(3)}-{self.digits(3)}",
            f"+1 {r.randint(201, 989)} {r.randint(200, 999)} {self.digits(4)}",
            f"+44 20 {r.randint(7000, 8999)} {self.digits(4)}",
            f"+64 21 {self.digits(3)} {self.digits(4)}",
            f"+65 {self.pick('8', '9')}{self.digits(3)} {self.digits(4)}",
            self.f.phone_number(),
            f"04 {m[1:5]} {m[5:]}", f"(04) {m[1:5]} {m[5:]}", f"+61 0{m[:3]} {m[3:6]} {m[6:]}",
            f"0{m[:4]} {m[4:]}", f"+61.{m[:3]}.{m[3:6]}.{m[6:]}",
        ][fmt]

    def card(self) -> str:
        raw = self.f.credit_card_number(self.pick("visa16", "mastercard", "amex", "discover", "jcb16"))
        sep = self.pick(" ", "-", "", " ")
        if len(raw) == 15:
            return sep.join((raw[:4], raw[4:10], raw[10:]))
        return sep.join(raw[i : i + 4] for i in range(0, len(raw), 4))

    def iban(self) -> str:
        v = self.r.choice(list(self.intl.values())).iban()
        return " ".join(v[i : i + 4] for i in range(0, len(v), 4)) if self.r.random() < 0.5 else v

    def ip(self) -> str:
        return self.pick(self.f.ipv4_public(), self.f.ipv4_private(), self.f.ipv4_public(), self.f.ipv6())

    def _with_check(self, check, n: int) -> str:
        while True:
            d = self.digits(n)
            if d[0] != "0" and check(d):
                return d

    def tfn(self) -> str:
        from stdnum.au import tfn

        d = self._with_check(tfn.is_valid, 9)
        return self.pick(f"{d[:3]} {d[3:6]} {d[6:]}", d, f"{d[:3]}-{d[3:6]}-{d[6:]}")

    def medicare(self) -> str:
        first = str(self.r.randint(2, 6)) + self.digits(7)
        w = (1, 3, 7, 9, 1, 3, 7, 9)
        chk = sum(int(a) * b for a, b in zip(first, w)) % 10
        issue = str(self.r.randint(1, 9))
        d = first + str(chk) + issue
        return self.pick(f"{d[:4]} {d[4:9]} {d[9]}", d, f"{d[:4]} {d[4:9]} {d[9]}-{self.r.randint(1, 5)}",
                         f"{d[:4]}-{d[4:9]}-{d[9]}")

    def abn(self) -> str:
        from stdnum.au import abn

        while True:
            base = self.digits(9)
            d = abn.calc_check_digits(base) + base
            if d[0] != "0" and abn.is_valid(d):
                break
        return self.pick(f"{d[:2]} {d[2:5]} {d[5:8]} {d[8:]}", d, f"{d[:2]}-{d[2:5]}-{d[5:8]}-{d[8:]}")

    def acn(self) -> str:
        from stdnum.au import acn

        base = self.digits(8)
        d = base + acn.calc_check_digit(base)
        return self.pick(f"{d[:3]} {d[3:6]} {d[6:]}", d)

    def passport(self) -> str:
        return self.pick("P", "N", "E", "PA", "PB", "M", "RA") + self.digits(7)

    def licence(self) -> str:
        return self.pick(
            self.digits(8), self.digits(9), self.digits(7), "S" + self.digits(5),
            self.digits(6), self.digits(10), "A" + self.digits(5),
        )

    def ssn(self) -> str:
        a = self.r.choice([x for x in range(1, 900) if x != 666])
        d = f"{a:03d}{self.r.randint(1, 99):02d}{self.r.randint(1, 9999):04d}"
        return self.pick(f"{d[:3]}-{d[3:5]}-{d[5:]}", f"{d[:3]} {d[3:5]} {d[5:]}", d)

    def street(self) -> str:
        f, r = self.f, self.r
        name = f.last_name()
        stype = self.pick("St", "Street", "Rd", "Road", "Ave", "Avenue", "Pde", "Parade", "Cres",
                          "Crescent", "Ct", "Court", "Pl", "Place", "Dr", "Drive", "Tce", "Terrace",
                          "Hwy", "Lane", "Way", "Cl", "Close", "Grove", "Blvd", "Esplanade",
                          f.street_suffix())
        return f"{r.randint(1, 480)} {name} {stype}"

    def suburb_tail(self) -> str:
        f = self.f
        return self.pick(
            f", {f.city()} {self.pick(*STATES)} {f.postcode()}",
            f" {f.city()} {self.pick(*STATES)} {f.postcode()}",
            f", {f.city()}, {self.pick(*STATES)}, {f.postcode()}",
            f", {f.city()} {self.pick(*STATES)}",
            f" {self.pick(*STATES)} {f.postcode()}",
        )

    def address(self) -> str:
        f, r = self.f, self.r
        k = r.randrange(10)
        if k == 0:
            return f.address().replace("\n", self.pick(", ", "\n", " "))
        if k == 1:
            return f"Unit {r.randint(1, 40)}, {self.street()}{self.suburb_tail()}"
        if k == 2:
            return f"{r.randint(1, 40)}/{self.street()}{self.suburb_tail()}"
        if k == 3:
            return f"{self.pick('PO Box', 'P.O. Box', 'GPO Box', 'Locked Bag')} {r.randint(1, 9999)}{self.suburb_tail()}"
        if k == 4:
            return f"Level {r.randint(1, 40)}, {self.street()}{self.suburb_tail()}"
        if k == 5:
            return (self.street() + self.suburb_tail()).lower()
        return self.street() + self.suburb_tail()

    def dob(self) -> str:
        d = self.f.date_of_birth(minimum_age=18, maximum_age=85)
        return self.pick(
            d.strftime("%d/%m/%Y"), d.strftime("%d-%m-%Y"), d.strftime("%d.%m.%Y"),
            d.strftime("%Y-%m-%d"), f"{d.day} {d.strftime('%B %Y')}", f"{d.day} {d.strftime('%b %Y')}",
            f"{d.strftime('%B')} {d.day}, {d.year}", f"{d.day}/{d.month}/{d.strftime('%y')}",
            f"{d.day}th of {d.strftime('%B %Y')}" if d.day in (4, 5, 6, 7, 8, 9, 10) else d.strftime("%d/%m/%Y"),
        )

    # --- chatter ----------------------------------------------------------------------
    def price(self) -> str:
        r = self.r
        return self.pick(
            f"${r.choice([0, 19, 29, 49, 99, 199, 490])}/month", f"AUD {r.randint(1, 9)},{r.randint(100, 999)}",
            f"A${r.randint(10, 999)}", f"${r.randint(1, 25)},{r.randint(100, 999)} per year",
            f"US${r.randint(5, 200)}", f"${r.randint(1, 99)}.{r.randint(10, 99)} per seat",
            f"{r.randint(10, 500)} dollars a month", f"${r.randint(2, 9)}k/yr",
        )

    def filler(self) -> str:
        r = self.r
        plan = self.pick(*PLANS)
        return self.pick(
            f"Is the {plan} plan still {self.price()}?",
            f"We need about {r.randint(2, 300)} seats and {r.randint(1, 50)},000 requests a month.",
            f"How does {plan} compare with {self.pick(*PLANS)} at {self.price()}?",
            f"We're on v{r.randint(1, 5)}.{r.randint(0, 12)}.{r.randint(0, 9)} of the SDK.",
            f"Our renewal is on {r.randint(1, 28)} {self.pick('March', 'June', 'July', 'October')} 2026.",
            "Can you send a quote?", "Thanks for the quick reply!", "Does it support SSO?",
            f"The invoice was {self.price()} last month.", "",
        )
