"""A Cloud Run fake on 127.0.0.1: the Admin API v2 and the Knative ``serving.knative.dev/v1`` API
over ONE state, for tests and drills (never for production).

Two real clients talk to it: ``google-cloud-run`` (Admin API v2, REST; point it at :attr:`FakeCloudRun.url`)
and the Google Cloud CLI (``gcloud run ...``, Knative v1; :meth:`FakeCloudRun.gcloud_env` gives the
environment that points it here). Both see the same service, revisions, tags, traffic,
``etag`` / ``resourceVersion`` and long-running operations, so a change made through one is
what the other reads.

The v2 JSON is built with the client library's own message types (``run_v2.Service``,
``google.longrunning.Operation``) and the v2 requests are parsed with them; the Knative JSON is
the shape gcloud parses (checked by driving the real gcloud against it).

Routes (``P``: project id or number, ``R``: region, ``S``: service)::

    v2   GET    /v2/projects/P/locations/R/services[/S]          Service / list
    v2   PATCH  /v2/projects/P/locations/R/services/S            -> Operation (done after N polls)
    v2   GET    /v2/projects/P/locations/R/services/S/revisions[/REV]
    v2   GET    /v2/projects/P/locations/R/operations/ID         Operation
    v1   GET    /apis/serving.knative.dev/v1/namespaces/P/services[/S]
    v1   POST   /apis/serving.knative.dev/v1/namespaces/P/services     create (gcloud run services replace)
    v1   PUT    /apis/serving.knative.dev/v1/namespaces/P/services/S   replace (update-traffic, update, replace)
    v1   GET    /apis/serving.knative.dev/v1/namespaces/P/revisions[/REV]
    v1   GET    /v1/projects/P/locations/R/operations/ID, POST ...:wait

gcloud puts the region in the host name (``australia-southeast1-run.cloudrun.test``) and
reaches the fake as its HTTP proxy, so requests arrive in absolute form; the region is read from
that host (a Knative path has none).

Behaviour the fake commits to (what real Cloud Run does, as documented or as gcloud expects):

- every write bumps ``resourceVersion`` (= v2 ``etag``); a write that carries an older one is
  refused with 409 ``ABORTED`` and changes nothing;
- a write is accepted at once and reconciled later: ``reconciling`` / ``Ready=Unknown`` and a
  pending operation until it has been polled ``polls_until_done`` times (operation or service
  reads); then the traffic in force (``traffic_statuses`` / ``status.traffic``) is the spec's,
  with a URL for each tag: ``https://TAG---SERVICE-HASH-REGIONCODE.a.run.app``;
- a share of the traffic for a revision that is not ready fails the operation
  (``FAILED_PRECONDITION``), ``Ready=False`` with the reason, and the traffic in force stays as
  it was (a tag alone on such a revision is accepted);
- percentages must be integers summing to 100, named revisions must exist, tags must be unique
  (400 ``INVALID_ARGUMENT``); a template change creates a revision (``S-0000N-xyz`` or the
  template's own name);
- an unknown service is 404 ``NOT_FOUND`` naming it with its region and project; an unknown
  project is 403 ``PERMISSION_DENIED`` ("Permission denied on resource project P."), as Google
  front ends answer for projects that do not exist or are not visible; a region that is not a
  Cloud Run region is 404 naming the location;
- ``deny`` (a set of IAM permissions such as ``run.services.update``) answers 403 for them;
  ``fail_next`` injects one error answer.

Not modelled: IAM policies, custom domains, jobs, worker pools, anything beyond traffic and
the image/env/concurrency of a template.
"""

from __future__ import annotations

import copy
import json
import random
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .cloudrun import CLOUD_RUN_REGIONS

#: the host gcloud is pointed at (``CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN``); it prefixes the region
FAKE_HOST = "run.cloudrun.test"
KNATIVE = "/apis/serving.knative.dev/v1"
SERVICE_TYPE_V2 = "type.googleapis.com/google.cloud.run.v2.Service"
#: the short region codes of run.app URLs (the rest get a code made from the name)
REGION_CODES = {"australia-southeast1": "ts", "australia-southeast2": "km", "us-central1": "uc",
                "us-east1": "ue", "europe-west1": "ew", "asia-northeast1": "an"}
