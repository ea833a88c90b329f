"""The public surface of ethos.pii, redact, selftest, scan, and import isolation."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import ethos.pii as pii
from ethos.pii import Finding, Leak, ScanProgress, redact, scan_entries, selftest


def test_all_is_pinned() -> None:
    assert sorted(pii.__all__) == sorted([
        "ALLOW_ENV_VAR", "DEFAULT_ALLOW", "ENTITIES", "Finding", "Leak", "SELFTEST_SAMPLES",
        "ScanProgress", "allow_set", "detect", "detect_exchange", "log_safe", "redact", "scan_entries",
        "scan_entry", "selftest",
    ])
    for name in pii.__all__:
        assert getattr(pii, name) is not None


def test_imports_nothing_else_of_ethos() -> None:
    code = "import sys, ethos.pii; print(sorted(m for m in sys.modules if m.startswith('ethos')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    mods = eval(out.stdout)  # noqa: S307 - our own output
    assert all(m == "ethos" or m.startswith("ethos.pii") for m in mods), mods
    # and the slow libraries load only when first needed
    code = "import sys, ethos.pii; print('phonenumbers' in sys.modules, 'stdnum' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_redact() -> None:
    text = "I'm Ana, mail ana@x.com or 0412 345 678; the Team plan is $49/month"
    assert redact(text) == (
        "I'm <PERSON>, mail <EMAIL_ADDRESS> or <PHONE_NUMBER>; the Team plan is $49/month"
    )
    assert redact("no pii at $10") == "no pii at $10"
    assert redact("x@y.com", findings=[]) == "x@y.com"


def test_finding_to_dict() -> None:
    assert Finding("PERSON", 1, 3, 0.5).to_dict() == {
        "entity": "PERSON", "start": 1, "end": 3, "score": 0.5
    }


def test_selftest_healthy_and_broken() -> None:
    assert selftest() == 1.0
    assert selftest(lambda text: []) == 0.0

    def crash(text: str) -> list[Finding]:
        raise RuntimeError("boom")

    assert selftest(crash) == 0.0
    assert len(pii.SELFTEST_SAMPLES) >= len(pii.ENTITIES)
    assert {e for _, e in pii.SELFTEST_SAMPLES} == set(pii.ENTITIES)


@dataclass
class _E:
    key: str
    question: str
    reply: str
    hit_count: int = 0


def test_scan_entries_reports_counts_never_values() -> None:
    batches = [
        [_E("k1", "what is the Team plan price", "$49/month"),
         _E("k2", "email me at a@b.com or c@d.com", "sure", hit_count=7)],
        [_E("k3", "call 0412 345 678", "Hi Tom, call back")],
        [],
    ]
    progress = ScanProgress()
    leaks = list(scan_entries(batches, progress=progress))
    assert leaks == [
        Leak("k2", {"EMAIL_ADDRESS": 2}, findings=2, hit_count=7),
        Leak("k3", {"PERSON": 1, "PHONE_NUMBER": 1}, findings=2, hit_count=0),
    ]
    assert leaks[0].to_dict() == {
        "key": "k2", "entities": {"EMAIL_ADDRESS": 2}, "findings": 2, "hit_count": 7
    }
    assert progress.scanned == 3 and progress.leaking == 2
    assert progress.entities == {"EMAIL_ADDRESS": 2, "PHONE_NUMBER": 1, "PERSON": 1}
    assert "a@b.com" not in repr(leaks) and "0412" not in str([leak.to_dict() for leak in leaks])


def test_scan_entries_many_entries_and_custom_detector() -> None:
    entries = [_E(f"k{i}", "how much is Starter?", "It is $19/month.") for i in range(5000)]
    entries[4321] = _E("bad", "I'm Zoe", "ok")
    leaks = list(scan_entries([entries[i : i + 500] for i in range(0, 5000, 500)]))
    assert [leak.key for leak in leaks] == ["bad"]
    assert list(scan_entries([entries[:3]], detect=lambda t: [Finding("X", 0, 1, 1.0)]))[0].entities == {"X": 2}


def test_scan_accepts_cache_entries() -> None:
    from ethos.cache.entry import Entry

    e = Entry(key="k", namespace="n", format_version=1, scope="s",
              question="my tfn is 123 456 782", reply="Noted.", hit_count=3)
    (leak,) = scan_entries([[e]])
    assert leak.to_dict() == {"key": "k", "entities": {"AU_TFN": 1}, "findings": 1, "hit_count": 3}


def test_log_safe_ignores_the_operators_allow_list(monkeypatch) -> None:
    """A wrong ETHOS_PII_ALLOW may let the cache keep an address; it never puts it in a log."""
    monkeypatch.setenv(pii.ALLOW_ENV_VAR, "jane.citizen@example-corp.com")
    text = "my email is jane.citizen@example-corp.com"
    assert "jane.citizen" in redact(text)  # the gate's view: allowed
    assert "jane.citizen" not in pii.log_safe(text) and "<EMAIL_ADDRESS>" in pii.log_safe(text)
