"""Names with direction overrides or line separators are shown neutralized: one rule, in Python and on the page.

lambdas/common/display.py `shown` is used by the functions (notify) and the CLI; the web page
applies videoflow/web/display.js `displayText` to every text it shows. Both are checked here on
the same cases, and against each other on every Unicode code point (the page's rule runs in
Node, the JavaScript engine family the page runs in).
"""

import json
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from lambdas.common.display import KEPT, is_disguising, shown

DISPLAY_JS = Path(__file__).resolve().parents[2] / "videoflow" / "web" / "display.js"
NODE = shutil.which("node", path=str(Path(__file__).resolve().parents[2] / "tools" / "node_modules" / ".bin")) \
    or shutil.which("node")

CASES = {
    "clip\u202egnp.mp4": "clip<U+202E>gnp.mp4",  # RIGHT-TO-LEFT OVERRIDE: would read "clipmp4.png"
    "a\u202ab\u202bc\u202cd\u202de": "a<U+202A>b<U+202B>c<U+202C>d<U+202D>e",
    "\u2066x\u2067y\u2068z\u2069": "<U+2066>x<U+2067>y<U+2068>z<U+2069>",  # isolates
    "line\u2028two\u2029three": "line<U+2028>two<U+2029>three",
    "tab\there\nnew\rline\x1b[31m": "tab<U+0009>here<U+000A>new<U+000D>line<U+001B>[31m",
    "\u200ezero\u200bwidth\ufeff": "<U+200E>zero<U+200B>width<U+FEFF>",
    "\U000e0001tag": "<U+E0001>tag",  # a Cf outside the BMP
    "été 動画 🎬 עברית": "été 動画 🎬 עברית",  # ordinary letters of any script pass
    "فارسی\u200cنامه 👨\u200d👩\u200d👧": "فارسی\u200cنامه 👨\u200d👩\u200d👧",  # joiners only shape glyphs
}


@pytest.mark.parametrize(("name", "expected"), CASES.items(), ids=range(len(CASES)))
def test_a_disguising_character_is_shown_as_its_code_point_and_the_rest_is_unchanged(name, expected):
    assert shown(name) == expected


def test_every_control_format_and_separator_character_is_neutralized_except_the_joiners():
    categories = {unicodedata.category(chr(point)) for point in range(sys.maxunicode + 1)
                  if is_disguising(chr(point))}

    assert categories == {"Cc", "Cf", "Zl", "Zp"}
    assert not any(is_disguising(char) for char in KEPT)
    assert all(unicodedata.category(char) == "Cf" for char in KEPT)


@pytest.mark.skipif(NODE is None, reason="no Node.js (make tools installs the pinned one)")
def test_the_page_applies_the_same_rule_to_every_code_point():
    script = f"""
      const {{ displayText }} = require({json.dumps(str(DISPLAY_JS))});
      const cases = {json.dumps(list(CASES))};
      const replaced = [];
      for (let point = 0; point <= 0x10FFFF; point += 1) {{
        if (point >= 0xD800 && point <= 0xDFFF) continue;
        if (displayText(String.fromCodePoint(point)) !== String.fromCodePoint(point)) replaced.push(point);
      }}
      process.stdout.write(JSON.stringify({{ cases: cases.map(displayText), replaced,
                                            unicode: process.versions.unicode }}));
    """
    answer = json.loads(subprocess.run([NODE, "-e", script], check=True, capture_output=True, text=True,
                                       timeout=60).stdout)

    python = [point for point in range(sys.maxunicode + 1) if not 0xD800 <= point <= 0xDFFF
              and is_disguising(chr(point))]
    assert answer["cases"] == list(CASES.values())
    # The only difference allowed: code points a newer Unicode than this Python's has assigned since
    # (Python 3.11 has Unicode 14; Node 24 has 16, which made U+13439-U+1343F format characters).
    differing = set(answer["replaced"]) ^ set(python)
    assert all(unicodedata.category(chr(point)) == "Cn" for point in differing), (answer["unicode"], differing)
    assert set(answer["replaced"]) >= set(python)
