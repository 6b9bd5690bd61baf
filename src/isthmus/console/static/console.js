// Isthmus console. No framework, no build step, no external request: every call goes to the
// node that served this page, as the signed-in user (the browser's HTTP authentication).
// Text from the server is only ever set with textContent, never parsed as HTML.
"use strict";

// Seconds between two readings of a live view: 5, or the page's ?poll= (at least 1).
const POLL_MS = Math.max(1, Number(new URLSearchParams(location.search).get("poll")) || 5) * 1000;
const API = "/_isthmus/console/api";
const state = { view: null, timer: null, remotes: [], lag: new Map(), behind: new Map(), pending: null };

// --- helpers -------------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  return node;
}

async function call(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const reason = data && data.error ? (data.error.reason || data.error.type) : response.statusText;
    throw new Error(`${method} ${path}: ${response.status} ${reason}`);
  }
  return data;
}

function showError(err) {
  const box = document.getElementById("error");
  if (!err) { box.hidden = true; box.textContent = ""; return; }
  box.hidden = false;
  box.textContent = err.message || String(err);
}

function when(iso) {
  if (!iso) return el("span", { class: "muted", text: "never" });
  const at = new Date(iso);
  const seconds = Math.round((Date.now() - at.getTime()) / 1000);
  let ago;
  if (seconds < 60) ago = `${Math.max(0, seconds)} s ago`;
  else if (seconds < 3600) ago = `${Math.round(seconds / 60)} min ago`;
  else ago = `${Math.round(seconds / 3600)} h ago`;
  return el("time", { datetime: iso, title: at.toLocaleString() }, ago);
}

function clock(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : "…";
}

function badge(status) {
  const words = { green: "Healthy", yellow: "Degraded", red: "Failing", unknown: "Unknown" };
  return el("span", { class: `badge ${status}`, "data-status": status }, words[status] || status);
}

// --- views ---------------------------------------------------------------------------------------

const views = {
  remotes: { enter: loadRemotes, poll: loadRemotes },
  diagnose: { enter: enterDiagnose },
  wizard: { enter: enterWizard },
  followers: { enter: loadFollowers, poll: loadFollowers },
  privileges: { enter: enterPrivileges },
};

function route() {
  const [name, arg] = (location.hash.slice(1) || "remotes").split("/").map(decodeURIComponent);
  const view = views[name] ? name : "remotes";
  for (const section of document.querySelectorAll("main > section")) {
    section.hidden = section.id !== `view-${view}`;
  }
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  state.view = view;
  showError(null);
  stopPolling();
  Promise.resolve(views[view].enter(arg)).catch(showError).finally(schedule);
}

// Polling runs only while a polled view is shown and the tab is visible: no page, no work.
function schedule() {
  stopPolling();
  const view = views[state.view];
  if (!view || !view.poll || document.visibilityState !== "visible") return;
  state.timer = setTimeout(() => {
    Promise.resolve(view.poll()).catch(showError).finally(schedule);
  }, POLL_MS);
}

function stopPolling() {
  if (state.timer !== null) clearTimeout(state.timer);
  state.timer = null;
}

// --- remote clusters -----------------------------------------------------------------------------

async function loadRemotes() {
  const data = await call("GET", `${API}/remotes`);
  showError(null);
  state.remotes = data.remotes;
  document.getElementById("cluster-name").textContent = `— ${data.cluster_name} (${data.node.name})`;
  const asof = document.getElementById("remotes-asof");
  asof.textContent = clock(data.as_of);
  asof.setAttribute("datetime", data.as_of);
  document.getElementById("remotes-every").textContent = String(POLL_MS / 1000);
  const body = document.querySelector("#remotes tbody");
  body.replaceChildren(...data.remotes.map(remoteRow));
  document.getElementById("remotes-empty").hidden = data.remotes.length > 0;
  if (!performance.getEntriesByName("remotes-rendered").length) performance.mark("remotes-rendered");
}

