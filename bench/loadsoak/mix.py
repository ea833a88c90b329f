"""The request mix of the load test: a pure, seeded function from (n, seed, sources) to requests.

Kinds (default shares in :data:`DEFAULT_SHARES`):

- ``repeat``: a question asked before, again, word for word; popular questions more often
  (the hot set is the drill's common questions, asked first).
- ``paraphrase``: another wording of a question asked before (KB topics in other words,
  or the duplicate half of a Quora question pair).
- ``new``: a question never asked before (a KB topic, or a Quora question).
- ``pii``: a question carrying someone's email, phone number, card number or name. Every
  PII message is sent twice, the second time a little later, word for word: had the first
  been stored, the second would be an exact cache hit (the check the run makes).

Any request may be streamed (``stream``: SSE, read to its final event).

Sources: the bundled knowledge base (its section headings, as questions in several
wordings) always; Quora Question Pairs duplicates from ``/work/shared/data`` when present
(``$ETHOS_BENCH_DATA``), for a long tail of new questions and their paraphrases.
"""

from __future__ import annotations

import bisect
import gzip
import json
import random
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ethos.rollout.drill.traffic import QUESTIONS as HOT_QUESTIONS

KINDS = ("repeat", "paraphrase", "new", "pii")
#: shares of the draws; each ``pii`` draw is sent twice, so PII is ~2x its share of requests
DEFAULT_SHARES = {"repeat": 0.5, "paraphrase": 0.15, "new": 0.25, "pii": 0.1}
DEFAULT_STREAM_SHARE = 0.2

# Wordings of one KB topic: the first is the topic's question, the others its paraphrases.
_TEMPLATES = (
    "What can you tell me about {t}?",
    "Could you explain {t} to me?",
    "I'd like some details on {t}, please.",
    "Give me an overview of {t}.",
)

_FIRST = ("Olivia", "Liam", "Charlotte", "Noah", "Amelia", "Jack", "Isla", "William", "Mia", "Lucas")
_LAST = ("Nguyen", "Smith", "Williams", "Brown", "Wilson", "Taylor", "Martin", "Anderson", "Thompson", "Walker")


@dataclass(frozen=True)
class Request:
    """One request of the run, in order. ``pii``: the message carries personal details."""

    kind: str
    message: str
    stream: bool = False
    pii: bool = False


@dataclass(frozen=True)
class Topic:
    """A question and its other wordings."""

    question: str
    paraphrases: tuple[str, ...]


def kb_topics(kb_dir: Path | None = None) -> list[Topic]:
    """One topic per ``## heading`` of the bundled knowledge base, in four wordings."""
    if kb_dir is None:
        import ethos.agent

        kb_dir = Path(ethos.agent.__file__).parent / "kb"
    out = []
    for md in sorted(kb_dir.glob("*.md")):
        for m in re.finditer(r"^## (.+)$", md.read_text(), re.M):
            head = m.group(1).strip()
            if head.endswith("?") or head.split()[0] == "How":
                q = head.rstrip("?") + "?"
                words = [q, f"Quick question: {q[0].lower()}{q[1:]}", f"{q} I couldn't find it on the website."]
            else:
                head = head.removeprefix("About ")
                t = head if head.split()[0] in ("EthosPrompt", "API") else head[0].lower() + head[1:]
                words = [w.format(t=t) for w in _TEMPLATES]
            out.append(Topic(words[0], tuple(words[1:])))
    return out


def qqp_topics(data_dir: Path, limit: int = 40000) -> list[Topic]:
    """Duplicate Quora question pairs (label 1) as (question, paraphrase); [] when absent."""
    path = data_dir / "qqp_pairs.json.gz"
    if not path.exists():
        return []
    with gzip.open(path, "rt") as f:
        pairs = json.load(f)
    out = []
    for p in pairs:
        a, b = str(p.get("text_a", "")).strip(), str(p.get("text_b", "")).strip()
        if p.get("label") == 1 and 10 <= len(a) <= 300 and 10 <= len(b) <= 300 and a != b:
            out.append(Topic(a, (b,)))
            if len(out) >= limit:
                break
    return out


