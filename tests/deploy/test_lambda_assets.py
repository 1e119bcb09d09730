"""Every zip Lambda's code asset imports its handler with only what its runtime and layers provide.

The stack ships every zip function from one code asset (the `lambdas` package staged by
`stacks.functions.lambda_code()`) on the python3.13 runtime, with the public Powertools layer
and, for the functions that search or embed, the public AWS SDK for pandas layer (numpy). A
package that only this repository's .venv has (a newer Powertools, numpy without its layer, a
test helper) passes every other test and fails the function at its first cold start. Here, for
each AWS::Lambda::Function in the synthesized template (zip package, a `lambdas.` handler; CDK's
own helpers and container-image functions are left out, the images are tests/deploy/
test_container_deps.py's), the code asset folder in cdk.out is put on sys.path of an isolated
interpreter (`python -I -S -B`: no site-packages, no PYTHONPATH, no current folder, no .pyc
written into cdk.out) with folders mirroring what Lambda provides, in Lambda's order:

    /var/task                    the function's code asset (asset.<hash> in cdk.out)
    /opt/python                  its layers, in the order it lists them: Powertools, numpy
    /var/runtime                 the runtime's boto3 and botocore with their dependencies

and the handler's module is imported and its attribute resolved. Beyond the handler module, the
modules of the asset that its code imports later, inside functions (keyframe_inference loads
lambdas.common.search only when it runs), are imported as well, and every other import written
inside a function must resolve in the same folders: a lazy import fails a warm Lambda as surely
as an eager one fails a cold start. One interpreter checks all the functions of one layer list.

What stands for what, and how sure it is:
- Powertools layer `AWSLambdaPowertoolsPythonV3-python313-x86_64:27` = Powertools 3.23.0. The
  project's docs list version 27 from the 3.23.0 release on (PR #7757 bumps docs/index.md from
  18 to 27 after the 3.23.0 version bump; 3.20.0 published version 23, PR #7352/#7354, and each
  release since published one more). The layer is `pip install "aws-lambda-powertools[all]==
  <version>" -t python/` minus boto*, s3transfer, dateutil, urllib3, six and jmespath
  (layer_v3/docker/Dockerfile), which is what is installed here.
- AWS SDK for pandas layer `AWSSDKPandas-Python313:11` = awswrangler 3.16.1 (its docs' layer
  table). Only its numpy is installed, at the version the 3.16.1 lock resolves for Python 3.13
  (2.2.6): a function that imported pandas or pyarrow from that layer would fail here wrongly.
- The runtime's SDK: Lambda's docs no longer publish the boto3 version of python3.13 ("depends
  on the runtime version and your AWS Region; print boto3.__version__ in a function"). Pinned
  here is the floor pyproject.toml declares (boto3>=1.40), so code that needs a newer SDK at
  import time fails here rather than in a Region whose runtime is older. Replace it with the
  version a deployed function prints when one has been read.
- This machine has Python 3.11 only: the check runs the 3.13 runtime's packages on 3.11 (cp311
  wheels of the same versions). It proves the imports resolve, not 3.13's byte-for-byte behaviour.
- Layers are separate folders here; Lambda extracts them into one /opt in order, so a file in a
  later layer would replace an earlier one's. No two layers here share a file.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy import envs

RUNTIME = "python3.13"
ARCHITECTURE = "x86_64"
# The Lambda runtime's own packages (see the module docstring for why this version).
RUNTIME_SDK = ("boto3==1.40.0", "botocore==1.40.0")
POWERTOOLS_LAYER = re.compile(
    r"^arn:\$\{AWS::Partition\}:lambda:\$\{AWS::Region\}:017000801446:layer:"
    r"AWSLambdaPowertoolsPythonV3-python313-x86_64:(?P<version>\d+)$"
)
PANDAS_LAYER = re.compile(
    r"^arn:\$\{AWS::Partition\}:lambda:\$\{AWS::Region\}:336392948345:layer:AWSSDKPandas-Python313:(?P<version>\d+)$"
)
# Public layer version -> what it holds. A new layer version in stacks/config.py fails the test
# until its contents are looked up and added here.
POWERTOOLS_RELEASES = {27: "3.23.0"}
PANDAS_NUMPY = {11: "2.2.6"}
# What the Powertools layer build deletes (the runtime has these): layer_v3/docker/Dockerfile.
POWERTOOLS_REMOVED = ("boto*", "s3transfer*", "*dateutil*", "urllib3*", "six*", "jmespath*", "bin")
# Handlers that fail in their deployed environment today, each with a part of its error and why.
# They are reported as xfail (see `pytest -ra`); one that passes again, or any other failure,
# fails the test. Delete an entry to make its failure fail the suite.
KNOWN_FAILURES: dict[str, tuple[str, str]] = {}  # handler -> (error text, why); none today
# Imports written inside functions that are allowed not to resolve in a deployed function.
LOCAL_ONLY_IMPORTS: dict[str, str] = {}  # module -> why; none today (LocalEmbedder lives in videoflow/search.py)


@dataclass(frozen=True)
class ZipFunction:
    logical_id: str
    handler: str
    asset: Path
    layers: tuple[str, ...]  # "powertools" and/or "pandas", in the order the function lists them
    layer_versions: tuple[int, ...]


def _arn(value) -> str:
    """A layer ARN as text: Fn::Join parts joined, {"Ref": X} written ${X}."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return "${" + value["Ref"] + "}"
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_arn(part) for part in parts)
    raise AssertionError(f"unexpected layer ARN expression: {value!r}")


