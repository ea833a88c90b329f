"""The intelligent cache: keys, exact and semantic lookup, admission gates, stores."""

from .entry import Entry
from .gates.admission import Exchange, Gate, Rejection, completeness_gate, decide
from .keys import InvalidPattern, Scope, make_key, normalise, parse_pattern
from .response_cache import Lookup, ResponseCache, SemanticMatcher
from .stores import Store, StoreError, StoreMissing, StoreStats, StoreUnavailable, open_store, safe_url

__all__ = [
    "Entry",
    "Exchange",
    "Gate",
    "InvalidPattern",
    "Lookup",
    "Rejection",
    "ResponseCache",
    "Scope",
    "SemanticMatcher",
    "Store",
    "StoreError",
    "StoreMissing",
    "StoreStats",
    "StoreUnavailable",
    "completeness_gate",
    "decide",
    "make_key",
    "normalise",
    "open_store",
    "parse_pattern",
    "safe_url",
]
