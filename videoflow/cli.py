"""`videoflow`: run the pipeline locally, make a sample, synthesize the stack."""

import argparse
import json
import sys
from pathlib import Path

EXIT_COMPLETED, EXIT_FAILED, EXIT_REJECTED = 0, 1, 2
DEFAULT_OUT = Path("videoflow-out")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="videoflow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="process a video with the synthesized workflow on this machine")
    run.add_argument("video", type=Path)
    run.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results go to OUT/<job_id>/ (default %(default)s)")
    demo = commands.add_parser("demo", help="run on VIDEO, or on a generated sample when none is given")
    demo.add_argument("video", type=Path, nargs="?")
    demo.add_argument("--out", type=Path, default=DEFAULT_OUT)
    sample = commands.add_parser("sample", help="write a generated sample video")
    sample.add_argument("path", type=Path)
    sample.add_argument("--seconds", type=int, default=20)
    synth = commands.add_parser("synth", help="synthesize the CDK app (cdk-nag findings fail it)")
    synth.add_argument("--out", type=Path, default=Path("cdk.out"))
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
    if args.command == "demo" and args.video is None:
        from videoflow.sample import make_sample

        args.video = make_sample(args.out / "sample" / "sample talk.mp4")
        print(f"generated a sample video: {args.video}")
    return run_video(args.video, args.out)


def run_video(video: Path, out: Path) -> int:
    from videoflow.local.mediaconvert import create_job_sync
    from videoflow.local.runner import LocalPipeline
    from videoflow.progress import ProgressDisplay

    if not video.is_file():
        print(f"REJECTED: {video} is not a file", file=sys.stderr)
        return EXIT_REJECTED
    display = ProgressDisplay()
    print(f"VideoFlow: processing {video.name} locally (synthesized workflow on moto)", file=sys.stderr)
    adapters = {"mediaconvert:createJob.sync": lambda request: create_job_sync(request, on_progress=display.transcode)}
    with LocalPipeline(adapters=adapters) as pipeline:
        submitted = pipeline.submit(video)
        execution = pipeline.wait(submitted.job_id, on_progress=display)
        try:
            folder = pipeline.export(submitted.job_id, out)
        except Exception as error:  # no manifest: the failure handler itself could not run
            print(f"FAILED: the workflow ended {execution['status']} without a manifest ({error})")
            return EXIT_FAILED
    manifest = json.loads((folder / "manifest.json").read_text())
    status = manifest["status"]
    if status == "COMPLETED":
        derivatives = manifest["derivatives"]
        print(f"COMPLETED: {manifest['source']['name']} → {folder}/")
        print(f"  proxy  {derivatives['proxy']}")
        print(f"  audio  {derivatives['audio'] or '(none: the source has no audio)'}")
        print(f"  frames {len(derivatives['frames'])} in {folder / 'frames'}/")
        print("  manifest.json, events.jsonl")
        return EXIT_COMPLETED
    print(f"{status}: {manifest['reason']}")
    print(f"  details: {folder}/manifest.json and events.jsonl")
    return EXIT_REJECTED if status == "REJECTED" else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
