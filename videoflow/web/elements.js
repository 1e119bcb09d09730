// The page's element helpers: $ (an element by id), setText and element (build a node), every text
// passing through displayText (display.js). Loaded before the other page scripts, which all use them.
"use strict";

const $ = (id) => document.getElementById(id);

// Every text the page shows goes through displayText (display.js): names and titles come from uploads.
function setText(node, value) {
  node.textContent = displayText(value);
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
