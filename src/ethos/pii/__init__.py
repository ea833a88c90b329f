"""PII detection for chat text: no model, no network, one regex pass plus validators.

``detect(text)`` lists :class:`Finding` (entity, start, end, score); ``redact(text)`` makes
a text safe to log; ``selftest()`` tells a broken detector from a quiet day;
``scan_entries()`` checks what the cache already holds. This package imports nothing
else of ethos.
"""

from __future__ import annotations

from .allow import DEFAULT_ALLOW, allow_set
from .allow import ENV_VAR as ALLOW_ENV_VAR
from .detect import detect, detect_exchange, redact
from .finding import ENTITIES, Finding
from .scan import Leak, ScanProgress, scan_entries, scan_entry
from .selftest import SELFTEST_SAMPLES, selftest


def log_safe(text: str) -> str:
    """``text`` redacted for a log line or an evidence file.

    The operator's allow-list (``$ETHOS_PII_ALLOW``) is not applied: it only lets the cache store
    answers that name those values, and a wrong entry in it must never put a customer's data in
    a log in clear. Our own published contacts (:data:`DEFAULT_ALLOW`) stay readable.
    """
    return redact(text, allow=DEFAULT_ALLOW)

__all__ = [
    "ALLOW_ENV_VAR",
    "DEFAULT_ALLOW",
    "ENTITIES",
    "Finding",
    "Leak",
    "SELFTEST_SAMPLES",
    "ScanProgress",
    "allow_set",
    "detect",
    "detect_exchange",
    "log_safe",
    "redact",
    "scan_entries",
    "scan_entry",
    "selftest",
]
