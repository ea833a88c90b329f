"""The incident of a rollback's episode, when it ends: one call for ``ethos rollback`` (and ``resume``).

The first rollback of a trigger episode opens the incident; the later ones attach to it
(:mod:`.episode`); calling it again for the same rollback refreshes, never adds.

:func:`on_rollback_finished` never raises: a rollback that worked must not look failed because
its report could not be written. It returns the incident id, or says why there is none.
``ETHOS_NO_AUTO_INCIDENT=1`` turns it off (``ethos incident pii-leak`` opens its own).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..settings import RolloutSettings

NO_AUTO_ENV = "ETHOS_NO_AUTO_INCIDENT"


def on_rollback_finished(state_dir: str | os.PathLike[str], rollback_id: str,
                         env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Open, attach to or refresh the rollback's incident.

    ``{"incident": id, "report": path, "rollbacks": [ids of the episode]}`` or ``{"error": ...}``.
    """
    env = os.environ if env is None else env
    if RolloutSettings.from_env(env).no_auto_incident:
        return {"incident": None, "skipped": NO_AUTO_ENV}
    try:
        from .record import IncidentStore, after_rollback

        inc = after_rollback(state_dir, rollback_id, env=env)
        return {"incident": inc["id"], "report": str(IncidentStore(state_dir, env).report_path(inc["id"])),
                "rollbacks": list(inc.get("rollbacks") or [rollback_id])}
    except Exception as e:  # noqa: BLE001 - reported, never raised past the rollback
        return {"incident": None, "error": f"{type(e).__name__}: {e}"}


__all__ = ["on_rollback_finished", "NO_AUTO_ENV"]
