"""The PII gate: an exchange whose prompt or answer holds personal information is answered
but never stored (and so never becomes anyone's semantic neighbour).

Pure: the service calls :func:`pii_check` once per exchange, counts
``ethos_pii_detections_total{entity, where}`` from the findings, and feeds the rejection
to admission; or it puts :data:`pii_gate` in the gate list when it does not need counts.
Details name entity types and where they were, never the values.
"""

from __future__ import annotations

from collections.abc import Iterable

from ethos.pii import detect_exchange

from .admission import Exchange, Gate, Rejection

#: where a finding was
WHERES: tuple[str, ...] = ("prompt", "answer")


def pii_findings(ex: Exchange, allow: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Entity types found, per place: ``{"prompt": [...], "answer": [...]}`` (one item per
    finding, so ``Counter`` of a list gives the count per entity)."""
    found = detect_exchange(ex.question, ex.reply, allow)
    return {where: [f.entity for f in found[where]] for where in WHERES}


def pii_rejection(findings: dict[str, list[str]]) -> Rejection | None:
    """The rejection for these findings, or None when there are none.

    reason ``pii:<ENTITY>`` names the first entity found (prompt first); the detail lists
    every entity type per place.
    """
    parts, first = [], None
    for where in WHERES:
        entities = findings.get(where) or []
        if entities:
            first = first or entities[0]
            parts.append(f"{where}: {', '.join(sorted(set(entities)))}")
    if first is None:
        return None
    return Rejection("pii", f"pii:{first}", "; ".join(parts))


def pii_check(
    ex: Exchange, allow: Iterable[str] | None = None
) -> tuple[dict[str, list[str]], Rejection | None]:
    """Findings and the rejection in one detection pass (for the service)."""
    findings = pii_findings(ex, allow)
    return findings, pii_rejection(findings)


def make_pii_gate(allow: Iterable[str] | None = None) -> Gate:
    """A gate with its own allow-list (None: the default plus ``$ETHOS_PII_ALLOW``)."""
    frozen = None if allow is None else tuple(allow)

    def pii_gate(ex: Exchange) -> Rejection | None:
        return pii_rejection(pii_findings(ex, frozen))

    return pii_gate


#: the gate with the default allow-list
pii_gate: Gate = make_pii_gate()
