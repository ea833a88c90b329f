"""Request and response bodies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator

from ..cache.keys import validate_namespace
from ..settings import MAX_MESSAGE_CHARS


class CacheControl(BaseModel):
    model_config = ConfigDict(extra="forbid")

    no_cache: StrictBool = False
    no_store: StrictBool = False
    ttl: StrictInt | None = Field(None, ge=1, description="Lifetime of the stored answer, s.")
    namespace: StrictStr | None = None

    @field_validator("namespace")
    @classmethod
    def _ns(cls, v: str | None) -> str | None:
        return None if v is None else validate_namespace(v)


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: StrictStr = Field(..., min_length=1, max_length=MAX_MESSAGE_CHARS)
    session_id: StrictStr | None = Field(None, min_length=1, max_length=128)
    stream: StrictBool = False
    cache: CacheControl = Field(default_factory=CacheControl)

    @field_validator("message")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("message is blank")
        return v


class ChatResponse(BaseModel):
    reply: str
    cache: str
    revision: str
    sources: list[str]
    key: str | None = None
    similarity: float | None = None
