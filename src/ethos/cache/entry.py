"""One cached answer and what is known about it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(slots=True)
class Entry:
    """A cached answer.

    ``question`` is the normalised question (never the raw message); ``embedding`` is
    the question's vector as float32 bytes, or empty when the semantic tier is off.
    """

    key: str
    namespace: str
    format_version: int
    scope: str  # Scope.digest
    question: str
    reply: str
    sources: list[str] = field(default_factory=list)
    created_at: float = 0.0  # unix seconds
    ttl_s: int = 0  # seconds; 0 never expires
    hit_count: int | None = 0  # times served; None when the store cannot tell
    embedding: bytes = b""
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def expires_at(self) -> float:
        return self.created_at + self.ttl_s if self.ttl_s else float("inf")

    def expired(self, now: float) -> bool:
        return now >= self.expires_at

    def to_json(self) -> str:
        """The entry without its embedding, as stores keep it."""
        return json.dumps(
            {
                "key": self.key,
                "namespace": self.namespace,
                "format_version": self.format_version,
                "scope": self.scope,
                "question": self.question,
                "reply": self.reply,
                "sources": self.sources,
                "created_at": self.created_at,
                "ttl_s": self.ttl_s,
                "meta": self.meta,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str | bytes, hit_count: int | None = 0, embedding: bytes = b"") -> Entry:
        d = json.loads(raw)
        return cls(
            key=d["key"],
            namespace=d["namespace"],
            format_version=int(d["format_version"]),
            scope=d["scope"],
            question=d["question"],
            reply=d["reply"],
            sources=list(d.get("sources", [])),
            created_at=float(d["created_at"]),
            ttl_s=int(d["ttl_s"]),
            hit_count=hit_count,
            embedding=embedding,
            meta=dict(d.get("meta", {})),
        )