function remoteRow(r) {
  const where = r.settings.proxy_address || (r.settings.seeds || []).join(", ");
  const unit = r.mode === "proxy" ? "sockets" : "nodes";
  const error = r.last_error;
  const errorCell = error
    ? el("td", { class: "last-error", "data-stage": error.stage },
        el("strong", {}, `Stopped at ${error.stage}: `), error.stage_words || "",
        el("small", {}, error.message),
        error.cause_words ? el("small", {}, `Cause: ${error.cause_words}`) : null,
        el("small", {}, when(error.time)))
    : el("td", { class: "last-error muted" }, "none");
  const expiry = r.certificate.not_after
    ? `certificate until ${new Date(r.certificate.not_after).toLocaleDateString()}`
    : null;
  const credential = r.security_model !== "api_key" ? "certificate model"
    : !r.credentials.expiry_known ? "key expiry known only to the remote"
    : r.credentials.expiry ? `key expires ${new Date(r.credentials.expiry).toLocaleString()}`
    : "key never expires";
  return el("tr", { "data-alias": r.alias, "data-status": r.status },
    el("td", { class: "status" }, badge(r.status)),
    el("th", { scope: "row" }, r.alias, el("small", {}, where)),
    el("td", {}, r.mode),
    el("td", {}, r.security_model === "api_key" ? "API key" : "certificates"),
    el("td", { class: "connections" }, `${r.connections.open} / ${r.connections.wanted} ${unit}`),
    el("td", { class: "last-success" }, when(r.last_success)),
    errorCell,
    el("td", { class: "flaps" }, String(r.flaps.count)),
    el("td", {}, r.handshake_ms.p50 === null ? "—" : `${r.handshake_ms.p50} ms`),
    el("td", { class: `credential${r.credentials.expires_soon ? " yellow" : ""}`,
        "data-expiry": r.credentials.expiry || "",
        "data-expiry-known": String(Boolean(r.credentials.expiry_known)) },
      credential, expiry ? el("small", {}, expiry) : null),
    el("td", {}, timeline(r)),
    el("td", {},
      el("a", { href: `#diagnose/${encodeURIComponent(r.alias)}` }, "Diagnose"), " ",
      el("a", { href: `#wizard/${encodeURIComponent(r.alias)}` }, "Edit")),
  );
}

function timeline(r) {
  const width = 180, now = Date.now(), hour = 3600 * 1000;
  const chart = svg("svg", { class: "timeline", viewBox: `0 0 ${width} 22`, role: "img",
    "aria-label": `${r.timeline.length} events in the last hour` });
  chart.append(svg("line", { class: "axis", x1: 0, y1: 11, x2: width, y2: 11 }));
  for (const event of r.timeline) {
    const x = Math.max(2, Math.min(width - 2, width - ((now - new Date(event.time)) / hour) * width));
    const mark = svg("rect", { class: event.kind, x: x - 1.5, y: event.kind === "connected" ? 3 : 9,
      width: 3, height: event.kind === "connected" ? 8 : 10 });
    const title = svg("title", {});
    title.textContent = `${clock(event.time)} ${event.kind}${event.stage ? ` at ${event.stage}` : ""}`;
    mark.append(title);
    chart.append(mark);
  }
  const list = el("ul", {}, r.timeline.slice(-20).reverse().map((e) =>
    el("li", {}, `${clock(e.time)} ${e.kind}${e.stage ? ` (${e.stage}${e.cause ? `: ${e.cause}` : ""})` : ""}`)));
  return el("div", { class: "timeline-cell" }, chart,
    r.timeline.length
      ? el("details", {}, el("summary", {}, `${r.timeline.length} event${r.timeline.length === 1 ? "" : "s"}`), list)
      : null);
}

// --- diagnose ------------------------------------------------------------------------------------

async function aliases() {
  const data = await call("GET", `${API}/remotes`);
  state.remotes = data.remotes;
  return data.remotes.map((r) => r.alias);
}

async function enterDiagnose(alias) {
  document.getElementById("diagnose-result").replaceChildren(); // never a verdict of before
  const select = document.getElementById("diagnose-alias");
  const names = await aliases();
  select.replaceChildren(...names.map((n) => el("option", { value: n, selected: n === alias }, n)));
  if (alias && names.includes(alias)) await runDiagnose(null);
  else document.getElementById("diagnose-result").replaceChildren();
}

