// A completed job's results, read from its exported files (/results/{id}/manifest.json and what it
// names): the proxy with captions, the timeline (timeline.js), transcript, clips (clips.js), shots,
// cost and links to every file.
"use strict";

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
