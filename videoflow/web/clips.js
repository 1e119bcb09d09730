// The job page's clips: one card per planned clip, holding its renders, one per aspect ratio (9:16, 1:1, 16:9), each
// labelled with its aspect and frame size. Plain JavaScript; the page's helpers (element, setText, $ from
// elements.js, formatTime from format.js, seekButton from results.js) are called only once the page runs. The pure part
// (clipGroups) has no DOM and is what Node reads in tests/e2e/test_clip_groups.py.
"use strict";

function sameSpan(a, b) {
  return Math.abs(a.start_s - b.start_s) < 0.5 && Math.abs(a.end_s - b.end_s) < 0.5;
}

// Each planned clip, in plan order, with the renders of its span ({start_s, end_s, title, score, rationale,
// renders}); a render that matches no planned clip (a manifest without a plan) starts a group of its own span.
function clipGroups(manifest) {
  const rendered = (Array.isArray(manifest.clips) ? manifest.clips : []).filter((clip) => clip && clip.path);
  const planned = manifest.plan && Array.isArray(manifest.plan.clips) ? manifest.plan.clips.filter(Boolean) : [];
  const groups = planned.map((clip) => ({ start_s: clip.start_s, end_s: clip.end_s, title: clip.title || "",
    score: clip.score, rationale: clip.rationale || "", renders: [] }));
  for (const clip of rendered) {
    let group = groups.find((candidate) => sameSpan(candidate, clip));
    if (!group) {
      group = { start_s: clip.start_s, end_s: clip.end_s, title: clip.title || "", rationale: "", renders: [] };
      groups.push(group);
    }
    group.renders.push(clip);
  }
  return groups;
}

// "9:16 · 1080×1920"; a clip recorded before aspects shows its size alone.
function aspectLabel(clip) {
  const size = clip.width ? `${clip.width}×${clip.height}` : "";
  return [clip.aspect, size].filter(Boolean).join(" · ");
}

if (typeof module !== "undefined") module.exports = { clipGroups, aspectLabel };

// -- the page ------------------------------------------------------------------------------------

function renderFigure(clip, title, url) {
  return element("figure", { class: "clip-render", "data-aspect": clip.aspect || null },
    element("video", {
      controls: true, preload: "metadata", src: url(clip.path),
      poster: clip.thumbnail ? url(clip.thumbnail) : null,
      "aria-label": clip.aspect ? `${title}, ${clip.aspect}` : title, class: "clip-video",
      width: clip.width || null, height: clip.height || null,
    }),
    element("figcaption", { class: "clip-aspect", text: aspectLabel(clip) }));
}

function showClips(manifest, url) {
  const plan = manifest.plan && Array.isArray(manifest.plan.clips) ? manifest.plan : null;
  const groups = clipGroups(manifest);
  const list = $("clips");
  list.replaceChildren();
  $("clips-section").hidden = groups.length === 0;
  setText($("plan-note"), plan
    ? `Chosen by the ${plan.planner || "clip"} planner: ${plan.clips.length} clip${plan.clips.length === 1 ? "" : "s"}.`
    : "");
  groups.forEach((group, index) => {
    const title = group.title || `Clip ${index + 1}`;
    const headingId = `clip-${index + 1}-title`;
    const article = element("article", { "aria-labelledby": headingId }, element("h4", { id: headingId, text: title }));
    if (!group.renders.length) article.append(element("p", { class: "note", text: "Not rendered." }));
    for (const clip of group.renders) article.append(renderFigure(clip, title, url));
    const facts = [`${formatTime(group.start_s)} – ${formatTime(group.end_s)}`];
    if (typeof group.score === "number") facts.push(`score ${group.score.toFixed(2)}`);
    article.append(element("p", { class: "clip-facts" }, facts.join(" · "), " ",
      seekButton(group.start_s, "play in the proxy")));
    if (group.rationale) article.append(element("p", { class: "rationale", text: group.rationale }));
    list.append(element("li", { class: "clip" }, article));
  });
}