def _code_assets(outdir: Path) -> dict[str, Path]:
    """S3 object key of each zip file asset -> its folder in cdk.out (from <stack>.assets.json)."""
    found = {}
    for manifest in outdir.glob("*.assets.json"):
        for asset_hash, asset in json.loads(manifest.read_text())["files"].items():
            if asset["source"].get("packaging") == "zip":
                found[f"{asset_hash}.zip"] = outdir / asset["source"]["path"]
    return found


def zip_functions(synth) -> list[ZipFunction]:
    assets = _code_assets(synth.outdir)
    functions = []
    for logical_id, resource in synth.template_dict["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] != "AWS::Lambda::Function" or properties.get("PackageType") == "Image":
            continue
        if not str(properties.get("Handler", "")).startswith("lambdas."):
            continue  # CDK's own helpers (inline code, index.handler)
        assert properties["Runtime"] == RUNTIME, (logical_id, properties["Runtime"])
        assert properties.get("Architectures", [ARCHITECTURE]) == [ARCHITECTURE], logical_id
        key = properties["Code"]["S3Key"]
        assert key in assets, f"{logical_id}: no zip asset {key} in {synth.outdir}"
        layers, versions = [], []
        for layer in properties.get("Layers", []):
            arn = _arn(layer)
            for name, pattern in (("powertools", POWERTOOLS_LAYER), ("pandas", PANDAS_LAYER)):
                if match := pattern.match(arn):
                    layers.append(name)
                    versions.append(int(match["version"]))
                    break
            else:
                raise AssertionError(f"{logical_id}: a layer this check does not know: {arn}")
        functions.append(ZipFunction(logical_id, properties["Handler"], assets[key], tuple(layers), tuple(versions)))
    return functions


# --- the environments ---------------------------------------------------------------------------


def runtime_folder() -> Path:
    return envs.target_dir("lambda-runtime", RUNTIME_SDK)


def layer_folder(name: str, version: int) -> Path:
    if name == "powertools":
        assert version in POWERTOOLS_RELEASES, (
            f"Powertools layer version {version} is not in POWERTOOLS_RELEASES: look up which release it "
            "holds (the project's docs list the layer version of each release) and add it")
        return envs.target_dir(f"layer-powertools-{version}",
                               [f"aws-lambda-powertools[all]=={POWERTOOLS_RELEASES[version]}"],
                               remove=POWERTOOLS_REMOVED)
    assert version in PANDAS_NUMPY, (
        f"AWS SDK for pandas layer version {version} is not in PANDAS_NUMPY: look up its awswrangler "
        "release (aws-sdk-pandas docs, layers table) and the numpy it bundles, and add it")
    return envs.target_dir(f"layer-pandas-{version}", [f"numpy=={PANDAS_NUMPY[version]}"], no_deps=True)


# The program run in the isolated interpreter: argv = JSON {"path": [...], "asset": ..., "handlers": [...]}.
CHECK = r'''
import ast, importlib, importlib.util, json, os, sys
spec = json.loads(sys.argv[1])
sys.path[:0] = spec["path"]
asset, allowed = spec["asset"], spec["local_only"]
problems = {}

def asset_file(module):
    base = os.path.join(asset, *module.split("."))
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None

def imports_of(path, module):
    """(name, nested) for each import in a module; nested = written inside a function."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    found = []
    def visit(node, nested, type_checking):
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            guarded = type_checking or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            if guarded:
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, nested) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(filter(None, [*parts, base]))
                found.append((base, nested))
                found.extend((f"{base}.{alias.name}", nested) for alias in child.names)
            visit(child, inner, guarded)
    visit(tree, False, False)
    return found

def closure(module):
    """Asset modules reachable from `module` through any import; non-asset imports made inside functions."""
    seen, todo, lazy = set(), [module], set()
    while todo:
        name = todo.pop()
        path = asset_file(name)
        if name in seen or path is None:
            continue
        seen.add(name)
        for imported, nested in imports_of(path, name):
            if asset_file(imported):
                todo.append(imported)
            elif nested and asset_file(imported.rpartition(".")[0]) is None and imported.split(".")[0] not in sys.builtin_module_names:
                lazy.add(imported)
    return seen, lazy

for handler in spec["handlers"]:
    module, _, attribute = handler.rpartition(".")
    try:
        if not callable(getattr(importlib.import_module(module), attribute)):
            problems[handler] = f"{attribute} is not callable"
            continue
    except BaseException as error:
        problems[handler] = f"{type(error).__name__}: {error}"
        continue
    modules, lazy = closure(module)
    for name in sorted(modules):
        try:
            importlib.import_module(name)
        except BaseException as error:
            problems[handler] = f"imports {name} inside a function, which fails: {type(error).__name__}: {error}"
            break
    else:
        for name in sorted(lazy):
            if name in allowed:
                continue
            top = name.split(".")[0]
            try:
                found = importlib.util.find_spec(name) if "." not in name else importlib.util.find_spec(top)
            except BaseException:
                found = None
            if found is None:
                problems[handler] = f"imports {name} inside a function; it is not in the runtime or its layers"
                break

# Nothing may have come from anywhere but the folders given and the standard library.
stdlib = os.path.dirname(os.__file__) + os.sep
for name, loaded in list(sys.modules.items()):
    origin = getattr(loaded, "__file__", None) or ""
    from_stdlib = origin.startswith(stdlib) and "site-packages" not in origin
    if origin and not from_stdlib and not any(origin.startswith(folder + os.sep) for folder in spec["path"]):
        problems.setdefault("<isolation>", f"{name} loaded from {origin}")
print(json.dumps(problems))
'''


def check(asset: Path, folders: list[Path], handlers: list[str], environment: dict[str, str]) -> dict[str, str]:
    spec = {"path": [str(asset), *map(str, folders)], "asset": str(asset), "handlers": handlers,
            "local_only": sorted(LOCAL_ONLY_IMPORTS)}
    completed = subprocess.run([sys.executable, "-I", "-S", "-B", "-c", CHECK, json.dumps(spec)], capture_output=True,
                               text=True, timeout=300, env=environment, cwd=asset)
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def lambda_environment() -> dict[str, str]:
    """What Lambda sets for every function, with no credentials (imports must not call AWS)."""
    return {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_LAMBDA_FUNCTION_NAME": "import-check",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_EXECUTION_ENV": f"AWS_Lambda_{RUNTIME}",
            "LAMBDA_RUNTIME_DIR": "/var/runtime", "LANG": "en_US.UTF-8", "TZ": ":UTC",
            "POWERTOOLS_SERVICE_NAME": "videoflow", "POWERTOOLS_METRICS_NAMESPACE": "VideoFlow",
            "PATH": "/usr/bin:/bin"}


# --- the tests ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def functions(synth) -> list[ZipFunction]:
    found = zip_functions(synth)
    # Every step but the three in the embedding image (keyframe_inference, search_api, publish_results).
    assert len(found) >= 29, [function.handler for function in found]
    return found


def test_every_zip_function_has_the_powertools_layer_and_at_most_the_pandas_layer_beside_it(functions):
    assert {frozenset(function.layers) for function in functions} <= set(LAYER_SETS), [
        (function.handler, function.layers) for function in functions if frozenset(function.layers) not in LAYER_SETS]


# The pandas layer (numpy) is no longer used: the functions that embed run in the embedding image
# (containers/embedding, checked by tests/infra/test_embedding_image.py).
LAYER_SETS = [frozenset({"powertools"})]


@pytest.mark.parametrize("layer_set", LAYER_SETS, ids=["powertools"])
def test_each_handler_imports_with_only_the_runtime_and_its_declared_layers(functions, layer_set):
    group = [function for function in functions if frozenset(function.layers) == layer_set]
    assert group, f"no function has exactly the layers {sorted(layer_set)}"
    failures = {}
    # One interpreter per code asset and layer list (in the order the functions declare them).
    for asset, layers, versions in sorted({(f.asset, f.layers, f.layer_versions) for f in group}):
        members = [f for f in group if (f.asset, f.layers, f.layer_versions) == (asset, layers, versions)]
        folders = [layer_folder(name, version) for name, version in zip(layers, versions, strict=True)]
        folders.append(runtime_folder())
        failures.update(check(asset, folders, sorted(function.handler for function in members), lambda_environment()))

    known = {handler for handler in failures if handler in KNOWN_FAILURES and KNOWN_FAILURES[handler][0] in
             failures[handler]}
    unexpected = {handler: reason for handler, reason in failures.items() if handler not in known}
    assert not unexpected, "handlers that fail in their deployed environment (runtime SDK " + \
        f"{', '.join(RUNTIME_SDK)}; layers {', '.join(sorted(layer_set))}):\n" + \
        "\n".join(f"  {handler}: {reason}" for handler, reason in sorted(unexpected.items()))
    fixed = {function.handler for function in group} & set(KNOWN_FAILURES) - set(failures)
    assert not fixed, f"these now import in their deployed environment: remove them from KNOWN_FAILURES: {fixed}"
    if known:
        pytest.xfail("; ".join(f"{handler}: {KNOWN_FAILURES[handler][1]}" for handler in sorted(known)))


def test_a_function_without_the_pandas_layer_cannot_import_numpy(functions):
    """The check would catch a numpy import in a function without the layer: numpy is not provided there."""
    function = next(function for function in functions if function.layers == ("powertools",))
    folders = [layer_folder("powertools", function.layer_versions[0]), runtime_folder()]
    spec = {"path": [str(function.asset), *map(str, folders)]}
    program = "import json, sys; sys.path[:0] = json.loads(sys.argv[1])['path']\ntry:\n    import numpy\n" \
              "except ImportError:\n    print('absent')\nelse:\n    print(numpy.__file__)"
    completed = subprocess.run([sys.executable, "-I", "-S", "-B", "-c", program, json.dumps(spec)], capture_output=True,
                               text=True, timeout=60, env=lambda_environment())
    assert completed.stdout.strip() == "absent", completed.stdout + completed.stderr


def test_the_project_tests_with_the_powertools_release_its_layer_holds():
    from importlib.metadata import version

    from stacks.config import VideoFlowConfig

    assert version("aws-lambda-powertools") == POWERTOOLS_RELEASES[VideoFlowConfig().powertools_layer_version]
