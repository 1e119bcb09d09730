// How the page writes sizes, times, durations, file names and an event's detail.
"use strict";

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
