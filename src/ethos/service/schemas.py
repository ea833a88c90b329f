"""Request and response bodies."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
)

from ..cache.keys import NAMESPACE_REGEX, validate_namespace
from ..settings import MAX_MESSAGE_CHARS
from .faults import MAX_DELAY_MS

#: "holds a character that str.strip() keeps": Python's whitespace, spelled out, because
#: JSON Schema validators' \s is not Python's (U+001C-U+001F, U+0085)
NOT_BLANK = r"[^\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


def _whole(v: object) -> object:
    # JSON has numbers, not ints: 180.0 is the integer 180 (JSON Schema agrees); 180.5 is not.
    return int(v) if isinstance(v, float) and v.is_integer() else v


#: a positive integer as JSON means it: 180 or 180.0, never "180", true or 180.5
PositiveInt = Annotated[StrictInt, Field(ge=1), BeforeValidator(_whole)]


class CacheControl(BaseModel):
    model_config = ConfigDict(extra="forbid")

    no_cache: StrictBool = False
    no_store: StrictBool = False
    ttl: PositiveInt | None = Field(
        None, description="Lifetime of the stored answer, s."
    )
    namespace: StrictStr | None = Field(None, json_schema_extra={"pattern": NAMESPACE_REGEX})

    @field_validator("namespace")
    @classmethod
    def _ns(cls, v: str | None) -> str | None:
        return None if v is None else validate_namespace(v)


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: StrictStr = Field(
        ..., min_length=1, max_length=MAX_MESSAGE_CHARS, json_schema_extra={"pattern": NOT_BLANK}
    )
    session_id: StrictStr | None = Field(None, min_length=1, max_length=128)
    stream: StrictBool = False
    cache: CacheControl = Field(default_factory=CacheControl)

    @field_validator("message")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("message is blank")
        return v


#: a share of requests, 0..1 (0, 0.2 or 1; not "0.2", true or NaN)
Share = Annotated[StrictFloat, Field(ge=0, le=1, allow_inf_nan=False)]
#: whole milliseconds of a fault's delay (2000 or 2000.0; not "2000", true or 2.5)
DelayMs = Annotated[StrictInt, Field(ge=0, le=MAX_DELAY_MS), BeforeValidator(_whole)]


class FaultsRequest(BaseModel):
    """``PUT /api/admin/faults``: the faults to put in force (the ``ETHOS_FAULTS`` fields);
    a field left out is off, so ``{}`` switches every fault off."""

    model_config = ConfigDict(extra="forbid")

    error_rate: Share = Field(0.0, description="Share of chat requests answered 500 injected_fault, 0..1.")
    latency_ms: DelayMs = Field(0, description="Milliseconds waited before the app is called.")
    ttft_ms: DelayMs = Field(0, description="Milliseconds waited before the first byte of the body.")


class ChatResponse(BaseModel):
    reply: str
    cache: str
    revision: str
    sources: list[str]
    grounded: bool = Field(True, description="False when the knowledge base does not answer the"
                           " question: the reply is then the fallback (what the assistant can"
                           " help with, how to reach sales and support), sources are empty, and"
                           " it is never cached.")
    key: str | None = None
    similarity: float | None = None
