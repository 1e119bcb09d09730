"""Synthesize the CDK app once per change of its sources, and read the template back.

The definition that runs locally is the one that deploys: it comes out of the same
`app.py`, never a hand-written copy. Synthesis is cached by a hash of what feeds it.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from stacks.names import STACK_NAME

ROOT = Path(__file__).resolve().parents[2]
_INPUTS = ("app.py", "cdk.json", "stacks", "lambdas", "containers")


class SynthError(RuntimeError):
    pass


def sources_hash(overrides: dict | None = None) -> str:
    digest = hashlib.sha256(json.dumps(overrides or {}, sort_keys=True).encode())
    for name in _INPUTS:
        path = ROOT / name
        # Container folders are staged as image assets whole (the local runner runs them from there).
        pattern = "*" if name == "containers" else "*.py"
        files = [path] if path.is_file() else sorted(
            p for p in path.rglob(pattern) if p.is_file() and "__pycache__" not in p.parts)
        for file in files:
            digest.update(str(file.relative_to(ROOT)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def synthesize(outdir: Path | None = None, force: bool = False, overrides: dict | None = None) -> Path:
    """Run app.py with CDK_OUTDIR set (no CDK CLI, no AWS credentials, no Docker).

    `overrides` change settings of the "videoflow" context for this synth only (a test that needs
    a short heartbeat timeout, say); each set of overrides is cached on its own.
    """
    outdir = (outdir or ROOT / "build" / f"cdk.out-{sources_hash(overrides)}").resolve()
    template = outdir / f"{STACK_NAME}.template.json"
    if template.exists() and not force:
        return outdir
    if force:
        shutil.rmtree(outdir, ignore_errors=True)
    context = json.loads((ROOT / "cdk.json").read_text()).get("context", {})
    if overrides:
        context = {**context, "videoflow": {**context.get("videoflow", {}), **overrides}}
    # Into a folder of its own, renamed into place when whole: test workers that synthesize the
    # same sources side by side never read a half-written cloud assembly.
    partial = outdir.with_name(f"{outdir.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    env = {
        **os.environ,
        "CDK_OUTDIR": str(partial),
        "CDK_CONTEXT_JSON": json.dumps(context),
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    }
    done = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not (partial / template.name).exists():
        shutil.rmtree(partial, ignore_errors=True)
        raise SynthError(f"cdk synth failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    try:
        partial.rename(outdir)
    except OSError:  # another process put the same synthesis there first
        shutil.rmtree(partial, ignore_errors=True)
    return outdir


def load_template(outdir: Path | None = None) -> dict:
    outdir = outdir or synthesize()
    return json.loads((outdir / f"{STACK_NAME}.template.json").read_text())


def load_assets(outdir: Path) -> dict:
    """The asset manifest: which staged folder each file or Docker image asset came from."""
    return json.loads((outdir / f"{STACK_NAME}.assets.json").read_text())