#: google.rpc.Code by name, and the HTTP status each maps to
RPC_CODES = {"INVALID_ARGUMENT": (3, 400), "NOT_FOUND": (5, 404), "ALREADY_EXISTS": (6, 409),
             "PERMISSION_DENIED": (7, 403), "FAILED_PRECONDITION": (9, 400), "ABORTED": (10, 409),
             "UNAUTHENTICATED": (16, 401), "UNAVAILABLE": (14, 503), "INTERNAL": (13, 500)}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class ApiError(Exception):
    """An answer in Google's error format: ``{"error": {"code", "message", "status"}}``."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.http = RPC_CODES[status][1]
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.http, "message": self.message, "status": self.status}}


@dataclass
class Target:
    """One traffic entry: a revision by name, or the latest ready one; a percent; a tag."""

    percent: int = 0
    revision: str | None = None
    latest: bool = False
    tag: str | None = None


@dataclass(frozen=True)
class Template:
    """What makes a revision (the parts the fake models). ``env`` values: the literal, or
    ``secret:NAME:VERSION`` for a Secret Manager reference."""

    image: str
    concurrency: int = 80
    env: tuple[tuple[str, str], ...] = ()
    name: str = ""  # an explicit revision name (Knative template.metadata.name, v2 template.revision)

    def same_config(self, other: Template) -> bool:
        return (self.image, self.concurrency, self.env) == (other.image, other.concurrency, other.env)


@dataclass
class Revision:
    name: str
    template: Template
    generation: int
    created: str
    ready: bool = True
    message: str = ""
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class Operation:
    name: str  # projects/P/locations/R/operations/ID
    key: tuple[str, str, str]
    generation: int
    polls_left: int
    done: bool = False
    error: tuple[str, str] | None = None  # (rpc status name, message)


@dataclass
class Service:
    project: str
    number: str
    region: str
    name: str
    template: Template
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    hash: str = field(default_factory=lambda: "".join(random.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=10)))
    generation: int = 1
    observed_generation: int = 1
    version: int = 1
    created: str = field(default_factory=_now)
    updated: str = field(default_factory=_now)
    revisions: dict[str, Revision] = field(default_factory=dict)
    traffic: list[Target] = field(default_factory=list)  # the spec: what was asked
    status_traffic: list[Target] = field(default_factory=list)  # what is in force (resolved names)
    latest_created: str = ""
    latest_ready: str = ""
    ready: str = "True"  # True | Unknown | False
    ready_message: str = ""
    pending: str | None = None  # the name of the operation not done yet
    raw_v1: dict[str, Any] = field(default_factory=dict)  # the last Knative template written (extras)

    @property
    def full_name(self) -> str:
        return f"projects/{self.project}/locations/{self.region}/services/{self.name}"

    @property
    def etag(self) -> str:
        return f"AA{self.version:06d}{self.uid[:6]}"

    def region_code(self) -> str:
        return REGION_CODES.get(self.region) or (self.region[0] + self.region.rstrip("0123456789")[-1])

    @property
    def url(self) -> str:
        return f"https://{self.name}-{self.hash}-{self.region_code()}.a.run.app"

    def tag_url(self, tag: str) -> str:
        return f"https://{tag}---{self.name}-{self.hash}-{self.region_code()}.a.run.app"


class CloudRunState:
    """The one state both APIs serve. Every method takes the lock; read it through them."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.services: dict[tuple[str, str, str], Service] = {}
        self.projects: dict[str, str] = {}  # project id -> project number
        self.operations: dict[str, Operation] = {}
        self.polls_until_done = 1
        #: tag -> URL put in status instead of the run.app one (tests: a local revision server)
        self.tag_urls: dict[str, str] = {}
        self.deny: set[str] = set()  # IAM permissions refused with 403
        self.require_token: str | None = None  # a bearer token every request must carry
        #: one-shot hooks run inside the next write, before its etag check (a concurrent change)
        self.before_write: list[Callable[[CloudRunState, Service], None]] = []
        self.next_revision_ready: bool = True
        #: called (lock held) whenever the traffic in force of a service changes: a data plane
        #: that routes as Cloud Run's front end would (the drill's sandbox router)
        self.on_change: list[Callable[[Service], None]] = []
        self._rng = random.Random(7)

    # --- set-up ------------------------------------------------------------------------------

    def add_project(self, project: str, number: str | None = None) -> str:
        with self.lock:
            self.projects.setdefault(project, number or str(100000000000 + len(self.projects) * 7919 + 4242))
            return self.projects[project]

    def add_service(self, project: str, region: str, name: str, *, image: str = "img:v1",
                    revisions: Iterable[str] = (), traffic: Iterable[Target] = ()) -> Service:
        """A service whose ``revisions`` exist (oldest first) with ``traffic`` in force (default:
        100 % to the last one). No operation: the state is as after a finished deploy."""
        with self.lock:
            number = self.add_project(project)
            s = Service(project, number, region, name, Template(image))
            names = list(revisions) or [f"{name}-00001-{self._suffix()}"]
            for i, rev in enumerate(names, start=1):
                s.revisions[rev] = Revision(rev, Template(image), i, _now())
            s.generation = s.observed_generation = len(names)
            s.latest_created = s.latest_ready = names[-1]
            s.traffic = [copy.copy(t) for t in traffic] or [Target(100, names[-1])]
            self._check_traffic(s, s.traffic)
            s.status_traffic = self._resolve(s, s.traffic)
            self.services[(project, region, name)] = s
            return s

    def _suffix(self) -> str:
        return "".join(self._rng.choices("abcdefghijklmnopqrstuvwxyz", k=3))

    # --- reads ---------------------------------------------------------------------------------

    def project_of(self, ref: str) -> str:
        """The project id of an id or number; 403 as Google answers for an unknown project."""
        if ref in self.projects:
            return ref
        for pid, number in self.projects.items():
            if number == ref:
                return pid
        raise ApiError("PERMISSION_DENIED", f"Permission denied on resource project {ref}.")

    def check_region(self, region: str) -> None:
        if region not in CLOUD_RUN_REGIONS:
            raise ApiError("NOT_FOUND", f"Location '{region}' not found: it is not a Cloud Run region.")

    def get(self, project: str, region: str, name: str) -> Service:
        with self.lock:
            pid = self.project_of(project)
            self.check_region(region)
            s = self.services.get((pid, region, name))
            if s is None:
                raise ApiError("NOT_FOUND", f"Resource '{name}' of kind 'SERVICE' in region '{region}' "
                                            f"in project '{pid}' does not exist.")
            return s

    def find(self, project: str, name: str, region: str | None) -> Service:
        """A Knative read: the region from the host, else the one region holding ``name``."""
        with self.lock:
            pid = self.project_of(project)
            if region:
                return self.get(pid, region, name)
            found = [s for (p, _, n), s in self.services.items() if p == pid and n == name]
            if len(found) != 1:
                raise ApiError("NOT_FOUND", f"Resource '{name}' of kind 'SERVICE' in project '{pid}' does not exist.")
            return found[0]

    def services_in(self, project: str, region: str | None) -> list[Service]:
        with self.lock:
            pid = self.project_of(project)
            if region:
                self.check_region(region)
            return [s for (p, r, _), s in self.services.items() if p == pid and (region is None or r == region)]

    def tick(self, s: Service) -> None:
        """A read of the service or of its pending operation: reconciliation moves on."""
        with self.lock:
            if s.pending is None:
                return
            op = self.operations[s.pending]
            op.polls_left -= 1
            if op.polls_left <= 0:
                self._reconcile(s, op)

    def operation(self, project: str, region: str, op_id: str) -> Operation:
        with self.lock:
            pid = self.project_of(project)
            name = f"projects/{pid}/locations/{region}/operations/{op_id}"
            op = self.operations.get(name)
            if op is None:
                raise ApiError("NOT_FOUND", f"Operation '{name}' not found.")
            if not op.done:
                self.tick(self.services[op.key])
            return op

    # --- writes --------------------------------------------------------------------------------

    def update(self, s: Service, *, traffic: list[Target] | None, template: Template | None,
               version: str | None, raw_v1: dict[str, Any] | None = None) -> Operation:
        """Apply a write of the spec (both APIs end here); returns the pending operation."""
        with self.lock:
            hooks, self.before_write = self.before_write, []
            for hook in hooks:
                hook(self, s)
            if version and version != s.etag:
                raise ApiError("ABORTED", f"Conflict for resource '{s.name}': version '{version}' was specified "
                                          f"but current version is '{s.etag}'.")
            new_rev: Revision | None = None
            if template is not None and self._is_new_revision(s, template):
                new_rev = self._new_revision(s, template)
            if traffic is not None:
                self._check_traffic(s, traffic, new_rev)
            # accepted: nothing above changed the state
            if new_rev is not None:
                s.revisions[new_rev.name] = new_rev
                s.latest_created = new_rev.name
                s.template = template  # type: ignore[assignment]
            if raw_v1 is not None:
                s.raw_v1 = raw_v1
            if traffic is not None:
                s.traffic = [copy.copy(t) for t in traffic]
            s.generation += 1
            s.version += 1
            s.updated = _now()
            s.ready, s.ready_message = "Unknown", "Deploying."
            op_id = str(uuid.uuid4())
            op = Operation(f"projects/{s.project}/locations/{s.region}/operations/{op_id}", (s.project, s.region, s.name),
                           s.generation, self.polls_until_done)
            if s.pending is not None:  # a newer write supersedes the pending one
                self._finish(self.operations[s.pending], None)
            self.operations[op.name] = op
            s.pending = op.name
            return op

    def create(self, project: str, region: str, name: str, *, traffic: list[Target] | None, template: Template,
               raw_v1: dict[str, Any] | None = None) -> tuple[Service, Operation]:
        with self.lock:
            pid = self.project_of(project)
            self.check_region(region)
            if (pid, region, name) in self.services:
                raise ApiError("ALREADY_EXISTS", f"Resource '{name}' already exists.")
            s = Service(pid, self.projects[pid], region, name, template, generation=0, observed_generation=0)
            self.services[(pid, region, name)] = s
            try:
                op = self.update(s, traffic=traffic if traffic else [Target(100, latest=True)], template=template,
                                 version=None, raw_v1=raw_v1)
            except ApiError:
                del self.services[(pid, region, name)]
                raise
            return s, op

    def deploy(self, s: Service, image: str, *, tag: str = "green", ready: bool = True) -> str:
        """``gcloud run deploy S --image IMAGE --no-traffic --tag TAG``, done: a new revision
        (named as gcloud names it), the tag moved to it, the traffic left where it was."""
        with self.lock:
            name = f"{s.name}-{s.generation + 1:05d}-{self._suffix()}"
            pinned = self._resolve(s, s.traffic)  # --no-traffic pins LATEST to the revision serving now
            traffic = [Target(t.percent, t.revision, False, t.tag) for t in pinned if t.tag != tag]
            was, self.next_revision_ready = self.next_revision_ready, ready
            try:
                op = self.update(s, traffic=[*traffic, Target(0, name, tag=tag)],
                                 template=Template(image, s.template.concurrency, s.template.env, name), version=None)
            finally:
                self.next_revision_ready = was
            self._reconcile(s, op)
            return name

    def set_ready(self, revision: str, ready: bool, message: str = "") -> None:
        """Make a revision (not) ready, e.g. its container fails to start."""
        with self.lock:
            for s in self.services.values():
                if revision in s.revisions:
                    r = s.revisions[revision]
                    r.ready, r.message = ready, message or ("" if ready else "The container failed to start.")
                    return
            raise KeyError(revision)

    def set_traffic_now(self, s: Service, traffic: list[Target]) -> None:
        """An out-of-band change already in force (another operator's, done): bumps the version."""
        with self.lock:
            self._check_traffic(s, traffic)
            s.traffic = [copy.copy(t) for t in traffic]
            s.status_traffic = self._resolve(s, s.traffic)
            s.generation += 1
            s.observed_generation = s.generation
            s.version += 1
            self._changed(s)

    # --- internals -----------------------------------------------------------------------------

    def _is_new_revision(self, s: Service, t: Template) -> bool:
        if t.name and t.name in s.revisions:
            if not s.revisions[t.name].template.same_config(t):
                raise ApiError("ALREADY_EXISTS", f"Revision named '{t.name}' with different configuration "
                                                 "already exists.")
            return False
        if t.name:
            return True
        return not s.latest_created or not s.revisions[s.latest_created].template.same_config(t)

    def _new_revision(self, s: Service, t: Template) -> Revision:
        gen = s.generation + 1
        name = t.name or f"{s.name}-{gen:05d}-{self._suffix()}"
        if not name.startswith(s.name + "-"):
            raise ApiError("INVALID_ARGUMENT", f"Revision name '{name}' must be prefixed by the service name "
                                               f"'{s.name}-'.")
        return Revision(name, t, gen, _now(), ready=self.next_revision_ready,
                        message="" if self.next_revision_ready else "The container failed to start.")

    def _check_traffic(self, s: Service, traffic: list[Target], new_rev: Revision | None = None) -> None:
        total, tags = 0, set()
        for t in traffic:
            if isinstance(t.percent, bool) or not isinstance(t.percent, int) or not 0 <= t.percent <= 100:
                raise ApiError("INVALID_ARGUMENT", f"Traffic percent must be an integer 0..100, got {t.percent!r}.")
            total += t.percent
            if not t.latest:
                if not t.revision:
                    raise ApiError("INVALID_ARGUMENT", "A traffic target must name a revision or the latest one.")
                if t.revision not in s.revisions and not (new_rev and t.revision == new_rev.name):
                    raise ApiError("INVALID_ARGUMENT", f"Revision '{t.revision}' does not exist in service "
                                                       f"'{s.name}'.")
            if t.tag:
                if not re.fullmatch(r"[a-z]([-a-z0-9]{0,44}[a-z0-9])?", t.tag):
                    raise ApiError("INVALID_ARGUMENT", f"Tag '{t.tag}' is not valid: lowercase letters, digits "
                                                       "and '-', starting with a letter.")
                if t.tag in tags:
                    raise ApiError("INVALID_ARGUMENT", f"Tag '{t.tag}' is used by more than one traffic target.")
                tags.add(t.tag)
        if traffic and total != 100:
            raise ApiError("INVALID_ARGUMENT", f"Traffic percentages must sum to 100, got {total}.")

    def _latest_ready(self, s: Service) -> str:
        ready = [r for r in s.revisions.values() if r.ready]
        return max(ready, key=lambda r: r.generation).name if ready else ""

    def _resolve(self, s: Service, traffic: list[Target]) -> list[Target]:
        latest = self._latest_ready(s)
        return [Target(t.percent, t.revision if not t.latest else latest, t.latest, t.tag) for t in traffic]

    def _reconcile(self, s: Service, op: Operation) -> None:
        resolved = self._resolve(s, s.traffic)
        # only targets with a share of the traffic must be ready (how real Cloud Run treats a
        # tag alone on a revision that is not ready was not observed; the fake accepts it)
        bad = [t.revision or "LATEST" for t in resolved
               if t.percent and (not t.revision or not s.revisions[t.revision].ready)]
        s.observed_generation = s.generation
        s.latest_ready = self._latest_ready(s)
        s.version += 1
        s.pending = None
        if bad:
            rev = s.revisions.get(bad[0])
            why = f": {rev.message}" if rev is not None and rev.message else ""
            msg = f"Revision '{bad[0]}' is not ready and cannot serve traffic{why}"
            s.ready, s.ready_message = "False", msg
            self._finish(op, ("FAILED_PRECONDITION", msg))
            return
        s.status_traffic = resolved
        s.ready, s.ready_message = "True", ""
        self._finish(op, None)
        self._changed(s)

    def _changed(self, s: Service) -> None:
        for hook in list(self.on_change):
            hook(s)

    def _finish(self, op: Operation, error: tuple[str, str] | None) -> None:
        op.done, op.error, op.polls_left = True, error, 0

    # --- what tests look at ----------------------------------------------------------------------

    def in_force(self, s: Service) -> dict[str, int]:
        """Revision -> percent in force (the status), non-zero only."""
        with self.lock:
            out: dict[str, int] = {}
            for t in s.status_traffic:
                if t.percent and t.revision:
                    out[t.revision] = out.get(t.revision, 0) + t.percent
            return out

    def tags(self, s: Service) -> dict[str, str]:
        """Tag -> revision in force."""
        with self.lock:
            return {t.tag: str(t.revision) for t in s.status_traffic if t.tag}

    def tag_url(self, s: Service, tag: str) -> str:
        return self.tag_urls.get(tag) or s.tag_url(tag)