// since: log lines and flaps before it are not evidence ("verify again" passes the last
// verdict's time: has it worked since?); without it the node uses its default window.
async function runDiagnose(since) {
  const alias = document.getElementById("diagnose-alias").value;
  const index = document.getElementById("diagnose-index").value || "*";
  const out = document.getElementById("diagnose-result");
  if (!alias) return;
  out.setAttribute("aria-busy", "true");
  out.replaceChildren(el("p", { class: "muted" }, `Diagnosing [${alias}] …`));
  const params = new URLSearchParams({ index });
  if (since) params.set("since", since);
  const path = `${API}/diagnose/${encodeURIComponent(alias)}?${params}`;
  try {
    const v = await call("POST", path);
    out.replaceChildren(verdictView(v));
  } catch (err) {
    out.replaceChildren();
    showError(err);
  } finally {
    out.removeAttribute("aria-busy");
  }
}

function verdictView(v) {
  const failed = v.stages.find((s) => s.outcome === "failed" || s.outcome === "undecided");
  const headline = failed
    ? `[${v.alias}] stopped at ${failed.stage}: ${failed.words}`
    : v.status === "green" ? `[${v.alias}] every stage passed` : `[${v.alias}] ${v.status}`;
  const ladder = el("ol", { class: "ladder", "aria-label": "Stages, in the order a connection is made" },
    v.stages.map((s, i) => stageItem(s, i + 1, v.stages.length)));
  return el("div", { id: "verdict", "data-status": v.status, "data-failed-stage": v.failed_stage || "" },
    el("p", { class: "verdict" }, badge(v.status), " ", headline),
    el("p", { class: "muted" }, `As of ${clock(v.as_of)} · evidence: ${v.evidence_level.join(", ")}`),
    ladder,
    v.warnings.length ? el("section", { "aria-label": "Warnings" }, el("h3", {}, "Warnings"),
      v.warnings.map(findingView)) : null,
    el("p", {}, el("button", { type: "button", id: "verify-again", onclick: () => runDiagnose(v.as_of) }, "Verify again")),
  );
}

function stageItem(s, n, total) {
  const words = { passed: "✓ passed", failed: "✗ failed", undecided: "? undecided",
    not_reached: "– not reached", not_checked: "· not checked" };
  const item = el("li", { "data-stage": s.stage, "data-outcome": s.outcome },
    el("span", { class: "outcome" }, words[s.outcome] || s.outcome), " ",
    el("strong", {}, `${n}/${total} ${s.stage}`), ` — ${s.words}`);
  // A finding carries its own evidence; a stage without one shows what it was decided on.
  if (s.findings.length) item.append(...s.findings.map(findingView));
  else if (s.evidence.length && s.outcome !== "passed") item.append(evidenceList(s.evidence));
  else if (s.evidence.length) item.append(el("details", {}, el("summary", {}, "evidence"), evidenceList(s.evidence)));
  return item;
}

function evidenceList(evidence) {
  return el("ul", { class: "evidence" }, evidence.map((e) => el("li", {}, el("small", {}, e.source), e.detail)));
}

function findingView(f) {
  const fix = f.fix
    ? el("div", { class: "fix", "data-side": f.fix.side },
        el("p", {}, el("strong", {}, "Fix"), ` (${f.fix.side}): ${f.fix.summary}`),
        f.fix.steps.map((step) => el("div", { class: "step" },
          el("pre", {}, el("code", { class: "fix-step" }, step)),
          el("button", { type: "button", class: "copy", onclick: (e) => copy(step, e.currentTarget) }, "Copy"))))
    : null;
  return el("div", { class: "finding", "data-cause": f.cause, "data-side": f.side },
    el("p", {}, el("strong", {}, f.cause_words || f.cause), el("small", {}, `${f.cause} · ${f.side} · ${f.confidence}`)),
    el("p", {}, f.message),
    f.candidates.length ? el("p", {}, `Possible causes: ${f.candidates.join(", ")}. Would decide: ${f.would_decide.join("; ")}`) : null,
    f.evidence.length ? evidenceList(f.evidence) : null,
    fix);
}

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Select and copy";
  }
}

