"""The runbook's triggers as the default policy (``ethos guard policy`` prints it).

Every trigger of ``spec/rollback-procedures.md`` is here, with the runbook line it implements
in ``runbook``. Choices the runbook leaves open, and why:

- windows are short for emergencies (10-60 s, the shortest holding ``min_samples``) and long
  for standard triggers (1-5 min);
- rates use a 90% one-sided Wilson bound (``confidence: 0.9``): at 1 request/s, 3 errors in
  60 requests do not prove an error rate above 2%;
- the emergency error rate also decides sequentially (``sequential``): a window whose error
  rate is above 5% (75%-sure) breaches as soon as its error count is too unlikely from a
  healthy release at 0.5% (or from blue's own rate on the same window, when clearly higher):
  an exact binomial p-value under 0.01 false emergencies a day at 0.5%, shared over a look
  every second (``fast_interval``, while the evidence builds) on each of the three windows.
  A clear fault (10%) is then decided after 60-150 of green's requests, at the look that sees
  enough of them, instead of waiting for a 90% Wilson bound to clear 5% at a 5 s tick;
- "TTFT worse than baseline", "sustained increase in 4xx/5xx" and "PII detection rate = 0"
  compare green with blue on the same window (a one-sided test at alpha 0.01 AND an effect
  size), because their thresholds are relative;
- "complete cache failure" is green missing every lookup while blue hits on the same window
  (or green's store unreachable), and "cache hit rate < 50%" holds only when blue is above
  50%: a cold cache or unique questions are the traffic, not the release;
- "service down" means green does not answer while blue does: when the guard reaches no
  revision at all it cannot tell who is down, and that is *no data*, not a rollback.

Prices (``cost.prices_usd_per_100k``): Firestore's public list prices for multi-region
locations (nam5, eur3) as published on cloud.google.com/firestore/pricing (document reads
$0.06, writes $0.18, deletes $0.02 per 100,000 documents; read 2026-11-28, unchanged since
2018; regional locations are cheaper). The free daily quota is ignored, so costs are upper
bounds. Override the table in your policy for your location.
"""

from __future__ import annotations