# --- the v2 view (google-cloud-run's own types) -------------------------------------------------


def _v2_condition(s: Service) -> Any:
    from google.cloud import run_v2

    cond = run_v2.Condition
    state = {"True": cond.State.CONDITION_SUCCEEDED, "Unknown": cond.State.CONDITION_PENDING,
             "False": cond.State.CONDITION_FAILED}[s.ready]
    return cond(type_="Ready", state=state, message=s.ready_message)


def v2_service(state: CloudRunState, s: Service) -> dict[str, Any]:
    from google.cloud import run_v2
    from google.protobuf import json_format

    alloc = run_v2.TrafficTargetAllocationType
    kind = {True: alloc.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST, False: alloc.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION}
    svc = run_v2.Service(
        name=s.full_name, uid=s.uid, generation=s.generation, observed_generation=s.observed_generation,
        etag=s.etag, uri=s.url, urls=[s.url, f"https://{s.name}-{s.number}.{s.region}.run.app"],
        reconciling=s.pending is not None, terminal_condition=_v2_condition(s),
        latest_created_revision=f"{s.full_name}/revisions/{s.latest_created}" if s.latest_created else "",
        latest_ready_revision=f"{s.full_name}/revisions/{s.latest_ready}" if s.latest_ready else "",
        template=run_v2.RevisionTemplate(
            revision=s.template.name, max_instance_request_concurrency=s.template.concurrency,
            containers=[run_v2.Container(image=s.template.image, env=[_v2_env(k, v) for k, v in s.template.env])]),
        traffic=[run_v2.TrafficTarget(type_=kind[t.latest], revision="" if t.latest else (t.revision or ""),
                                      percent=t.percent, tag=t.tag or "") for t in s.traffic],
        traffic_statuses=[run_v2.TrafficTargetStatus(type_=kind[t.latest], revision=t.revision or "",
                                                     percent=t.percent, tag=t.tag or "",
                                                     uri=state.tag_url(s, t.tag) if t.tag else "")
                          for t in s.status_traffic],
    )
    svc.create_time = datetime.fromisoformat(s.created.replace("Z", "+00:00"))
    svc.update_time = datetime.fromisoformat(s.updated.replace("Z", "+00:00"))
    return json_format.MessageToDict(run_v2.Service.pb(svc))


