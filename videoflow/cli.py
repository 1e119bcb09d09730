"""`videoflow`: run the pipeline locally, serve its web page, search a job's moments, make a sample, synthesize."""

import argparse
import contextlib
import json
import sys
from pathlib import Path

from lambdas.common.display import shown
from videoflow.cost import add_cost_parser, run_cost

EXIT_COMPLETED, EXIT_FAILED, EXIT_REJECTED = 0, 1, 2
DEFAULT_OUT = Path("videoflow-out")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="videoflow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="process a video with the synthesized workflow on this machine")
    run.add_argument("video", type=Path)
    run.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results go to OUT/<job_id>/ (default %(default)s)")
    run.add_argument("--template", type=Path, metavar="FILE",
                     help="run this synthesized template (in a cdk.out folder, beside its assets) instead of "
                          "synthesizing the app: exactly what `cdk deploy --app` would ship")
    demo = commands.add_parser("demo", help="run on VIDEO, or on a generated sample when none is given")
    demo.add_argument("video", type=Path, nargs="?")
    demo.add_argument("--out", type=Path, default=DEFAULT_OUT)
    sample = commands.add_parser("sample", help="write a generated sample video")
    sample.add_argument("path", type=Path)
    sample.add_argument("--seconds", type=int, default=20)
    synth = commands.add_parser("synth", help="synthesize the CDK app (cdk-nag findings fail it)")
    synth.add_argument("--out", type=Path, default=Path("cdk.out"))
    search = commands.add_parser("search", help="find the moments of a processed job that match a text query")
    search.add_argument("job_id", metavar="JOB")
    search.add_argument("query")
    search.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the job's folder is (default %(default)s)")
    search.add_argument("-k", type=int, default=5, help="how many moments, 1 to 50 (default %(default)s)")
    search.add_argument("--json", action="store_true", help="print the API's JSON answer instead of lines")
    search.add_argument("--server", metavar="URL",
                        help="an inference server already running (default: start the local one)")
    add_cost_parser(commands)
    serve = commands.add_parser("serve", help="the jobs API, live status and a web page on localhost")
    serve.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1, 0 for any free one (default %(default)s)")
    serve.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results go to OUT/<job_id>/ (default %(default)s)")
    args = parser.parse_args(argv)

    if args.command == "sample":
        from videoflow.sample import make_sample

        print(make_sample(args.path, seconds=args.seconds))
        return 0
    if args.command == "synth":
        from videoflow.local.synth import SynthError, synthesize

        try:
            print(f"synthesized into {synthesize(args.out, force=True)}")
        except SynthError as error:
            print(error, file=sys.stderr)
            return 1
        return 0
    if args.command == "cost":
        return run_cost(args)
    if args.command == "serve":
        from videoflow.serve import serve as serve_command

        return serve_command(args.port, args.out)
    if args.command == "search":
        return search_job(args.job_id, args.query, out=args.out, k=args.k, as_json=args.json, server=args.server)
    if args.command == "demo" and args.video is None:
        from videoflow.sample import make_sample

        args.video = make_sample(args.out / "sample" / "sample talk.mp4")
        print(f"generated a sample video: {args.video}")
    return run_video(args.video, args.out, template=getattr(args, "template", None))


def run_video(video: Path, out: Path, template: Path | None = None) -> int:
    from videoflow.local.mediaconvert import create_job_sync
    from videoflow.local.runner import LocalPipeline
    from videoflow.progress import ProgressDisplay

    if not video.is_file():
        print(f"REJECTED: {shown(video)} is not a file", file=sys.stderr)
        return EXIT_REJECTED
    display = ProgressDisplay()
    print(f"VideoFlow: processing {shown(video.name)} locally (synthesized workflow on moto)", file=sys.stderr)
    adapters = {"mediaconvert:createJob.sync": lambda request: create_job_sync(request, on_progress=display.transcode)}
    if template is not None and not template.is_file():
        print(f"no template {template}", file=sys.stderr)
        return EXIT_FAILED
    outdir = template.resolve().parent if template else None
    with LocalPipeline(outdir, adapters=adapters, template_file=template) as pipeline:
        submitted = pipeline.submit(video)
        execution = pipeline.wait(submitted.job_id, on_progress=display)
        for denied in pipeline.access.denials + pipeline.delivery.undelivered:
            print(f"AccessDenied (AWS would refuse this too): {denied}", file=sys.stderr)
        try:
            folder = pipeline.export(submitted.job_id, out)
        except Exception as error:  # no manifest: the failure handler itself could not run
            print(f"FAILED: the workflow ended {execution['status']} without a manifest ({error})")
            return EXIT_FAILED
    manifest = json.loads((folder / "manifest.json").read_text())
    status = manifest["status"]
    if status == "COMPLETED":
        derivatives = manifest["derivatives"]
        print(f"COMPLETED: {shown(manifest['source']['name'])} → {shown(folder)}/")
        print(f"  proxy  {derivatives['proxy']}")
        print(f"  audio  {derivatives['audio'] or '(none: the source has no audio)'}")
        print(f"  frames {len(derivatives['frames'])} in {folder / 'frames'}/")
        if manifest.get("transcript"):
            words = len(json.loads((folder / manifest["transcript"]).read_text())["words"])
            captions = manifest.get("captions") or {}
            print(f"  transcript {manifest['transcript']} ({words} words)"
                  + (f", captions {captions['vtt']} {captions['srt']}" if captions.get("vtt") else ", no captions"))
        if manifest.get("shots"):
            print(f"  shots  {len(manifest['shots'])}, frame analysis {manifest['frames_analysis']}")
        if manifest.get("summary"):
            print(f"  summary \"{shown(manifest['summary']['title'])}\" ({manifest['summary']['summarizer']})")
        if manifest.get("chapters"):
            print(f"  chapters {len(manifest['chapters'])}: "
                  + "; ".join(shown(chapter["title"]) for chapter in manifest["chapters"][:5])
                  + ("; …" if len(manifest["chapters"]) > 5 else ""))
        for line in clip_lines(manifest):
            print(line)
        if manifest.get("cost"):
            print(f"  cost   ${manifest['cost']['total_usd']:.4f} in AWS (videoflow cost {manifest['job_id']})")
        if manifest.get("search_index"):
            print(f"  search: videoflow search {manifest['job_id']} \"what to look for\" --out {folder.parent}")
        if manifest.get("timeline"):
            print(f"  timeline {' '.join(manifest['timeline'].values())} (OpenTimelineIO, EDL, FCP XML)")
        print("  manifest.json, events.jsonl")
        return EXIT_COMPLETED
    print(f"{status}: {shown(manifest['reason'])}")
    print(f"  details: {folder}/manifest.json and events.jsonl")
    return EXIT_REJECTED if status == "REJECTED" else EXIT_FAILED