DEFAULT_POLICY_YAML = """\
name: runbook
candidate: green          # the new revision, watched
baseline: blue            # the stable one, compared with and rolled back to
interval: 5s              # how often the guard evaluates
fast_interval: 1s         # ... and while a sequential test is building evidence
cooldown: 10m             # after acting, no action of the same or lower strength
clear_after: 2m           # a fired trigger re-arms after this long out of breach
approval:
  gradual: human          # the guard recommends a gradual rollback and waits for a person
cost:
  projected_usd_per_hour: null   # null: blue's cost per request x green's request rate
  prices_usd_per_100k: {read: 0.06, write: 0.18, delete: 0.02}
triggers:
  # ---------------------------------------------------------------- emergency
  - name: error_rate_critical
    runbook: "Emergency: error rate > 5%"
    signal: error_rate
    comparator: ">"
    threshold: 0.05
    windows: [10s, 30s, 60s]
    min_samples: 50
    confidence: 0.9
    sequential: {normal: 0.005, alpha: 0.01, confidence: 0.75}   # or sooner: surely not the normal 0.5%
    sustain: 0s
    severity: critical
    action: emergency
  - name: service_down
    runbook: "Emergency: system completely down"
    signal: up
    comparator: "<"
    threshold: 1
    windows: [0s]
    min_samples: 1
    sustain: 10s
    severity: critical
    action: emergency
  - name: pii_in_cache
    runbook: "Emergency: PII leak detected in cache / PII in cached responses"
    signal: pii_leaks
    revision: any
    comparator: ">"
    threshold: 0
    windows: [0s]
    min_samples: 1
    sustain: 0s
    severity: critical
    action: emergency
  - name: latency_p95_critical
    runbook: "Emergency: P95 latency > 30s (10x regression)"
    signal: latency_p95
    comparator: ">"
    threshold: 30
    windows: [60s, 300s]
    min_samples: 20
    sustain: 30s
    severity: critical
    action: emergency
  - name: cache_total_failure
    runbook: "Emergency: complete cache failure (100% misses)"
    signal: cache_hit_rate
    comparator: "<="
    threshold: 0
    baseline: {test: fisher, alpha: 0.001}
    windows: [60s, 300s]
    min_samples: 50
    sustain: 30s
    severity: critical
    action: emergency
  - name: cache_store_down
    runbook: "Emergency: complete cache failure (store unreachable, every request bypasses)"
    signal: store_up
    comparator: "<"
    threshold: 1
    windows: [0s]
    min_samples: 1
    sustain: 30s
    severity: critical
    action: emergency
  - name: memory_exhaustion
    runbook: "Emergency: memory exhaustion"
    signal: memory_utilisation
    comparator: ">"
    threshold: 0.95
    windows: [0s]
    min_samples: 1
    sustain: 30s
    severity: critical
    action: emergency
  - name: cpu_exhaustion
    runbook: "Emergency: CPU exhaustion"
    signal: cpu_utilisation
    comparator: ">"
    threshold: 0.95
    windows: [60s]
    min_samples: 1
    sustain: 2m
    severity: critical
    action: emergency
  # ---------------------------------------------------------------- standard
  - name: error_rate_sustained
    runbook: "Standard: error rate > 2% for 5 minutes"
    signal: error_rate
    comparator: ">"
    threshold: 0.02
    windows: [60s, 300s]
    min_samples: 100
    confidence: 0.9
    sustain: 5m
    severity: major
    action: standard
  - name: http_errors_rising
    runbook: "Standard: sustained increase in 4xx/5xx errors"
    signal: http_error_rate
    comparator: ">"
    threshold: 2.0
    baseline: {test: fisher, alpha: 0.01, min_difference: 0.01}
    windows: [300s]
    min_samples: 100
    sustain: 5m
    severity: major
    action: standard
  - name: latency_p95_sustained
    runbook: "Standard: P95 latency > 10s for 10 minutes"
    signal: latency_p95
    comparator: ">"
    threshold: 10
    windows: [60s, 300s]
    min_samples: 20
    sustain: 10m
    severity: major
    action: standard
  - name: latency_p50_high
    runbook: "Standard: P50 latency > 5s"
    signal: latency_p50
    comparator: ">"
    threshold: 5
    windows: [60s, 300s]
    min_samples: 20
    sustain: 1m
    severity: major
    action: standard
  - name: ttft_regression
    runbook: "Standard: TTFT worse than baseline"
    signal: ttft
    comparator: ">"
    threshold: 1.5
    baseline: {test: mann_whitney, alpha: 0.01}
    windows: [300s]
    min_samples: 30
    sustain: 2m
    severity: major
    action: standard
  - name: cache_hit_rate_low
    runbook: "Standard: cache hit rate < 50% (indicates caching broken)"
    signal: cache_hit_rate
    comparator: "<"
    threshold: 0.5
    unless_baseline_too: true
    windows: [300s]
    min_samples: 100
    confidence: 0.9
    sustain: 5m
    severity: major
    action: standard
  - name: pii_detector_broken
    runbook: "Standard: PII detection not working (the detector's self-test fails)"
    signal: pii_selftest
    comparator: "<"
    threshold: 1
    windows: [0s]
    min_samples: 1
    sustain: 30s
    severity: major
    action: standard
  - name: pii_detection_zero
    runbook: "Standard: PII detection rate = 0 with traffic that should carry some"
    signal: pii_detection_rate
    comparator: "<="
    threshold: 0
    baseline: {test: fisher, alpha: 0.01}
    windows: [300s, 900s]
    min_samples: 200
    sustain: 5m
    severity: major
    action: standard
  - name: quality_rejections_high
    runbook: "Standard: quality rejections > 80% (too conservative)"
    signal: quality_rejection_rate
    comparator: ">"
    threshold: 0.8
    windows: [300s]
    min_samples: 50
    confidence: 0.9
    sustain: 5m
    severity: major
    action: standard
  - name: store_cost_spike
    runbook: "Standard: Firestore costs > 200% of projected"
    signal: store_cost_ratio
    comparator: ">"
    threshold: 2.0
    windows: [300s]
    min_samples: 100
    sustain: 10m
    severity: major
    action: standard
  # ---------------------------------------------------------------- gradual / notify
  - name: latency_regression_mild
    runbook: "Gradual: non-critical issue (p95-like slowdown against blue); a person approves"
    signal: latency
    comparator: ">"
    threshold: 1.3
    baseline: {test: mann_whitney, alpha: 0.01}
    windows: [600s]
    min_samples: 50
    sustain: 10m
    severity: minor
    action: gradual
  - name: resource_usage_high
    runbook: "Standard (cost spike): unexpected resource usage; tells the team"
    signal: memory_utilisation
    comparator: ">"
    threshold: 0.8
    windows: [0s]
    min_samples: 1
    sustain: 5m
    severity: minor
    action: notify
"""

__all__ = ["DEFAULT_POLICY_YAML"]
