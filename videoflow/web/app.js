// VideoFlow's page: upload with presigned multipart URLs, follow a job live, show its results.
// Plain JavaScript, no build step. Everything shown comes from the jobs API (/api), the job's event
// stream (/api/jobs/{id}/stream, server-sent events) and its exported results (/results/{id}/...).
"use strict";

const PARALLEL_PARTS = 3;
const PART_ATTEMPTS = 3;
const HIDDEN_STATE_TYPES = new Set(["Choice", "Pass", "Succeed", "Fail", "Wait"]);
const FINAL = new Set(["COMPLETED", "REJECTED", "FAILED", "CANCELLED"]);
// An uploaded job has no record until start_pipeline runs: ask again for up to 30 s.
const START_WAITS = 60;
const START_WAIT_MS = 500;
// The step outside the workflow, first in the list: start_pipeline (job.started).
const FIRST_STEPS = { StartPipeline: -1 };

const $ = (id) => document.getElementById(id);

// Every text the page shows goes through displayText (display.js): names and titles come from uploads.
function setText(node, value) {
  node.textContent = displayText(value);
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, body) {
  const options = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch("/api" + path, options);
  let data = null;
  try {
    data = await response.json();
  } catch (_) {
    data = null;
  }
  if (!response.ok) {
    throw new ApiError(response.status, messageOf(data) || `${method} ${path}: HTTP ${response.status}`);
  }
  return data;
}

function messageOf(data) {
  if (!data) return "";
  if (typeof data.message === "string") return data.message;
  if (typeof data.error === "string") return data.error;
  if (Array.isArray(data.detail)) return data.detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
  return "";
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") setText(node, value);
    else if (name === "aria-label" || name === "title") node.setAttribute(name, displayText(value));
    else if (name.startsWith("data-") || name.startsWith("aria-") || typeof value !== "boolean") {
      node.setAttribute(name, value === true ? "" : String(value));
    } else node.setAttribute(name, "");
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(displayText(child)));
  }
  return node;
}

