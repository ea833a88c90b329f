"""Per-namespace thresholds from a small labelled file of question pairs.

A namespace's traffic has its own wording, so the verifier's two cosine thresholds
(``threshold`` for questions whose content words differ, ``threshold_same`` for a pure
rephrasing; see :mod:`.verify`) may be chosen for it: ``ethos cache calibrate PAIRS`` embeds
each pair, applies the verifier's hard checks (numbers, names, negation), and prints precision
and recall over a grid of both thresholds, with the pair that keeps precision at or above the
target with the most recall. The service takes the result from ``ETHOS_SEMANTIC_THRESHOLDS``
(``namespace=threshold/threshold_same,...``).

With the pair model (the service's default when the package ships one), what decides is its
probability: :func:`calibrate_pairs` sweeps p* over the pairs that reach the cosine floor and
pass the hard checks, for each floor of :data:`FLOOR_GRID`, and the (p*, floor) keeping the
target precision with the most recall goes into ``ETHOS_SEMANTIC_PAIR_THRESHOLDS``
(``namespace=p[/floor],...``). A namespace whose paraphrases share few words (cosine 0.24 for
"What's your headcount?" / "How many people work at EthosPrompt?") gains recall from a lower
floor; one whose near-misses sit far apart can raise it and spare the model's reads.

A pairs file is a JSON list, or JSON lines, of ``{"a": stored question, "b": asked question,
"label": 1 when a's answer is right for b, else 0}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .lexicon import content_words, is_question, spelt_out
from .verify import DEFAULT_FLOOR, Verifier

#: the grid: thresholds from 0.50 to 0.99 by 0.01 (threshold_same never above threshold)
GRID = tuple(round(0.50 + 0.01 * i, 2) for i in range(50))
#: the cosine floors :func:`calibrate_pairs` tries, from 0.20 to 0.70 by 0.05
FLOOR_GRID = tuple(round(0.20 + 0.05 * i, 2) for i in range(11))
DEFAULT_MIN_PRECISION = 0.98


@dataclass(frozen=True, slots=True)
class Pair:
    stored: str
    asked: str
    same: bool


@dataclass(frozen=True, slots=True)
class Point:
    threshold: float
    threshold_same: float
    precision: float  # 1.0 when nothing would be served
    recall: float
    served: int
    wrong: int


@dataclass(frozen=True, slots=True)
class Calibration:
    pairs: int
    positives: int
    #: per threshold, the threshold_same with the most recall at the target precision (or,
    #: when none reaches it, the most precise), highest threshold first
    table: list[Point]
    #: the point with the most recall at the target precision (serving something); None when
    #: none reaches it
    best: Point | None
    min_precision: float


def load_pairs(path: Path) -> list[Pair]:
    """The pairs of a JSON list or JSON-lines file; ValueError naming the bad item."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        items = json.loads(text) if text.lstrip().startswith("[") else [
            json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is neither a JSON list nor JSON lines: {e}") from None
    pairs = []
    for i, it in enumerate(items, 1):
        if not isinstance(it, dict):
            raise ValueError(f"{path}: item {i} is not an object")
        a, b, label = it.get("a"), it.get("b"), it.get("label")
        if not isinstance(a, str) or not a.strip() or not isinstance(b, str) or not b.strip():
            raise ValueError(f'{path}: item {i} needs the two questions as "a" and "b" (non-empty text)')
        if label not in (0, 1, True, False):
            raise ValueError(f'{path}: item {i} needs "label": 1 (the same question) or 0')
        pairs.append(Pair(a, b, bool(label)))
    if not pairs:
        raise ValueError(f"{path} holds no pairs")
    if all(p.same for p in pairs) or not any(p.same for p in pairs):
        raise ValueError(f"{path} needs pairs of both labels (1 and 0) to measure precision and recall")
    return pairs


def spelt(pairs: Sequence[Pair]) -> list[Pair]:
    """The pairs with abbreviations spelt out (:func:`.lexicon.spelt_out`), as the tier embeds
    and the verifier reads them."""
    return [Pair(spelt_out(p.stored), spelt_out(p.asked), p.same) for p in pairs]


def _rules(hard_checks: Verifier, p: Pair) -> tuple[bool, bool]:
    """(refused by a hard check, a pure rephrasing): the parts of :meth:`Verifier.check`
    that do not depend on the thresholds."""
    hard = not hard_checks.hard_check(p.asked, p.stored).ok
    cq, cc = content_words(p.asked), content_words(p.stored)
    rephrasing = cq == cc and content_words(p.asked, fold=False) != content_words(p.stored, fold=False)
    return hard, rephrasing


def calibrate(pairs: Sequence[Pair], embed: Callable[[list[str]], np.ndarray], *,
              names: Sequence[str] = (), min_precision: float = DEFAULT_MIN_PRECISION,
              progress: Callable[[str], None] | None = None) -> Calibration:
    """Precision and recall of the verifier over :data:`GRID` on ``pairs``."""
    pairs = spelt(pairs)
    texts = sorted({t for p in pairs for t in (p.stored, p.asked)})
    if progress:
        progress(f"embedding {len(texts)} questions")
    vecs = np.asarray(embed(texts), dtype=np.float32)
    row = {t: i for i, t in enumerate(texts)}
    cos = np.array([float(vecs[row[p.stored]] @ vecs[row[p.asked]]) for p in pairs])
    hard_checks = Verifier(names)
    rules = [_rules(hard_checks, p) for p in pairs]
    hard = np.array([h for h, _ in rules])
    rephrasing = np.array([r for _, r in rules])
    same = np.array([p.same for p in pairs])
    positives = int(same.sum())
    table: list[Point] = []
    best: Point | None = None
    for t in reversed(GRID):
        row_best: Point | None = None
        for ts in GRID:
            if ts > t:
                break
            served = (cos >= ts) & ~hard & ((cos >= t) | rephrasing)
            n, right = int(served.sum()), int((served & same).sum())
            pt = Point(t, ts, right / n if n else 1.0, right / positives, n, n - right)
            ok = n > 0 and pt.precision >= min_precision
            if row_best is None or _better(pt, row_best, ok,
                                           row_best.served > 0 and row_best.precision >= min_precision):
                row_best = pt
            if ok and (best is None or (pt.recall, pt.threshold, pt.threshold_same)
                       > (best.recall, best.threshold, best.threshold_same)):
                best = pt
        assert row_best is not None
        table.append(row_best)
    return Calibration(len(pairs), positives, table, best, min_precision)


@dataclass(frozen=True, slots=True)
class PairPoint:
    p_min: float
    precision: float  # 1.0 when nothing would be served
    recall: float
    served: int
    wrong: int
    floor: float = DEFAULT_FLOOR


@dataclass(frozen=True, slots=True)
class PairCalibration:
    pairs: int
    positives: int
    #: the floor chosen (the best point's; the first one tried when no point qualifies)
    floor: float
    #: one row per p* of :data:`GRID`, lowest first, at :attr:`floor`
    table: list[PairPoint]
    #: the point with the most recall keeping the target precision while serving something
    #: (at one floor, the lowest such p*; between floors, the higher floor on a tie: it reads
    #: fewer pairs); None when none does
    best: PairPoint | None
    min_precision: float
    #: per floor tried, highest first: its best point, or None when none qualifies there
    by_floor: tuple[tuple[float, PairPoint | None], ...] = ()


def pair_probabilities(pairs: Sequence[Pair], embed: Callable[[list[str]], np.ndarray],
                       score_pairs: Callable[[list[tuple[str, str]]], np.ndarray], *,
                       names: Sequence[str] = (), floor: float = DEFAULT_FLOOR,
                       progress: Callable[[str], None] | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pair: the cosine, whether the pair model reads it (cosine >= ``floor`` and the hard
    checks passed), and its probability (0 for pairs it does not read). A pair whose asked text
    is not a question is judged by the cosine rules, as the verifier does
    (:meth:`.Verifier.reads_with_model`): it counts as read with probability 1 when they
    accept it, so that it is served at every p*, and as not read when they refuse it."""
    cos, to_model, by_rules, prob = _read(pairs, embed, score_pairs, names=names, floor=floor,
                                          progress=progress)
    return cos, to_model | by_rules, prob


def _read(pairs: Sequence[Pair], embed: Callable[[list[str]], np.ndarray],
          score_pairs: Callable[[list[tuple[str, str]]], np.ndarray], *, names: Sequence[str],
          floor: float, progress: Callable[[str], None] | None
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`pair_probabilities` with who decides kept apart: (cosine, read by the model,
    accepted by the cosine rules, probability)."""
    pairs = spelt(pairs)
    texts = sorted({t for p in pairs for t in (p.stored, p.asked)})
    if progress:
        progress(f"embedding {len(texts)} questions")
    vecs = np.asarray(embed(texts), dtype=np.float32)
    row = {t: i for i, t in enumerate(texts)}
    cos = np.array([float(vecs[row[p.stored]] @ vecs[row[p.asked]]) for p in pairs])
    rules = Verifier(names)
    asks = np.array([is_question(p.asked) for p in pairs], dtype=bool)
    to_model = asks & (cos >= floor) & np.array(
        [q and rules.hard_check(p.asked, p.stored).ok for p, q in zip(pairs, asks, strict=True)],
        dtype=bool)
    by_rules = np.array([not q and rules.check(p.asked, p.stored, float(c)).ok
                         for p, q, c in zip(pairs, asks, cos, strict=True)], dtype=bool)
    prob = np.where(by_rules, 1.0, 0.0)
    idx = np.flatnonzero(to_model)
    if progress:
        progress(f"pair model on {len(idx)} pairs (cosine >= {floor:g}, hard checks passed)")
    if len(idx):  # the model reads each pair alone (PairModel.score_pairs): one call for all
        prob[idx] = score_pairs([(pairs[j].stored, pairs[j].asked) for j in idx])
    return cos, to_model, by_rules, prob


def calibrate_pairs(pairs: Sequence[Pair], embed: Callable[[list[str]], np.ndarray],
                    score_pairs: Callable[[list[tuple[str, str]]], np.ndarray], *,
                    names: Sequence[str] = (), floor: float = DEFAULT_FLOOR,
                    floors: Sequence[float] | None = None,
                    min_precision: float = DEFAULT_MIN_PRECISION,
                    progress: Callable[[str], None] | None = None) -> PairCalibration:
    """Precision and recall over p* (:data:`GRID`) of the verifier with a pair model: a pair is
    served when its cosine reaches the floor, it passes the hard checks, and the pair model's
    probability reaches p*. The floor is ``floor``, or with ``floors`` (e.g.
    :data:`FLOOR_GRID`) each of them in turn, the model reading each pair once."""
    tried = sorted({float(f) for f in (floors or (floor,))}, reverse=True)
    cos, to_model, by_rules, prob = _read(pairs, embed, score_pairs, names=names,
                                          floor=tried[-1], progress=progress)
    same = np.array([p.same for p in pairs], dtype=bool)
    positives = int(same.sum())
    tables: dict[float, list[PairPoint]] = {}
    by_floor: list[tuple[float, PairPoint | None]] = []
    best: PairPoint | None = None
    for f in tried:  # highest first: a tie in recall keeps the higher floor
        # statements go by the cosine rules whatever the floor, as in the verifier
        reach = (to_model & (cos >= f)) | by_rules
        table: list[PairPoint] = []
        first: PairPoint | None = None
        for t in GRID:
            served = reach & (prob >= t)
            n, right = int(served.sum()), int((served & same).sum())
            pt = PairPoint(t, right / n if n else 1.0, right / positives if positives else 0.0,
                           n, n - right, f)
            table.append(pt)
            if first is None and n > 0 and pt.precision >= min_precision:
                first = pt
        tables[f] = table
        by_floor.append((f, first))
        if first is not None and (best is None or first.recall > best.recall):
            best = first
    chosen = best.floor if best is not None else tried[0]
    return PairCalibration(len(pairs), positives, chosen, tables[chosen], best, min_precision,
                           tuple(by_floor))


def _better(pt: Point, than: Point, ok: bool, than_ok: bool) -> bool:
    if ok != than_ok:
        return ok
    if ok:  # ties go to the higher threshold_same (the grid rises): as for the best point
        return pt.recall >= than.recall
    return (pt.precision, pt.recall) > (than.precision, than.recall)


def parse_thresholds(value: str) -> dict[str, tuple[float, float]]:
    """``"marketing=0.88/0.72,support=0.9"`` -> per namespace ``(threshold, threshold_same)``
    (threshold_same defaults to the lower of the default and threshold)."""
    from .verify import DEFAULT_THRESHOLD_SAME

    out: dict[str, tuple[float, float]] = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        ns, eq, spec = part.partition("=")
        ns = ns.strip()
        if not eq or not ns:
            raise ValueError(f"'{part}': expected namespace=threshold[/threshold_same]")
        t_s, slash, ts_s = spec.partition("/")
        try:
            t = float(t_s)
            ts = float(ts_s) if slash else min(DEFAULT_THRESHOLD_SAME, t)
        except ValueError:
            raise ValueError(f"'{part}': thresholds are cosines, numbers from 0 to 1") from None
        if not (0.0 < t <= 1.0 and 0.0 < ts <= 1.0):
            raise ValueError(f"'{part}': thresholds are cosines from 0 to 1 (exclusive of 0)")
        if ts > t:
            raise ValueError(f"'{part}': threshold_same ({ts}) may not exceed threshold ({t})")
        if ns in out:
            raise ValueError(f"'{ns}' is given twice")
        out[ns] = (t, ts)
    return out


def parse_pair_settings(value: str) -> dict[str, tuple[float, float | None]]:
    """``"marketing=0.93/0.4,support=0.9"`` -> per namespace (p*, cosine floor or None)."""
    out: dict[str, tuple[float, float | None]] = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        ns, eq, spec = part.partition("=")
        ns = ns.strip()
        if not eq or not ns:
            raise ValueError(f"'{part}': expected namespace=probability[/floor]")
        p_text, slash, f_text = spec.partition("/")
        try:
            p_min = float(p_text)
        except ValueError:
            raise ValueError(f"'{part}': p* is a probability, a number from 0 to 1") from None
        if not 0.0 < p_min < 1.0:
            raise ValueError(f"'{part}': p* is a probability between 0 and 1 (exclusive)")
        floor: float | None = None
        if slash:
            try:
                floor = float(f_text)
            except ValueError:
                raise ValueError(f"'{part}': the floor is a cosine, a number from 0 to 1") from None
            if not 0.0 <= floor < 1.0:
                raise ValueError(f"'{part}': the floor is a cosine from 0 (inclusive) to 1")
        if ns in out:
            raise ValueError(f"'{ns}' is given twice")
        out[ns] = (p_min, floor)
    return out


def parse_pair_thresholds(value: str) -> dict[str, float]:
    """``"marketing=0.93/0.4,support=0.9"`` -> per namespace p* of the pair model."""
    return {ns: p for ns, (p, _) in parse_pair_settings(value).items()}


def parse_pair_floors(value: str) -> dict[str, float]:
    """``"marketing=0.93/0.4,support=0.9"`` -> the namespaces' own cosine floors
    (``{"marketing": 0.4}``; the others keep the default)."""
    return {ns: f for ns, (_, f) in parse_pair_settings(value).items() if f is not None}


def format_thresholds(thresholds: dict[str, tuple[float, float]]) -> str:
    return ",".join(f"{ns}={t:g}/{ts:g}" for ns, (t, ts) in sorted(thresholds.items()))


def format_pair_thresholds(thresholds: dict[str, float], floors: dict[str, float] | None = None
                           ) -> str:
    floors = floors or {}
    return ",".join(f"{ns}={p:g}" + (f"/{floors[ns]:g}" if ns in floors else "")
                    for ns, p in sorted(thresholds.items()))


__all__ = ["Calibration", "DEFAULT_MIN_PRECISION", "FLOOR_GRID", "GRID", "Pair", "PairCalibration",
           "PairPoint", "Point", "calibrate", "calibrate_pairs", "format_pair_thresholds",
           "pair_probabilities",
           "format_thresholds", "load_pairs", "parse_pair_floors", "parse_pair_settings",
           "parse_pair_thresholds", "parse_thresholds"]
