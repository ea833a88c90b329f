"""Fuzz a running HTTP API from its OpenAPI document with schemathesis, bounded and reproducible.

Every operation is fuzzed with schema-valid (positive) and schema-violating (negative) cases,
at most ``max_examples`` of each, derandomized (the same cases every run, no example
database) and without a deadline. Each response goes through schemathesis's checks (no 5xx;
status, content type, headers and body as documented; valid input accepted and invalid
input refused; auth enforced) and :func:`json_error`: every error is JSON with an ``error``.

Used by the ``test_fuzz_*`` integration tests (few examples) and ``bench/fuzz.py`` (many).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from schemathesis.config import SanitizationConfig
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.parameters import ParameterLocation

#: Rules the documents cannot state, so the checks that assume them are not run there:
#: router weights must sum to 100 (a schema-valid split may be refused); a console action's
#: body depends on the action (weights, stages, known revisions), the schema is their union.
RELAXED: dict[str, list[Any]] = {
    "PUT /router/traffic": [positive_data_acceptance],
    "POST /router/traffic": [positive_data_acceptance],
    "POST /api/console/actions/{action}": [positive_data_acceptance, negative_data_rejection],
}


def dry_run(case: Any) -> None:
    """Make a console action a dry run (a real one would roll back whatever its targets are)."""
    if isinstance(case.body, dict):
        case.body = {**case.body, "dry_run": True}


class ErrorNotJson(Failure):
    """An error response that is not a JSON object with an ``error`` string."""


def json_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """Check: a status >= 400 carries ``application/json`` ``{"error": str, ...}``."""
    if response.status_code < 400:
        return None
    ctype = (response.headers.get("content-type") or [""])[0]
    problem = None
    if not ctype.startswith("application/json"):
        problem = f"content-type {ctype!r}, not application/json"
    else:
        try:
            body = json.loads(response.content)
        except ValueError:
            body, problem = None, "the body is not JSON"
        if problem is None and not (isinstance(body, dict) and isinstance(body.get("error"), str)):
            problem = 'the body has no "error" string'
    if problem is not None:
        raise ErrorNotJson(
            operation=case.operation.label, title="Error response is not a JSON error",
            message=f"{response.status_code}: {problem}",
        )
    return True


@dataclass
class OperationResult:
    """One operation (``METHOD /path``) fuzzed in every mode."""

    label: str
    cases: int = 0
    failing_cases: int = 0
    seconds: float = 0.0
    #: one example per distinct failure: title -> (status, reproducing curl command)
    failures: dict[str, tuple[int | None, str]] = field(default_factory=dict)

    def describe(self) -> str:
        lines = [f"{self.label}: {self.failing_cases} of {self.cases} cases failed"]
        for title, (status, curl) in self.failures.items():
            lines.append(f"  - {title} (status {status})\n      {curl}")
        return "\n".join(lines)


def load(schema_url: str, headers: dict[str, str] | None = None) -> Any:
    """The schemathesis schema of the document at ``schema_url``.

    Reproducing commands hide only the admin key (by default schemathesis also hides
    ``key_pattern`` and ``session_id``, the very values a reproduction needs).
    """
    schema = schemathesis.openapi.from_url(schema_url, headers=headers or {}, timeout=10)
    schema.config.output.sanitization = SanitizationConfig(
        keys_to_sanitize=("x-admin-api-key",), sensitive_markers=("admin-api-key",)
    )
    return schema


def fuzz(
    schema: Any,
    base_url: str,
    *,
    headers: dict[str, str] | None = None,
    max_examples: int = 20,
    modes: Iterable[GenerationMode] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
    prepare: Callable[[Any], Any] | None = None,
    only: Callable[[str], bool] | None = None,
    relaxed: Mapping[str, Sequence[Any]] | None = RELAXED,
) -> list[OperationResult]:
    """Fuzz every operation of ``schema`` against ``base_url``; a result per operation.

    ``headers`` go with every request (the admin key); ``prepare(case)`` may adjust a case
    before it is sent (e.g. force a dry run); ``only(label)`` selects operations;
    ``relaxed[label]`` lists checks not run for that operation (a rule its schema cannot
    state, such as weights summing to 100).
    """
    results = []
    with requests.Session() as session:
        for op_result in schema.get_all_operations():
            op = op_result.ok()
            if only is not None and not only(op.label):
                continue
            res = OperationResult(op.label)
            t0 = time.perf_counter()
            for mode in modes:
                _run(op, mode, res, session, base_url, headers or {}, max_examples, prepare,
                     list((relaxed or {}).get(op.label, ())))
            res.seconds = time.perf_counter() - t0
            results.append(res)
    return results


def _run(op, mode, res, session, base_url, headers, max_examples, prepare, excluded) -> None:
    @settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate],
              report_multiple_bugs=False)
    @given(case=op.as_strategy(generation_mode=mode))
    def one(case) -> None:
        if prepare is not None:
            prepare(case)
        res.cases += 1
        # A case made invalid in its headers (say, the key left out) is sent as generated:
        # adding the key back would make it valid, and its acceptance would look like a bug.
        sent = {} if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER) else headers
        response = case.call(base_url=base_url, session=session, headers=sent, timeout=30)
        try:
            case.validate_response(response, additional_checks=[json_error], excluded_checks=excluded,
                                   headers=sent,
                                   transport_kwargs={"base_url": base_url, "headers": sent})
        except FailureGroup as group:
            res.failing_cases += 1
            curl = case.as_curl_command(headers=sent, base_url=base_url)
            for f in group.exceptions:
                res.failures.setdefault(f"{mode.value}: {f.title}: {_one_line(f.message)}",
                                        (response.status_code, curl))

    try:
        one()
    except Unsatisfiable:
        pass  # nothing to vary (no parameters): no negative case exists


def _one_line(text: str, limit: int = 160) -> str:
    s = " ".join(text.split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def report(results: list[OperationResult]) -> str:
    """Every operation with failures, described (empty when there are none)."""
    return "\n".join(r.describe() for r in results if r.failing_cases)


#: bodies no schema-driven generator sends, for every route that parses JSON: each must get a
#: clear 4xx (or a 2xx when it is valid after all), never a 5xx
HOSTILE_BODIES: dict[str, bytes] = {
    "deep_array": b"[" * 30_000,
    "deep_object": b'{"a":' * 20_000,
    "deep_in_a_field": b'{"message": "hi", "session_id": "s", "executed_by": "x", "weights": '
                       + b"[" * 30_000,
    "invalid_utf8": b'{"message": "\xff\xfe", "executed_by": "\xc3"}',
    "raw_control_chars": b'{"message": "a\x00b\x1f"}',
    "huge_number": b'{"message": "hi", "blue": ' + b"9" * 5000 + b"}",
    "non_finite": b'{"message": "hi", "blue": NaN, "green": Infinity}',
    "lone_surrogate": b'{"message": "\\ud800", "executed_by": "\\udfff"}',
    "duplicate_keys": b'{"message": "a", "message": "b"}',
    "empty": b"",
    "not_json": b"\x00\x01\x02",
}


def hostile_problems(status: int, content_type: str, body: bytes) -> str | None:
    """What is wrong with the answer to a hostile body (None: a clear 4xx, or a 2xx)."""
    if status >= 500:
        return f"answered {status}"
    if status >= 400:
        if not content_type.startswith("application/json"):
            return f"{status} with content-type {content_type!r}"
        try:
            data = json.loads(body)
        except ValueError:
            return f"{status} with a body that is not JSON"
        if not (isinstance(data, dict) and isinstance(data.get("error"), str)):
            return f'{status} without an "error" string'
    return None


def stray_problems(schema_url: str, base_url: str, missing: list[str],
                   headers: dict[str, str] | None = None) -> list[str]:
    """Undocumented methods on documented paths, and the ``missing`` paths: each must get a
    JSON 404/405 (what schema-driven fuzzing never sends). Problems found, as text."""
    doc = requests.get(schema_url, timeout=10).json()
    problems = []
    with requests.Session() as s:
        probes = [(m, path) for path, item in doc["paths"].items() if "{" not in path
                  for m in ("GET", "POST", "PUT", "DELETE", "PATCH") if m.lower() not in item]
        probes += [("GET", p) for p in missing]
        for method, path in probes:
            r = s.request(method, base_url + path, headers=headers, timeout=10)
            problem = hostile_problems(r.status_code, r.headers.get("content-type", ""), r.content)
            if r.status_code not in (404, 405) or problem:
                problems.append(f"{method} {path}: {r.status_code} {problem or ''} {r.text[:80]!r}")
    return problems


__all__ = ["HOSTILE_BODIES", "RELAXED", "OperationResult", "dry_run", "fuzz", "hostile_problems", "json_error", "load", "report", "stray_problems"]