def _v2_env(name: str, value: str) -> Any:
    from google.cloud import run_v2

    if value.startswith("secret:"):
        _, secret, version = value.split(":", 2)
        return run_v2.EnvVar(name=name, value_source=run_v2.EnvVarSource(
            secret_key_ref=run_v2.SecretKeySelector(secret=secret, version=version)))
    return run_v2.EnvVar(name=name, value=value)


def v2_revision(s: Service, r: Revision) -> dict[str, Any]:
    from google.cloud import run_v2
    from google.protobuf import json_format

    rev = run_v2.Revision(name=f"{s.full_name}/revisions/{r.name}", uid=r.uid, generation=r.generation,
                          service=s.full_name, containers=[run_v2.Container(image=r.template.image)],
                          conditions=[run_v2.Condition(type_="Ready", message=r.message, state=(
                              run_v2.Condition.State.CONDITION_SUCCEEDED if r.ready
                              else run_v2.Condition.State.CONDITION_FAILED))])
    return json_format.MessageToDict(run_v2.Revision.pb(rev))


def v2_operation(state: CloudRunState, op: Operation) -> dict[str, Any]:
    from google.cloud import run_v2
    from google.longrunning import operations_pb2
    from google.protobuf import any_pb2, json_format
    from google.rpc import status_pb2

    s = state.services[op.key]
    svc = run_v2.Service.pb(run_v2.Service.from_json(json.dumps(v2_service(state, s)), ignore_unknown_fields=True))
    meta = any_pb2.Any()
    meta.Pack(svc)
    msg = operations_pb2.Operation(name=op.name, done=op.done, metadata=meta)
    if op.done and op.error is not None:
        msg.error.CopyFrom(status_pb2.Status(code=RPC_CODES[op.error[0]][0], message=op.error[1]))
    elif op.done:
        msg.response.Pack(svc)
    return json_format.MessageToDict(msg)


