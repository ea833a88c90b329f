"""Admission gates: pure functions that decide whether an exchange may be stored.

- :mod:`.admission`: the :class:`Exchange`, :class:`Rejection` and the completeness gate;
- :mod:`.pii`: nothing personal is stored (over :mod:`ethos.pii`);
- :mod:`.quality`: no bad answer is stored.
"""

from __future__ import annotations

from .admission import DEFAULT_GATES, Exchange, Gate, Rejection, completeness_gate, decide

__all__ = ["DEFAULT_GATES", "Exchange", "Gate", "Rejection", "completeness_gate", "decide"]