// --- add / edit wizard ---------------------------------------------------------------------------

async function enterWizard(alias) {
  const form = document.getElementById("wizard-form");
  document.getElementById("wizard-result").replaceChildren();
  document.getElementById("wizard-save").disabled = true;
  document.getElementById("wizard-key").hidden = true;
  document.getElementById("wizard-key-steps").replaceChildren();
  state.pending = null;
  // A key to try and the passwords of the key step never outlive a visit to the wizard.
  form.credential.value = "";
  const keyForm = document.getElementById("wizard-key-form");
  keyForm.password.value = "";
  keyForm.keystore_password.value = "";
  if (!alias) { form.reset(); return; }
  if (!state.remotes.length) await aliases();
  const r = state.remotes.find((x) => x.alias === alias);
  if (!r) return;
  form.alias.value = r.alias;
  form.mode.value = r.mode;
  form.security_model.value = r.security_model;
  form.addresses.value = r.settings.proxy_address || (r.settings.seeds || []).join("\n");
  form.server_name.value = r.settings.server_name || "";
  form.skip_unavailable.checked = r.settings.skip_unavailable !== false;
}

function wizardRequest() {
  const form = document.getElementById("wizard-form");
  const body = {
    alias: form.alias.value.trim(),
    mode: form.mode.value,
    security_model: form.security_model.value,
    addresses: form.addresses.value.split(/[\s,]+/).filter(Boolean),
    server_name: form.server_name.value.trim() || null,
    skip_unavailable: form.skip_unavailable.checked,
  };
  if (form.credential.value) body.credential = form.credential.value;
  return body;
}

async function checkAddress(event) {
  event.preventDefault();
  document.getElementById("wizard-key-steps").replaceChildren();
  try {
    await probe();
  } catch (err) {
    showError(err);
  }
}

// Probe the form's address from the node, show the answer, enable saving when it may be saved.
async function probe(keepKeyPanel) {
  const out = document.getElementById("wizard-result");
  const save = document.getElementById("wizard-save");
  const keyPanel = document.getElementById("wizard-key");
  save.disabled = true;
  state.pending = null;
  out.setAttribute("aria-busy", "true");
  out.replaceChildren(el("p", { class: "muted" }, "Probing from this node …"));
  try {
    const answer = await call("POST", `${API}/probe`, wizardRequest());
    out.replaceChildren(probeView(answer));
    if (answer.ok) {
      state.pending = answer.settings;
      save.disabled = false;
    }
    // The API-key model, the address right (TLS passed everywhere), the key missing or refused:
    // offer to create one on the remote and store it here.
    if (!keepKeyPanel) keyPanel.hidden = !(answer.keystore_steps.length &&
      answer.addresses.every((x) => x.passed.includes("tls")) &&
      (!answer.ok || answer.credential === "none"));
    return answer;
  } catch (err) {
    out.replaceChildren();
    throw err;
  } finally {
    out.removeAttribute("aria-busy");
  }
}

function keyStep(step, ok, message, ...more) {
  return el("li", { "data-step": step, "data-ok": String(ok) },
    el("strong", { class: ok ? "green" : "red" }, ok ? "Done: " : "Failed: "), message, ...more);
}

