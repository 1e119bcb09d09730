"""`videoflow cost JOB`: a job's cost by service, and the worked estimates the README quotes.

    videoflow cost <job_id> [--out DIR]    prints DIR/<job_id>/manifest.json's "cost" as a table
    videoflow cost --idle [--json] [--template FILE]
                                           the stack's cost per month with no job (videoflow/idle_cost.py),
                                           from FILE or from a synthesis of the app
    videoflow cost --video-hour [--json]   what one hour of video costs to process, with each transcriber

The figures come from lambdas/common/prices.py (one versioned table, us-east-1, on-demand,
approximate); `estimate_per_video_hour()` uses the same table and the same arithmetic
(`compute_cost`) as the ledger of a real job.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lambdas.common.job_timing import seconds_until_embedding, whisper_seconds
from lambdas.common.prices import PRICES, Prices
from lambdas.record_cost.pricing import (
    SERVICES,
    WORKER_S_PER_FRAME,
    WORKER_START_S,
    FargateTasks,
    LambdaInvocation,
    MediaConvertOutput,
    ModelCall,
    SageMakerShare,
    Usage,
    compute_cost,
)
from lambdas.record_cost.transcription import WHISPER_PURPOSE
from stacks.config import WHISPER_MEMORY_MB, WHISPER_VCPU

EXIT_OK, EXIT_MISSING = 0, 2
DEFAULT_OUT = Path("videoflow-out")


def add_cost_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `cost` subcommand, for videoflow/cli.py's subparsers."""
    cost = commands.add_parser("cost", help="print a processed job's cost by service, or with --idle the "
                                            "stack's cost per month with no job (USD, approximate)")
    cost.add_argument("job_id", metavar="JOB", nargs="?")
    cost.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the job's folder is (default %(default)s)")
    cost.add_argument("--idle", action="store_true",
                      help="price the synthesized template's resources that bill with no job running")
    cost.add_argument("--template", type=Path, metavar="FILE",
                      help="with --idle: a CloudFormation template (default: synthesize the app)")
    cost.add_argument("--video-hour", action="store_true",
                      help="price one hour of 1080p video with speech, with Amazon Transcribe and with whisper")
    cost.add_argument("--instance-type", default="ml.g5.xlarge",
                      help="with --video-hour: the endpoint's instance type the job holds (default %(default)s)")
    cost.add_argument("--json", action="store_true", help="with --idle or --video-hour: print JSON, not a table")
    return cost


def run_cost(args: argparse.Namespace) -> int:
    """Dispatch the parsed `cost` subcommand: a job's cost, or with --idle the idle cost."""
    if args.idle:
        return idle_command(args.template, as_json=args.json)
    if args.video_hour:
        return video_hour_command(as_json=args.json, instance_type=args.instance_type)
    if args.job_id is None:
        print("Pass a JOB id, or --idle for the stack's cost with no job.", file=sys.stderr)
        return EXIT_MISSING
    return cost_command(args.job_id, args.out)


def idle_command(template_path: Path | None = None, *, as_json: bool = False) -> int:
    """Print the idle cost per month of the template at template_path (default: the synthesized app)."""
    from videoflow.idle_cost import format_idle_table, idle_cost

    if template_path is None:
        from videoflow.local.synth import SynthError, load_template

        try:
            template = load_template()
        except SynthError as error:
            print(error, file=sys.stderr)
            return 1
    elif not Path(template_path).is_file():
        print(f"No template at {template_path}.", file=sys.stderr)
        return EXIT_MISSING
    else:
        template = json.loads(Path(template_path).read_text())
    cost = idle_cost(template)
    if as_json:
        print(json.dumps(cost.model_dump(mode="json"), indent=2))
    else:
        for line in format_idle_table(cost):
            print(line)
    return EXIT_OK


def video_hour_command(*, as_json: bool = False, instance_type: str = "ml.g5.xlarge") -> int:
    """Print the per-video-hour estimate with each transcriber (the README's table)."""
    estimates = {transcriber: estimate_per_video_hour(transcriber=transcriber, instance_type=instance_type)
                 for transcriber in TRANSCRIBERS}
    if as_json:
        print(json.dumps({name: {key: value for key, value in estimate.items() if key != "report"}
                          for name, estimate in estimates.items()}, indent=2))
    else:
        for line in format_video_hour_table(estimates):
            print(line)
    return EXIT_OK


