"""deploy/cloudrun/service.yaml: what it must hold, and that a secret is never a literal in it.

``literal_secrets`` is the check: it runs over the real manifest (nothing found) and over bad
copies of it (each one found). gcloud itself accepts the rendered manifest
(tests/integration/rollout/test_cloudrun_gcloud.py, `gcloud run services replace`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

MANIFEST = Path(__file__).resolve().parents[4] / "deploy" / "cloudrun" / "service.yaml"

#: env names that hold secrets: their value must come from Secret Manager (secretKeyRef)
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE)", re.IGNORECASE)
#: values that are secrets whatever the variable is called
SECRET_VALUE = {
    "an OpenAI-style key": re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),
    "a Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "a password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@$]+@"),
    "a long opaque token": re.compile(r"^[A-Za-z0-9+/_=-]{32,}$"),
}


def literal_secrets(manifest: dict[str, Any]) -> list[str]:
    """Where a Knative Service manifest gives a secret as a literal (empty: none). Pure.

    Every container's env: a secret-named variable with a ``value`` (not ``valueFrom``), or
    any value, argument or command word that looks like a secret; and annotations.
    """
    found: list[str] = []
    spec = ((manifest.get("spec") or {}).get("template") or {}).get("spec") or {}
    for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        cname = c.get("name") or c.get("image") or "container"
        for env in c.get("env") or []:
            name = str(env.get("name", ""))
            if "value" not in env:
                continue
            value = str(env["value"])
            if SECRET_NAME.search(name):
                found.append(f"{cname}: env {name} is a secret given as a literal value; use valueFrom.secretKeyRef")
                continue
            found += [f"{cname}: env {name} holds {what}" for what, p in SECRET_VALUE.items() if p.search(value)]
        for word in [*(c.get("args") or []), *(c.get("command") or [])]:
            found += [f"{cname}: an argument holds {what}" for what, p in SECRET_VALUE.items() if p.search(str(word))]
    for where in (manifest.get("metadata") or {}, ((manifest.get("spec") or {}).get("template") or {}).get("metadata") or {}):
        for k, v in (where.get("annotations") or {}).items():
            found += [f"annotation {k} holds {what}" for what, p in SECRET_VALUE.items() if p.search(str(v))]
    return found


@pytest.fixture
def doc() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def container(d: dict[str, Any]) -> dict[str, Any]:
    """The ethos container (the one serving; the other is the Managed Prometheus sidecar)."""
    (c,) = [c for c in d["spec"]["template"]["spec"]["containers"] if c.get("ports")]
    return c


def env_of(d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(d)["env"]}


def test_a_knative_service_for_marketing_api_in_australia_southeast1(doc: dict[str, Any]) -> None:
    assert doc["apiVersion"] == "serving.knative.dev/v1" and doc["kind"] == "Service"
    assert doc["metadata"]["name"] == "marketing-api"
    assert doc["metadata"]["labels"]["cloud.googleapis.com/location"] == "australia-southeast1"


def test_blue_green_by_tags(doc: dict[str, Any]) -> None:
    traffic = doc["spec"]["traffic"]
    assert sum(t.get("percent", 0) for t in traffic) == 100
    (blue,) = [t for t in traffic if t.get("tag") == "blue"]
    # the tag sits on the revision this manifest creates (named in the template), never on
    # "latest": a tag on latestRevision would follow the next deploy and blue would be green
    assert blue["revisionName"] == doc["spec"]["template"]["metadata"]["name"] == "marketing-api-${RELEASE}"
    assert not any(t.get("latestRevision") for t in traffic)


def test_probes_concurrency_and_min_instances(doc: dict[str, Any]) -> None:
    c = container(doc)
    for probe in ("startupProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] == "/health", probe
        assert c[probe]["httpGet"]["port"] == c["ports"][0]["containerPort"] == 8080
    spec = doc["spec"]["template"]["spec"]
    assert isinstance(spec["containerConcurrency"], int) and 1 <= spec["containerConcurrency"] <= 1000
    assert int(doc["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/minScale"]) >= 1


def test_cache_on_memorystore_and_keys_from_secret_manager(doc: dict[str, Any]) -> None:
    env = env_of(doc)
    assert env["ETHOS_CACHE_URL"]["value"] == "redis://${REDIS_HOST}:6379/0"
    for name, secret in (("ETHOS_ADMIN_API_KEY", "ethos-admin-api-key"), ("ETHOS_LLM_API_KEY", "ethos-llm-api-key")):
        assert "value" not in env[name]
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": secret, "key": "latest"}
    # Memorystore is private: the revision needs VPC egress to reach it
    assert "run.googleapis.com/network-interfaces" in doc["spec"]["template"]["metadata"]["annotations"]


def test_the_real_manifest_has_no_literal_secret(doc: dict[str, Any]) -> None:
    assert literal_secrets(doc) == []


BAD_COPIES = {
    "admin key as a literal": (
        "        - name: ETHOS_ADMIN_API_KEY\n          valueFrom:\n            secretKeyRef:\n"
        "              name: ethos-admin-api-key\n              key: latest\n",
        "        - name: ETHOS_ADMIN_API_KEY\n          value: correct-horse-battery-staple\n",
        "env ETHOS_ADMIN_API_KEY is a secret given as a literal value"),
    "LLM key pasted into another variable": (
        "        - name: ETHOS_STATE_DIR\n          value: /tmp/ethos\n",
        "        - name: ETHOS_STATE_DIR\n          value: /tmp/ethos\n        - name: ETHOS_LLM_BASE_URL\n"
        "          value: sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c\n",
        "env ETHOS_LLM_BASE_URL holds an OpenAI-style key"),
    "Redis password in the cache URL": (
        "          value: redis://${REDIS_HOST}:6379/0\n",
        "          value: redis://default:s3cr3t-pass@${REDIS_HOST}:6379/0\n",
        "env ETHOS_CACHE_URL holds a password in a URL"),
}


@pytest.mark.parametrize("case", sorted(BAD_COPIES))
def test_a_manifest_with_a_literal_secret_is_rejected(case: str) -> None:
    old, new, says = BAD_COPIES[case]
    text = MANIFEST.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"the manifest changed: update the bad copy {case!r}"
    found = literal_secrets(yaml.safe_load(text.replace(old, new)))
    assert found and any(says in f for f in found), found


def test_the_managed_prometheus_sidecar_scrapes_ethos_metrics(doc: dict[str, Any]) -> None:
    tpl = doc["spec"]["template"]
    containers = {c["name"]: c for c in tpl["spec"]["containers"]}
    assert set(containers) == {"ethos", "collector"}
    side = containers["collector"]
    assert side["image"].startswith("us-docker.pkg.dev/cloud-ops-agents-artifacts/cloud-run-gmp-sidecar/")
    assert "ports" not in side  # only ethos receives requests
    assert side["volumeMounts"] == [{"name": "rungmp-config", "mountPath": "/etc/rungmp"}]
    (vol,) = tpl["spec"]["volumes"]
    assert vol["name"] == "rungmp-config" and vol["secret"]["secretName"] == "ethos-rungmp-config"
    assert vol["secret"]["items"] == [{"key": "latest", "path": "config.yaml"}]
    import json

    assert json.loads(tpl["metadata"]["annotations"]["run.googleapis.com/container-dependencies"]) == {
        "collector": ["ethos"]}
    cfg = yaml.safe_load((MANIFEST.parent / "run-monitoring.yaml").read_text(encoding="utf-8"))
    assert (cfg["apiVersion"], cfg["kind"]) == ("monitoring.googleapis.com/v1beta", "RunMonitoring")
    (ep,) = cfg["spec"]["endpoints"]
    port = str(container(doc)["ports"][0]["containerPort"])
    assert (ep["port"], ep["path"]) == (port, "/metrics")
    # the sidecar's revision label is what the guard's Managed Prometheus queries select on
    assert "revision" in cfg["spec"]["targetLabels"]["metadata"]
    from ethos.rollout.sources.prometheus import GMP_QUERIES

    assert all('revision_name="$revision"' in q.value for q in GMP_QUERIES.values())
