"""Cloud Run as a traffic manager, through the official ``google-cloud-run`` client.

Does what ``gcloud run services update-traffic SERVICE --to-revisions=marketing-api-blue=100``
does: read the service, replace its ``traffic`` with one target per revision
(``TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION``), update the service and wait for the
long-running operation. Our revision names (``blue``, ``green``) map to Cloud Run revision
names through ``revisions`` (default ``SERVICE-blue``, ``SERVICE-green``, as in the runbook).

Tested at the protocol level only (a server on 127.0.0.1 that speaks the Admin API v2 REST
shape); see docs/rollout.md for what that does and does not prove.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import (
    InvalidWeightsError,
    TrafficAuthError,
    TrafficError,
    TrafficUnreachableError,
    UnknownRevisionError,
)
from .base import TrafficManager, Weights, validate_weights


def weights_from_traffic(
    entries: list[tuple[str, int]], revisions: Mapping[str, str]
) -> Weights:
    """Turn Cloud Run ``(revision name, percent)`` pairs into our weights. Pure.

    Every configured name is present (0 when absent); a Cloud Run revision that is not
    configured is reported under its own name so nothing in force is hidden.
    """
    by_cloud = {cloud: ours for ours, cloud in revisions.items()}
    out: Weights = {ours: 0 for ours in revisions}
    for cloud_name, percent in entries:
        name = by_cloud.get(cloud_name, cloud_name)
        out[name] = out.get(name, 0) + int(percent)
    return out


class CloudRunTraffic(TrafficManager):
    """Traffic split of one Cloud Run service (Admin API v2).

    ``client``: an existing ``run_v2.ServicesClient`` (tests, custom auth). Otherwise one is
    made with ``transport``, ``credentials`` (default: Application Default Credentials) and
    ``api_endpoint`` (e.g. ``http://127.0.0.1:PORT`` for a local test server).
    ``timeout``: seconds to wait for the update operation.
    """

    def __init__(
        self,
        service: str,
        region: str,
        project: str,
        *,
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
        self.revisions: dict[str, str] = dict(
            revisions or {"blue": f"{service}-blue", "green": f"{service}-green"}
        )
        self.timeout = timeout
        self._client = client if client is not None else _make_client(transport, credentials, api_endpoint)

    @property
    def name(self) -> str:
        """Full resource name: ``projects/P/locations/R/services/S``."""
        return f"projects/{self.project}/locations/{self.region}/services/{self.service}"

    def describe(self) -> str:
        return f"cloud run {self.name}"

    def get_weights(self) -> Weights:
        return self._weights_of(self._call(self._client.get_service, name=self.name))

    def set_weights(self, weights: Mapping[str, int], *, fence: int | None = None) -> Weights:
        """Replace the service's traffic targets and wait for the update operation.

        ``fence`` is accepted and ignored: Cloud Run has no check of a fencing token, so a
        preempted procedure is not refused here. On Cloud Run the protection is the control
        check made under the control mutex before each change.
        """
        from google.cloud import run_v2

        del fence  # no fencing on Cloud Run (see above)
        checked = validate_weights(dict(weights), self.revisions.keys())
        service = self._call(self._client.get_service, name=self.name)
        # Zero-percent targets are left out: Cloud Run then routes nothing to them, as gcloud does.
        targets = [
            run_v2.TrafficTarget(
                type_=run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION,
                revision=self.revisions[name],
                percent=percent,
            )
            for name, percent in checked.items()
            if percent > 0
        ]
        del service.traffic[:]
        service.traffic.extend(targets)
        operation = self._call(self._client.update_service, service=service)
        result = self._call(operation.result, timeout=self.timeout)
        return self._weights_of(result)

    # --- helpers -----------------------------------------------------------------------

    def _weights_of(self, service: Any) -> Weights:
        from google.cloud import run_v2

        latest = str(getattr(service, "latest_ready_revision", "") or "").rsplit("/", 1)[-1]
        # traffic_statuses is what is in force; traffic is what was asked (used if no status yet).
        source = list(service.traffic_statuses) or list(service.traffic)
        entries: list[tuple[str, int]] = []
        for t in source:
            rev = t.revision
            if not rev and t.type_ == run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST:
                rev = latest or "LATEST"
            entries.append((rev, t.percent))
        return weights_from_traffic(entries, self.revisions)

    def _call(self, fn: Any, **kwargs: Any) -> Any:
        """Call the client and translate google-api-core errors into TrafficErrors."""
        from google.api_core import exceptions as gexc

        try:
            return fn(**kwargs)
        # Over REST, errors come by HTTP status (Forbidden, BadRequest, ...); over gRPC by code
        # (PermissionDenied, InvalidArgument, ...). The gRPC classes subclass the HTTP ones.
        except (gexc.Unauthorized, gexc.Forbidden) as e:
            raise TrafficAuthError(f"Cloud Run refused the credentials for {self.name}: {e.message}") from e
        except gexc.NotFound as e:
            raise UnknownRevisionError(f"Cloud Run: service or revision not found ({self.name}): {e.message}") from e
        except gexc.Conflict as e:  # the service changed between our read and our write
            raise TrafficUnreachableError(f"Cloud Run: concurrent change of {self.name}: {e.message}", retry_delay=2.0) from e
        except gexc.BadRequest as e:
            raise InvalidWeightsError(f"Cloud Run rejected the traffic change: {e.message}") from e
        except (gexc.ServerError, gexc.TooManyRequests, gexc.DeadlineExceeded, gexc.RetryError) as e:
            raise TrafficUnreachableError(f"Cloud Run API unavailable: {e}", retry_delay=5.0) from e
        except gexc.GoogleAPICallError as e:
            raise TrafficError(f"Cloud Run API error: {e}") from e
        except TimeoutError as e:  # operation.result() with timeout (concurrent.futures)
            raise TrafficUnreachableError(
                f"Cloud Run update of {self.name} did not finish within {self.timeout:g}s", retry_delay=10.0
            ) from e
        except (ConnectionError, OSError) as e:
            raise TrafficUnreachableError(f"Cloud Run API unreachable: {e}") from e
        except Exception as e:
            if type(e).__module__.startswith("google.auth"):  # refresh failed, no credentials
                raise TrafficAuthError(f"Cloud Run credentials for {self.name} did not work: {e}") from e
            if type(e).__module__.startswith(("requests", "urllib3")):
                raise TrafficUnreachableError(f"Cloud Run API unreachable: {e}") from e
            raise


def _make_client(transport: str, credentials: Any, api_endpoint: str | None) -> Any:
    try:
        from google.api_core.client_options import ClientOptions
        from google.cloud import run_v2
    except ImportError as e:  # pragma: no cover - the dependency is declared
        raise TrafficError(
            "the Cloud Run traffic manager needs the google-cloud-run package (pip install google-cloud-run)"
        ) from e
    options = ClientOptions(api_endpoint=api_endpoint) if api_endpoint else None
    try:
        return run_v2.ServicesClient(transport=transport, credentials=credentials, client_options=options)
    except Exception as e:
        if type(e).__module__.startswith("google.auth"):  # e.g. no Application Default Credentials
            raise TrafficAuthError(f"no Google Cloud credentials for Cloud Run: {e}") from e
        raise


__all__ = ["CloudRunTraffic", "weights_from_traffic"]