def format_video_hour_table(estimates: dict[str, dict]) -> list[str]:
    """One row per service, one column per transcriber, then the totals with and without the endpoint's share."""
    names = list(estimates)
    first = estimates[names[0]]
    lines = [f"One hour of 1080p30 video with speech, in {first['currency']}, approximate (prices "
             f"{first['prices_version']}, endpoint {first['instance_type']}; videoflow.cost.estimate_per_video_hour)",
             f"  {'service':<15}" + "".join(f" {name:>11}" for name in names)]
    for service in SERVICES:
        lines.append(f"  {service:<15}" + "".join(f" {_usd(estimates[name]['by_service'][service]['usd']):>11}"
                                                   for name in names))
    lines.append(f"  {'total':<15}" + "".join(f" {_usd(estimates[name]['total_usd']):>11}" for name in names))
    lines.append(f"  {'w/o sagemaker':<15}" + "".join(
        f" {_usd(estimates[name]['total_without_sagemaker_share_usd']):>11}" for name in names))
    lines.append("  not included: rendering the clips, once per planned clip and aspect (render_aspects: 9:16, 1:1, "
                 "16:9), so that cost grows with the number of aspects")
    return lines


def cost_command(job_id: str, out_dir: Path) -> int:
    """Print DIR/<job_id>/manifest.json's cost as a table; 2 when the job or its cost is missing."""
    folder = Path(out_dir) / job_id
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        print(f"No job folder with a manifest at {folder}/: run `videoflow run VIDEO --out {out_dir}` first, "
              "or pass --out DIR.", file=sys.stderr)
        return EXIT_MISSING
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError as error:
        print(f"{manifest_path} is not JSON: {error}", file=sys.stderr)
        return EXIT_MISSING
    cost = manifest.get("cost") if isinstance(manifest, dict) else None
    if not isinstance(cost, dict) or not isinstance(cost.get("by_service"), dict):
        print(f"Job {job_id} has no cost in {manifest_path}: the cost is recorded when the workflow ends "
              "(jobs processed before the cost ledger existed have none).", file=sys.stderr)
        return EXIT_MISSING
    for line in format_cost_table(cost):
        print(line)
    note = renders_note(manifest.get("clips"))
    if note:
        print(note)
    return EXIT_OK


def renders_note(clips: list | None) -> str | None:
    """How many renders the job made: each planned clip once per aspect, which is what its render cost scales with."""
    clips = [clip for clip in clips or [] if isinstance(clip, dict)]
    if not clips:
        return None
    aspects = list(dict.fromkeys(clip.get("aspect") or "?" for clip in clips))
    spans = {(clip.get("start_s"), clip.get("end_s")) for clip in clips}
    return (f"  renders: {len(spans)} clip{'s' if len(spans) != 1 else ''} x {len(aspects)} aspect"
            f"{'s' if len(aspects) != 1 else ''} ({', '.join(aspects)}) = {len(clips)}; the render cost (Lambda "
            "render_short_clip, Fargate render tasks) grows with the number of aspects (render_aspects)")


def format_cost_table(cost: dict) -> list[str]:
    """The report as aligned lines: one per service, then the total."""
    currency = cost.get("currency", "USD")
    lines = [
        f"Cost of job {cost.get('job_id', '?')} in {currency}, approximate "
        f"(prices {cost.get('prices_version', '?')}, {cost.get('prices_region', 'us-east-1')}, on-demand list prices)",
        f"  {'service':<15} {'quantity':>12}  {'unit':<12} {currency:>11}",
    ]
    by_service = cost["by_service"]
    ordered = [service for service in SERVICES if service in by_service] + \
        [service for service in by_service if service not in SERVICES]
    for service in ordered:
        entry = by_service[service] or {}
        lines.append(f"  {service:<15} {_quantity(entry.get('quantity', 0)):>12}  {entry.get('unit', ''):<12} "
                     f"{_usd(entry.get('usd', 0)):>11}")
    total = cost.get("total_usd", sum((entry or {}).get("usd", 0) for entry in by_service.values()))
    lines.append(f"  {'total':<15} {'':>12}  {'':<12} {_usd(total):>11}")
    return lines


def _quantity(value) -> str:
    value = float(value or 0)
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.4f}" if value else "0"