def _luhn_card(r: random.Random) -> str:
    digits = [4] + [r.randrange(10) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        d = d * 2 if i % 2 == 0 else d
        total += d - 9 if d > 9 else d
    digits.append((10 - total % 10) % 10)
    s = "".join(map(str, digits))
    return " ".join(s[i:i + 4] for i in range(0, 16, 4))


def pii_message(r: random.Random, question: str) -> str:
    """``question`` with one or two personal details around it (unique per call)."""
    first, last = r.choice(_FIRST), r.choice(_LAST)
    email = f"{first.lower()}.{last.lower()}{r.randrange(10, 9999)}@example.com"
    phone = f"04{r.randrange(10, 99)} {r.randrange(100, 999)} {r.randrange(100, 999)}"
    card = _luhn_card(r)
    forms = (
        f"Hi, I'm {first} {last}, my email is {email}. {question}",
        f"{question} You can call me on {phone}.",
        f"My card {card} was charged twice. {question}",
        f"{question} Please reply to {email} or call {phone}. Thanks, {first} {last}",
    )
    return r.choice(forms)


def build_mix(
    n: int,
    seed: int,
    topics: Sequence[Topic],
    *,
    shares: dict[str, float] | None = None,
    stream_share: float = DEFAULT_STREAM_SHARE,
    hot: Sequence[str] = HOT_QUESTIONS,
    pii_resend_after: tuple[int, int] = (5, 40),
) -> list[Request]:
    """``n`` requests in send order; the same arguments always give the same list. Pure.

    ``topics`` feed ``new`` (in order) and ``paraphrase``; ``hot`` questions are the first
    questions asked and stay the most repeated (weight 1/rank over everything asked).
    A kind that cannot be drawn yet (nothing asked, no topic left) becomes ``repeat``.
    """
    r = random.Random(seed)
    shares = shares or DEFAULT_SHARES
    kinds, weights = zip(*[(k, shares.get(k, 0.0)) for k in KINDS])
    asked: list[str] = list(hot)  # the hot set counts as asked once its first request goes
    asked_n = 0  # how many of ``asked`` have been sent at least once
    cum: list[float] = []  # cumulative 1/rank weights of asked[:asked_n], for repeats

    def sent_one() -> None:
        nonlocal asked_n
        asked_n += 1
        cum.append((cum[-1] if cum else 0.0) + 1.0 / asked_n)

    unused = deque(topics)
    with_paraphrases: list[Topic] = []
    pii_due: deque[tuple[int, str]] = deque()
    out: list[Request] = []
    for i in range(n):
        stream = r.random() < stream_share
        if pii_due and pii_due[0][0] <= i:
            out.append(Request("pii", pii_due.popleft()[1], stream, True))
            continue
        kind = r.choices(kinds, weights)[0]
        if asked_n < len(hot) and kind != "pii":
            kind, msg = "new", asked[asked_n]  # the hot questions' first asking
            sent_one()
        elif kind == "new" and unused:
            t = unused.popleft()
            msg = t.question
            asked.append(msg)
            sent_one()
            if t.paraphrases:
                with_paraphrases.append(t)
        elif kind == "paraphrase" and with_paraphrases:
            msg = r.choice(r.choice(with_paraphrases).paraphrases)
        elif kind == "pii":
            msg = pii_message(r, r.choice(asked[: max(asked_n, 1)]))
            pii_due.append((i + r.randint(*pii_resend_after), msg))
        else:
            kind = "repeat"
            msg = asked[bisect.bisect(cum, r.random() * cum[-1])] if cum else asked[0]
        out.append(Request(kind, msg, stream, kind == "pii"))
    return out


def default_topics(data_dir: Path | None, seed: int) -> list[Topic]:
    """KB topics interleaved with Quora pairs (shuffled by ``seed``) when the data is there."""
    kb = kb_topics()
    qqp = qqp_topics(data_dir) if data_dir else []
    random.Random(seed).shuffle(qqp)
    out: list[Topic] = []
    for i in range(max(len(kb), len(qqp))):
        if i < len(kb):
            out.append(kb[i])
        if i < len(qqp):
            out.append(qqp[i])
    return out


__all__ = ["Request", "Topic", "KINDS", "DEFAULT_SHARES", "build_mix", "kb_topics", "qqp_topics",
           "pii_message", "default_topics"]
