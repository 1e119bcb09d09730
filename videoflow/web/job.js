// One job, live: open it (from the URL, the list or an upload), read its record, follow its event
// stream (/api/jobs/{id}/stream) into the status and the event log, and retry it when it failed.
// `current` is the job on show; the other page scripts check it to drop news of a job left behind.
"use strict";

const FINAL = new Set(["COMPLETED", "REJECTED", "FAILED", "CANCELLED"]);
// An uploaded job has no record until start_pipeline runs: ask again for up to 30 s.
const START_WAITS = 60;
const START_WAIT_MS = 500;

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
