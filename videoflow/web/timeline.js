// The job page's timeline: lanes for shots, speakers, chapters, clips and faces on screen under the proxy, and the
// transcript's spoken word followed as the proxy plays. Plain JavaScript; the page's helpers (element, setText, $
// from elements.js, formatTime from format.js) are called only once the page runs. The pure part
// (lanes, wordAt) has no DOM and is what Node reads in tests/e2e/test_timeline_lanes.py.
"use strict";

const LANES = [
  { id: "shots", name: "Shots", empty: "No shots." },
  { id: "speakers", name: "Speakers", empty: "No speaker labels." },
  { id: "chapters", name: "Chapters", empty: "No chapters." },
  { id: "clips", name: "Clips", empty: "No clips." },
  { id: "faces", name: "Faces on screen", empty: "No faces on screen." },
];
const SPEAKER_COLOURS = 6;

function finite(value) {
  return typeof value === "number" && Number.isFinite(value);
}

function spans(list) {
  return (Array.isArray(list) ? list : []).filter((item) => item && finite(item.start_s) && finite(item.end_s));
}

// "spk_0" reads "Speaker 1"; a label in another form is shown as it is.
function speakerName(speaker) {
  const match = /^spk_(\d+)$/.exec(String(speaker));
  return match ? `Speaker ${Number(match[1]) + 1}` : String(speaker);
}

// Turns: runs of consecutive words with the same speaker, from the first word's start to the last one's end.
function speakerTurns(words) {
  const turns = [];
  const order = new Map();
  for (const word of spans(words)) {
    if (word.speaker === null || word.speaker === undefined || word.speaker === "") continue;
    const last = turns[turns.length - 1];
    if (last && last.speaker === word.speaker) {
      last.end_s = Math.max(last.end_s, word.end_s);
      continue;
    }
    if (!order.has(word.speaker)) order.set(word.speaker, order.size);
    turns.push({ start_s: word.start_s, end_s: word.end_s, speaker: word.speaker, label: speakerName(word.speaker),
      colour: order.get(word.speaker) % SPEAKER_COLOURS });
  }
  return turns;
}

// Faces on screen: runs of consecutive sampled frames with at least one face, each frame standing for the time
// until the next sample (interval_s after the last one).
function faceRuns(analysis, duration) {
  const frames = (analysis && Array.isArray(analysis.frames) ? analysis.frames : [])
    .filter((frame) => frame && finite(frame.t_s)).slice().sort((a, b) => a.t_s - b.t_s);
  const interval = analysis && finite(analysis.interval_s) && analysis.interval_s > 0 ? analysis.interval_s : 2;
  const runs = [];
  let run = null;
  frames.forEach((frame, index) => {
    const count = Array.isArray(frame.faces) ? frame.faces.length : 0;
    const next = index + 1 < frames.length ? frames[index + 1].t_s : frame.t_s + interval;
    const end = finite(duration) && duration > 0 ? Math.min(next, Math.max(duration, frame.t_s)) : next;
    if (count === 0) {
      run = null;
      return;
    }
    if (!run) {
      run = { start_s: frame.t_s, end_s: end, faces: count };
      runs.push(run);
    } else {
      run.end_s = end;
      run.faces = Math.max(run.faces, count);
    }
  });
  for (const face of runs) face.label = `${face.faces} face${face.faces === 1 ? "" : "s"}`;
  return runs;
}

// The planned clips (marked rendered when a rendered clip matches), or the rendered ones when there is no plan: one
// item per span, a clip rendered in several aspects (9:16, 1:1, 16:9) being one clip.
function clipItems(manifest) {
  const rendered = spans(manifest.clips);
  const planned = spans(manifest.plan && manifest.plan.clips);
  if (!planned.length) {
    const distinct = rendered.filter((clip, index) => rendered.findIndex((other) =>
      other.start_s === clip.start_s && other.end_s === clip.end_s) === index);
    return distinct.map((clip, index) => ({ start_s: clip.start_s, end_s: clip.end_s, rendered: true,
      label: clip.title || `Clip ${index + 1}` }));
  }
  return planned.map((clip, index) => ({
    start_s: clip.start_s, end_s: clip.end_s, label: clip.title || `Clip ${index + 1}`,
    rendered: rendered.some((r) => Math.abs(r.start_s - clip.start_s) < 0.5 && Math.abs(r.end_s - clip.end_s) < 0.5),
  }));
}

// Every lane's items, each {start_s, end_s, label}, and the length the lanes span.
function lanes(manifest, transcript, analysis) {
  const source = manifest.source || {};
  const items = {
    shots: spans(manifest.shots).map((shot, index) => ({ start_s: shot.start_s, end_s: shot.end_s,
      label: `Shot ${index + 1}` })),
    speakers: speakerTurns(transcript && transcript.words),
    chapters: spans(manifest.chapters).map((chapter, index) => ({ start_s: chapter.start_s, end_s: chapter.end_s,
      label: chapter.title || `Chapter ${index + 1}`, detail: chapter.summary || "" })),
    clips: clipItems(manifest),
  };
  const ends = Object.values(items).flat().map((item) => item.end_s);
  const duration = finite(source.duration_s) && source.duration_s > 0 ? source.duration_s : Math.max(0, ...ends);
  items.faces = faceRuns(analysis, duration);
  return { duration, items };
}

