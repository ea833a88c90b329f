"""Cloud Run as a traffic manager, through the official ``google-cloud-run`` client (Admin API v2).

**Tags, not revision names.** On Cloud Run a revision's name is made at deploy time
(``marketing-api-00012-xuv``) and never reused, so "blue" and "green" are *tags*: labels in
the service's traffic that point at a revision and move with each deploy
(``gcloud run deploy --no-traffic --tag green``), each with its own URL
``https://TAG---SERVICE-HASH-REGIONCODE.a.run.app``. Each of our names (``blue``, ``green``)
is addressed by a tag (the default: the tag of the same name) or by a revision name
(``revisions={"blue": "marketing-api-00012-xuv"}``); tags are resolved to revisions on every
call, from the service as it is then.

**A shift** does what ``gcloud run services update-traffic SERVICE --to-tags blue=100`` does:
read the service, replace its traffic with one revision target per non-zero weight and keep
every tag (on 0 % targets, as gcloud writes them), update the service with the etag it was
read with, and await the long-running operation. A shift the API refuses (403, 404, 409 etag
mismatch, 400) changes nothing and the error says why; an operation that fails or does not
finish in time raises with its name (journaled; ``ethos rollback resume`` reads the traffic
again and acts only if needed).

**Reading**: the weights in force come from ``traffic_statuses`` (the spec, ``traffic``, is
what was asked); the tag URLs from the same statuses (:meth:`CloudRunTraffic.revision_urls`).

Credentials: Application Default Credentials unless ``credentials=`` or ``client=`` is given.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import (
    CloudRunNotFoundError,
    InvalidWeightsError,
    TrafficAuthError,
    TrafficConflictError,
    TrafficError,
    TrafficOperationError,
    TrafficUnreachableError,
    UnknownRevisionError,
)
from .base import TrafficManager, Weights, validate_weights

#: Cloud Run's regions (2025); used only to say which of project / region is wrong after the
#: API answered "not found" (never to refuse a call: the API is the judge).
CLOUD_RUN_REGIONS = frozenset("""
africa-south1 asia-east1 asia-east2 asia-northeast1 asia-northeast2 asia-northeast3 asia-south1
asia-south2 asia-southeast1 asia-southeast2 australia-southeast1 australia-southeast2
europe-central2 europe-north1 europe-north2 europe-southwest1 europe-west1 europe-west2
europe-west3 europe-west4 europe-west6 europe-west8 europe-west9 europe-west10 europe-west12
me-central1 me-central2 me-west1 northamerica-northeast1 northamerica-northeast2
northamerica-south1 southamerica-east1 southamerica-west1 us-central1 us-east1 us-east4
us-east5 us-south1 us-west1 us-west2 us-west3 us-west4
""".split())

ADC_HELP = ("ethos uses Application Default Credentials (ADC): on a workstation run "
            "`gcloud auth application-default login`; in CI set GOOGLE_APPLICATION_CREDENTIALS to a "
            "service-account key file (or use workload identity federation); on Cloud Run, GKE or "
            "Compute Engine the attached service account is used")


@dataclass(frozen=True)
class RevisionRef:
    """How one of our names finds its Cloud Run revision: by ``tag`` or by ``revision`` name."""

    kind: str  # "tag" | "revision"
    value: str

    def __str__(self) -> str:
        return f"{self.kind} {self.value}"


@dataclass(frozen=True)
class Entry:
    """One traffic target, client-neutral: a revision (or the latest ready one), a percent, a tag."""

    revision: str = ""
    percent: int = 0
    tag: str = ""
    latest: bool = False
    uri: str = ""


def make_refs(names: list[str], tags: Mapping[str, str] | None = None,
              revisions: Mapping[str, str] | None = None) -> dict[str, RevisionRef]:
    """Our names -> refs: ``revisions`` by name, ``tags`` by tag, any other name by the tag of
    the same name. A name in both is refused (``ValueError``). Pure."""
    tags, revisions = dict(tags or {}), dict(revisions or {})
    both = sorted(set(tags) & set(revisions))
    if both:
        raise ValueError(f"{', '.join(both)}: addressed both by tag and by revision name; choose one")
    out: dict[str, RevisionRef] = {}
    for name in [*names, *[n for n in [*tags, *revisions] if n not in names]]:
        if name in revisions:
            out[name] = RevisionRef("revision", revisions[name])
        else:
            out[name] = RevisionRef("tag", tags.get(name, name))
    return out


def tag_map(entries: list[Entry], latest_ready: str = "") -> dict[str, str]:
    """Tag -> revision name (a tag on the latest revision resolves to ``latest_ready``). Pure."""
    return {e.tag: (latest_ready if e.latest else e.revision) for e in entries if e.tag}


def resolve(refs: Mapping[str, RevisionRef], entries: list[Entry], latest_ready: str, where: str) -> dict[str, str]:
    """Our names -> Cloud Run revision names, from the service's traffic entries. Pure.

    Raises :class:`UnknownRevisionError` naming a tag that is on no target (with the tags
    there are), and when two of our names land on the same revision (nothing to shift).
    """
    tags = tag_map(entries, latest_ready)
    out: dict[str, str] = {}
    for name, ref in refs.items():
        if ref.kind == "revision":
            out[name] = ref.value
            continue
        if ref.value not in tags:
            have = ", ".join(f"{t} -> {r}" for t, r in sorted(tags.items())) or "none"
            raise UnknownRevisionError(
                f"tag {ref.value!r} ({name}) is on no traffic target of {where} (tags: {have}); "
                f"add it with `gcloud run services update-traffic SERVICE --update-tags {ref.value}=REVISION`")
        out[name] = tags[ref.value]
    seen: dict[str, str] = {}
    for name, rev in out.items():
        if rev in seen:
            raise UnknownRevisionError(
                f"{seen[rev]} ({refs[seen[rev]]}) and {name} ({refs[name]}) are the same revision {rev} "
                f"on {where}: there is nothing to shift between them")
        seen[rev] = name
    return out


def weights_of(entries: list[Entry], names: Mapping[str, str], latest_ready: str = "") -> Weights:
    """Our weights from traffic entries in force; ``names``: ours -> revision. Pure.

    Every one of our names is present (0 when it has no traffic); a revision with traffic that
    is none of ours is reported under its own name, so nothing in force is hidden.
    """
    by_rev = {rev: ours for ours, rev in names.items()}
    out: Weights = {ours: 0 for ours in names}
    for e in entries:
        if not e.percent:
            continue
        rev = latest_ready if e.latest else e.revision
        name = by_rev.get(rev, rev or "LATEST")
        out[name] = out.get(name, 0) + int(e.percent)
    return out


def weights_from_traffic(entries: list[tuple[str, int]], revisions: Mapping[str, str]) -> Weights:
    """``(revision, percent)`` pairs -> our weights (``revisions``: ours -> revision). Pure."""
    return weights_of([Entry(rev, int(p)) for rev, p in entries], revisions)


def new_traffic(current: list[Entry], by_revision: Mapping[str, int]) -> list[Entry]:
    """The traffic to write: one target per revision with a non-zero percent (sorted by name),
    then every tag of ``current`` on a 0 % target (a tag on the latest revision stays on it).

    The shape ``gcloud run services update-traffic`` writes (its ``TrafficTargets`` normalises
    the same way), so the service reads the same whoever shifted it last. Pure.
    """
    percent = [Entry(rev, int(p)) for rev, p in sorted(by_revision.items()) if p > 0]
    tags = [Entry(e.revision if not e.latest else "", 0, e.tag, e.latest) for e in current if e.tag]
    return percent + tags


class CloudRunTraffic(TrafficManager):
    """Traffic split of one Cloud Run service (Admin API v2).

    ``tags`` / ``revisions``: how our names find their revisions (:func:`make_refs`; default:
    ``blue`` and ``green`` by the tags of the same names). ``client``: an existing
    ``run_v2.ServicesClient``; otherwise one is made with ``transport``, ``credentials``
    (default: Application Default Credentials) and ``api_endpoint`` (e.g.
    ``http://127.0.0.1:PORT`` for a local server). ``timeout``: seconds to await an update.
    """

    def __init__(
        self,
        service: str,
        region: str,
        project: str,
        *,
        names: tuple[str, ...] = ("blue", "green"),
        tags: Mapping[str, str] | None = None,
        revisions: Mapping[str, str] | None = None,
        client: Any = None,
        transport: str = "rest",
        credentials: Any = None,
        api_endpoint: str | None = None,
        timeout: float = 300.0,
    ) -> None:
        self.service = service
        self.region = region
        self.project = project
        try:
            self.refs = make_refs(list(names), tags, revisions)
        except ValueError as e:
            raise InvalidWeightsError(str(e)) from None
        self.timeout = timeout
        #: the name of the last update operation (journaled with a failure)
        self.last_operation: str | None = None
        self._client = client if client is not None else _make_client(transport, credentials, api_endpoint)

    @property
    def name(self) -> str:
        """Full resource name: ``projects/P/locations/R/services/S``."""
        return f"projects/{self.project}/locations/{self.region}/services/{self.service}"

    def describe(self) -> str:
        refs = ", ".join(f"{k}={v}" for k, v in self.refs.items())
        return f"cloud run {self.name} ({refs})"

    # --- reads --------------------------------------------------------------------------------

    def read(self) -> Any:
        """The service as the API has it now (``run_v2.Service``)."""
        return self._call(self._client.get_service, "read", name=self.name)

    def get_weights(self) -> Weights:
        return self._weights_of(self.read())

    def resolved(self, service: Any = None) -> dict[str, str]:
        """Our names -> the revision each is now (tags resolved on the traffic in force)."""
        svc = service if service is not None else self.read()
        return resolve(self.refs, _entries(svc.traffic_statuses) or _entries(svc.traffic), _latest(svc), self.name)

    def revision_urls(self, service: Any = None) -> dict[str, str]:
        """Our names -> their tag URLs, read from the service's status (``traffic_statuses``).

        A name addressed by revision uses a tag on that revision. Raises
        :class:`UnknownRevisionError` when one has no URL there (no tag, or not yet reconciled).
        """
        svc = service if service is not None else self.read()
        statuses = _entries(svc.traffic_statuses)
        revs = self.resolved(svc)
        out: dict[str, str] = {}
        for name, ref in self.refs.items():
            uris = [e.uri for e in statuses if e.tag and e.uri and
                    (e.tag == ref.value if ref.kind == "tag" else (_latest(svc) if e.latest else e.revision) == revs[name])]
            if not uris:
                how = (f"tag {ref.value!r}" if ref.kind == "tag" else
                       f"revision {ref.value} (it has no tag; tag it: `gcloud run services update-traffic "
                       f"{self.service} --region {self.region} --update-tags {name}={ref.value}`)")
                raise UnknownRevisionError(f"{name}: no URL for {how} in the status of {self.name}")
            out[name] = uris[0].rstrip("/")
        return out

    def service_url(self, service: Any = None) -> str:
        svc = service if service is not None else self.read()
        return str(svc.uri).rstrip("/")

    # --- the shift ------------------------------------------------------------------------------

    def set_weights(self, weights: Mapping[str, int], *, fence: int | None = None) -> Weights:
        """Put ``weights`` in force and await the update operation; return the split in force.

        ``fence`` is accepted and ignored: Cloud Run has no check of a fencing token. On Cloud
        Run the protection is the control check made under the control mutex before each
        change, and the etag: an update made on a service changed since it was read is refused
        (409) and changes nothing.
        """
        from google.cloud import run_v2

        del fence
        checked = validate_weights(dict(weights), self.refs.keys())
        svc = self.read()
        current = _entries(svc.traffic)
        names = resolve(self.refs, current, _latest(svc), self.name)
        by_rev = {names[n]: p for n, p in checked.items() if p > 0}
        alloc = run_v2.TrafficTargetAllocationType
        del svc.traffic[:]
        svc.traffic.extend(
            run_v2.TrafficTarget(type_=alloc.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST if e.latest
                                 else alloc.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION,
                                 revision=e.revision, percent=e.percent, tag=e.tag)
            for e in new_traffic(current, by_rev))
        self.last_operation = None
        operation = self._call(self._client.update_service, "update", service=svc)
        self.last_operation = _operation_name(operation)
        result = self._await(operation)
        return self._weights_of(result)

    # --- helpers ----------------------------------------------------------------------------

    def _weights_of(self, service: Any) -> Weights:
        entries = _entries(service.traffic_statuses) or _entries(service.traffic)
        return weights_of(entries, resolve(self.refs, entries, _latest(service), self.name), _latest(service))

    def _await(self, operation: Any) -> Any:
        from google.api_core import exceptions as gexc

        op = self.last_operation or "?"
        try:
            return operation.result(timeout=self.timeout)
        except TimeoutError as e:  # concurrent.futures.TimeoutError is TimeoutError
            late = TrafficUnreachableError(
                f"Cloud Run is still applying the traffic change to {self.name} after {self.timeout:g} s "
                f"(operation {op}); it may yet take effect: `ethos rollback resume` reads the traffic again "
                "and acts only if needed", retry_delay=10.0)
            late.details = {"operation": op}  # type: ignore[attr-defined]  # journaled with the step
            raise late from e
        except gexc.GoogleAPICallError as e:
            raise TrafficOperationError(
                f"Cloud Run could not apply the traffic change to {self.name} (operation {op}): {e.message}; "
                "the traffic in force is unchanged", operation=op) from e
        except Exception as e:  # transport errors while polling
            raise self._translate(e, "await the update of") from e

    def _call(self, fn: Any, verb: str, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except Exception as e:  # noqa: BLE001 - translated, then re-raised
            raise self._translate(e, verb) from e

    def _translate(self, e: Exception, verb: str) -> Exception:
        """A google-api-core / google-auth / transport error -> one of our TrafficErrors."""
        from google.api_core import exceptions as gexc

        nothing = "; nothing changed" if verb == "update" else ""
        msg = getattr(e, "message", None) or str(e)
        # Over REST errors come by HTTP status (Forbidden, ...); over gRPC by code; the gRPC
        # classes subclass the HTTP ones (PermissionDenied < Forbidden, Aborted < Conflict).
        if isinstance(e, gexc.Unauthorized):
            return TrafficAuthError(f"Cloud Run did not accept the credentials for {self.name} (401: {msg}); "
                                    f"{ADC_HELP}")
        if isinstance(e, gexc.Forbidden):
            if "on resource project" in msg:
                return self._project_not_found(msg)
            need = "roles/run.developer (run.services.update)" if verb == "update" else "roles/run.viewer (run.services.get)"
            return TrafficAuthError(f"Cloud Run refused to {verb} {self.name} (403 permission denied: {msg}){nothing}; "
                                    f"the caller needs {need} on the service")
        if isinstance(e, gexc.NotFound):
            return self._diagnose_not_found(msg)
        if isinstance(e, gexc.Conflict):
            return TrafficConflictError(f"Cloud Run refused the change to {self.name}: the service changed since "
                                        f"it was read (409 etag mismatch: {msg}){nothing}; read it again and "
                                        "retry (`ethos rollback resume` re-reads the traffic)")
        if isinstance(e, gexc.BadRequest):
            return InvalidWeightsError(f"Cloud Run rejected the traffic change to {self.name} (400: {msg}){nothing}")
        if isinstance(e, (gexc.ServerError, gexc.TooManyRequests, gexc.DeadlineExceeded, gexc.RetryError)):
            return TrafficUnreachableError(f"Cloud Run API unavailable ({e}){nothing}", retry_delay=5.0)
        if isinstance(e, gexc.GoogleAPICallError):
            return TrafficError(f"Cloud Run API error for {self.name}: {e}{nothing}")
        mod = type(e).__module__
        if mod.startswith("google.auth"):
            if type(e).__name__ == "DefaultCredentialsError":
                return TrafficAuthError(f"no Google Cloud credentials for Cloud Run: {ADC_HELP}")
            return TrafficAuthError(f"the Application Default Credentials for Cloud Run did not work ({e}); {ADC_HELP}")
        if isinstance(e, (ConnectionError, OSError, TimeoutError)) or mod.startswith(("requests", "urllib3")):
            return TrafficUnreachableError(f"Cloud Run API unreachable: {e}{nothing}")
        return e

    def _project_not_found(self, msg: str) -> CloudRunNotFoundError:
        return CloudRunNotFoundError("project", self.project,
                                     f"Cloud Run: project {self.project!r} not found, or these credentials cannot "
                                     f"see it ({msg})")

    def _diagnose_not_found(self, msg: str) -> CloudRunNotFoundError:
        """After a 404 on the service: which of service, region and project is wrong?

        Lists the services of the project's region: if that works, the service is what is
        missing (the error names those there are); if not, the region (not a Cloud Run
        region) or else the project.
        """
        from google.api_core import exceptions as gexc

        parent = f"projects/{self.project}/locations/{self.region}"
        try:
            there = [s.name.rsplit("/", 1)[-1] for s in self._client.list_services(parent=parent)]
        except gexc.GoogleAPICallError as e:
            if self.region not in CLOUD_RUN_REGIONS:
                close = difflib.get_close_matches(self.region, sorted(CLOUD_RUN_REGIONS), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                return CloudRunNotFoundError("region", self.region,
                                             f"Cloud Run: region {self.region!r} not found: it is not a Cloud Run "
                                             f"region{hint}")
            return self._project_not_found(getattr(e, "message", str(e)))
        except Exception:  # noqa: BLE001 - the diagnosis is best effort; the first answer stands
            there = None
        if there is None:
            return CloudRunNotFoundError("service", self.service, f"Cloud Run: {msg}")
        listed = ", ".join(sorted(there)) or "none"
        return CloudRunNotFoundError("service", self.service,
                                     f"Cloud Run: service {self.service!r} not found in project {self.project!r}, "
                                     f"region {self.region!r} (services there: {listed})")


def _entries(targets: Any) -> list[Entry]:
    """``run_v2`` TrafficTarget / TrafficTargetStatus -> :class:`Entry`."""
    from google.cloud import run_v2

    latest = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
    return [Entry(str(t.revision or ""), int(t.percent), str(t.tag or ""), t.type_ == latest and not t.revision,
                  str(getattr(t, "uri", "") or "")) for t in targets]


def _latest(service: Any) -> str:
    return str(getattr(service, "latest_ready_revision", "") or "").rsplit("/", 1)[-1]


def _operation_name(operation: Any) -> str | None:
    op = getattr(operation, "operation", None)
    return str(getattr(op, "name", "") or "") or None


def _make_client(transport: str, credentials: Any, api_endpoint: str | None) -> Any:
    from google.api_core.client_options import ClientOptions
    from google.cloud import run_v2

    options = ClientOptions(api_endpoint=api_endpoint) if api_endpoint else None
    try:
        return run_v2.ServicesClient(transport=transport, credentials=credentials, client_options=options)
    except Exception as e:
        if type(e).__module__.startswith("google.auth"):  # no Application Default Credentials
            raise TrafficAuthError(f"no Google Cloud credentials for Cloud Run: {ADC_HELP}") from e
        raise


__all__ = ["CloudRunTraffic", "RevisionRef", "Entry", "CLOUD_RUN_REGIONS", "ADC_HELP", "make_refs", "tag_map",
           "resolve", "weights_of", "weights_from_traffic", "new_traffic"]
