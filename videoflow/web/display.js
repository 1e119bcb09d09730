// Text shown on the page (a file name, a title, a reason): characters that could disguise it are made visible.
// The same rule as lambdas/common/display.py (tests/unit/test_display_names.py checks they agree on every code
// point): control (Cc) and format (Cf) characters, such as the direction overrides U+202A-U+202E and isolates
// U+2066-U+2069, and the line and paragraph separators U+2028/U+2029 become "<U+XXXX>"; the zero-width joiner and
// non-joiner (U+200C, U+200D) stay, since they only shape glyphs. "clip\u202Egnp.mp4" reads "clip<U+202E>gnp.mp4".
"use strict";

const DISGUISING = /(?![\u200C\u200D])[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

function displayText(value) {
  if (value === null || value === undefined) return "";
  return String(value).replace(DISGUISING, (char) =>
    `<U+${char.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}>`);
}

// Node (the unit test) reads the rule from here; the page uses the global function.
if (typeof module !== "undefined") module.exports = { displayText };
