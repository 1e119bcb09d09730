"""The pinned tools `make tools` installs, for the tests that check the synthesized app with them.

tools/package.json (locked in tools/package-lock.json): the CDK CLI, asl-validator and Node 24 LTS,
which runs both and the CDK's jsii runtime. tools/requirements-checkov.txt: checkov, in a virtualenv
of its own (it pins an old boto3). A missing tool fails the test: CI installs them with `make tools`.
"""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_BIN = ROOT / "tools" / "node_modules" / ".bin"
CHECKOV = ROOT / "tools" / "checkov" / "bin" / "checkov"


def tool(path: Path) -> str:
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run `make tools`", pytrace=False)
    return str(path)


def node_env(**extra: str) -> dict[str, str]:
    """This environment with the project's Node first on PATH, and no switch that hides a Node warning."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("JSII_SILENCE_WARNING")}
    env["PATH"] = os.pathsep.join([str(NODE_BIN), str(Path(sys.executable).parent), env.get("PATH", "")])
    return {**env, **extra}