// The wizard's credential step: the node creates the key on the remote and stores it in its
// keystore (the key never comes to the page), then this page reloads this node's secure
// settings, probes again and leaves saving to the user's confirmation.
async function createKey(event) {
  event.preventDefault();
  const form = document.getElementById("wizard-key-form");
  const steps = document.getElementById("wizard-key-steps");
  const button = document.getElementById("wizard-key-create");
  const alias = document.getElementById("wizard-form").alias.value.trim();
  const list = (v) => v.split(",").map((p) => p.trim()).filter(Boolean);
  const keystorePassword = form.keystore_password.value;
  const body = {
    alias,
    remote_url: form.remote_url.value.trim(),
    username: form.username.value,
    password: form.password.value,
    certificate_authorities: form.certificate_authorities.value || null,
    search: list(form.search.value),
    replication: list(form.replication.value),
    expiration: form.expiration.value.trim() || null,
  };
  if (keystorePassword) body.keystore_password = keystorePassword;
  steps.replaceChildren(el("li", { class: "muted" }, "Creating the key on the remote …"));
  button.disabled = true;
  try {
    const answer = await call("POST", `${API}/remote_key`, body);
    form.password.value = ""; // used once
    steps.replaceChildren(...answer.steps.map((s) => keyStep(s.step, s.ok, s.message)));
    if (!answer.ok) return;
    const reloaded = await call("POST", answer.reload_path,
      keystorePassword ? { secure_settings_password: keystorePassword } : {});
    const mine = Object.values(reloaded.nodes || {})[0] || {};
    const failure = mine.reload_exception;
    steps.append(keyStep("reload", !failure && reloaded._nodes.successful === 1, failure
      ? `reloading the secure settings of node [${answer.node.name}]: ${failure.reason}`
      : `reloaded the secure settings of node [${answer.node.name}]`));
    if (failure) return;
    form.keystore_password.value = "";
    const checked = await probe(true);
    steps.append(keyStep("probe", checked.ok, checked.ok
      ? "checked again with the stored key: it authenticates. Confirm and save to write the cluster settings."
      : "checked again with the stored key: see the refusal above"));
    if (answer.other_nodes.length) {
      steps.append(el("li", { "data-step": "other-nodes" },
        el("strong", { class: "yellow" }, "Only this node's keystore was written. "),
        "On each other node, copy the entry (run on this node's host), then reload their secure settings:",
        answer.other_nodes.map((n) => el("div", { class: "step" }, el("pre", {}, el("code", {}, n.command)),
          el("button", { type: "button", class: "copy", onclick: (e) => copy(n.command, e.currentTarget) }, "Copy"))),
        el("pre", {}, el("code", {}, "POST /_nodes/reload_secure_settings"))));
    }
  } catch (err) {
    showError(err);
  } finally {
    button.disabled = false;
  }
}

function probeView(a) {
  const heading = a.ok
    ? "The address answers as this remote needs: you can save it."
    : "Refused: the address does not work for this remote. Nothing was saved.";
  return el("div", { id: "probe", "data-ok": String(a.ok) },
    el("p", { class: `verdict ${a.ok ? "green" : "red"}` }, heading),
    a.addresses.map((x) => el("div", { class: "probed", "data-address": x.address, "data-ok": String(x.ok),
        "data-failed-stage": x.failed_stage || "" },
      el("h3", {}, `${x.address}: ${x.ok ? "OK" : `failed at ${x.failed_stage} (${x.failed_words})`}`),
      x.message ? el("p", {}, x.message) : null,
      el("ol", { class: "ladder" }, x.stages.map((s, i) => stageItem(s, i + 1, x.stages.length))))),
    a.ok ? el("p", {}, "On save, this request is sent as you:") : null,
    a.ok ? el("pre", { id: "settings-preview" }, `PUT /_cluster/settings\n${JSON.stringify(a.settings, null, 2)}`) : null,
    a.ok && a.keystore_steps.length && a.credential !== "keystore"
      ? el("div", {}, el("p", {}, "Then give this cluster the key (API-key model):"),
          a.keystore_steps.map((s) => el("pre", {}, s)),
          el("p", {}, el("button", { type: "button", id: "wizard-reload", onclick: reloadSecureSettings },
            "The key is in every node's keystore: reload secure settings")),
          el("p", { id: "wizard-reloaded", "aria-live": "polite" }))
      : null);
}

async function reloadSecureSettings() {
  const out = document.getElementById("wizard-reloaded");
  try {
    const r = await call("POST", "/_nodes/reload_secure_settings", {});
    const failed = Object.values(r.nodes || {}).filter((n) => n.reload_exception);
    out.textContent = failed.length
      ? `Reloaded on ${r._nodes.successful} of ${r._nodes.total} nodes; failed: ` +
        failed.map((n) => `${n.name}: ${n.reload_exception.reason}`).join("; ")
      : `Secure settings reloaded on ${r._nodes.successful} of ${r._nodes.total} nodes.`;
  } catch (err) {
    showError(err);
  }
}

