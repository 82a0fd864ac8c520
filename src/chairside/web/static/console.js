// The ops console. Every value from the server is put on the page with textContent,
// never parsed as HTML: event summaries and incident titles are free text.
"use strict";

(function () {
  const TOKEN_KEY = "chairside.ops.token";
  const REFRESH_MS = 30000;
  let timer = null;

  const $ = (id) => document.getElementById(id);

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function badge(status) {
    const value = String(status || "unknown");
    return el("span", value, "badge " + value.replace(/[^a-z_]/g, ""));
  }

  function line(...parts) {
    const item = el("li");
    for (const part of parts) {
      item.append(typeof part === "string" ? document.createTextNode(part) : part);
    }
    return item;
  }

  function fill(container, nodes) {
    container.replaceChildren(...nodes);
  }

  function when(iso) {
    if (!iso) return "never";
    const at = new Date(iso);
    if (isNaN(at.getTime())) return String(iso);
    const seconds = Math.round((Date.now() - at.getTime()) / 1000);
    return at.toISOString().replace("T", " ").slice(0, 19) + " UTC (" + ago(seconds) + ")";
  }

  function ago(seconds) {
    if (seconds === null || seconds === undefined) return "unknown";
    const s = Math.abs(seconds);
    const text = s < 120 ? Math.round(s) + " s" : s < 7200 ? Math.round(s / 60) + " min"
      : s < 172800 ? Math.round(s / 3600) + " h" : Math.round(s / 86400) + " d";
    return seconds >= 0 ? text + " ago" : "in " + text;
  }

  function showMessage(text) {
    const box = $("message");
    box.textContent = text || "";
    box.hidden = !text;
  }

  function showLogin(message) {
    stopRefresh();
    sessionStorage.removeItem(TOKEN_KEY);
    $("console").hidden = true;
    $("logout").hidden = true;
    $("login").hidden = false;
    const overall = $("overall");
    overall.textContent = "not loaded";
    overall.className = "badge unknown";
    showMessage(message);
  }

  function stopRefresh() {
    if (timer !== null) clearInterval(timer);
    timer = null;
  }

  async function problemDetail(response) {
    try {
      const body = await response.json();
      return body.detail || response.statusText;
    } catch (_) {
      return response.statusText;
    }
  }

  async function login(event) {
    event.preventDefault();
    showMessage("");
    let response;
    try {
      response = await fetch("/ops/api/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ email: $("email").value, password: $("password").value }),
      });
    } catch (_) {
      showMessage("Chairside does not answer; try again in a moment.");
      return;
    }
    if (!response.ok) {
      showMessage("Login failed: " + (await problemDetail(response)));
      return;
    }
    const body = await response.json();
    $("password").value = "";
    sessionStorage.setItem(TOKEN_KEY, body.access_token);
    await refresh();
  }

  async function refresh() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) {
      showLogin("");
      return;
    }
    let response;
    try {
      response = await fetch("/ops/api/summary", {
        headers: { Authorization: "Bearer " + token },
        cache: "no-store",
      });
    } catch (_) {
      showMessage("Chairside does not answer (" + new Date().toISOString() + "); retrying.");
      return;
    }
    if (response.status === 401) {
      showLogin("Your session ended; log in again.");
      return;
    }
    if (response.status === 403) {
      showLogin("Operators only: this console is for admin accounts. " +
        (await problemDetail(response)));
      return;
    }
    if (!response.ok) {
      showMessage("The summary failed: " + (await problemDetail(response)));
      return;
    }
    render(await response.json());
    showMessage("");
    $("login").hidden = true;
    $("console").hidden = false;
    $("logout").hidden = false;
    if (timer === null) timer = setInterval(refresh, REFRESH_MS);
  }

  function sectionError(container, data) {
    if (data && data.error) {
      fill(container, [el("p", data.error, "alert")]);
      return true;
    }
    return false;
  }

  function render(data) {
    $("updated").textContent = "Updated " + when(data.generated_at) + "; refreshes every 30 s.";
    renderHealth(data.health || {});
    renderAlerts(data.alerts || {});
    renderModes(data.modes || {});
    renderIncidents(data.incidents || {});
    renderBackups(data.backups || {});
    renderDrill(data.drill || {});
    renderHistory(data.history || {});
    renderDeployment(data.deployment || {});
    renderEvents(data.events || {});
  }

  function renderHealth(health) {
    const overall = $("overall");
    const status = health.error ? "unknown" : String(health.status || "unknown");
    overall.textContent = status;
    overall.className = badge(status).className;
    const list = $("health").querySelector(".checks");
    if (health.error) {
      fill(list, [line(badge("unknown"), health.error)]);
      return;
    }
    const items = (health.checks || []).map((check) => {
      const latency = check.latency_ms === null || check.latency_ms === undefined
        ? "" : " (" + Math.round(check.latency_ms) + " ms)";
      return line(badge(check.status), el("strong", check.name), ": " + check.summary + latency);
    });
    items.push(line(el("span", "checked " + when(health.checked_at), "muted")));
    fill(list, items);
  }

  function renderModes(modes) {
    const body = $("modes").querySelector(".body");
    if (sectionError(body, modes)) return;
    const nodes = [];
    if (!modes.maintenance && !modes.read_only) {
      nodes.push(el("p", "Serving normally: maintenance and read-only mode are off."));
    }
    if (modes.maintenance) nodes.push(el("p", "Maintenance mode is ON", "alert"));
    if (modes.read_only) nodes.push(el("p", "Read-only mode is ON", "alert"));
    if (modes.maintenance || modes.read_only) {
      nodes.push(el("p", "Reason: " + (modes.reason || "none given")));
      nodes.push(el("p", "Since " + when(modes.since), "muted"));
    }
    fill(body, nodes);
  }

  function renderIncidents(incidents) {
    const body = $("incidents").querySelector(".body");
    if (sectionError(body, incidents)) return;
    const open = incidents.open || [];
    if (open.length === 0) {
      fill(body, [el("p", "No open incidents.")]);
      return;
    }
    const list = el("ul");
    for (const incident of open) {
      list.append(line(
        badge(incident.severity === "P1" || incident.severity === "P2" ? "critical" : "warning"),
        el("strong", "#" + incident.id + " " + incident.severity + " " + incident.title),
        " (" + incident.status + ", opened " + when(incident.opened_at) + " by " +
          incident.opened_by + ")",
      ));
    }
    fill(body, [list]);
  }

  function renderBackups(backups) {
    const body = $("backups").querySelector(".body");
    if (sectionError(body, backups)) return;
    const list = el("ul");
    // The primary's own status: an unreadable DR copy is shown on its own line below.
    list.append(line(badge(backups.primary_status || backups.status),
      "repository " + backups.repository));
    const full = backups.last_full;
    list.append(line(el("strong", "Last full: "),
      full ? full.id + ", " + ago(full.age_seconds) : "none"));
    const wal = backups.last_incremental || {};
    list.append(line(el("strong", "Last incremental (WAL): "),
      wal.newest_wal ? wal.newest_wal + ", archived " + when(wal.archived_at) : "none",
      wal.rpo_seconds === null || wal.rpo_seconds === undefined
        ? "" : "; RPO " + Math.round(wal.rpo_seconds) + " s"));
    for (const window of backups.pitr || []) {
      list.append(line(el("strong", "PITR window (timeline " + window.timeline + "): "),
        (window.earliest || "?") + " to " + (window.latest || "?")));
    }
    if ((backups.pitr || []).length === 0) {
      list.append(line(el("strong", "PITR window: "), "none"));
    }
    for (const check of backups.checks || []) {
      if (check.status !== "ok") list.append(line(badge(check.status), check.summary));
    }
    const copies = backups.dr || [];
    if (copies.length === 0) {
      list.append(line(el("strong", "DR copies: "),
        "none synced yet (chairside backup sync --to REPO)"));
    }
    for (const copy of copies) {
      const lag = copy.lag_seconds === null || copy.lag_seconds === undefined
        ? "" : ", lag " + duration(copy.lag_seconds);
      list.append(line(badge(copy.status), el("strong", "DR " + copy.url + ": "),
        copy.summary + lag + (copy.last_sync ? ", last sync " + when(copy.last_sync) : "")));
    }
    fill(body, [list]);
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "n/a";
    const s = Math.abs(Number(seconds));
    return s < 120 ? s.toFixed(s < 10 ? 1 : 0) + " s" : s < 7200 ? Math.round(s / 60) + " min"
      : (s / 3600).toFixed(1) + " h";
  }

  function againstTarget(value, target) {
    if (value === null || value === undefined) return "not measured";
    if (target === null || target === undefined) return duration(value) + " (no target set)";
    return duration(value) + (Number(value) <= Number(target) ? " within " : " OVER ") +
      "target " + duration(target);
  }

  function renderDrill(drill) {
    const body = $("backups").querySelector(".drill");
    if (sectionError(body, drill)) return;
    const last = drill.last;
    if (!last) {
      fill(body, [el("p", "Last drill: none yet (chairside drill)", "alert")]);
      return;
    }
    const list = el("ul");
    list.append(line(badge(last.passed ? (last.status || "ok") : "failed"),
      el("strong", "Last drill: "), when(last.at) + (last.passed ? ", passed" : ", FAILED")));
    list.append(line(el("strong", "RTO: "), againstTarget(last.rto_seconds, last.rto_target_seconds)));
    list.append(line(el("strong", "RPO: "), againstTarget(last.rpo_seconds, last.rpo_target_seconds)));
    if (last.error) list.append(line(el("span", last.error, "alert")));
    fill(body, [list]);
  }

  function renderAlerts(alerts) {
    const body = $("alerts").querySelector(".body");
    if (alerts.error && alerts.configured === undefined) {
      sectionError(body, alerts);
      return;
    }
    if (!alerts.configured) {
      fill(body, [el("p", "No Alertmanager configured (CHAIRSIDE_ALERTMANAGER_URL).", "muted")]);
      return;
    }
    if (alerts.error) {
      fill(body, [el("p", "Alertmanager at " + alerts.url + " does not answer: " + alerts.error,
        "alert")]);
      return;
    }
    const firing = alerts.firing || [];
    if (firing.length === 0) {
      fill(body, [el("p", "Nothing firing (" + alerts.url + ").")]);
      return;
    }
    const list = el("ul");
    for (const alert of firing) {
      list.append(line(badge(alert.severity === "info" ? "warning" : alert.severity),
        el("strong", alert.priority + " " + alert.name), ": " + alert.summary + " (since " +
          when(alert.since) + ")"));
    }
    fill(body, [list]);
  }

  const SVG = "http://www.w3.org/2000/svg";

  function svg(tag, attributes) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    return node;
  }

  // One small line chart: the last 24 h of one value, drawn as inline SVG (no library).
  function chart(title, points, key, format, since, now) {
    const box = el("figure", undefined, "chart");
    const values = points.filter((p) => p[key] !== null && p[key] !== undefined);
    const latest = values.length ? format(values[values.length - 1][key]) : "n/a";
    const top = values.reduce((m, p) => Math.max(m, Number(p[key])), 0);
    box.append(el("figcaption", title + ": now " + latest + ", 24 h max " +
      (values.length ? format(top) : "n/a")));
    const width = 300, height = 60;
    const picture = svg("svg", { viewBox: "0 0 " + width + " " + height, role: "img",
      "aria-label": title + " over the last 24 hours", preserveAspectRatio: "none" });
    picture.append(svg("rect", { x: 0, y: 0, width: width, height: height, class: "frame" }));
    const span = Math.max(1, now - since);
    const scale = top > 0 ? top : 1;
    const coordinates = values.map((p) => {
      const x = ((p.at - since) / span) * width;
      const y = height - 2 - (Number(p[key]) / scale) * (height - 4);
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    if (coordinates.length > 1) {
      picture.append(svg("polyline", { points: coordinates.join(" "), class: "line" }));
    } else if (coordinates.length === 1) {
      const [x, y] = coordinates[0].split(",");
      picture.append(svg("circle", { cx: x, cy: y, r: 2, class: "dot" }));
    }
    box.append(picture);
    return box;
  }

  function renderHistory(history) {
    const body = $("history").querySelector(".body");
    if (sectionError(body, history)) return;
    const points = history.points || [];
    const now = Date.now() / 1000;
    const since = history.since || now - 86400;
    if (points.length === 0) {
      fill(body, [el("p", "No history yet: a point is kept every 5 minutes while the app runs.",
        "muted")]);
      return;
    }
    fill(body, [
      chart("Error rate", points, "error_percent", (v) => Number(v).toFixed(2) + " %", since, now),
      chart("p95", points, "p95_seconds", (v) => Math.round(Number(v) * 1000) + " ms", since, now),
      chart("RPO", points, "rpo_seconds", duration, since, now),
    ]);
  }

  function deployLine(label, record) {
    if (!record) return line(el("strong", label + ": "), "none");
    return line(el("strong", label + ": "),
      record.version_before + " to " + record.version + " (" + record.state + ", started " +
        when(record.started_at) + " by " + record.started_by +
        (record.finished_at ? ", ended " + when(record.finished_at) : "") + ")" +
        (record.reason ? ": " + record.reason : ""));
  }

  function renderDeployment(deployment) {
    const body = $("deployment").querySelector(".body");
    if (sectionError(body, deployment)) return;
    const list = el("ul");
    list.append(deployLine("In progress", deployment.current));
    list.append(deployLine("Last", deployment.last));
    fill(body, [list]);
  }

  function renderEvents(events) {
    const list = $("events").querySelector(".body");
    if (sectionError(list, events)) return;
    const recent = events.recent || [];
    if (recent.length === 0) {
      fill(list, [line("No ops events yet.")]);
      return;
    }
    fill(list, recent.map((event) => line(
      badge(event.status),
      el("span", when(event.at), "muted"),
      " ",
      el("strong", event.kind),
      " " + event.summary + " ",
      el("span", "(" + event.actor + ")", "muted"),
    )));
  }

  // A break-glass link (`chairside ops break-glass`) carries its token in the fragment,
  // which the browser never sends to a server: keep it for this tab, then drop it from
  // the address bar and the history.
  function takeBreakGlassToken() {
    const match = /^#break-glass=([A-Za-z0-9_.-]+)$/.exec(window.location.hash);
    if (!match) return;
    sessionStorage.setItem(TOKEN_KEY, match[1]);
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }

  document.addEventListener("DOMContentLoaded", () => {
    takeBreakGlassToken();
    $("login").addEventListener("submit", login);
    $("logout").addEventListener("click", () => showLogin("Logged out."));
    refresh();
  });
})();
