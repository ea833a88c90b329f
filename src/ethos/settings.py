"""One typed settings object for the whole service, read from ``ETHOS_*`` variables.

Every field says its unit. Secrets (the admin key, the LLM key) are read here and
nowhere else, and are kept as ``SecretStr`` so that they never appear in a repr or log.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The cache format this code writes and reads. Entries of other formats are misses.
CACHE_FORMAT_VERSION = 1

#: The cache URLs ``open_store`` knows (an empty URL means SQLite under the state dir).
CACHE_URL_SCHEMES = ("sqlite://", "redis://", "rediss://", "unix://", "firestore://")

#: Longest accepted chat message, in characters.
MAX_MESSAGE_CHARS = 4000


class Settings(BaseSettings):
    """Settings of one revision of the service."""

    model_config = SettingsConfigDict(env_prefix="ETHOS_", extra="ignore")

    # --- the revision -------------------------------------------------------
    revision: str = Field("blue", description="Name of this revision (blue, green, ...).")
    state_dir: Path = Field(Path(".ethos"), description="Directory for local state files.")

    # --- the cache ----------------------------------------------------------
    cache_enabled: bool = Field(True, description="False bypasses the cache entirely.")
    cache_url: str = Field(
        "",
        description="sqlite:///PATH, redis://HOST:PORT/DB or firestore://PROJECT[/DATABASE]"
        "[?collection=NAME]; empty means sqlite under state_dir.",
    )
    cache_namespace: str = Field("marketing", description="Default cache namespace.")
    cache_format_version: int = Field(
        CACHE_FORMAT_VERSION, ge=1, description="Cache format written and read."
    )
    cache_ttl_s: int = Field(86400, ge=1, description="Default entry lifetime, seconds.")
    cache_max_ttl_s: int = Field(
        30 * 86400, ge=1, description="Longest lifetime a request may ask for, seconds."
    )
    cache_memory_entries: int = Field(
        10000, ge=0, description="Entries kept in the in-process memory tier (0: none)."
    )
    semantic_enabled: bool = Field(
        True, description="Answer paraphrases from the cache (loads all-MiniLM-L6-v2 offline)."
    )
    onnx_threads: int = Field(
        0, ge=0, description="Threads one embedding or pair-model call may use; 0: one per core"
        " (ONNX Runtime's choice). 1 suits several revisions sharing a machine's cores.",
    )
    semantic_thresholds: str = Field(
        "", description="Per-namespace cosine thresholds of the semantic verifier, from"
        " `ethos cache calibrate`: namespace=threshold/threshold_same,... (others keep the"
        " defaults).",
    )
    semantic_pair_model: str = Field(
        "", description="The pair model (a cross-encoder read last, before a paraphrase is"
        " served): empty, the int8 ONNX model shipped in the package (the cosine rules decide"
        " when it is not there); a path to another one (`make verifier` trains one); 'off': the"
        " cosine rules only.",
    )
    semantic_pair_thresholds: str = Field(
        "", description="Per-namespace p* of the pair model, and optionally its cosine floor"
        " (the cosine a stored question needs before the model reads it), from `ethos cache"
        " calibrate`: namespace=p[/floor],... (others keep the model's own p*, from its card,"
        " and the floor 0.35).",
    )
    semantic_sync_interval_s: float = Field(
        5.0, ge=0, description="How often each process adds the questions other instances"
        " stored to its vector indexes (their paraphrases then hit here too), seconds; reads"
        " only the entries put since the last time (0: never; a restart still loads them).",
    )
    semantic_max_rows: int = Field(
        100_000, ge=0, description="Questions each scope's vector index holds at most; past it"
        " the ones whose entries expire first stop answering paraphrases (their entries still"
        " answer the same question). About 5 KiB of memory each; 0: no cap.",
    )
    semantic_index_dir: str = Field(
        "", description="Where each scope's vector index (its HNSW graph) is saved once built, so"
        " that a new process installs it instead of building it again; empty: state_dir/"
        "semantic-index; 'off': never saved. A directory that cannot be written turns it off.",
    )
    pii_selftest_interval_s: float = Field(
        300.0, gt=0, description="How often the PII detector's self-test runs, seconds."
    )
    pii_scan_interval_s: float = Field(
        60.0, ge=0, description="How often the store's entries new since the last scan are"
        " scanned for PII, seconds (0: no periodic scan).",
    )
    pii_scan_full_interval_s: float = Field(
        3600.0, gt=0, description="How often the periodic scan reads the whole store, seconds.",
    )
    pii_scan_batch: int = Field(
        500, ge=1, description="Entries the periodic PII scan reads per step.",
    )
    pii_scan_cpu_share: float = Field(
        0.2, gt=0, le=1, description="Most of one CPU the periodic PII scan may use: after"
        " each batch it pauses so its CPU time stays under this share.",
    )
    cache_store_timeout_s: float = Field(
        0.25, gt=0, description="Timeout of one store operation, seconds."
    )
    cache_purge_interval_s: float = Field(
        300.0, ge=0, allow_inf_nan=False,
        description="How often each revision removes expired entries from the store, its memory"
        " tier and its vector indexes, seconds (0: never; reads skip expired entries either way).",
    )
    cache_purge_batch: int = Field(
        1000, ge=1, description="Most expired entries one purge pass removes from the store; a"
        " pass that removes this many is followed by the next within seconds.",
    )
    store_prices_usd_per_100k: dict[str, float] = Field(
        default_factory=lambda: dict(_default_prices()),
        description="USD per 100,000 store operations by kind (read, write, delete, query),"
        " for ethos_store_estimated_cost_usd_total; JSON. Default: Firestore's multi-region"
        " list prices (see ethos.cache.stores.pricing for the date they were read).",
    )

    # --- capacity: load shedding (ethos.service.capacity) -------------------
    max_concurrent: int = Field(
        64, ge=0, description="Requests past the exact tier (semantic lookup, answerer) at once;"
        " 0 turns the limit off. A slot is held through an LLM call: with answers of about"
        " 2 s, 64 slots pass about 32 requests a second.",
    )
    max_queued: int = Field(
        64, ge=0, description="Requests waiting for one of those slots; more get 503 at once.",
    )
    queue_timeout_s: float = Field(
        5.0, gt=0, description="Longest wait for a slot, seconds; then 503 with Retry-After.",
    )

    # --- the answerer -------------------------------------------------------
    llm_base_url: str = Field(
        "", description="OpenAI-compatible base URL (…/v1); empty: the embedded KB answerer."
    )
    llm_api_key: SecretStr = Field(SecretStr(""), description="Bearer key of the LLM endpoint.")
    llm_model: str = Field("gpt-4o-mini", description="Model name sent to the LLM endpoint.")
    llm_timeout_s: float = Field(30.0, gt=0, description="Timeout of one LLM call, seconds.")
    llm_retries: int = Field(2, ge=0, le=5, description="Retries of a failed LLM call.")
    kb_dir: Path | None = Field(
        None, description="Directory of markdown documents; default: the bundled KB."
    )

    # --- the admin surface --------------------------------------------------
    admin_api_key: SecretStr = Field(
        SecretStr(""), description="Key for /api/admin/*; admin routes refuse without one."
    )

    # --- fault injection (tests and drills only) ----------------------------
    faults: str = Field(
        "",
        description="Misbehave on purpose, e.g. 'error_rate=0.1,latency_ms=2000,ttft_ms=800'."
        " Off unless set; /health shows it.",
    )

    # --- logging ------------------------------------------------------------
    log_file: Path | None = Field(
        None, description="Also append JSON log lines here (default: stderr only)."
    )

    @field_validator("log_file", "kb_dir", mode="before")
    @classmethod
    def _empty_path_is_none(cls, v: object) -> object:
        return None if v == "" else v

    @field_validator("cache_url")
    @classmethod
    def _cache_url(cls, v: str) -> str:
        # A URL that can never work is a configuration error, not a degraded start: a store
        # that is down (Redis, the Firestore emulator) is reopened by itself; a typo never is.
        v = v.strip()
        if v and not v.startswith(CACHE_URL_SCHEMES):
            shown = v.split("://", 1)[0] + "://..." if "://" in v else "a URL without a scheme"
            raise ValueError(
                f"unknown cache URL scheme ({shown}): use sqlite:///PATH, redis://HOST:PORT/DB,"
                " rediss://..., unix:///PATH or firestore://PROJECT[/DATABASE]"
            )
        return v

    @field_validator("revision")
    @classmethod
    def _revision_name(cls, v: str) -> str:
        v = v.strip()
        if not v or not all(c.isalnum() or c in "-_." for c in v):
            raise ValueError("revision must be a non-empty name of letters, digits, - _ .")
        return v

    @field_validator("store_prices_usd_per_100k")
    @classmethod
    def _prices(cls, v: dict[str, float]) -> dict[str, float]:
        from .cache.stores.pricing import OPS, PriceTable

        unknown = sorted(set(v) - set(OPS))
        if unknown:
            raise ValueError(f"unknown store operation {unknown[0]!r}: price read, write, delete, query")
        return dict(PriceTable.of(v).usd_per_100k)

    @field_validator("semantic_thresholds", "semantic_pair_thresholds")
    @classmethod
    def _check_per_namespace(cls, v: str, info: ValidationInfo) -> str:
        if not v.strip():
            return v  # (nothing imported: the semantic package pulls in numpy)
        from .cache.semantic import calibrate

        parse = (calibrate.parse_thresholds if info.field_name == "semantic_thresholds"
                 else calibrate.parse_pair_thresholds)
        try:
            parse(v)
        except ValueError as e:
            raise ValueError(f"ETHOS_{str(info.field_name).upper()}: {e}") from None
        return v

    @field_validator("semantic_pair_model")
    @classmethod
    def _check_pair_model(cls, v: str) -> str:
        # a model named explicitly must be there: a typo would silently turn the model off
        w = v.strip()
        if w and w.lower() != "off" and not Path(w).expanduser().is_file():
            raise ValueError(f"ETHOS_SEMANTIC_PAIR_MODEL: no model file at {w} (empty: the"
                             " shipped model; 'off': none)")
        return v

    def resolved_pair_thresholds(self) -> dict[str, float]:
        """Per namespace p* from ETHOS_SEMANTIC_PAIR_THRESHOLDS."""
        if not self.semantic_pair_thresholds.strip():
            return {}
        from .cache.semantic.calibrate import parse_pair_thresholds

        return parse_pair_thresholds(self.semantic_pair_thresholds)

    def resolved_pair_floors(self) -> dict[str, float]:
        """Per namespace cosine floor from ETHOS_SEMANTIC_PAIR_THRESHOLDS (``ns=p/floor``)."""
        if not self.semantic_pair_thresholds.strip():
            return {}
        from .cache.semantic.calibrate import parse_pair_floors

        return parse_pair_floors(self.semantic_pair_thresholds)

    def resolved_semantic_thresholds(self) -> dict[str, tuple[float, float]]:
        """Per namespace ``(threshold, threshold_same)`` from ETHOS_SEMANTIC_THRESHOLDS."""
        if not self.semantic_thresholds.strip():
            return {}
        from .cache.semantic.calibrate import parse_thresholds

        return parse_thresholds(self.semantic_thresholds)

    @field_validator("cache_namespace")
    @classmethod
    def _namespace(cls, v: str) -> str:
        # it starts every key and every pattern of the namespace: no glob or store syntax
        from .cache.keys import validate_namespace

        return validate_namespace(v)

    def resolved_semantic_index_dir(self) -> Path | None:
        """Where vector indexes are saved, or None when that is off."""
        v = self.semantic_index_dir.strip()
        if v.lower() in ("off", "none", "false", "0"):
            return None
        return Path(v) if v else self.state_dir / "semantic-index"

    def resolved_cache_url(self) -> str:
        """The cache URL, defaulting to a SQLite file under ``state_dir``."""
        if self.cache_url:
            return self.cache_url
        return f"sqlite:///{(self.state_dir / 'cache.sqlite3').as_posix()}"


def _default_prices() -> dict[str, float]:
    from .cache.stores.pricing import FIRESTORE_MULTI_REGION_USD_PER_100K

    return FIRESTORE_MULTI_REGION_USD_PER_100K


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once from the environment."""
    return Settings()