async function saveRemote() {
  if (!state.pending) return;
  const body = state.pending;
  try {
    await call("PUT", "/_cluster/settings", body);
    state.pending = null;
    location.hash = "#remotes";
  } catch (err) {
    showError(err);
  }
}

// --- followers -----------------------------------------------------------------------------------

async function loadFollowers() {
  const [stats, info] = await Promise.all([
    call("GET", "/_ccr/stats"),
    call("GET", "/_all/_ccr/info").catch(() => ({ follower_indices: [] })),
  ]);
  showError(null);
  document.getElementById("followers-asof").textContent = new Date().toLocaleTimeString();
  const status = new Map((info.follower_indices || []).map((f) => [f.follower_index, f]));
  const byIndex = new Map((stats.follow_stats.indices || []).map((i) => [i.index, i]));
  const names = [...new Set([...status.keys(), ...byIndex.keys()])].sort();
  document.querySelector("#followers tbody").replaceChildren(...names.map((n) => followerRow(n, status.get(n), byIndex.get(n))));
  document.getElementById("followers-empty").hidden = names.length > 0;
}

function followerRow(name, info, stats) {
  const shards = (stats && stats.shards) || [];
  const lag = shards.reduce((sum, s) => sum + Math.max(0, (s.leader_max_seq_no ?? 0) - (s.follower_max_seq_no ?? 0)), 0);
  const since = shards.length ? Math.max(...shards.map((s) => s.time_since_last_read_millis ?? 0)) : null;
  const exceptions = shards.flatMap((s) => s.read_exceptions || []);
  const fatal = shards.map((s) => s.fatal_exception).find(Boolean);
  const history = state.lag.get(name) || [];
  history.push(lag);
  if (history.length > 60) history.shift();
  state.lag.set(name, history);
  // Lag in time: how long the follower has been behind, from this page's readings (ES gives
  // the operations behind and the time since the last read, not a time lag).
  const behind = state.behind.get(name);
  if (lag === 0) state.behind.delete(name);
  else if (behind === undefined) state.behind.set(name, Date.now());
  const behindFor = lag === 0 ? "caught up"
    : `behind for ${Math.round((Date.now() - state.behind.get(name)) / 1000)} s`;
  const paused = info && info.status === "paused";
  const leader = info ? `${info.remote_cluster}:${info.leader_index}`
    : shards.length ? `${shards[0].remote_cluster}:${shards[0].leader_index}` : "";
  const action = paused ? "resume_follow" : "pause_follow";
  return el("tr", { "data-index": name, "data-status": paused ? "paused" : "active" },
    el("th", { scope: "row" }, name),
    el("td", {}, paused ? "Paused" : "Active"),
    el("td", {}, leader),
    el("td", { class: "lag" }, String(lag), el("small", { class: "behind" }, behindFor)),
    el("td", {}, since === null ? "—" : `${(since / 1000).toFixed(1)} s`),
    el("td", {}, sparkline(history)),
    el("td", {}, exceptions.length ? el("details", {}, el("summary", {}, String(exceptions.length)),
      el("ul", {}, exceptions.map((e) => el("li", {}, JSON.stringify(e.exception ? e.exception.reason || e.exception : e))))) : "0"),
    el("td", {}, fatal ? (fatal.reason || fatal.type || JSON.stringify(fatal)) : "none"),
    el("td", {}, el("button", { type: "button", onclick: async () => {
      try { await call("POST", `/${encodeURIComponent(name)}/_ccr/${action}`, {}); await loadFollowers(); }
      catch (err) { showError(err); }
    } }, paused ? "Resume" : "Pause")),
  );
}

function sparkline(values) {
  const chart = svg("svg", { class: "spark", viewBox: "0 0 120 24", role: "img",
    "aria-label": `lag over the last ${values.length} readings` });
  const top = Math.max(1, ...values);
  const points = values.map((v, i) => `${(i / Math.max(1, values.length - 1)) * 118 + 1},${23 - (v / top) * 21}`);
  chart.append(svg("polyline", { points: points.join(" ") }));
  return chart;
}

// --- effective privileges -----------------------------------------------------------------------