function formatBytes(bytes) {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

function formatTime(seconds) {
  const s = Math.max(0, Number(seconds) || 0);
  const minutes = Math.floor(s / 60);
  const rest = s - minutes * 60;
  return `${minutes}:${rest.toFixed(1).padStart(4, "0")}`;
}

function formatDuration(seconds) {
  return seconds < 60 ? `${seconds.toFixed(1)} s` : `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

function baseName(key) {
  return String(key || "").split("/").pop();
}

function summary(detail) {
  const parts = [];
  for (const [name, value] of Object.entries(detail || {})) {
    if (value === null || typeof value === "object") continue;
    let text = String(value);
    if (text.length > 60) text = text.slice(0, 59) + "…";
    parts.push(`${name}: ${text}`);
    if (parts.length === 4) break;
  }
  return parts.join(", ");
}

// -- upload --------------------------------------------------------------------------------------

function putPart(url, blob, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("PUT", url);
    request.upload.onprogress = (event) => onProgress(event.loaded);
    request.onload = () => {
      const etag = request.getResponseHeader("ETag");
      if (request.status >= 200 && request.status < 300 && etag) resolve(etag);
      else if (request.status >= 200 && request.status < 300) reject(new Error("the storage did not expose the part's ETag (CORS)"));
      else reject(new Error(`part upload failed: HTTP ${request.status}`));
    };
    request.onerror = () => reject(new Error("part upload failed: network error"));
    request.send(blob);
  });
}

async function putPartWithRetries(url, blob, onProgress) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await putPart(url, blob, onProgress);
    } catch (error) {
      onProgress(0);
      if (attempt >= PART_ATTEMPTS) throw error;
      await new Promise((wait) => setTimeout(wait, 500 * attempt));
    }
  }
}

async function upload(file) {
  const progress = $("upload-progress");
  const bar = $("upload-bar");
  const text = $("upload-text");
  const error = $("upload-error");
  error.hidden = true;
  $("file-input").disabled = true;
  $("upload-label").replaceChildren("Uploading ", element("span", { id: "upload-name", text: file.name }));
  bar.value = 0;
  setText(text, "Preparing the upload…");
  progress.hidden = false;
  try {
    const created = await api("POST", "/uploads", {
      filename: file.name,
      content_type: file.type || "application/octet-stream",
      size_bytes: file.size,
    });
    const parts = created.parts;
    const loaded = new Array(parts.length).fill(0);
    const etags = new Array(parts.length);
    const report = () => {
      const sent = Math.min(file.size, loaded.reduce((a, b) => a + b, 0));
      const percent = file.size ? Math.floor((100 * sent) / file.size) : 100;
      bar.value = percent;
      setText(text, `${formatBytes(sent)} of ${formatBytes(file.size)} (${percent} %)`);
    };
    let next = 0;
    const worker = async () => {
      while (next < parts.length) {
        const index = next++;
        const start = (parts[index].part_number - 1) * created.part_size_bytes;
        const blob = file.slice(start, Math.min(file.size, start + created.part_size_bytes));
        etags[index] = await putPartWithRetries(parts[index].url, blob, (bytes) => {
          loaded[index] = bytes;
          report();
        });
        loaded[index] = blob.size;
        report();
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_PARTS, parts.length) }, worker));
    setText(text, "Finishing the upload…");
    const completed = await api("POST", "/uploads/complete", {
      key: created.key,
      upload_id: created.upload_id,
      parts: parts.map((part, index) => ({ part_number: part.part_number, etag: etags[index] })),
    });
    bar.value = 100;
    $("upload-label").replaceChildren("Uploaded ", element("span", { id: "upload-name", text: file.name }));
    setText(text, `${formatBytes(file.size)} uploaded; the job has started.`);
    history.pushState({ job: completed.job_id }, "", jobUrl(completed.job_id));
    openJob(completed.job_id, { name: file.name });
    refreshJobs();
  } catch (failure) {
    setText(error, `The upload failed: ${failure.message}`);
    error.hidden = false;
    setText(text, "");
  } finally {
    $("file-input").disabled = false;
    $("file-input").value = "";
  }
}

function setUpUpload() {
  const input = $("file-input");
  const zone = $("drop-zone");
  input.addEventListener("change", () => {
    if (input.files && input.files[0]) upload(input.files[0]);
  });
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    zone.addEventListener(name, () => zone.classList.remove("dragging"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) upload(file);
  });
}

// -- one job, live -------------------------------------------------------------------------------

let current = null;

function jobUrl(id) {
  return `/?job=${encodeURIComponent(id)}`;
}

function jobFromUrl() {
  const query = new URLSearchParams(location.search).get("job");
  if (query) return query;
  const hash = new URLSearchParams(location.hash.replace(/^#/, "")).get("job");
  return hash || null;
}

function closeJob() {
  if (current && current.stream) current.stream.close();
  current = null;
}

function openJob(id, known = {}) {
  closeJob();
  const job = {
    id,
    steps: new Map(),
    stateKeys: new Set(),
    lastSeq: 0,
    duplicates: 0,
    gaps: 0,
    status: null,
    stream: null,
    resultsShown: false,
  };
  current = job;
  $("job").hidden = false;
  $("results").hidden = true;
  setText($("job-id"), id);
  $("steps").replaceChildren();
  $("steps-details").open = true;
  setText($("steps-summary"), "");
  $("event-log").replaceChildren();
  setText($("event-count"), "0");
  $("job-reason").hidden = true;
  $("retry-button").hidden = true;
  setText($("job-source"), known.name || "…");
  setStatus(job, null);
  markCurrentInList();
  loadJob(job);
  connect(job);
}

async function loadJob(job) {
  try {
    const record = await api("GET", `/jobs/${encodeURIComponent(job.id)}`);
    if (job !== current) return;
    if (job.waits) note("");
    if (record.source_key) setText($("job-source"), baseName(record.source_key));
    if (!job.status || FINAL.has(record.status)) setStatus(job, record.status);
    if (record.reason) showReason(record.reason);
    return record;
  } catch (error) {
    if (job !== current) return null;
    if (error.status === 404 && job.lastSeq === 0 && (job.waits = (job.waits || 0) + 1) <= START_WAITS) {
      // A job exists from its first event (start_pipeline's job.started), a moment after the upload.
      note("Waiting for the workflow to start…");
      setTimeout(() => { if (job === current) loadJob(job); }, START_WAIT_MS);
    } else if (error.status === 404 && job.lastSeq === 0) {
      if (job.stream) job.stream.close();
      setText($("job-status"), "unknown");
      note(error.message || `There is no job ${job.id}.`);
    } else if (error.status !== 404) note(`Could not read the job: ${error.message}`);
    return null;
  }
}

function connect(job) {
  const stream = new EventSource(`/api/jobs/${encodeURIComponent(job.id)}/stream?after=0`);
  job.stream = stream;
  document.body.dataset.stream = "open";
  stream.onopen = () => note("");
  stream.onmessage = (message) => onEvent(job, JSON.parse(message.data));
  stream.addEventListener("state", (message) => onState(job, JSON.parse(message.data)));
  stream.addEventListener("done", (message) => {
    stream.close();
    document.body.dataset.stream = "done";
    onDone(job, JSON.parse(message.data));
  });
  stream.onerror = () => {
    if (job !== current) return;
    note(stream.readyState === EventSource.CLOSED
      ? "The live status stream closed. Reload the page to follow the job again."
      : "Reconnecting to the live status…");
  };
}

function note(text) {
  setText($("stream-note"), text);
}

function setStatus(job, status) {
  job.status = status;
  const badge = $("job-status");
  setText(badge, status ? status.toLowerCase() : "waiting for the job to start");
  badge.dataset.status = status || "";
  $("retry-button").hidden = status !== "FAILED";
}

function showReason(reason) {
  setText($("job-reason"), reason);
  $("job-reason").hidden = false;
}

function onEvent(job, event) {
  if (job !== current) return;
  if (event.seq <= job.lastSeq) {
    job.duplicates += 1;
    $("event-log").dataset.duplicates = job.duplicates;
    return;
  }
  if (event.seq !== job.lastSeq + 1) {
    job.gaps += 1;
    $("event-log").dataset.gaps = job.gaps;
  }
  job.lastSeq = event.seq;
  $("event-log").dataset.lastSeq = event.seq;
  setText($("event-count"), String(event.seq));
  $("event-log").append(element("tr", { "data-seq": event.seq },
    element("td", { text: event.seq }),
    element("td", { text: new Date(event.at).toLocaleTimeString() }),
    element("td", { text: event.step }),
    element("td", {}, element("code", { text: event.type })),
    element("td", { text: summary(event.detail) })));

  if (event.type === "job.started" && event.detail && event.detail.name) setText($("job-source"), event.detail.name);
  if (event.type === "job.registered" && !FINAL.has(job.status)) setStatus(job, "RUNNING");
  if (event.type === "job.retried") {
    setStatus(job, "RUNNING");
    $("job-reason").hidden = true;
  }
  const final = {
    "job.completed": "COMPLETED", "job.failed": "FAILED", "job.rejected": "REJECTED", "job.cancelled": "CANCELLED",
  }[event.type];
  if (final) {
    setStatus(job, final);
    if (event.detail && event.detail.reason) showReason(event.detail.reason);
  }

  const step = stepFor(job, event.step, event.at, null);
  step.events.push(event);
  if (!step.entered) step.finishedAt = event.at; // a step the workflow does not run as a state (StartPipeline)
  renderStep(job, step);
}

function onState(job, state) {
  if (job !== current || job.stateKeys.has(state.key)) return;
  job.stateKeys.add(state.key);
  if (!state.state || HIDDEN_STATE_TYPES.has(state.type)) return;
  const step = stepFor(job, state.state, state.at, state.branch);
  if (state.kind === "entered") {
    step.entered += 1;
    step.open += 1;
    step.enteredAt = state.at;
  } else if (state.kind === "exited") {
    step.open = Math.max(0, step.open - 1);
    step.finishedAt = state.at;
    step.failedOpen = false;
    step.caught = Boolean(state.caught); // the step's error went to a Catch: it failed, nothing retried it
  } else if (state.kind === "failed") {
    step.failures += 1;
    step.lastError = state.error + (state.cause ? `: ${state.cause}` : "");
    step.failedOpen = true;
  }
  renderStep(job, step);
}

function stepFor(job, name, at, branch) {
  let step = job.steps.get(name);
  const moment = name in FIRST_STEPS ? FIRST_STEPS[name] : Date.parse(at);
  if (!step) {
    step = {
      name, branch, first: moment, entered: 0, open: 0, failures: 0, failedOpen: false, caught: false,
      enteredAt: null, finishedAt: null, lastError: "", events: [],
      node: element("li", { class: "step", "data-step": name }),
    };
    job.steps.set(name, step);
    placeStep(job, step);
  } else if (moment < step.first) {
    step.first = moment;
    placeStep(job, step);
  }
  if (branch && !step.branch) step.branch = branch;
  return step;
}

function placeStep(job, step) {
  // Steps stay in the order they started, whatever order their news arrives in.
  const list = $("steps");
  const later = [...job.steps.values()]
    .filter((other) => other !== step && other.node.parentNode === list)
    .filter((other) => other.first > step.first || (other.first === step.first && other.name > step.name))
    .sort((a, b) => a.first - b.first || (a.name < b.name ? -1 : 1))[0];
  list.insertBefore(step.node, later ? later.node : null);
}

function stepStatus(job, step) {
  const over = FINAL.has(job.status) && job.stream && job.stream.readyState === EventSource.CLOSED;
  if (step.open > 0 && over) return step.failedOpen ? "failed" : "stopped";
  if (step.open > 0) return "running";
  if (step.failedOpen || step.caught) return "failed";
  return "done";
}

function renderStep(job, step) {
  const status = stepStatus(job, step);
  step.node.dataset.status = status;
  let text = { running: "running…", done: "done", failed: "failed", stopped: "stopped" }[status];
  if (status === "done" && step.enteredAt && step.finishedAt) {
    text = `done in ${formatDuration(Math.max(0, (Date.parse(step.finishedAt) - Date.parse(step.enteredAt)) / 1000))}`;
  }
  if (step.entered > 1) text += ` (${step.entered} runs)`;
  const retried = step.failures - (status === "failed" ? 1 : 0);
  if (retried > 0) text += `, ${retried} failed attempt${retried > 1 ? "s" : ""} retried`;
  const children = [
    element("span", { class: "step-name", text: step.name }),
    step.branch ? element("span", { class: "branch", text: step.branch }) : null,
    element("span", { class: "step-status", text }),
  ];
  if (status === "failed" && step.lastError) children.push(element("p", { class: "step-error", text: step.lastError }));
  if (step.events.length) {
    children.push(element("ul", { class: "step-events" }, ...step.events.map((event) => element("li", {},
      element("code", { text: event.type }), " ", summary(event.detail)))));
  }
  step.node.replaceChildren(...children.filter(Boolean));
}

async function onDone(job, done) {
  if (job !== current) return;
  note("");
  setStatus(job, done.status);
  for (const step of job.steps.values()) renderStep(job, step);
  if (done.reason) showReason(done.reason);
  // Done: the steps fold away (one click on their summary opens them); a failed job keeps them open.
  setText($("steps-summary"), `${job.steps.size} steps, ${done.status.toLowerCase()}`);
  if (done.status === "COMPLETED") $("steps-details").open = false;
  const record = await loadJob(job);
  if (done.status === "COMPLETED") await showResults(job);
  else if (record && record.reason) showReason(record.reason);
  refreshJobs();
}

// -- results -------------------------------------------------------------------------------------

async function showResults(job) {
  const base = `/results/${encodeURIComponent(job.id)}/`;
  let manifest = null;
  for (let attempt = 0; attempt < 20 && job === current; attempt += 1) {
    const response = await fetch(base + "manifest.json", { cache: "no-store" });
    if (response.ok) {
      manifest = await response.json();
      break;
    }
    await new Promise((wait) => setTimeout(wait, 500));
  }
  if (!manifest || job !== current) {
    if (job === current) note("The results are not available.");
    return;
  }
  const url = (path) => base + String(path).split("/").map(encodeURIComponent).join("/");

  const video = $("proxy-video");
  video.replaceChildren();
  const proxy = manifest.derivatives && manifest.derivatives.proxy;
  if (proxy) {
    video.src = url(proxy);
    if (manifest.captions && manifest.captions.vtt) {
      video.append(element("track", { kind: "captions", src: url(manifest.captions.vtt), srclang: "en", label: "Captions", default: true }));
    }
  } else {
    video.removeAttribute("src");
  }
  const source = manifest.source || {};
  setText($("proxy-size"), [source.name, source.duration_s ? formatDuration(source.duration_s) : null]
    .filter(Boolean).join(", "));

  showClips(manifest, url); // clips.js
  const transcript = await showTranscript(manifest, url);
  const analysis = manifest.frames_analysis ? await readJson(url(manifest.frames_analysis)) : null;
  renderTimeline(manifest, transcript, analysis); // timeline.js
  followProxy();
  showShots(manifest);
  showCost(manifest);
  showFiles(manifest, url);
  $("results").hidden = false;
  $("results").dataset.ready = "true";
  job.resultsShown = true;
}

function seekButton(seconds, label) {
  const button = element("button", { type: "button", class: "time", "aria-label": `Play from ${formatTime(seconds)}` },
    label || formatTime(seconds));
  button.addEventListener("click", () => {
    const video = $("proxy-video");
    video.currentTime = seconds;
    video.play().catch(() => {});
  });
  return button;
}

async function readJson(path) {
  try {
    const response = await fetch(path);
    return response.ok ? await response.json() : null;
  } catch (_) {
    return null;
  }
}

// The transcript (returned for the timeline's speaker lane), its words marked as the proxy plays (timeline.js).
async function showTranscript(manifest, url) {
  const box = $("transcript");
  box.replaceChildren();
  if (!manifest.transcript) {
    box.append(element("p", { class: "note", text: manifest.source && manifest.source.has_audio === false
      ? "The video has no sound." : "No transcript." }));
    return null;
  }
  try {
    const transcript = await (await fetch(url(manifest.transcript))).json();
    if (!(transcript.sentences || []).length) box.append(element("p", { class: "note", text: "Nothing was said." }));
    else renderTranscriptWords(box, transcript, seekButton);
    return transcript;
  } catch (error) {
    box.append(element("p", { class: "error", text: `The transcript could not be read: ${error.message}` }));
    return null;
  }
}

function showShots(manifest) {
  const body = $("shots");
  body.replaceChildren();
  const shots = manifest.shots || [];
  $("shots-section").hidden = shots.length === 0;
  shots.forEach((shot, index) => {
    body.append(element("tr", {},
      element("th", { scope: "row", text: index + 1 }),
      element("td", { text: formatTime(shot.start_s) }),
      element("td", { text: formatTime(shot.end_s) }),
      element("td", { text: formatDuration(shot.end_s - shot.start_s) }),
      element("td", {}, seekButton(shot.start_s, "play"))));
  });
}

function showCost(manifest) {
  const cost = manifest.cost;
  const body = $("cost");
  body.replaceChildren();
  $("cost-section").hidden = !(cost && cost.by_service);
  if (!cost || !cost.by_service) return;
  setText($("cost-caption"), `What this job would cost on AWS${cost.approximate === false ? "" : " (approximate"}`
    + `${cost.prices_region ? `, ${cost.prices_region}` : ""} list prices${cost.approximate === false ? "" : ")"}`);
  for (const [service, entry] of Object.entries(cost.by_service)) {
    const row = element("tr", {},
      element("th", { scope: "row", text: service.replace(/_/g, " ") }),
      element("td", { text: Number(entry.quantity || 0).toLocaleString(undefined, { maximumFractionDigits: 2 }) }),
      element("td", { text: entry.unit || "" }),
      element("td", { text: Number(entry.usd || 0).toFixed(6) }));
    if (entry.note) row.title = displayText(entry.note);
    body.append(row);
  }
  setText($("cost-total"), Number(cost.total_usd || 0).toFixed(6));
}

function showFiles(manifest, url) {
  const list = $("files");
  list.replaceChildren();
  const entries = [["manifest.json", "manifest.json"], ["events.jsonl", "event log"]];
  const derivatives = manifest.derivatives || {};
  if (derivatives.proxy) entries.push([derivatives.proxy, "proxy video"]);
  if (derivatives.audio) entries.push([derivatives.audio, "clean audio"]);
  if (manifest.transcript) entries.push([manifest.transcript, "transcript (JSON)"]);
  if (manifest.captions && manifest.captions.vtt) entries.push([manifest.captions.vtt, "captions (WebVTT)"]);
  if (manifest.captions && manifest.captions.srt) entries.push([manifest.captions.srt, "captions (SRT)"]);
  for (const [path, label] of entries) {
    list.append(element("li", {}, element("a", { href: url(path), download: baseName(path) }, label), ` (${path})`));
  }
}

// -- the list of jobs ----------------------------------------------------------------------------

async function refreshJobs() {
  try {
    const answer = await api("GET", "/jobs?limit=25");
    const list = $("job-list");
    list.replaceChildren(...(answer.jobs || []).map((job) => {
      const link = element("a", { href: jobUrl(job.job_id) }, baseName(job.source_key) || job.job_id);
      link.addEventListener("click", (event) => {
        event.preventDefault();
        history.pushState({ job: job.job_id }, "", jobUrl(job.job_id));
        openJob(job.job_id);
      });
      return element("li", { "data-job": job.job_id }, link, " ",
        element("span", { class: "status", "data-status": job.status, text: String(job.status || "").toLowerCase() }),
        element("br"),
        element("small", { text: job.created_at ? new Date(job.created_at).toLocaleString() : "" }));
    }));
    $("jobs-empty").hidden = list.children.length > 0;
    markCurrentInList();
  } catch (error) {
    setText($("jobs-empty"), `The jobs could not be listed: ${error.message}`);
    $("jobs-empty").hidden = false;
  }
}

function markCurrentInList() {
  for (const item of $("job-list").children) {
    const link = item.querySelector("a");
    if (current && item.dataset.job === current.id) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

// -- retry ---------------------------------------------------------------------------------------

async function retry() {
  if (!current) return;
  const job = current;
  const button = $("retry-button");
  button.disabled = true;
  try {
    await api("POST", `/jobs/${encodeURIComponent(job.id)}/retry`);
    // Follow the new run once the job record says it is running again.
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const record = await api("GET", `/jobs/${encodeURIComponent(job.id)}`).catch(() => null);
      if (record && !FINAL.has(record.status)) break;
      await new Promise((wait) => setTimeout(wait, 250));
    }
    if (job === current) openJob(job.id);
    refreshJobs();
  } catch (error) {
    showReason(`The retry failed: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

// -- start ---------------------------------------------------------------------------------------

function start() {
  setUpUpload();
  $("retry-button").addEventListener("click", retry);
  $("refresh-jobs").addEventListener("click", refreshJobs);
  window.addEventListener("popstate", () => {
    const id = jobFromUrl();
    if (id) openJob(id);
    else {
      closeJob();
      $("job").hidden = true;
      $("results").hidden = true;
    }
  });
  const id = jobFromUrl();
  if (id) openJob(id);
  refreshJobs();
  setInterval(() => {
    if (document.visibilityState === "visible") refreshJobs();
  }, 5000);
}

start();