def v2_parse_update(body: dict[str, Any]) -> tuple[list[Target], Template | None, str]:
    """A v2 Service from a PATCH body, parsed with the client's own type."""
    from google.cloud import run_v2

    svc = run_v2.Service.from_json(json.dumps(body), ignore_unknown_fields=True)
    latest = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
    traffic = [Target(int(t.percent), None if t.type_ == latest else t.revision, t.type_ == latest, t.tag or None)
               for t in svc.traffic]
    template = None
    if svc.template and svc.template.containers:
        c = svc.template.containers[0]
        env = tuple((e.name, e.value if not e.value_source.secret_key_ref.secret else
                     f"secret:{e.value_source.secret_key_ref.secret}:{e.value_source.secret_key_ref.version or 'latest'}")
                    for e in c.env)
        template = Template(c.image, int(svc.template.max_instance_request_concurrency or 80), env,
                            svc.template.revision)
    return traffic, template, svc.etag


# --- the Knative v1 view (what gcloud reads and writes) ----------------------------------------


def _v1_conditions(s: Service) -> list[dict[str, Any]]:
    out = []
    for kind in ("Ready", "ConfigurationsReady", "RoutesReady"):
        c: dict[str, Any] = {"type": kind, "status": s.ready, "lastTransitionTime": s.updated}
        if s.ready_message and kind in ("Ready", "RoutesReady"):
            c["message"] = s.ready_message
            if s.ready == "False":
                c["reason"] = "RevisionFailed"
        out.append(c)
    return out