async function enterPrivileges() {
  document.getElementById("privileges-result").replaceChildren();
  const select = document.getElementById("privileges-alias");
  const names = await aliases();
  const current = select.value;
  select.replaceChildren(...names.map((n) => el("option", { value: n, selected: n === current }, n)));
}

async function checkPrivileges(event) {
  event.preventDefault();
  const form = document.getElementById("privileges-form");
  const out = document.getElementById("privileges-result");
  const params = new URLSearchParams({ index: form.index.value || "*" });
  if (form.username.value.trim()) params.set("username", form.username.value.trim());
  out.setAttribute("aria-busy", "true");
  out.replaceChildren(el("p", { class: "muted" }, "Checking …"));
  try {
    const p = await call("GET", `${API}/privileges/${encodeURIComponent(form.alias.value)}?${params}`);
    out.replaceChildren(privilegesView(p));
  } catch (err) {
    out.replaceChildren();
    showError(err);
  } finally {
    out.removeAttribute("aria-busy");
  }
}

function privilegesView(p) {
  const yes = (v) => (v === true ? "allows" : v === false ? "blocks" : "—");
  const sides = { role: "the local role", remote: p.remote_side };
  return el("div", { id: "privileges", "data-user": p.user.username },
    el("p", {}, `User [${p.user.username}] (roles ${p.user.roles.join(", ") || "none"}) on [${p.alias}:${p.index}]`),
    el("h3", {}, "Local role side: remote_indices for this alias"),
    p.role_entries.length
      ? el("ul", {}, p.role_entries.map((e) =>
          el("li", {}, `clusters ${JSON.stringify(e.clusters)} names ${JSON.stringify(e.names)} privileges ${JSON.stringify(e.privileges)}`)))
      : el("p", {}, "none: the user's roles grant nothing on this alias"),
    el("table", { id: "privileges-actions" },
      el("caption", { class: "visually-hidden" }, "Each action: what each side says"),
      el("thead", {}, el("tr", {}, ["Action", "Local role", p.remote_side, "Result"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, p.actions.map((a) => el("tr", { "data-action": a.action, "data-blocked-by": a.blocked_by || "" },
        el("th", { scope: "row" }, a.action, el("small", {}, a.es_action)),
        el("td", {}, yes(a.role_allows)),
        el("td", {}, a.remote_allows === null ? (a.allowed === null ? "not tried" : "—") : yes(a.remote_allows)),
        el("td", {}, a.allowed === null
          ? (a.role_allows ? "granted by the local role; the remote side is not tried (it would start a follower)"
            : "not granted by the local role (cross_cluster_replication)")
          : a.allowed ? `allowed${a.indices ? ` (${a.indices})` : ""}` : `blocked by ${sides[a.blocked_by] || "an error"}`,
          a.reason ? el("small", {}, a.reason) : null))))),
    p.fixes.map((f) => el("div", { class: "fix", "data-side": f.side },
      el("p", {}, el("strong", {}, "Fix"), ` (${f.side}): ${f.summary}`),
      f.steps.map((step) => el("div", { class: "step" }, el("pre", {}, el("code", {}, step)),
        el("button", { type: "button", class: "copy", onclick: (e) => copy(step, e.currentTarget) }, "Copy"))))),
  );
}

// --- start ---------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("diagnose-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const alias = document.getElementById("diagnose-alias").value;
    if (location.hash !== `#diagnose/${encodeURIComponent(alias)}`) location.hash = `#diagnose/${encodeURIComponent(alias)}`;
    else runDiagnose(null);
  });
  document.getElementById("wizard-form").addEventListener("submit", checkAddress);
  document.getElementById("wizard-key-form").addEventListener("submit", createKey);
  document.getElementById("privileges-form").addEventListener("submit", checkPrivileges);
  document.getElementById("wizard-form").addEventListener("input", () => {
    document.getElementById("wizard-save").disabled = true; // a changed form must be checked again
    state.pending = null;
  });
  document.getElementById("wizard-save").addEventListener("click", saveRemote);
  document.addEventListener("visibilitychange", schedule);
  window.addEventListener("hashchange", route);
  route();
});
