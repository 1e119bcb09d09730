"""The page's scripts (videoflow/web/*.js), one idea each: index.html loads every one, the server serves every one,
and, being classic scripts that share one global scope, together they declare no name twice."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from videoflow.serve.handler import WEB_DIR, WEB_FILES

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node", path=str(ROOT / "tools" / "node_modules" / ".bin")) or shutil.which("node")
SCRIPTS = re.findall(r'<script src="/([^"]+)"', (WEB_DIR / "index.html").read_text())


def test_index_html_loads_every_script_of_the_page_once_and_app_js_last():
    assert sorted(SCRIPTS) == sorted(path.name for path in WEB_DIR.glob("*.js"))
    assert len(set(SCRIPTS)) == len(SCRIPTS) and SCRIPTS[-1] == "app.js"


def test_the_server_serves_every_file_the_page_loads():
    assert {f"/{name}" for name in [*SCRIPTS, "style.css", "index.html"]} <= WEB_FILES.keys()


def test_no_two_scripts_declare_the_same_top_level_name():
    # A second `function f` would silently replace the first (a second const or let is a SyntaxError).
    declared = [name for script in SCRIPTS for name in re.findall(
        r"^(?:async )?(?:function\*?|const|let|var|class) ([\w$]+)", (WEB_DIR / script).read_text(), re.MULTILINE)]

    assert sorted({name for name in declared if declared.count(name) > 1}) == []


@pytest.mark.skipif(NODE is None, reason="no Node.js installed (make tools)")
def test_the_scripts_load_together_in_one_global_scope():
    # Every script but app.js, which starts the page (that needs the browser: test_web_page.py).
    script = ("const vm = require('vm'); const fs = require('fs'); const context = vm.createContext({});"
              f"for (const file of {json.dumps([str(WEB_DIR / name) for name in SCRIPTS[:-1]])})"
              "  new vm.Script(fs.readFileSync(file, 'utf8'), { filename: file }).runInContext(context);"
              "process.stdout.write(vm.runInContext('typeof openJob + typeof showResults + typeof element', context));")
    loaded = subprocess.run([NODE, "-e", script], capture_output=True, text=True, timeout=30)

    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout == "function" * 3