def clip_lines(manifest: dict) -> list[str]:
    """The run's clips: how many were planned and rendered in which aspects, then one line per rendered file."""
    plan = manifest.get("plan") or {"planner": "none", "clips": []}
    clips = manifest.get("clips", [])
    aspects = [aspect for aspect in dict.fromkeys(clip.get("aspect") for clip in clips) if aspect]
    lines = [f"  clips  {len(plan['clips'])} planned by the {plan['planner']} planner, {len(clips)} rendered"
             + (f" in {', '.join(aspects)}" if aspects else "")]
    # A planned clip is rendered once per aspect: each render is matched to its plan entry by its span.
    scores = {(planned["start_s"], planned["end_s"]): planned.get("score") for planned in plan["clips"]}
    for clip in clips:
        score = scores.get((clip["start_s"], clip["end_s"]))
        lines.append(f"    {clip['path']}  {clip.get('aspect') or '':>4}  {clip['start_s']:.1f}-{clip['end_s']:.1f} s  "
                     f"{clip['width']}x{clip['height']}  \"{shown(clip.get('title', ''))}\""
                     + (f" (score {score:.2f})" if isinstance(score, int | float) else ""))
    return lines


def search_job(job_id: str, query: str, *, out: Path, k: int, as_json: bool, server: str | None) -> int:
    """`videoflow search`: the job's exported index, the query embedded by the inference server (HTTP)."""
    from videoflow.search import (
        MAX_K,
        MAX_QUERY_CHARS,
        EmbeddingFailed,
        HttpEmbedder,
        IndexInvalid,
        InferenceServerFailed,
        InvalidQuery,
        ModelMismatch,
        index_from_json,
        local_inference_server,
        search_text,
    )

    folder = out / job_id
    if not folder.is_dir():
        print(f"No job folder {folder}/: run `videoflow run VIDEO --out {out}` first, or pass --out DIR.",
              file=sys.stderr)
        return EXIT_REJECTED
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    index_path = folder / (manifest.get("search_index") or "index.json")
    if not index_path.is_file():
        print(f"Job {job_id} has no search index ({index_path} is missing): "
              "only a completed job with analysis has one.", file=sys.stderr)
        return EXIT_REJECTED
    if not 1 <= k <= MAX_K:
        print(f"-k must be between 1 and {MAX_K}, not {k}.", file=sys.stderr)
        return EXIT_REJECTED
    if not query.strip() or len(query.strip()) > MAX_QUERY_CHARS:
        print(f"The query must have 1 to {MAX_QUERY_CHARS} characters.", file=sys.stderr)
        return EXIT_REJECTED
    try:
        index = index_from_json(json.loads(index_path.read_text()))
    except (ValueError, IndexInvalid) as error:
        print(f"The search index {index_path} is unreadable: {error}", file=sys.stderr)
        return EXIT_REJECTED

    try:
        with contextlib.ExitStack() as stack:
            if server is None:
                print("starting the local inference server…", file=sys.stderr)
                server = stack.enter_context(local_inference_server())
            embedder = HttpEmbedder(server)
            stack.callback(embedder.close)
            moments = search_text(index, query, embedder, k=k)
    except (InvalidQuery, ModelMismatch) as error:
        print(f"Cannot search: {error}", file=sys.stderr)
        return EXIT_REJECTED
    except (InferenceServerFailed, EmbeddingFailed) as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return EXIT_FAILED

    if as_json:
        answer = {"job_id": job_id, "query": query.strip(), "moments": [m.model_dump() for m in moments]}
        print(json.dumps(answer, indent=2, ensure_ascii=False))
        return 0
    if not moments:
        print(f"No moments in job {job_id}: its index is empty.")
        return 0
    for moment in moments:
        print(f"  {moment.start_s:.1f}–{moment.end_s:.1f} s  {moment.score:.2f}  {_shorten(moment.text)}")
    return 0


def _shorten(text: str, limit: int = 100) -> str:
    text = shown(" ".join(text.split()))
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


if __name__ == "__main__":
    sys.exit(main())
