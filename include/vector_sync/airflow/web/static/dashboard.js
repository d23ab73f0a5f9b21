// vector-sync operations page: tiles per source, run charts, search, projects, "Sync now".
// Plain DOM, no build step, no third-party code. Text from the API only ever goes through
// textContent or attributes, never innerHTML.
"use strict";

(() => {
  const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
  const APP = meta("vs-app-root");
  const AIRFLOW = meta("vs-airflow-root");
  const SOURCES = meta("vs-sources").split(",").filter(Boolean);
  const SVG_NS = "http://www.w3.org/2000/svg";
  const CHART_DAYS = 7;
  const DAY_MS = 86400000;
  const REFRESH_MS = 60000;

  let me = { can_edit_projects: false, can_impersonate: false, can_trigger: {}, identity: null, identity_note: null };
  let dags = {}; // dag_id -> Airflow's DAG record (is_paused), when readable
  const triggered = {}; // source -> {runId, state}: runs started here, shown across refreshes

  // --------------------------------------------------------------------------- DOM helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function showError(id, message) {
    const node = document.getElementById(id);
    node.textContent = message || "";
    node.hidden = !message;
  }

  const number = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));

  function fmtTime(iso) {
    if (!iso) return "never";
    const d = new Date(iso);
    return isNaN(d) ? iso : `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
  }

  function fmtAge(minutes) {
    if (minutes === null || minutes === undefined) return "";
    const m = Math.abs(minutes);
    const text = m < 90 ? `${Math.round(m)} min` : m < 2880 ? `${(m / 60).toFixed(1)} h` : `${(m / 1440).toFixed(1)} d`;
    return minutes < 0 ? `in ${text}` : `${text} ago`;
  }

  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    return seconds < 120 ? `${Number(seconds).toFixed(1)} s` : `${(seconds / 60).toFixed(1)} min`;
  }

  const dagId = (source) => `vector_sync_${source}`;

  function runLink(source, runId) {
    if (!runId) return null;
    if (runId.startsWith("cli__")) return el("span", { class: "muted", text: runId, title: "a vector-sync sync outside Airflow" });
    return el("a", {
      href: `${AIRFLOW}/dags/${encodeURIComponent(dagId(source))}/runs/${encodeURIComponent(runId)}`,
      target: "_top",
      class: "run-link",
      text: runId,
    });
  }

  // --------------------------------------------------------------------------- HTTP

  async function errorText(response) {
    try {
      const body = await response.json();
      const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail ?? body);
      return `${response.status}: ${detail}`;
    } catch {
      return `${response.status} ${response.statusText}`;
    }
  }

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.status === 401) throw new Error("Your Airflow session has ended: reload the page to sign in again.");
    if (!response.ok) throw new Error(await errorText(response));
    return response.json();
  }

  // The Airflow UI keeps its JWT in the `_token` cookie and its API client sends no
  // Authorization header of its own: the browser attaches the cookie. The cookie is readable
  // here only when the login page set it (SimpleAuthManager); then it also goes as Bearer.
  function airflowHeaders() {
    const headers = { Accept: "application/json", "Content-Type": "application/json" };
    const cookie = document.cookie.split(";").map((c) => c.trim()).find((c) => c.startsWith("_token="));
    if (cookie) headers.Authorization = `Bearer ${decodeURIComponent(cookie.slice("_token=".length))}`;
    return headers;
  }

  // --------------------------------------------------------------------------- tiles

  function lastRunTable(run, status) {
    if (!run) return el("p", { class: "muted", text: "No run recorded yet." });
    const cost = `$${Number(run.cost_usd || 0).toFixed(4)}` + (run.openai_cost_estimate_usd !== undefined ? ` (OpenAI est. $${Number(run.openai_cost_estimate_usd).toFixed(4)})` : "");
    const rows = [
      ["Status", el("span", { class: `run-status ${run.status}`, text: run.status })],
      ["Window", `${fmtTime(run.window_start)} → ${fmtTime(run.window_end)}`],
      ["Fetched", number(run.fetched)],
      ["Filtered out", number(run.filtered_out)],
      ["Embedded", number(run.embedded)],
      ["Unchanged (skipped)", number(run.skipped_unchanged)],
      ["Upserted", number(run.upserted)],
      ["Deleted", number(run.deleted)],
      // The errors count links to what was skipped and why (stored per run, see skipsList).
      ["Errors", run.errors && status && (status.skips || []).length
        ? el("a", { href: `#skips-${status.source}`, class: "skips-link", title: "what was skipped and why", text: number(run.errors) })
        : number(run.errors)],
      ["Tokens", number(run.tokens)],
      ["Cost", cost],
      ["Duration", fmtDuration(run.duration_s)],
      ["Run", runLink(run.source, run.run_id)],
    ];
    const body = el("tbody");
    for (const [label, value] of rows) body.append(el("tr", {}, el("th", { scope: "row", text: label }), el("td", {}, value)));
    return el("table", { class: "last-run", "aria-label": "last run" }, body);
  }

  function failuresList(status) {
    const box = el("div", { class: "failures" });
    if (status.open_failures.length) {
      const list = el("ul", { class: "open-failures" });
      for (const f of status.open_failures) {
        const message = f.error_message || "";
        list.append(
          el("li", {},
            el("strong", { text: f.task_id || "task" }),
            ` failed ${fmtTime(f.occurred_at)} (try ${f.try_number}) `,
            runLink(status.source, f.run_id),
            message ? el("div", { class: "error-message", title: message, text: message.length > 300 ? `${message.slice(0, 300)}…` : message }) : null,
          ),
        );
      }
      box.append(el("h4", { text: `Open failures (${status.open_failures.length})` }), list);
    }
    if (status.failed_windows.length) {
      const list = el("ul", { class: "failed-windows" });
      for (const w of status.failed_windows) {
        list.append(el("li", {}, `${fmtTime(w.window_start)} → ${fmtTime(w.window_end)} `, runLink(status.source, w.run_id)));
      }
      box.append(el("h4", { text: `Failed windows (${status.failed_windows.length}): clear their runs to re-sync` }), list);
    }
    const skips = status.skips || [];
    if (skips.length) {
      const total = skips.reduce((sum, s) => sum + s.count, 0);
      const list = el("ul", { class: "skips" });
      for (const skip of skips) {
        const items = el("ul", { class: "skipped-items" });
        for (const item of skip.items) items.append(el("li", { text: item }));
        const unnamed = skip.count - skip.items.length;
        if (unnamed > 0) items.append(el("li", { class: "muted", text: skip.items.length ? `and ${unnamed} more (the first ${skip.items.length} are kept)` : "items not named by the source" }));
        list.append(el("li", {}, el("details", {}, el("summary", { text: `${skip.reason}: ${number(skip.count)}` }), items)));
      }
      box.append(el("h4", { id: `skips-${status.source}`, text: `Skipped in the last run (${number(total)})` }), list);
    }
    if (status.rebuild) {
      // A re-embedding rebuild under way (rebuild_windows): how far it got.
      const r = status.rebuild;
      box.append(el("p", { class: "rebuild", text: `Rebuild under way: ${number(r.windows_done)} of ${number(r.windows_total)} windows done` }));
    }
    for (const problem of status.problems || []) {
      box.append(el("div", { class: "error-message", text: problem }));
    }
    if (status.schedule && status.schedule.state === "stuck") {
      box.append(el("h4", { text: `Schedule stuck: ${status.schedule.dag_id}` }), el("div", { class: "error-message", text: `${status.schedule.cause}. Fix: ${status.schedule.fix}` }));
    }
    return box;
  }

  // Webhooks (status.webhooks, absent for sources without them): events received, refused,
  // still pending for the events DAG, and how long ago the last one came.
  function webhooksLine(status) {
    const w = status.webhooks;
    if (!w) return null;
    const age = w.last_event_age_s === null ? "none yet" : fmtAge(w.last_event_age_s / 60);
    const text = `Webhooks: ${number(w.received)} received · ${number(w.rejected)} rejected · ${number(w.pending)} pending · last event ${age}`;
    return el("p", { class: w.pending ? "webhooks pending" : "webhooks", title: w.last_rejected_reason ? `last refusal: ${w.last_rejected_reason}` : "", text });
  }

  function chart(source, runs) {
    // Bars: items synced (fetched − filtered out) per run; dots and line: run duration.
    const W = 360, H = 130, L = 34, R = 34, T = 10, B = 22;
    const now = Date.now();
    const from = now - CHART_DAYS * DAY_MS;
    const points = runs
      .filter((r) => r.source === source)
      .map((r) => ({ ...r, t: new Date(r.started_at).getTime() }))
      .filter((r) => r.t >= from)
      .sort((a, b) => a.t - b.t);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "data-runs": points.length });
    root.append(svg("title", {}, `${source}: items synced and duration per run, last ${CHART_DAYS} days (${points.length} runs)`));
    const x = (t) => L + ((t - from) / (now - from)) * (W - L - R);
    const maxItems = Math.max(1, ...points.map((p) => p.synced));
    const maxDuration = Math.max(1, ...points.map((p) => p.duration_s || 0));
    const yItems = (v) => H - B - (v / maxItems) * (H - T - B);
    const yDuration = (v) => H - B - (v / maxDuration) * (H - T - B);

    root.append(svg("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" }));
    // A grid line at each UTC midnight, labelled with the day that starts there.
    for (let t = Math.ceil(from / DAY_MS) * DAY_MS; t <= now; t += DAY_MS) {
      root.append(svg("line", { x1: x(t), x2: x(t), y1: T, y2: H - B, class: "grid" }));
      if (now - t > DAY_MS / 3) root.append(svg("text", { x: x(t) + 2, y: H - 8, class: "tick" }, new Date(t).toISOString().slice(5, 10)));
    }
    root.append(svg("text", { x: L - 4, y: T + 8, class: "tick end items" }, number(maxItems)));
    root.append(svg("text", { x: W - R + 4, y: T + 8, class: "tick duration" }, fmtDuration(maxDuration)));
    root.append(svg("text", { x: L - 4, y: H - B, class: "tick end" }, "0"));

    const barWidth = Math.max(2, Math.min(10, (W - L - R) / Math.max(points.length, 1) - 1));
    for (const p of points) {
      const top = yItems(p.synced);
      const bar = svg("rect", {
        x: x(p.t) - barWidth / 2,
        y: Math.min(top, H - B - (p.status === "failed" ? 6 : 1)),
        width: barWidth,
        height: Math.max(p.status === "failed" ? 6 : 1, H - B - top), // a failed run stays visible
        class: `bar ${p.status}`,
      });
      bar.append(svg("title", {}, `${fmtTime(p.started_at)} · ${p.status} · ${number(p.synced)} synced · ${number(p.upserted)} upserted · ${fmtDuration(p.duration_s)}`));
      root.append(bar);
    }
    const withDuration = points.filter((p) => p.duration_s !== null && p.duration_s !== undefined);
    if (withDuration.length > 1) {
      root.append(svg("polyline", { points: withDuration.map((p) => `${x(p.t).toFixed(1)},${yDuration(p.duration_s).toFixed(1)}`).join(" "), class: "duration-line" }));
    }
    for (const p of withDuration) root.append(svg("circle", { cx: x(p.t), cy: yDuration(p.duration_s), r: 2.2, class: "duration-dot" }));
    if (!points.length) root.append(svg("text", { x: W / 2, y: H / 2, class: "tick middle" }, `no runs in the last ${CHART_DAYS} days`));

    const legend = el("p", { class: "legend" },
      el("span", { class: "key items" }), " items synced per run  ",
      el("span", { class: "key duration" }), " duration");
    return el("figure", { class: "chart-box" }, root, legend);
  }

  function tile(status, runs) {
    const source = status.source;
    const dag = dags[dagId(source)];
    const node = el("article", { class: `tile ${status.health}`, "data-source": source, "data-health": status.health });
    const syncButton = el("button", { type: "button", class: "sync-now", "data-source": source, text: "Sync now" });
    const result = el("p", { class: "sync-result", "aria-live": "polite" });
    if (me.can_trigger && me.can_trigger[source] === false) {
      syncButton.disabled = true;
      syncButton.title = "Your Airflow role may not trigger this DAG";
    }
    syncButton.addEventListener("click", () => syncNow(source, syncButton, result));
    showTriggered(source, result);

    node.append(
      el("header", {},
        el("h3", {}, el("a", { href: `${AIRFLOW}/dags/${encodeURIComponent(dagId(source))}`, target: "_top", text: source })),
        el("span", { class: `badge ${status.health}`, text: status.health }),
        dag && dag.is_paused ? el("span", { class: "badge paused", text: "paused", title: "The DAG is paused in Airflow: runs wait until it is unpaused" }) : null,
      ),
      el("dl", { class: "facts" },
        el("dt", { text: "Last sync" }), el("dd", { class: "last-sync" }, fmtTime(status.last_sync), " ", el("span", { class: "muted", text: fmtAge(status.age_minutes) })),
        el("dt", { text: "Stale after" }), el("dd", { text: `${number(status.stale_after_minutes)} min` }),
        el("dt", { text: "Vectors" }), el("dd", { class: "vectors", text: number(status.vectors) }),
        el("dt", { text: "Documents" }), el("dd", { text: number(status.documents) }),
      ),
      el("div", { class: "actions" }, syncButton, result),
      webhooksLine(status),
      el("h4", { text: "Last run" }),
      lastRunTable(status.last_run, status),
      failuresList(status),
      el("h4", { text: `Last ${CHART_DAYS} days` }),
      chart(source, runs),
    );
    return node;
  }

  async function syncNow(source, button, result) {
    button.disabled = true;
    result.className = "sync-result";
    result.textContent = "Triggering…";
    try {
      // Airflow's own API, as the signed-in user: Airflow checks the permission. A run
      // without logical date catches the source up to now (see README "Windows").
      const response = await fetch(`${AIRFLOW}/api/v2/dags/${encodeURIComponent(dagId(source))}/dagRuns`, {
        method: "POST",
        credentials: "same-origin",
        headers: airflowHeaders(),
        body: JSON.stringify({ logical_date: null }),
      });
      if (!response.ok) {
        const reason =
          response.status === 403 ? "Airflow refused: your role may not trigger this DAG." :
          response.status === 404 ? "Airflow does not know this DAG yet (has the dag-processor parsed it?)." :
          await errorText(response);
        result.className = "sync-result error";
        result.textContent = reason;
        return;
      }
      const run = await response.json();
      triggered[source] = { runId: run.dag_run_id, state: run.state || "queued" };
      showTriggered(source, result);
    } catch (error) {
      result.className = "sync-result error";
      result.textContent = String(error.message || error);
    } finally {
      button.disabled = false;
    }
  }

  function showTriggered(source, result) {
    const run = triggered[source];
    if (!run) return;
    result.className = "sync-result ok";
    result.textContent = `Run ${run.state}: `;
    result.append(runLink(source, run.runId));
    const dag = dags[dagId(source)];
    if (dag && dag.is_paused && run.state === "queued") result.append(" — the DAG is paused: unpause it in Airflow to run.");
  }

  async function refreshTriggered() {
    // The state of runs started here, from Airflow's API (queued → running → success).
    await Promise.all(Object.entries(triggered).map(async ([source, run]) => {
      try {
        const url = `${AIRFLOW}/api/v2/dags/${encodeURIComponent(dagId(source))}/dagRuns/${encodeURIComponent(run.runId)}`;
        const response = await fetch(url, { credentials: "same-origin", headers: airflowHeaders() });
        if (response.ok) run.state = (await response.json()).state || run.state;
      } catch {
        // keep the last known state
      }
    }));
  }

  async function loadDags() {
    // Only to show "paused"; a user who may not list DAGs just doesn't see the badge.
    try {
      const response = await fetch(`${AIRFLOW}/api/v2/dags?tags=vector-sync&limit=100`, { credentials: "same-origin", headers: airflowHeaders() });
      if (!response.ok) return;
      const body = await response.json();
      dags = Object.fromEntries((body.dags || []).map((d) => [d.dag_id, d]));
    } catch {
      dags = {};
    }
  }

  async function loadTiles() {
    try {
      const [statuses, runs] = await Promise.all([getJSON(`${APP}/api/status`), getJSON(`${APP}/api/runs?days=${CHART_DAYS}`)]);
      const tiles = document.getElementById("tiles");
      tiles.replaceChildren(...statuses.map((s) => tile(s, runs)));
      tiles.dataset.loaded = "true";
      showError("status-error", "");
      document.getElementById("updated").textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC`;
    } catch (error) {
      showError("status-error", `Could not load the status: ${error.message}`);
    }
  }

  // --------------------------------------------------------------------------- search

  // Only absolute http(s) URLs become links (the API checks too): a stored `javascript:` or
  // `data:` URL would run in this page's origin when clicked.
  function safeHref(url) {
    try {
      const parsed = new URL(String(url || ""));
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch {
      return null; // relative or malformed
    }
  }

  // Whose view the hits are: the user's email, an admin's chosen one, or public items only.
  function showIdentity(identity, note) {
    const node = document.getElementById("search-identity");
    node.dataset.identity = identity || "";
    node.textContent = identity ? `Results as ${identity}${note ? ` (${note})` : ""}` : `Public items only: ${note || "no email known for you"}`;
  }

  function hitItem(hit) {
    const m = hit.metadata || {};
    const when = m.timestamp_epoch ? fmtTime(new Date(Number(m.timestamp_epoch) * 1000).toISOString()) : null;
    const projects = Array.isArray(m.projects) ? m.projects.join(", ") : m.project_key || m.projects || null;
    const link = safeHref(hit.link);
    const title = link
      ? el("a", { href: link, target: "_blank", rel: "noopener noreferrer", class: "hit-link", text: hit.title || hit.id })
      : el("span", { class: "hit-title", text: hit.title || hit.id });
    return el("li", { class: "hit", "data-source": hit.source, "data-id": hit.id },
      el("div", { class: "hit-head" }, el("span", { class: `badge source ${hit.source}`, text: hit.source }), title,
        el("span", { class: "muted score", text: `score ${Number(hit.score).toFixed(3)}` })),
      el("p", { class: "snippet", text: hit.snippet || "" }),
      el("p", { class: "muted hit-meta" },
        [when, projects ? `project ${projects}` : null, m.author ? `by ${m.author}` : null].filter(Boolean).join(" · "),
        link ? " · " : "", link ? el("span", { class: "url", text: link }) : null),
    );
  }

  async function runSearch(event) {
    event.preventDefault();
    const form = event.target;
    const data = new FormData(form);
    const params = new URLSearchParams();
    for (const [key, value] of data.entries()) if (String(value).trim()) params.append(key, String(value).trim());
    const list = document.getElementById("hits");
    const summary = document.getElementById("search-summary");
    const button = document.getElementById("search-submit");
    button.disabled = true;
    summary.textContent = "Searching…";
    try {
      const result = await getJSON(`${APP}/api/search?${params}`);
      list.replaceChildren(...result.hits.map(hitItem));
      list.dataset.query = params.get("q") || "";
      showIdentity(result.identity, result.identity_note);
      summary.textContent = result.hits.length ? `${result.hits.length} hit${result.hits.length === 1 ? "" : "s"}` : "No hits.";
      if (result.hours_by_person) {
        summary.textContent += " · hours: " + Object.entries(result.hours_by_person).map(([p, h]) => `${p} ${h}`).join(", ");
      }
      showError("search-error", "");
    } catch (error) {
      list.replaceChildren();
      summary.textContent = "";
      showError("search-error", `Search failed: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }

  // --------------------------------------------------------------------------- projects

  async function loadProjects() {
    try {
      const data = await getJSON(`${APP}/api/projects`);
      const body = document.querySelector("#projects tbody");
      body.replaceChildren(...data.projects.map((p) => projectRow(p, data.can_edit)));
      document.getElementById("projects").dataset.canEdit = String(data.can_edit);
      document.getElementById("projects-note").textContent = data.can_edit
        ? "Only active projects' items are synced; a change applies from each source's next run."
        : "Read-only: only admins can switch projects on or off.";
      const select = document.getElementById("search-project");
      const chosen = select.value;
      select.replaceChildren(el("option", { value: "", text: "all" }), ...data.projects.map((p) => el("option", { value: p.key, text: `${p.key} · ${p.name}` })));
      select.value = chosen;
      showError("projects-error", "");
    } catch (error) {
      showError("projects-error", `Could not load the projects: ${error.message}`);
    }
  }

  function projectRow(project, canEdit) {
    let cell;
    if (canEdit) {
      const box = el("input", { type: "checkbox", class: "project-toggle", "data-key": project.key, "aria-label": `sync ${project.key}` });
      box.checked = project.is_active;
      box.addEventListener("change", () => setProject(project.key, box));
      cell = el("label", { class: "toggle" }, box, el("span", { text: project.is_active ? "active" : "inactive" }));
    } else {
      cell = el("span", { class: project.is_active ? "active" : "inactive", text: project.is_active ? "active" : "inactive" });
    }
    return el("tr", { "data-key": project.key, "data-active": String(project.is_active) },
      el("td", { text: project.key }), el("td", { text: project.name }), el("td", {}, cell));
  }

  async function setProject(key, box) {
    const wanted = box.checked;
    box.disabled = true;
    try {
      const response = await fetch(`${APP}/api/projects/${encodeURIComponent(key)}`, {
        method: "PATCH",
        credentials: "same-origin",
        headers: { Accept: "application/json", "Content-Type": "application/json" },
        body: JSON.stringify({ is_active: wanted }),
      });
      if (!response.ok) throw new Error(await errorText(response));
      const project = await response.json();
      const row = box.closest("tr");
      row.dataset.active = String(project.is_active);
      box.nextElementSibling.textContent = project.is_active ? "active" : "inactive";
      showError("projects-error", "");
    } catch (error) {
      box.checked = !wanted;
      showError("projects-error", `Could not change ${key}: ${error.message}`);
    } finally {
      box.disabled = false;
    }
  }

  // --------------------------------------------------------------------------- start

  async function refresh() {
    await Promise.all([loadDags(), refreshTriggered()]);
    await loadTiles();
  }

  async function start() {
    const sourceSelect = document.getElementById("search-source");
    sourceSelect.append(...SOURCES.map((s) => el("option", { value: s, text: s })));
    document.getElementById("search-form").addEventListener("submit", runSearch);
    document.getElementById("refresh").addEventListener("click", () => { refresh(); loadProjects(); });
    try {
      me = await getJSON(`${APP}/api/me`);
      showIdentity(me.identity, me.identity_note);
    } catch (error) {
      showError("status-error", error.message);
    }
    await Promise.all([refresh(), loadProjects()]);
    document.body.dataset.ready = "true";
    setInterval(refresh, REFRESH_MS);
  }

  document.addEventListener("DOMContentLoaded", start);
})();