def _usd(value) -> str:
    return f"{float(value or 0):.6f}"


# --- worked estimates ---------------------------------------------------------------------------

# Lambda run time per invocation for a one-hour video (ms); the memory comes from stacks/steps.py.
ESTIMATE_LAMBDA_MS = {
    "start_pipeline": 300,
    "validate_upload": 500,
    "probe_media": 2_000,
    "enforce_limits": 100,
    "register_job": 200,
    "check_duplicate": 200,
    "warm_inference": 500,
    "build_mediaconvert_job": 200,
    "record_derivatives": 3_000,
    "build_frame_manifest": 2_000,
    "normalize_transcript": 5_000,
    "build_captions": 1_000,
    "aggregate_frames": 10_000,
    "detect_shots": 1_000,
    "keyframe_inference": 30_000,
    "publish_results": 1_000,
    "release_inference": 500,
    "record_cost": 1_000,
}
ESTIMATE_RECORD_COST_MEMORY_MB = 256
TRANSCRIBERS = ("transcribe", "whisper")
# Amazon Transcribe's batch turnaround for an hour of audio, as the estimate assumes it (the service does
# not publish one; 15 min is a round, conservative figure). The whisper job's comes from its engine speed.


def estimate_per_video_hour(prices: Prices = PRICES, *, instance_type: str = "ml.g5.xlarge",
                            model_id: str | None = "anthropic.claude-3-5-haiku-20241022-v1:0",
                            function_memory_mb: dict[str, int] | None = None,
                            transcriber: str = "transcribe", scale_up_s: float = 360.0) -> dict:
    """What one hour of 1080p video with speech costs to process, by service, with the same arithmetic as a job.

    Assumptions (each is a round figure; change one and the function shows its effect):

    * The video: 60 min (3,600 s), 1920x1080 at 30 fps (not over 30, so no frame-rate
      multiplier), stereo sound with speech throughout; it is not a duplicate.
    * MediaConvert, one job with three outputs, each billed for the full hour: the 540p proxy
      (SD, AVC, Basic tier: single-pass HQ quality tuning), the mono WAV (audio-only rate plus
      the loudness-normalization add-on) and the JPEG frame captures (assumed billed as an SD
      output, see lambdas/common/prices.py). If AWS bills the job at the Professional tier
      instead, the MediaConvert line roughly doubles.
    * Frames: one every 2 s = 1,800 frames, in chunks of 60 = 30 Batch array children on
      Fargate Spot, 1 vCPU and 2 GB each, each running 45 s start-up + 0.1 s per frame = 51 s,
      billed 60 s (Fargate's minimum), each with a public IPv4 address while it runs.
    * `transcriber="transcribe"`: Amazon Transcribe on the 60 min of clean audio, batch, tier 1,
      taking 15 min. `transcriber="whisper"`: no Transcribe; one Batch job on Fargate Spot,
      2 vCPU and 4 GB with a public IPv4 address, for 60 s of start-up + 0.2 s per second of
      audio = 420 s (lambdas/common/job_timing.py: WHISPER_START_S, WHISPER_S_PER_AUDIO_S).
    * Step Functions: the 25 states of a completed job plus 5 per Transcribe poll; Transcribe
      taking 15 min means 34 polls with the 1-2-4-8-16-30 s back-off: 25 + 5 x 34 + 1 (this
      step) = 196 transitions. With whisper, one Batch task and one Pass instead: 25 + 1 + 1 = 27.
    * Lambda: one invocation of each step, with the run times in ESTIMATE_LAMBDA_MS (the longest:
      keyframe_inference 30 s embedding about 900 transcript windows, aggregate_frames 10 s),
      at the memory sizes of stacks/steps.py.
    * SageMaker: the job holds one copy of the model (1 instance of `instance_type`) alone. It asks for
      it (a scheduled action, lambdas/common/job_timing.py) `scale_up_s` before it expects to embed,
      after MediaConvert (10 min) and the transcription (Transcribe 15 min, whisper 7 min), so the
      instance runs for the copy's start (6 min by default) + 1 min of embedding and the release = 7 min.
      The endpoint scales to zero by default (inference_min_instances 0), so this instance runs for
      the job: an extra charge, shared only when jobs overlap.
    * Bedrock (issue 4's judgment, when Bedrock is configured; `model_id=None` leaves it out):
      a summary and a plan, each reading the transcript (about 9,000 words, 12,000 tokens) and
      the shot signals (3,000 tokens): 30,000 input tokens and 2,400 output tokens.
    * S3: 1,800 frame PUTs + proxy, audio, 30 chunk results and 10 JSON documents; 1,800 frame
      GETs by the workers + 30 chunk reads + about 70 others. DynamoDB: about 20 events.
    * Not included: rendering clips (once per planned clip and aspect, render_aspects), S3 storage, CloudWatch
      Logs, data transfer out.
    """
    if function_memory_mb is None:
        from stacks.steps import STEPS  # the deployed memory sizes

        function_memory_mb = {step.function: step.memory_mb for step in STEPS}
        function_memory_mb.setdefault("record_cost", ESTIMATE_RECORD_COST_MEMORY_MB)
    if transcriber not in TRANSCRIBERS:
        raise ValueError(f"transcriber must be one of {', '.join(TRANSCRIBERS)}, not {transcriber!r}")
    duration_s, frames, frames_per_chunk = 3600.0, 1800, 60
    chunks = frames // frames_per_chunk
    whisper = transcriber == "whisper"
    polls = 34
    # The copy is asked for scale_up_s before the job embeds (or at ingest, for a job shorter than that).
    held_s = min(seconds_until_embedding(duration_s, transcriber), scale_up_s) + 60
    transitions = 25 + 1 + 1 if whisper else 25 + 5 * polls + 1
    whisper_job = [FargateTasks(purpose=WHISPER_PURPOSE, task_seconds=[whisper_seconds(duration_s)],
                                vcpu=WHISPER_VCPU, memory_gb=WHISPER_MEMORY_MB / 1024)] if whisper else []
    usage = Usage(
        job_id=f"estimate: one hour of 1080p30 video with speech, transcriber {transcriber}",
        mediaconvert=[
            MediaConvertOutput(name="proxy", rate="avc_sd_basic", duration_s=duration_s),
            MediaConvertOutput(name="audio", rate="audio_only", duration_s=duration_s,
                               add_ons=["audio_normalization"]),
            MediaConvertOutput(name="frames", rate="frame_capture", duration_s=duration_s),
        ],
        lambdas=[LambdaInvocation(function=name, duration_ms=ms, memory_mb=function_memory_mb.get(name, 256),
                                  measured_by="assumed") for name, ms in ESTIMATE_LAMBDA_MS.items()],
        state_transitions=transitions,
        fargate=[FargateTasks(purpose="frame workers",
                              task_seconds=[WORKER_START_S + frames_per_chunk * WORKER_S_PER_FRAME] * chunks,
                              vcpu=1, memory_gb=2), *whisper_job],
        transcribe_audio_s=0.0 if whisper else duration_s,
        sagemaker=SageMakerShare(instance_type=instance_type, held_s=held_s, instances=1, jobs_sharing=1,
                                 idle_instances=0),
        model_calls=[ModelCall(model_id=model_id, input_tokens=15_000, output_tokens=400),
                     ModelCall(model_id=model_id, input_tokens=15_000, output_tokens=2_000)] if model_id else [],
        s3_put_requests=frames + 2 + chunks + 10,
        s3_get_requests=frames + chunks + 70,
        dynamodb_write_units=35,
        dynamodb_read_units=25,
    )
    report = compute_cost(usage, prices)
    without_sagemaker = report.total_usd - report.by_service["sagemaker"].usd
    return {
        "video": {"duration_s": duration_s, "width": 1920, "height": 1080, "frame_rate": 30, "speech": True},
        "transcriber": transcriber,
        "instance_type": instance_type,
        "prices_version": report.prices_version,
        "currency": report.currency,
        "by_service": {service: {"quantity": cost.quantity, "unit": cost.unit, "usd": cost.usd}
                       for service, cost in report.by_service.items()},
        "total_usd": report.total_usd,
        "total_without_sagemaker_share_usd": round(without_sagemaker, 9),
        "report": report.model_dump(mode="json"),
    }


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point (until videoflow/cli.py has the subcommand): python -m videoflow.cost JOB."""
    parser = argparse.ArgumentParser(prog="videoflow")
    add_cost_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["cost", *(sys.argv[1:] if argv is None else argv)])
    return run_cost(args)


if __name__ == "__main__":
    sys.exit(main())