// The index of the word whose [start_s, end_s) holds t (words in time order), or -1 between words.
function wordAt(words, t) {
  let low = 0;
  let high = words.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (words[middle].start_s > t) high = middle - 1;
    else if (words[middle].end_s <= t) low = middle + 1;
    else return middle;
  }
  return -1;
}

if (typeof module !== "undefined") module.exports = { lanes, speakerTurns, faceRuns, wordAt, speakerName };

// -- the page ------------------------------------------------------------------------------------

// What follows the proxy: the transcript's word spans and the timeline's items (replaced for each job).
const following = { words: [], spoken: -1, items: [], duration: 0, bound: false };

function percent(seconds, duration) {
  return `${Math.min(100, Math.max(0, (100 * seconds) / duration)).toFixed(3)}%`;
}

function laneButton(lane, item, duration) {
  const span = `${formatTime(item.start_s)} to ${formatTime(item.end_s)}`;
  const extra = lane.id === "clips" && !item.rendered ? ", not rendered" : "";
  const button = element("button", {
    type: "button", class: "lane-item", "data-start": item.start_s, "data-end": item.end_s,
    "data-colour": item.colour, "aria-label": `${item.label}${extra}, ${span}: play from ${formatTime(item.start_s)}`,
    title: `${item.label} (${span})${item.detail ? `: ${item.detail}` : ""}`,
  }, item.label);
  // CSSOM, not a style attribute: the page's Content-Security-Policy allows no inline styles.
  button.style.left = percent(item.start_s, duration);
  button.style.width = percent(Math.max(0, item.end_s - item.start_s), duration);
  button.addEventListener("click", () => {
    $("proxy-video").currentTime = item.start_s;
  });
  return button;
}

function renderTimeline(manifest, transcript, analysis) {
  const box = $("timeline");
  const { duration, items } = lanes(manifest, transcript, analysis);
  following.duration = duration;
  following.items = [];
  box.replaceChildren();
  $("timeline-section").hidden = !(duration > 0);
  if (!(duration > 0)) return;
  for (const lane of LANES) {
    const nameId = `lane-${lane.id}-name`;
    const track = element("ol", { class: "lane-track", "aria-labelledby": nameId });
    for (const item of items[lane.id]) {
      const button = laneButton(lane, item, duration);
      following.items.push({ button, start_s: item.start_s, end_s: item.end_s });
      track.append(element("li", {}, button));
    }
    box.append(element("div", { class: "lane", role: "group", "aria-labelledby": nameId, "data-lane": lane.id,
      "data-count": items[lane.id].length },
    element("span", { class: "lane-name", id: nameId, text: lane.name }),
    items[lane.id].length ? track : element("p", { class: "lane-empty note", text: lane.empty })));
  }
  const scale = element("div", { class: "lane-scale", "aria-hidden": "true" });
  for (const fraction of [0, 0.25, 0.5, 0.75, 1]) {
    const mark = element("span", {}, formatTime(fraction * duration));
    mark.style.left = percent(fraction * duration, duration);
    scale.append(mark);
  }
  box.append(element("div", { class: "lane" }, element("span", { class: "lane-name" }), scale));
  follow($("proxy-video").currentTime || 0);
}

// The transcript, a paragraph per sentence, each word its own span (so the spoken one can be marked); the speaker
// is named where it changes.
function renderTranscriptWords(box, transcript, seekButton) {
  const words = Array.isArray(transcript.words) ? transcript.words : [];
  following.words = [];
  following.spoken = -1;
  let speaker = null;
  for (const sentence of transcript.sentences || []) {
    const paragraph = element("p", {}, seekButton(sentence.start_s), " ");
    if (sentence.speaker && sentence.speaker !== speaker) {
      paragraph.append(element("span", { class: "speaker", text: `${speakerName(sentence.speaker)}:` }), " ");
    }
    speaker = sentence.speaker || speaker;
    const own = Number.isInteger(sentence.first_word) && Number.isInteger(sentence.last_word)
      ? words.slice(sentence.first_word, sentence.last_word + 1).filter((w) => finite(w.start_s) && finite(w.end_s))
      : [];
    if (!own.length) paragraph.append(displayText(sentence.text));
    own.forEach((word, index) => {
      const node = element("span", { class: "word", "data-start": word.start_s, "data-end": word.end_s,
        text: word.text });
      following.words.push({ node, start_s: word.start_s, end_s: word.end_s });
      paragraph.append(node, index + 1 < own.length ? " " : "");
    });
    box.append(paragraph);
  }
  following.words.sort((a, b) => a.start_s - b.start_s);
}

function follow(t) {
  const index = wordAt(following.words, t);
  if (index !== following.spoken) {
    if (following.spoken >= 0 && following.words[following.spoken]) {
      following.words[following.spoken].node.classList.remove("spoken");
    }
    if (index >= 0) following.words[index].node.classList.add("spoken");
    following.spoken = index;
    $("transcript").dataset.spoken = index;
  }
  for (const item of following.items) item.button.classList.toggle("now", item.start_s <= t && t < item.end_s);
  if (following.duration > 0) $("timeline").style.setProperty("--playhead", percent(t, following.duration));
}

function followProxy() {
  if (following.bound) return;
  following.bound = true;
  const video = $("proxy-video");
  for (const name of ["timeupdate", "seeked", "emptied"]) {
    video.addEventListener(name, () => follow(video.currentTime || 0));
  }
}
