/* ethos console: polls /api/console/state (3 s) and /history (5 s); actions need the admin key.
   The key lives only in sessionStorage (gone when the tab closes); it is sent as X-Admin-API-Key. */
(function () {
  "use strict";
  var KEY_STORE = "ethos.console.adminKey", NAME_STORE = "ethos.console.name";
  var STATE_MS = 3000, HISTORY_MS = 5000;
  var COLORS = { blue: "#1f5fbf", green: "#17803d" };
  var OTHER = ["#8a3ffc", "#b35900", "#007d79", "#a2191f"];
  var RATIOS = { error_rate: 1, http_error_rate: 1, cache_hit_rate: 1, pii_detection_rate: 1,
    quality_rejection_rate: 1, cpu_utilisation: 1, memory_utilisation: 1 };
  var SECONDS = { latency: 1, ttft: 1, latency_p50: 1, latency_p95: 1, ttft_p50: 1, ttft_p95: 1 };
  var S = { key: null, unlocked: false, state: null, charts: {}, weightsBuilt: "", opener: null, pending: null, failures: 0 };

  function $(sel) { return document.querySelector(sel); }
  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k];
      else if (k === "class") e.className = attrs[k];
      else e.setAttribute(k, attrs[k]);
    });
    (kids || []).forEach(function (c) { if (c != null) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return e;
  }
  function colorOf(name, i) { return COLORS[name] || OTHER[i % OTHER.length]; }

  // ---------------------------------------------------------------- formatting
  function pct(v) { return v == null ? "–" : (v * 100).toFixed(v !== 0 && Math.abs(v) < 0.1 ? 2 : 1) + "%"; }
  function secs(v) { return v == null ? "–" : (v < 1 ? (v * 1000).toFixed(v < 0.01 ? 1 : 0) + " ms" : v.toFixed(2) + " s"); }
  function fmtSignal(sig, v) {
    if (v == null || v === "inf" || v === "-inf") return v == null ? "–" : v;
    if (RATIOS[sig]) return pct(v);
    if (SECONDS[sig]) return secs(v);
    if (sig === "store_cost_ratio") return pct(v) + " of projection";
    if (sig === "request_rate") return v.toFixed(v < 10 ? 2 : 0) + " req/s";
    if (sig === "up" || sig === "store_up") return v >= 1 ? "up" : "down";
    if (sig === "pii_selftest") return v >= 1 ? "passes" : "fails";
    if (sig === "store_cost_usd_per_hour") return "$" + v.toFixed(4) + "/h";
    return String(Math.round(v * 1000) / 1000);
  }
  function fmtDuration(s) {
    if (s == null) return "";
    s = Math.max(0, Math.round(s));
    if (s < 60) return s + " s";
    var m = Math.floor(s / 60), r = s % 60;
    if (m < 60) return m + " min" + (r ? " " + r + " s" : "");
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  }
  function fmtTime(t) {
    if (!t) return "";
    var d = typeof t === "number" ? new Date(t * 1000) : new Date(t);
    return isNaN(d) ? String(t) : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  // ---------------------------------------------------------------- HTTP
  function api(path, opts) {
    opts = opts || {};
    var headers = { "Accept": "application/json" };
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    if (opts.auth && S.key) headers["X-Admin-API-Key"] = S.key;
    return fetch(path, { method: opts.method || "GET", headers: headers, cache: "no-store",
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body) })
      .then(function (r) {
        if (r.status === 204) return { status: 204, data: null };
        return r.json().catch(function () { return { error: "bad_reply", detail: "HTTP " + r.status }; })
          .then(function (d) { return { status: r.status, data: d }; });
      });
  }
  function errText(res) {
    var d = res.data || {};
    return (d.detail || d.error || ("HTTP " + res.status)) + (d.error && d.detail ? " (" + d.error + ")" : "");
  }

  // ---------------------------------------------------------------- key and name
  function setUnlocked(on, message, isError) {
    S.unlocked = on;
    var ks = $("#keystate");
    ks.textContent = message;
    ks.className = "keystate" + (on ? " unlocked" : "") + (isError ? " error" : "");
    $("#lock").hidden = !on;
    $("#unlock").hidden = on;
    $("#adminkey").disabled = on;
    if (on) $("#adminkey").value = "";
    var note = $("#actions-note");
    note.textContent = on ? "Actions unlocked for this tab. Each asks for confirmation and is recorded in the journal with your name."
      : "Enter the admin key above to enable actions. Everything stays visible.";
    note.className = "note" + (on ? " unlocked" : "");
    syncButtons();
  }
  function syncButtons() {
    var drillOk = !S.state || !S.state.actions || S.state.actions.drill;
    document.querySelectorAll("button[data-action]").forEach(function (b) {
      b.disabled = !S.unlocked || (b.dataset.action === "drill" && !drillOk);
      b.title = !S.unlocked ? "Enter the admin key to enable" : (b.dataset.action === "drill" && !drillOk ? "Drills are not available in this installation" : "");
    });
  }
  function checkKey(key) {
    S.key = key;
    return api("/api/console/auth", { auth: true }).then(function (res) {
      if (res.status === 204) {
        sessionStorage.setItem(KEY_STORE, key);
        setUnlocked(true, "Actions unlocked (key kept for this tab only).");
        return true;
      }
      S.key = null;
      sessionStorage.removeItem(KEY_STORE);
      var why = res.status === 403 ? "Wrong admin key." : res.status === 503 ? "The console has no admin key configured: actions are off." : errText(res);
      setUnlocked(false, why + " Read-only.", true);
      return false;
    }).catch(function () { S.key = null; setUnlocked(false, "Cannot reach the console to check the key.", true); return false; });
  }

  // ---------------------------------------------------------------- state rendering
  function renderTraffic(st) {
    var ul = $("#revisions");
    ul.textContent = "";
    $("#traffic-sub").textContent = "Router " + (st.router || "–") + (st.traffic_error ? " — " + st.traffic_error : "");
    st.revisions.forEach(function (r, i) {
      var w = r.weight == null ? null : r.weight;
      var healthClass = r.health === "ok" ? "ok" : r.health === "degraded" ? "degraded" : "down";
      var healthText = (healthClass === "ok" ? "✓ healthy" : healthClass === "degraded" ? "! degraded (cache bypassed)" : "✕ " + r.health) + (r.health_detail ? ": " + r.health_detail : "");
      var bar = el("div", { class: "bar " + (r.name === "green" ? "green" : "blue"), role: "progressbar", "aria-label": r.name + " traffic weight",
        "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": w == null ? "0" : String(w), "aria-valuetext": w == null ? "unknown" : w + "%" },
        [el("span", { style: "width:" + (w || 0) + "%;background-color:" + colorOf(r.name, i) })]);
      var meta = el("div", { class: "rev-meta" }, [
        el("span", { class: "badge " + healthClass, text: healthText }),
        el("span", { class: "badge info", text: r.cache_format_version == null ? "cache format ?" : "cache format v" + r.cache_format_version }),
        r.faults ? el("span", { class: "badge fault", text: "⚠ fault injection: " + (typeof r.faults === "string" ? r.faults : Object.keys(r.faults).map(function (k) { return k + "=" + r.faults[k]; }).join(", ")) }) : null,
      ]);
      var now = (st.now || {})[r.name] || {};
      var glance = !now.request_rate ? "no requests in the last minute" :
        "last minute: " + fmtSignal("request_rate", now.request_rate) + " · errors " + fmtSignal("error_rate", now.error_rate) +
        " · p95 " + fmtSignal("latency_p95", now.latency_p95) + " · cache hits " + fmtSignal("cache_hit_rate", now.cache_hit_rate);
      ul.appendChild(el("li", { "data-revision": r.name }, [
        el("div", { class: "rev-head" }, [
          el("span", { class: "rev-name" }, [el("span", { class: "swatch", style: "background:" + colorOf(r.name, i), "aria-hidden": "true" }), r.name]),
          el("span", { class: "rev-weight", "data-weight": r.name, text: w == null ? "?" : w + "%" }),
        ]),
        bar, meta, el("p", { class: "glance", text: glance }),
      ]));
    });
    buildWeightInputs(st);
  }

  function buildWeightInputs(st) {
    var names = st.revisions.map(function (r) { return r.name; }).join(",");
    var now = JSON.stringify(st.weights);
    if (names === S.weightsBuilt) {
      // follow the router's weights unless the person is editing them
      var editing = document.activeElement && document.activeElement.closest && document.activeElement.closest("#weights-fields");
      if (!editing && now !== S.weightsSeen && st.weights) {
        document.querySelectorAll("#weights-fields input[data-rev]").forEach(function (i) { i.value = String(st.weights[i.dataset.rev] || 0); });
      }
      S.weightsSeen = now;
      return;
    }
    S.weightsSeen = now;
    S.weightsBuilt = names;
    var fs = $("#weights-fields");
    fs.querySelectorAll(".field").forEach(function (f) { f.remove(); });
    st.revisions.forEach(function (r) {
      var id = "w-" + r.name.replace(/[^a-z0-9_-]/gi, "_");
      fs.appendChild(el("div", { class: "field" }, [
        el("label", { for: id, text: r.name + " %" }),
        el("input", { id: id, type: "number", min: "0", max: "100", step: "1", inputmode: "numeric", "data-rev": r.name, value: String(r.weight == null ? 0 : r.weight) }),
      ]));
    });
  }

  function thresholdText(row) {
    var t = row.threshold, base = S.state ? S.state.policy.baseline : "baseline";
    if (row.baseline && t === 0) return row.comparator + " 0 while " + base + " is above";
    if (row.baseline) return "ratio " + row.comparator + " ×" + t + " vs " + base;
    return row.comparator + " " + fmtSignal(row.signal, t);
  }
  function valueText(row) {
    if (row.value == null) return "–";
    if (row.baseline && typeof row.value === "number") return "×" + row.value.toFixed(2) + " of " + (S.state ? S.state.policy.baseline : "baseline");
    return fmtSignal(row.signal, row.value);
  }
  var SYMBOL = { ok: "✓", watching: "◔", firing: "✕", inconclusive: "?", "no-data": "∅" };

  function renderTriggers(st) {
    var tr = st.triggers, tb = $("#trigger-rows");
    var counts = {};
    tb.textContent = "";
    tr.rows.forEach(function (row) {
      counts[row.status] = (counts[row.status] || 0) + 1;
      var state = row.state_text;
      if (row.status === "watching" && row.time_left_s != null) state += " · " + fmtDuration(row.time_left_s) + " left";
      var samples = row.samples ? row.samples + " samples" : "";
      tb.appendChild(el("tr", { class: row.status, "data-trigger": row.trigger }, [
        el("td", { "data-label": "State" }, [el("span", { class: "badge " + row.status, text: (SYMBOL[row.status] || "") + " " + state })]),
        el("td", { "data-label": "Trigger" }, [el("strong", { text: row.trigger }), el("span", { class: "rb", text: row.runbook + (row.reason ? " — " + row.reason : "") })]),
        el("td", { class: "num", "data-label": "Value", text: valueText(row) + (row.revision ? " (" + row.revision + ")" : "") }),
        el("td", { class: "num", "data-label": "Threshold", text: thresholdText(row) + (row.sustain_s ? " for " + fmtDuration(row.sustain_s) : "") }),
        el("td", { class: "num", "data-label": "Window", text: (row.window_s != null ? fmtDuration(row.window_s) : "–") + (samples ? ", " + samples : "") }),
        el("td", { "data-label": "Action", text: row.action + " (" + row.severity + ")" }),
      ]));
    });
    var order = ["firing", "watching", "ok", "inconclusive", "no-data"];
    var summary = order.filter(function (k) { return counts[k]; }).map(function (k) { return counts[k] + " " + (k === "no-data" ? "no data" : k); }).join(", ");
    var d = tr.decision || {};
    $("#triggers-sub").textContent = (tr.source === "guard" ? "From the running guard" : "Evaluated by the console (no guard running)") +
      (tr.at ? " at " + fmtTime(tr.at) : "") + ". " + summary + "." +
      (d.action && d.action !== "none" && d.action !== "watch" && tr.source === "guard" ? " Guard decision: " + d.action + (d.reason ? " — " + d.reason : "") + "." : "") +
      (tr.last_call ? " The policy called for " + (tr.last_call.action === "notify" ? "a notification" : (/^[aeiou]/.test(tr.last_call.action) ? "an " : "a ") + tr.last_call.action + " rollback") + " at " +
        new Date(tr.last_call.at * 1000).toLocaleTimeString() + (tr.last_call.reason ? " (" + tr.last_call.reason + ")" : "") +
        (tr.last_call.needs_approval ? ", waiting for a person's approval" : "") + "; no guard is running to act on it: act below or start `ethos guard`." : "") +
      (Object.keys(tr.unavailable || {}).length ? " Unavailable: " + Object.keys(tr.unavailable).join(", ") + "." : "");
  }

  function renderJournal(st) {
    var ol = $("#timeline");
    ol.textContent = "";
    if (!st.journal.length) { ol.appendChild(el("li", { class: "empty-note", text: "No rollback recorded yet." })); return; }
    st.journal.forEach(function (run) {
      if (run.error) { ol.appendChild(el("li", { class: "failed", text: run.error })); return; }
      var steps = el("ol", { class: "steps" }, run.events.map(function (e) {
        return el("li", { text: e.step + ": " + e.status + (e.message ? " — " + e.message : "") });
      }));
      var statusClass = run.status === "done" ? "ok" : (run.status === "incomplete" ? "watching" : "firing");
      var statusText = run.status === "incomplete" ? "running or interrupted" : run.status;
      ol.appendChild(el("li", { class: run.status }, [
        el("div", { class: "when", text: fmtTime(run.started) + (run.duration_s != null ? " · " + run.duration_s.toFixed(2) + " s" : "") }),
        el("div", {}, [el("strong", { text: run.procedure + " " }), el("span", { class: "badge " + statusClass, text: statusText }),
          document.createTextNode(" by " + (run.executed_by || "?"))]),
        run.reason ? el("div", { class: "hint", text: run.reason }) : null,
        el("details", {}, [el("summary", { text: run.rollback_id + " — " + run.steps_done + "/" + run.steps + " steps" + (run.message ? ": " + run.message : "") }), steps]),
      ]));
    });
  }

  function renderRecord(container, rec, kind) {
    var box = $(container);
    box.textContent = "";
    if (!rec.available) { box.appendChild(el("p", { class: "empty-note", text: "Not available: " + rec.detail })); return; }
    var v = rec[kind];
    if (!v) { box.appendChild(el("p", { class: "empty-note", text: kind === "incident" ? "No open incident." : "No drill recorded yet." })); return; }
    if (kind === "incident") {
      box.appendChild(el("p", {}, [el("strong", { text: (v.id || v.incident_id || "incident") + " " }), el("span", { class: "badge firing", text: v.status || "open" }),
        document.createTextNode(" " + (v.title || v.summary || "") + (v.opened_at ? " · opened " + fmtTime(v.opened_at) : ""))]));
      var items = v.checklist || [];
      if (items.length) {
        var done = items.filter(function (i) { return i.done; }).length;
        box.appendChild(el("p", { class: "hint", text: "Checklist: " + done + " of " + items.length + " done" }));
        box.appendChild(el("ul", { class: "checklist" }, items.map(function (i) {
          return el("li", { text: (i.done ? "☑ done: " : "☐ to do: ") + (i.title || i.id) + (i.by ? " (" + i.by + ")" : "") });
        })));
      }
      (v.deadlines || []).forEach(function (d) { box.appendChild(el("p", { class: "hint", text: d.title + ": " + fmtTime(d.due) })); });
    } else {
      box.appendChild(el("p", {}, [el("strong", { text: "Last: " + (v.last_at ? fmtTime(v.last_at) : "never") + " " }),
        v.result ? el("span", { class: "badge " + (v.result === "passed" ? "ok" : "firing"), text: (v.result === "passed" ? "✓ " : "✕ ") + v.result }) : null,
        document.createTextNode(v.scenario ? " (" + v.scenario + ")" : "")]));
      box.appendChild(el("p", {}, [el("span", { class: "badge " + (v.overdue ? "firing" : "ok"), text: v.overdue ? "✕ overdue" : "✓ up to date" }),
        document.createTextNode(v.next_due ? " next due " + fmtTime(v.next_due) : " run one with Start drill or `ethos drill`")]));
      if (v.report) box.appendChild(el("p", { class: "hint", text: "Report: " + v.report }));
    }
  }

  function renderJobs(st) {
    var box = $("#jobs");
    box.textContent = "";
    (st.jobs || []).filter(function (j) { return j.running; }).forEach(function (j) {
      box.appendChild(el("p", {}, [el("span", { class: "badge watching", text: "◔ running" }), document.createTextNode(" " + j.action + " " + j.rollback_id + " by " + j.executed_by)]));
    });
    if (st.lock) box.appendChild(el("p", { class: "hint", text: "Journal lock held by " + st.lock.rollback_id + " (pid " + st.lock.pid + ")" }));
  }

  function renderState(st) {
    S.state = st;
    renderTraffic(st);
    renderTriggers(st);
    renderJournal(st);
    renderRecord("#incident-body", st.incident, "incident");
    renderRecord("#drill-body", st.drill, "drill");
    renderJobs(st);
    syncButtons();
    var conn = $("#conn");
    conn.className = "conn";
    conn.textContent = "Live · updated " + new Date(st.generated_at * 1000).toLocaleTimeString() + " · sampled every " + st.interval_s + " s";
  }

  function pollState() {
    api("/api/console/state").then(function (res) {
      if (res.status !== 200) throw new Error(errText(res));
      S.failures = 0;
      renderState(res.data);
    }).catch(function (e) {
      S.failures += 1;
      var conn = $("#conn");
      conn.className = "conn stale";
      conn.textContent = "Stale: cannot reach the console (" + e.message + "); retrying";
    }).then(function () { setTimeout(pollState, STATE_MS); });
  }

  // ---------------------------------------------------------------- charts
  function yRange(spec) {
    return function (u, min, max) {
      var hi = max == null || !isFinite(max) ? 0 : max;
      spec.thresholds.forEach(function (t) { if (!t.relative_to && isFinite(t.value)) hi = Math.max(hi, t.value); });
      if (RATIOS[spec.signal] && hi <= 0) hi = 0.05;
      if (hi <= 0) hi = 1;
      return [0, hi * 1.08];
    };
  }
  function axisFmt(signal) {
    return function (u, vals) { return vals.map(function (v) { return v == null ? "" : (RATIOS[signal] || signal === "store_cost_ratio") ? Math.round(v * 1000) / 10 + "%" : SECONDS[signal] ? secs(v) : String(Math.round(v * 100) / 100); }); };
  }

  function timeTicks(u, splits) {
    // local clock time only (no date): the charts cover the last hour
    var span = (u.scales.x.max || 0) - (u.scales.x.min || 0);
    var opts = span < 600 ? { hour: "2-digit", minute: "2-digit", second: "2-digit" } : { hour: "2-digit", minute: "2-digit" };
    return splits.map(function (t) { return t == null ? "" : new Date(t * 1000).toLocaleTimeString([], opts); });
  }

  function chartData(h, spec) {
    var cols = [h.t];
    h.revisions.forEach(function (r) { cols.push(h.series[spec.signal][r]); });
    spec.thresholds.forEach(function (t) {
      if (t.relative_to) {
        var base = h.series[spec.signal][t.relative_to] || [];
        cols.push(base.map(function (v) { return v == null ? null : v * t.value; }));
      } else cols.push(h.t.map(function () { return t.value; }));
    });
    return cols;
  }

  function makeChart(h, spec, target) {
    var series = [{ label: "time" }];
    h.revisions.forEach(function (r, i) {
      series.push({ label: r, stroke: colorOf(r, i), _stroke: colorOf(r, i), width: 2, dash: r === h.candidate ? [7, 4] : undefined, _dash: r === h.candidate ? [7, 4] : null,
        value: function (u, v) { return fmtSignal(spec.signal, v); }, spanGaps: false, points: { size: 4 } });
    });
    spec.thresholds.forEach(function (t) {
      var emergency = t.action === "emergency";
      series.push({ label: (t.relative_to ? t.comparator + " ×" + t.value + " " + t.relative_to : t.comparator + " " + fmtSignal(spec.signal, t.value)) + " (" + t.action + ")",
        stroke: emergency ? "#b42318" : "#b07800", _stroke: emergency ? "#b42318" : "#b07800", width: 1.5,
        dash: emergency ? [8, 5] : [2, 4], _dash: emergency ? [8, 5] : [2, 4], points: { show: false },
        value: function (u, v) { return fmtSignal(spec.signal, v); } });
    });
    var opts = {
      width: Math.max(240, target.clientWidth), height: 150, series: series,
      scales: { x: { time: true, range: function (u, min, max) { var hi = max || Date.now() / 1000; return [Math.min(min || hi, hi - 60), hi]; } },
                y: { range: yRange(spec) } },
      axes: [{ stroke: "#4d5966", grid: { stroke: "#eef1f4" }, ticks: { stroke: "#d5dbe1" }, space: 80, values: timeTicks },
             { stroke: "#4d5966", size: 58, values: axisFmt(spec.signal), grid: { stroke: "#eef1f4" }, ticks: { stroke: "#d5dbe1" } }],
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      hooks: { drawClear: [function (u) {
        var ts = u.data[0]; if (!ts.length) return;
        var now = ts[ts.length - 1], x0 = u.valToPos(now - h.window_s, "x", true), x1 = u.valToPos(now, "x", true);
        var ctx = u.ctx; ctx.save(); ctx.fillStyle = "rgba(255, 196, 0, 0.16)";
        ctx.fillRect(Math.max(x0, u.bbox.left), u.bbox.top, x1 - Math.max(x0, u.bbox.left), u.bbox.height); ctx.restore();
      }] },
    };
    var u = new uPlot(opts, chartData(h, spec), target);
    u._legend = legendOf(series);
    return u;
  }

  var SVGNS = "http://www.w3.org/2000/svg";
  function lineSample(color, dash) {
    var svg = document.createElementNS(SVGNS, "svg"), line = document.createElementNS(SVGNS, "line");
    svg.setAttribute("width", "26"); svg.setAttribute("height", "8"); svg.setAttribute("aria-hidden", "true");
    line.setAttribute("x1", "0"); line.setAttribute("x2", "26"); line.setAttribute("y1", "4"); line.setAttribute("y2", "4");
    line.setAttribute("stroke", color); line.setAttribute("stroke-width", "2.5");
    if (dash) line.setAttribute("stroke-dasharray", dash.join(" "));
    svg.appendChild(line);
    return svg;
  }
  function legendOf(series) {
    return el("ul", { class: "legend" }, series.slice(1).map(function (s) {
      return el("li", {}, [lineSample(s._stroke, s._dash), s.label]);
    }));
  }

  function latestText(h, spec) {
    var parts = h.revisions.map(function (r) {
      var arr = h.series[spec.signal][r] || [], v = null;
      for (var i = arr.length - 1; i >= 0; i--) { if (arr[i] != null) { v = arr[i]; break; } }
      return r + " " + fmtSignal(spec.signal, v);
    });
    var th = spec.thresholds.filter(function (t) { return !t.relative_to; }).map(function (t) { return t.comparator + " " + fmtSignal(spec.signal, t.value) + " " + t.action; });
    return "Now: " + parts.join(" · ") + (th.length ? " — thresholds " + th.join(", ") : "");
  }

  function renderHistory(h) {
    var box = $("#charts");
    h.charts.forEach(function (spec) {
      var c = S.charts[spec.signal];
      if (!c) {
        var plot = el("div", { class: "plot", "aria-hidden": "true" });
        var latest = el("span", { class: "latest" });
        var fig = el("figure", { class: "chart", "data-signal": spec.signal }, [el("figcaption", {}, [spec.title + " ", latest]), plot]);
        box.appendChild(fig);
        c = S.charts[spec.signal] = { fig: fig, plot: plot, latest: latest, u: null };
      }
      c.latest.textContent = latestText(h, spec);
      if (!h.t.length) { if (!c.plot.firstChild) c.plot.appendChild(el("p", { class: "empty", text: "No samples yet." })); return; }
      if (!c.u) { c.plot.textContent = ""; c.u = makeChart(h, spec, c.plot); c.fig.appendChild(c.u._legend); }
      else c.u.setData(chartData(h, spec));
    });
  }
  function pollHistory() {
    api("/api/console/history").then(function (res) { if (res.status === 200) renderHistory(res.data); })
      .catch(function () { /* the state poll reports staleness */ })
      .then(function () { setTimeout(pollHistory, HISTORY_MS); });
  }
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      Object.keys(S.charts).forEach(function (k) { var c = S.charts[k]; if (c.u) c.u.setSize({ width: Math.max(240, c.plot.clientWidth), height: 150 }); });
    }, 150);
  });

  // ---------------------------------------------------------------- actions
  function bodyFor(action) {
    var b = { executed_by: $("#who").value.trim(), reason: $("#reason").value.trim() };
    if (action === "gradual") b.stages = $("#stages").value.trim();
    if (action === "invalidate") b.pattern = $("#pattern").value.trim() || "all";
    if (action === "weights") {
      b.weights = {};
      document.querySelectorAll("#weights-fields input[data-rev]").forEach(function (i) { b.weights[i.dataset.rev] = Number(i.value); });
    }
    return b;
  }
  function describe(action, b) {
    var st = S.state || { policy: { baseline: "blue", candidate: "green" } };
    var blue = st.policy.baseline, who = b.executed_by;
    var rec = " Recorded in the journal as done by " + who + ".";
    switch (action) {
      case "emergency": return { title: "Emergency rollback to " + blue, ok: "Roll back now",
        what: "All traffic moves to " + blue + " at once (100%), every revision's cache is cleared (key_pattern=all), then traffic and health are verified and the team is notified." + rec };
      case "gradual": return { title: "Gradual rollback to " + blue, ok: "Start gradual rollback",
        what: "Green's share goes down stage by stage (" + b.stages + ", then 0), watching " + blue + " at each stage; it holds and says why if " + blue + " degrades. It runs for the total watch time; follow it in the journal." + rec };
      case "weights": return { title: "Set weights: " + Object.keys(b.weights).map(function (k) { return k + " " + b.weights[k] + "%"; }).join(", "), ok: "Set weights",
        what: "The router sends new requests with these shares from now on; requests in flight keep their revision. The cache is left as it is." + rec };
      case "invalidate": return { title: "Invalidate the cache: " + b.pattern, ok: "Invalidate",
        what: (b.pattern === "all" ? "Every cached answer is removed" : "Cached answers whose key matches " + b.pattern + " are removed") + " on every revision; the next requests for them are misses (slower) until the cache fills again." + rec };
      case "drill": return { title: "Start a drill", ok: "Start drill",
        what: "Starts `ethos drill` on a sandbox stack of its own (not this one): rehearses the emergency rollback, times each step and writes the report." + rec };
    }
    return { title: action, ok: "Confirm", what: "" };
  }

  function openConfirm(btn) {
    var action = btn.dataset.action, b = bodyFor(action);
    if (!b.executed_by) { toast("Enter your name first: the journal records who acted.", true); $("#who").focus(); return; }
    if (action === "weights") {
      var sum = Object.keys(b.weights).reduce(function (a, k) { return a + b.weights[k]; }, 0);
      if (sum !== 100) { toast("The weights add up to " + sum + "%, not 100%.", true); var first = $("#weights-fields input"); if (first) first.focus(); return; }
    }
    var d = describe(action, b);
    S.opener = btn; S.pending = { action: action, body: b };
    $("#confirm-title").textContent = d.title;
    $("#confirm-what").textContent = "";
    $("#confirm-what").appendChild(el("p", { text: d.what }));
    $("#confirm-plan").textContent = "";
    $("#confirm-error").textContent = "";
    var ok = $("#confirm-ok");
    ok.textContent = d.ok; ok.disabled = true;
    ok.className = action === "emergency" || action === "invalidate" ? "danger" : "";
    var dlg = $("#confirm");
    dlg.showModal();
    $("#confirm-cancel").focus();
    var dry = Object.assign({}, b, { dry_run: true });
    api("/api/console/actions/" + action, { method: "POST", body: dry, auth: true }).then(function (res) {
      if (res.status !== 200) { $("#confirm-error").textContent = "Cannot prepare: " + errText(res); return; }
      var steps = res.data.plan || [];
      if (steps.length) steps.forEach(function (st) {
        $("#confirm-plan").appendChild(el("li", { text: (st.title || st.name) + (st.critical === false ? " (the rest continues if this fails)" : "") }));
      });
      else (res.data.lines || []).forEach(function (line) { $("#confirm-plan").appendChild(el("li", { text: line })); });
      ok.disabled = false;
    }).catch(function (e) { $("#confirm-error").textContent = "Cannot reach the console: " + e.message; });
  }
  function closeConfirm() {
    var dlg = $("#confirm");
    if (dlg.open) dlg.close();
  }
  function runConfirmed() {
    var p = S.pending; if (!p) return;
    var ok = $("#confirm-ok");
    ok.disabled = true; ok.textContent = "Working…";
    $("#confirm-error").textContent = "";
    api("/api/console/actions/" + p.action, { method: "POST", body: p.body, auth: true }).then(function (res) {
      var d = res.data || {};
      if (res.status === 200 || res.status === 202) {
        closeConfirm();
        var msg = res.status === 202 ? p.action + " started (" + (d.rollback_id || d.pid || "") + "): follow it in the journal."
          : p.action + " " + (d.rollback_id || "") + ": " + d.status + (d.elapsed_s != null ? " in " + d.elapsed_s.toFixed(2) + " s" : "") + ".";
        toast(msg, false);
      } else {
        if (res.status === 401 || res.status === 403) setUnlocked(false, "The key was refused: enter it again.", true);
        $("#confirm-error").textContent = "Not done: " + errText(res);
        ok.textContent = "Try again"; ok.disabled = false;
      }
      refreshNow();
    }).catch(function (e) { $("#confirm-error").textContent = "Cannot reach the console: " + e.message; ok.disabled = false; ok.textContent = "Try again"; });
  }
  function refreshNow() { api("/api/console/state").then(function (res) { if (res.status === 200) renderState(res.data); }); }

  var toastTimer = null;
  function toast(msg, bad) {
    var t = $("#toast");
    t.textContent = msg; t.className = "toast" + (bad ? " bad" : "");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { t.textContent = ""; }, 9000);
  }

  // ---------------------------------------------------------------- wiring
  document.addEventListener("DOMContentLoaded", function () {
    $("#who").value = localStorage.getItem(NAME_STORE) || "";
    $("#who").addEventListener("change", function () { localStorage.setItem(NAME_STORE, $("#who").value.trim()); });
    $("#keyform").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var k = $("#adminkey").value;
      if (!k) { setUnlocked(false, "Type the admin key first.", true); $("#adminkey").focus(); return; }
      checkKey(k);
    });
    $("#lock").addEventListener("click", function () {
      sessionStorage.removeItem(KEY_STORE); S.key = null;
      setUnlocked(false, "Locked: read-only.");
      $("#adminkey").focus();
    });
    document.querySelectorAll("button[data-action]").forEach(function (b) { b.addEventListener("click", function () { openConfirm(b); }); });
    $("#confirm-cancel").addEventListener("click", closeConfirm);
    $("#confirm-ok").addEventListener("click", runConfirmed);
    $("#confirm").addEventListener("close", function () { S.pending = null; if (S.opener) S.opener.focus(); });
    var saved = sessionStorage.getItem(KEY_STORE);
    if (saved) checkKey(saved); else setUnlocked(false, "Read-only: enter the admin key to act.");
    pollState();
    pollHistory();
  });
})();
