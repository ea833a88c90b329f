"""A real model behind any OpenAI-compatible chat-completions endpoint.

The knowledge base still grounds the answer: the best passages go into the system prompt and
their documents are the answer's sources. Calls have a timeout and bounded retries; a failed
call raises :class:`AnswererError` (HTTP 502) or :class:`AnswererTimeout` (504), and nothing
of it is ever cached.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator

import httpx

from .base import Answer, AnswererError, AnswererTimeout, abstention
from .kb_answerer import chunk_text
from .knowledge import KnowledgeBase

#: what the model answers, alone, when the passages do not answer the question
ABSTAIN = "NO_ANSWER"
SYSTEM_PROMPT = (
    "You are the EthosPrompt marketing assistant. Answer the customer's question about"
    " EthosPrompt using only the facts in the passages below. If the passages do not contain"
    f" the answer, reply with exactly {ABSTAIN} and nothing else: do not guess and do not"
    " answer from general knowledge. Be concise and do not address the customer's personal"
    " account or order."
)


def abstained(text: str) -> bool:
    """The model said the passages do not answer (its reply is the marker, give or take
    spaces, quotes and a full stop)."""
    return text.strip().strip("\"'`.").strip() == ABSTAIN


def _could_be_abstaining(text: str) -> bool:
    """What has streamed so far may still turn out to be the marker."""
    t = text.lstrip().lstrip("\"'`")
    return ABSTAIN.startswith(t) or abstained(text)
CONTEXT_PASSAGES = 4
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
BACKOFF_S = 0.2


class OpenAICompatibleAnswerer:
    """Chat completions (streaming or not) with retrieved passages as context."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str,
        *,
        kb: KnowledgeBase | None = None,
        timeout_s: float = 30.0,
        retries: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"ETHOS_LLM_BASE_URL must be an http(s) URL, not {base_url!r}")
        self.kb = kb or KnowledgeBase.bundled()
        self.model = model
        self.id = f"llm:{model}"
        self.kb_version = self.kb.version
        self.prompt_version = hashlib.sha256(SYSTEM_PROMPT.encode()).hexdigest()[:8]
        self.retries = retries
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            transport=transport,
        )

    def _request(self, question: str, stream: bool) -> tuple[dict, Answer]:
        hits = self.kb.search(question, k=CONTEXT_PASSAGES)
        context = "\n\n".join(
            f"[{h.passage.source} / {h.passage.title}]\n{h.passage.text}" for h in hits
        )
        body = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": f"{SYSTEM_PROMPT}\n\nPassages:\n{context}"},
                {"role": "user", "content": question},
            ],
            "temperature": 0,
            "stream": stream,
        }
        grounding = Answer(
            "",
            sources=list(dict.fromkeys(h.passage.source for h in hits)),
            retrieval_score=hits[0].score if hits else 0.0,
            source_texts=[h.passage.text for h in hits],
        )
        return body, grounding

    async def _send(self, body: dict) -> httpx.Response:
        """POST with bounded retries; returns an open (streaming) response with status 200."""
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(BACKOFF_S * 2 ** (attempt - 1))
            try:
                req = self._client.build_request("POST", "chat/completions", json=body)
                resp = await self._client.send(req, stream=True)
            except httpx.TimeoutException as e:
                last = AnswererTimeout(f"the LLM provider did not answer in time ({e!r})")
                continue
            except httpx.ConnectError as e:
                last = AnswererError(f"cannot reach the LLM provider: {type(e).__name__}")
                continue
            except httpx.HTTPError as e:  # reached, then the connection broke (reset, closed)
                last = AnswererError(
                    f"the connection to the LLM provider broke: {type(e).__name__}"
                )
                continue
            if resp.status_code == 200:
                return resp
            await resp.aread()
            await resp.aclose()
            last = AnswererError(f"the LLM provider answered HTTP {resp.status_code}")
            if resp.status_code not in RETRY_STATUSES:
                break
        assert last is not None
        raise last

    async def answer(self, question: str) -> Answer:
        body, ans = self._request(question, stream=False)
        resp = await self._send(body)
        try:
            data = json.loads(await resp.aread())
            choice = data["choices"][0]
            ans.text = choice["message"]["content"] or ""
            ans.finish_reason = choice.get("finish_reason") or "stop"
        except httpx.TimeoutException as e:
            raise AnswererTimeout("the LLM provider stopped answering") from e
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise AnswererError("the LLM provider sent a malformed reply") from e
        finally:
            await resp.aclose()
        if abstained(ans.text):
            return abstention(ans.retrieval_score)
        return ans

    async def stream(self, question: str) -> AsyncIterator[str | Answer]:
        body, ans = self._request(question, stream=True)
        resp = await self._send(body)
        parts: list[str] = []
        finish = None
        events = 0
        # Deltas are held back while the reply may still be the abstention marker, so that the
        # client never sees it: it gets the fallback instead.
        held = True
        try:
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                events += 1
                payload = line[5:].strip()
                if payload == "[DONE]":
                    break
                try:
                    choice = json.loads(payload)["choices"][0]
                except (ValueError, KeyError, IndexError, TypeError) as e:
                    raise AnswererError("the LLM provider sent a malformed stream") from e
                delta = (choice.get("delta") or {}).get("content") or ""
                if delta:
                    parts.append(delta)
                    if not held:
                        yield delta
                    elif not _could_be_abstaining("".join(parts)):
                        held = False
                        yield "".join(parts)
                finish = choice.get("finish_reason") or finish
        except httpx.TimeoutException as e:
            raise AnswererTimeout("the LLM provider stopped streaming") from e
        except httpx.HTTPError as e:
            raise AnswererError(f"the LLM stream broke: {type(e).__name__}") from e
        finally:
            await resp.aclose()
        if not events:
            # a 200 whose body holds no event at all (an HTML error page, an empty body) is
            # no answer: an empty reply must not pass for one
            raise AnswererError("the LLM provider sent a malformed stream")
        ans.text = "".join(parts)
        # A stream that ends without a finish reason was cut off.
        ans.finish_reason = finish or "length"
        if held and abstained(ans.text):
            fallback = abstention(ans.retrieval_score)
            for chunk in chunk_text(fallback.text):
                yield chunk
            yield fallback
            return
        if held and ans.text:  # a reply shorter than the marker, or a prefix of it
            yield ans.text
        yield ans

    async def aclose(self) -> None:
        await self._client.aclose()