def _v1_target(t: Target, url: str | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if t.percent:
        d["percent"] = t.percent
    if t.latest:
        d["latestRevision"] = True
    if t.revision:
        d["revisionName"] = t.revision
    if t.tag:
        d["tag"] = t.tag
    if url:
        d["url"] = url
    return d


def _v1_template(s: Service) -> dict[str, Any]:
    tpl = copy.deepcopy(s.raw_v1) if s.raw_v1 else {"metadata": {}, "spec": {}}
    tpl.setdefault("metadata", {})
    if s.template.name:
        tpl["metadata"]["name"] = s.template.name
    else:
        tpl["metadata"].pop("name", None)
    spec = tpl.setdefault("spec", {})
    spec["containerConcurrency"] = s.template.concurrency
    containers = spec.setdefault("containers", [{}])
    containers[0]["image"] = s.template.image
    env = []
    for k, v in s.template.env:
        if v.startswith("secret:"):
            _, secret, version = v.split(":", 2)
            env.append({"name": k, "valueFrom": {"secretKeyRef": {"name": secret, "key": version}}})
        else:
            env.append({"name": k, "value": v})
    if env:
        containers[0]["env"] = env
    else:
        containers[0].pop("env", None)
    return tpl


def v1_service(state: CloudRunState, s: Service) -> dict[str, Any]:
    ns = s.number
    annotations = {"serving.knative.dev/creator": "fake@example.com", "run.googleapis.com/ingress": "all"}
    if s.pending is not None:
        annotations["run.googleapis.com/operation-id"] = s.pending.rsplit("/", 1)[-1]
    status: dict[str, Any] = {
        "observedGeneration": s.observed_generation,
        "conditions": _v1_conditions(s),
        "traffic": [_v1_target(t, state.tag_url(s, t.tag) if t.tag else None) for t in s.status_traffic],
        "url": s.url, "address": {"url": s.url},
    }
    if s.latest_ready:
        status["latestReadyRevisionName"] = s.latest_ready
    if s.latest_created:
        status["latestCreatedRevisionName"] = s.latest_created
    return {
        "apiVersion": "serving.knative.dev/v1", "kind": "Service",
        "metadata": {"name": s.name, "namespace": ns, "selfLink": f"{KNATIVE}/namespaces/{ns}/services/{s.name}",
                     "uid": s.uid, "resourceVersion": s.etag, "generation": s.generation,
                     "creationTimestamp": s.created,
                     "labels": {"cloud.googleapis.com/location": s.region}, "annotations": annotations},
        "spec": {"template": _v1_template(s), "traffic": [_v1_target(t) for t in s.traffic]},
        "status": status,
    }


def v1_revision(s: Service, r: Revision) -> dict[str, Any]:
    return {
        "apiVersion": "serving.knative.dev/v1", "kind": "Revision",
        "metadata": {"name": r.name, "namespace": s.number, "uid": r.uid, "generation": 1,
                     "creationTimestamp": r.created,
                     "labels": {"serving.knative.dev/service": s.name, "serving.knative.dev/configuration": s.name,
                                "serving.knative.dev/configurationGeneration": str(r.generation),
                                "cloud.googleapis.com/location": s.region}},
        "spec": {"containerConcurrency": r.template.concurrency, "containers": [{"image": r.template.image}]},
        "status": {"observedGeneration": 1, "conditions": [
            {"type": "Ready", "status": "True" if r.ready else "False", "lastTransitionTime": r.created,
             **({"message": r.message} if r.message else {})}]},
    }


def v1_operation(state: CloudRunState, op: Operation) -> dict[str, Any]:
    s = state.services[op.key]
    out: dict[str, Any] = {"name": op.name, "done": op.done}
    if op.done and op.error is not None:
        out["error"] = {"code": RPC_CODES[op.error[0]][0], "message": op.error[1]}
    elif op.done:
        out["response"] = {"@type": "type.googleapis.com/google.cloud.run.v1.Service", **v1_service(state, s)}
    return out


def v1_parse(body: dict[str, Any]) -> tuple[list[Target] | None, Template, str, str, dict[str, Any]]:
    """(traffic, template, name, resourceVersion, raw template) of a Knative Service body."""
    if not isinstance(body, dict) or body.get("kind", "Service") != "Service":
        raise ApiError("INVALID_ARGUMENT", "expected a serving.knative.dev/v1 Service")
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    tpl = copy.deepcopy(spec.get("template") or {})
    tspec = tpl.get("spec") or {}
    containers = tspec.get("containers") or []
    if not containers or not containers[0].get("image"):
        raise ApiError("INVALID_ARGUMENT", "spec.template.spec.containers[0].image: an image is required.")
    env: list[tuple[str, str]] = []
    for e in containers[0].get("env") or []:
        ref = (e.get("valueFrom") or {}).get("secretKeyRef")
        env.append((e["name"], f"secret:{ref['name']}:{ref.get('key', 'latest')}" if ref else str(e.get("value", ""))))
    template = Template(containers[0]["image"], int(tspec.get("containerConcurrency") or 80), tuple(env),
                        str((tpl.get("metadata") or {}).get("name") or ""))
    traffic = None
    if "traffic" in spec:
        traffic = [Target(int(t.get("percent") or 0), t.get("revisionName"), bool(t.get("latestRevision")),
                          t.get("tag") or None) for t in spec.get("traffic") or []]
    return traffic, template, str(meta.get("name") or ""), str(meta.get("resourceVersion") or ""), tpl


# --- the server ---------------------------------------------------------------------------------


@dataclass
class Request:
    api: str  # v2 | v1 | ops
    method: str
    path: str
    body: Any
    host: str


_V2 = re.compile(r"/v2/projects/([^/]+)/locations/([^/]+)/(services|operations)(?:/([^/:]+))?"
                 r"(?:/revisions(?:/([^/]+))?)?(:wait)?")
_V1_OPS = re.compile(r"/v1/projects/([^/]+)/locations/([^/]+)/operations/([^/:]+)(:wait)?")
_KN = re.compile(re.escape(KNATIVE) + r"/namespaces/([^/]+)/(services|revisions)(?:/([^/]+))?")


class FakeCloudRun:
    """The fake as a server on 127.0.0.1 (a context manager). ``state`` is the one state.

    With no ``state``, one service ``service`` in ``project`` / ``region`` is made with the
    revisions ``revisions`` and ``traffic`` (default: ``SERVICE-blue`` 90 %, ``SERVICE-green``
    10 %, tagged blue and green).
    """

    def __init__(self, project: str = "proj", region: str = "australia-southeast1",
                 service: str = "marketing-api", *, state: CloudRunState | None = None,
                 revisions: Iterable[str] | None = None, traffic: Iterable[Target] | None = None,
                 tag_urls: Mapping[str, str] | None = None) -> None:
        self.project, self.region, self.service_name = project, region, service
        if state is None:
            state = CloudRunState()
            blue, green = f"{service}-blue", f"{service}-green"
            state.add_service(project, region, service, revisions=revisions or [blue, green],
                              traffic=traffic if traffic is not None else
                              [Target(90, blue), Target(10, green), Target(0, blue, tag="blue"),
                               Target(0, green, tag="green")])
        self.state = state
        self.state.tag_urls.update(tag_urls or {})
        self.requests: list[Request] = []
        self._fail: list[tuple[ApiError, str | None, str | None]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-cloud-run", daemon=True)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeCloudRun:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeCloudRun:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what tests use ----------------------------------------------------------------------

    @property
    def name(self) -> str:
        return f"projects/{self.project}/locations/{self.region}/services/{self.service_name}"

    @property
    def service(self) -> Service:
        return self.state.get(self.project, self.region, self.service_name)

    def in_force(self) -> dict[str, int]:
        return self.state.in_force(self.service)

    def tags(self) -> dict[str, str]:
        return self.state.tags(self.service)

    def fail_next(self, status: str, message: str | None = None, *, method: str | None = None,
                  api: str | None = None) -> None:
        """Answer the next matching request (``method``, ``api`` v2|v1|ops) with this error."""
        self._fail.append((ApiError(status, message or f"injected {status}"), method, api))

    def gcloud_env(self, config_dir: str, project: str | None = None) -> dict[str, str]:
        """Environment that points the real gcloud at this fake, with a private config dir."""
        return {
            "CLOUDSDK_CONFIG": str(config_dir),
            "CLOUDSDK_AUTH_DISABLE_CREDENTIALS": "true",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN": f"http://{FAKE_HOST}/",
            "CLOUDSDK_PROXY_TYPE": "http", "CLOUDSDK_PROXY_ADDRESS": "127.0.0.1",
            "CLOUDSDK_PROXY_PORT": str(self.port),
            "CLOUDSDK_CORE_PROJECT": project or self.project,
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
            "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
            "CLOUDSDK_CORE_SHOW_STRUCTURED_LOGS": "never",
            # no serviceusage.googleapis.com check before a deploy (it is not faked)
            "CLOUDSDK_CORE_SHOULD_PROMPT_TO_ENABLE_API": "false",
        }

    # --- HTTP --------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, payload: Any) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                host = (parts.hostname or self.headers.get("Host") or "").split(":")[0]
                path, query = parts.path, parse_qs(parts.query)
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    self._reply(400, ApiError("INVALID_ARGUMENT", "the body is not JSON").body())
                    return
                try:
                    status, payload = fake._route(self.command, host, path, query, body,
                                                  self.headers.get("Authorization"))
                except ApiError as e:
                    status, payload = e.http, e.body()
                self._reply(status, payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815 - http.server's names

        return Handler

    def _region_of_host(self, host: str) -> str | None:
        suffix = "-" + FAKE_HOST
        return host[: -len(suffix)] if host.endswith(suffix) else None

    def _route(self, method: str, host: str, path: str, query: dict[str, list[str]], body: Any,
               auth: str | None) -> tuple[int, Any]:
        st = self.state
        api = "v2" if path.startswith("/v2/") else "ops" if path.startswith("/v1/") else "v1"
        with st.lock:
            self.requests.append(Request(api, method, path, copy.deepcopy(body), host))
            for i, (err, meth, a) in enumerate(self._fail):
                if (meth is None or meth == method) and (a is None or a == api):
                    del self._fail[i]
                    raise err
            if st.require_token is not None and auth != f"Bearer {st.require_token}":
                raise ApiError("UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 "
                                                  "access token, login cookie or other valid authentication credential.")
            if (m := _V2.fullmatch(path)) is not None:
                return self._v2(method, m, body)
            if (m := _V1_OPS.fullmatch(path)) is not None:
                project, region, op_id, _ = m.groups()
                self._allow("run.operations.get", project)
                return 200, v1_operation(st, st.operation(project, region, op_id))
            if (m := _KN.fullmatch(path)) is not None:
                return self._v1(method, m, body, self._region_of_host(host), query)
            raise ApiError("NOT_FOUND", f"no route {method} {path}")

    def _allow(self, permission: str, resource: str) -> None:
        if permission in self.state.deny:
            raise ApiError("PERMISSION_DENIED", f"Permission '{permission}' denied on resource '{resource}' "
                                                "(or it may not exist).")

    def _v2(self, method: str, m: re.Match[str], body: Any) -> tuple[int, Any]:
        st = self.state
        project, region, kind, name, rev, wait = m.groups()
        if kind == "operations":
            if name is None or method not in ("GET", "POST"):
                raise ApiError("NOT_FOUND", "no such operations route")
            self._allow("run.operations.get", project)
            return 200, v2_operation(st, st.operation(project, region, name))
        if name is None:  # list services
            self._allow("run.services.list", project)
            if method != "GET":
                raise ApiError("NOT_FOUND", f"no route {method} services")
            return 200, {"services": [v2_service(st, s) for s in st.services_in(project, region)]}
        s = st.get(project, region, name)
        if rev is not None or m.group(0).endswith("/revisions"):
            self._allow("run.revisions.list", s.full_name)
            if rev is None:
                return 200, {"revisions": [v2_revision(s, r) for r in s.revisions.values()]}
            if rev not in s.revisions:
                raise ApiError("NOT_FOUND", f"Resource '{rev}' of kind 'REVISION' in region '{region}' in project "
                                            f"'{s.project}' does not exist.")
            return 200, v2_revision(s, s.revisions[rev])
        if method == "GET":
            self._allow("run.services.get", s.full_name)
            st.tick(s)
            return 200, v2_service(st, s)
        if method == "PATCH":
            self._allow("run.services.update", s.full_name)
            traffic, template, etag = v2_parse_update(body or {})
            op = st.update(s, traffic=traffic, template=template, version=etag or None)
            return 200, v2_operation(st, op)
        raise ApiError("NOT_FOUND", f"no route {method} service")

    def _v1(self, method: str, m: re.Match[str], body: Any, region: str | None,
            query: dict[str, list[str]]) -> tuple[int, Any]:
        st = self.state
        ns, kind, name = m.groups()
        project = st.project_of(ns)
        if kind == "revisions":
            self._allow("run.revisions.list", project)
            services = st.services_in(project, region)
            selector = (query.get("labelSelector") or [""])[0]
            want = selector.split("=", 1)[1] if selector.startswith("serving.knative.dev/service=") else None
            revs = [(s, r) for s in services if want in (None, s.name) for r in s.revisions.values()]
            if name is not None:
                found = [v1_revision(s, r) for s, r in revs if r.name == name]
                if not found:
                    raise ApiError("NOT_FOUND", f"Resource '{name}' of kind 'REVISION' in project '{project}' "
                                                "does not exist.")
                return 200, found[0]
            return 200, {"apiVersion": "serving.knative.dev/v1", "kind": "RevisionList", "metadata": {},
                         "items": [v1_revision(s, r) for s, r in sorted(revs, key=lambda x: -x[1].generation)]}
        if name is None:
            if method == "GET":
                self._allow("run.services.list", project)
                return 200, {"apiVersion": "serving.knative.dev/v1", "kind": "ServiceList", "metadata": {},
                             "items": [v1_service(st, s) for s in st.services_in(project, region)]}
            if method == "POST":
                self._allow("run.services.create", project)
                if region is None:
                    raise ApiError("INVALID_ARGUMENT", "a regional endpoint is needed to create a service")
                traffic, template, sname, _, raw = v1_parse(body)
                s, _op = st.create(project, region, sname, traffic=traffic, template=template, raw_v1=raw)
                return 200, v1_service(st, s)
            raise ApiError("NOT_FOUND", f"no route {method} services")
        s = st.find(project, name, region)
        if method == "GET":
            self._allow("run.services.get", s.full_name)
            st.tick(s)
            return 200, v1_service(st, s)
        if method == "PUT":
            self._allow("run.services.update", s.full_name)
            traffic, template, sname, version, raw = v1_parse(body)
            if sname and sname != s.name:
                raise ApiError("INVALID_ARGUMENT", f"metadata.name '{sname}' does not match the URL's '{s.name}'")
            st.update(s, traffic=traffic, template=template, version=version or None, raw_v1=raw)
            return 200, v1_service(st, s)
        raise ApiError("NOT_FOUND", f"no route {method} service")


__all__ = ["FakeCloudRun", "CloudRunState", "Service", "Revision", "Target", "Template", "Operation",
           "ApiError", "FAKE_HOST", "v1_service", "v2_service"]
