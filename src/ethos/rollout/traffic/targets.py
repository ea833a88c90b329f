"""What a rollback acts on: the router, the revisions' URLs, the admin key, the traffic manager.

Resolution order for each value: command-line flags, then the environment
(``ETHOS_ROUTER_URL``, ``ETHOS_ADMIN_API_KEY`` or the variable ``--admin-key-env`` names),
then the stack file of ``ethos stack up`` (``<state dir>/stack.json``).

On Cloud Run (``traffic="cloudrun"``) the revisions' URLs are, unless given as flags, the tag
URLs read from the service's status (``https://blue---SERVICE-HASH-REGION.a.run.app``), never
the local stack's; the service is read once here, so a wrong project, region or service, or
missing credentials, stop the command before anything acts. The revision each name resolves
to at that moment is recorded (``cloudrun["resolved"]``, journaled).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import PermanentError
from ..router.client import RouterClient
from ..settings import RolloutSettings, resolve_admin_key
from ..stack.state import load_stack
from .base import TrafficManager
from .local import LocalRouterTraffic


class TargetError(PermanentError):
    """The targets are missing or inconsistent (bad flags, unknown revision names)."""


@dataclass
class Targets:
    """Where the rollback acts. ``admin_key`` never appears in repr, journal or output."""

    router: str | None
    revisions: dict[str, str]
    admin_key: str | None = field(default=None, repr=False)
    source: str = "flags"
    traffic: str = "router"  # router | cloudrun
    cloudrun: dict[str, Any] = field(default_factory=dict)
    blue: str = "blue"
    green: str = "green"

    def public(self) -> dict[str, Any]:
        """The journaled, printable form (no key)."""
        return {"router": self.router, "revisions": dict(self.revisions), "source": self.source,
                "traffic": self.traffic, "cloudrun": dict(self.cloudrun), "blue": self.blue,
                "green": self.green, "admin_key_set": bool(self.admin_key)}


def _parse_revisions(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, url = item.partition("=")
        name, url = name.strip(), url.strip()
        if not sep or not name or not url.startswith(("http://", "https://")):
            raise TargetError(f"bad --revision {item!r}: expected NAME=http(s)://HOST:PORT")
        out[name] = url.rstrip("/")
    return out


def resolve_targets(
    *,
    router: str | None = None,
    revisions: Sequence[str] = (),
    admin_key_env: str | None = None,
    state_dir: str | os.PathLike[str] | None = None,
    blue: str = "blue",
    green: str = "green",
    traffic: str = "router",
    cloudrun: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Targets:
    """Combine flags, environment and stack file into :class:`Targets`; raises TargetError."""
    env = os.environ if env is None else env
    source = "flags"
    revs = _parse_revisions(revisions)
    router = (router or "").rstrip("/") or None
    if router is None and (from_env := RolloutSettings.from_env(env).router_url):
        router, source = from_env, "env"
    key = resolve_admin_key(key_env=admin_key_env, env=env)  # the stack's key file: below
    if admin_key_env and not key:
        raise TargetError(f"--admin-key-env {admin_key_env}: that variable is not set")
    cloud = dict(cloudrun or {})
    if traffic == "cloudrun":
        revs, source = _cloudrun_revisions(cloud, revs, source, blue, green)
    stack = None
    if router is None or not revs or key is None:
        try:
            stack = load_stack(state_dir)
        except PermanentError as e:
            raise TargetError(str(e)) from e
    if stack is not None:
        if router is None and traffic == "router":
            router, source = stack.router, "stack"
        if not revs:
            revs = dict(stack.revisions)
            source = "stack" if source != "flags" or router == stack.router else source
        if key is None:
            key = resolve_admin_key(key_env=admin_key_env, env=env, stack=stack)
    if not revs:
        raise TargetError(
            "no revision URLs: pass --revision blue=URL --revision green=URL, "
            "or start a local stack with `ethos stack up`"
        )
    if traffic == "router" and router is None:
        raise TargetError("no router: pass --router URL, set ETHOS_ROUTER_URL, or run `ethos stack up`")
    for role, name in (("--blue", blue), ("--green", green)):
        if name not in revs:
            raise TargetError(
                f"unknown revision {name!r} ({role}); known revisions: {', '.join(sorted(revs))}"
            )
    if blue == green:
        raise TargetError(f"--blue and --green name the same revision {blue!r}")
    return Targets(router=router, revisions=revs, admin_key=key, source=source, traffic=traffic,
                   cloudrun=cloud, blue=blue, green=green)


def _cloudrun_revisions(cloud: dict[str, Any], revs: dict[str, str], source: str, blue: str,
                        green: str) -> tuple[dict[str, str], str]:
    """Read the Cloud Run service: the revision each name is now (into ``cloud["resolved"]``)
    and, without ``--revision`` flags, the tag URLs from its status. Raises TargetError for
    bad flags, and the traffic manager's errors (no credentials, not found, unreachable)."""
    cloud.pop("resolved", None)
    tm = _cloudrun(Targets(router=None, revisions={}, traffic="cloudrun", cloudrun=cloud, blue=blue, green=green))
    service = tm.read()
    cloud["resolved"] = tm.resolved(service)
    if revs:
        return revs, source
    return tm.revision_urls(service), "cloudrun status"


def make_traffic(t: Targets, router: RouterClient | None = None) -> TrafficManager:
    """The traffic manager the targets call for (local router or Cloud Run).

    ``router``: a client of ``t.router`` to share with the run's other readers of the router
    (one pool; the caller closes it); default: the manager makes its own.
    """
    if t.traffic == "cloudrun":
        return _cloudrun(t)
    if t.traffic != "router":
        raise TargetError(f"unknown traffic manager {t.traffic!r}: use router or cloudrun")
    assert t.router is not None
    return LocalRouterTraffic(router if router is not None else RouterClient(t.router, t.admin_key))


def _cloudrun(t: Targets) -> Any:
    """The Cloud Run traffic manager of ``t.cloudrun``: service, region, project; ``tags`` and
    ``revisions`` (how blue and green find their revisions; default: the tags of the same
    names); ``api_endpoint`` and ``anonymous`` for a local test server."""
    from .cloudrun import CloudRunTraffic

    cr = t.cloudrun
    missing = [k for k in ("service", "region", "project") if not cr.get(k)]
    if missing:
        raise TargetError(f"--traffic cloudrun needs --{' --'.join(missing)}")
    kwargs: dict[str, Any] = {"names": (t.blue, t.green), "tags": dict(cr.get("tags") or {}),
                              "revisions": dict(cr.get("revisions") or {})}
    both = sorted(set(kwargs["tags"]) & set(kwargs["revisions"]))
    if both:
        raise TargetError(f"{', '.join(both)}: given both --cloudrun-tag and --cloudrun-revision; choose one")
    if cr.get("api_endpoint"):
        kwargs["api_endpoint"] = cr["api_endpoint"]
    if cr.get("anonymous"):  # tests against a local Admin API server
        from google.auth.credentials import AnonymousCredentials

        kwargs["credentials"] = AnonymousCredentials()
    return CloudRunTraffic(cr["service"], cr["region"], cr["project"], **kwargs)


__all__ = ["Targets", "TargetError", "resolve_targets", "make_traffic"]
