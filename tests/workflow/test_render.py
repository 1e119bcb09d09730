"""Judgment and render, run for real on a generated talk: plan, render (Lambda and Fargate paths), check, publish.

The faults injected into the render (a worker killed mid-clip, a clip corrupted after its
render) are in test_render_faults.py, so the two files run on separate test workers.
"""

import pytest

from tests.workflow.rendering import (
    SMALL_CLIPS,
    clip_objects,
    ffprobe,
    integrated_loudness_lufs,
    needs_speech,
)

pytestmark = needs_speech


SHORTER_CLIPS = {"PLAN_MAX_CLIP_S": "18"}  # the full 1080x1920 render, of a shorter clip


def test_given_a_talk_with_speech_when_it_runs_then_each_planned_clip_is_rendered_checked_and_published(run_job, talk):
    job = run_job(talk, environment=SHORTER_CLIPS)

    assert job.execution["status"] == "SUCCEEDED"
    plan, clips = job.manifest["plan"], job.manifest["clips"]
    assert plan["planner"] == "local" and 1 <= len(plan["clips"]) <= 5
    for planned in plan["clips"]:
        assert 15 <= planned["end_s"] - planned["start_s"] <= 18
        assert planned["title"].strip() and planned["rationale"].strip() and 0 <= planned["score"] <= 1
    assert [(c["start_s"], c["end_s"]) for c in clips] == [(p["start_s"], p["end_s"]) for p in plan["clips"]]
    for clip in clips:
        probe = ffprobe(job.folder / clip["path"])
        video = next(s for s in probe["streams"] if s["codec_type"] == "video")
        audio = next(s for s in probe["streams"] if s["codec_type"] == "audio")
        assert (video["codec_name"], video["width"], video["height"]) == ("h264", 1080, 1920)
        assert (clip["aspect"], clip["width"], clip["height"], clip["rendered_on"]) == ("9:16", 1080, 1920, "lambda")
        assert float(video["duration"]) == pytest.approx(clip["end_s"] - clip["start_s"], abs=0.1)
        assert audio["codec_name"] == "aac"
        thumbnail = next(s for s in ffprobe(job.folder / clip["thumbnail"])["streams"])
        assert (thumbnail["codec_name"], thumbnail["width"], thumbnail["height"]) == ("mjpeg", 540, 960)
    assert integrated_loudness_lufs(job.folder / clips[0]["path"]) == pytest.approx(-14, abs=1.5)
    assert job.manifest["summary"]["title"].strip()
    assert job.event_types.count("render.recorded") == len(clips)
    assert "job.notified" in job.event_types
    assert clip_objects(job) == sorted(f"clip-{i:02d}-9x16.{kind}" for i in range(len(clips))
                                       for kind in ("jpg", "mp4"))
    assert_chapters_and_timeline(job)


def assert_chapters_and_timeline(job):
    """Chapters cover the video, titled; the three timeline files load in OTIO and hold every shot and every rendered
    clip (named with its aspect, numbered within it) on its frame at the proxy's rate, their media found in the exported
    folder."""
    from lambdas.common.timeline import read

    manifest = job.manifest
    chapters = manifest["chapters"]
    assert chapters and chapters[0]["start_s"] == 0 and all(c["title"].strip() and c["summary"] for c in chapters)
    assert all(a["end_s"] == b["start_s"] for a, b in zip(chapters, chapters[1:], strict=False))
    numerator, denominator = next(s for s in ffprobe(job.folder / manifest["derivatives"]["proxy"])["streams"]
                                  if s["codec_type"] == "video")["r_frame_rate"].split("/")
    fps = int(numerator) / int(denominator)

    def frames(start_s, end_s):
        return round(start_s * fps), round(end_s * fps) - round(start_s * fps)

    for kind, name in manifest["timeline"].items():
        timeline = read((job.folder / name).read_text(), kind, fps)
        placed = {clip.name: clip for clip in timeline.find_clips()}
        shots = [placed[f"Shot {n}"] for n in range(1, len(manifest["shots"]) + 1)]
        assert [frames(s["start_s"], s["end_s"])[0] for s in manifest["shots"]] == [
            round(clip.range_in_parent().start_time.value) for clip in shots], kind
        assert all((job.folder / clip.media_reference.target_url).is_file() for clip in shots)
        if kind == "edl":
            located = [marker.name for clip in shots for marker in clip.markers]
            assert all(any(name.startswith(f"CLIP {n}:") for name in located)
                       for n in range(1, len(manifest["plan"]["clips"]) + 1))
            continue
        numbered = [(number, clip) for aspect in dict.fromkeys(clip["aspect"] for clip in manifest["clips"])
                    for number, clip in enumerate([c for c in manifest["clips"] if c["aspect"] == aspect], start=1)]
        for number, clip in numbered:
            (item,) = [item for name, item in placed.items() if name.startswith(f"Clip {number} ({clip['aspect']}):")]
            assert (job.folder / item.media_reference.target_url).samefile(job.folder / clip["path"])
            placed_at = item.range_in_parent()
            assert (round(placed_at.start_time.value), round(placed_at.duration.value)) == frames(
                clip["start_s"], clip["end_s"]), kind


def test_given_bedrock_is_configured_when_a_talk_runs_then_its_recorded_plan_is_validated_rendered_and_costed(
        run_job, talk):
    from lambdas.common import model_gateway as gateway
    from tests.bedrock import MODEL_ID, RecordedBedrockFake, recorded

    # The recorded plan was written for a two-minute video: two of its three clips lie past this one's end.
    fake = RecordedBedrockFake(recorded("summary"), recorded("plan"))
    gateway.register_client(fake)
    try:
        # Each clip in two aspects: 540x960 and 960x540.
        job = run_job(talk, environment={"BEDROCK_MODEL_ID": MODEL_ID, **SMALL_CLIPS, "RENDER_ASPECTS": "9:16,16:9"})
    finally:
        gateway.register_client(None)

    assert job.execution["status"] == "SUCCEEDED"
    assert fake.calls == 2  # one summary, one plan: within the job's budget of model calls
    assert job.manifest["summary"]["summarizer"] == "bedrock"
    plan = job.manifest["plan"]
    assert plan["planner"] == "bedrock"
    # The model's 0.5-29.8 s, each edge moved into a pause or onto a cut by the plan check (step 4c).
    assert [(c["start_s"], c["end_s"], c["title"]) for c in plan["clips"]] == [(0.46, 30.99, "Sourdough from scratch")]
    # The one planned clip, rendered once per aspect, each checked at its own frame size and placed on its own track.
    clips = job.manifest["clips"]
    assert [(c["aspect"], c["width"], c["height"], c["start_s"]) for c in clips] == [
        ("9:16", 540, 960, 0.46), ("16:9", 960, 540, 0.46)]
    for clip in clips:
        probe = ffprobe(job.folder / clip["path"])
        video = next(s for s in probe["streams"] if s["codec_type"] == "video")
        assert (video["width"], video["height"]) == (clip["width"], clip["height"])
        assert float(probe["format"]["duration"]) == pytest.approx(30.53, abs=0.1)
    assert clip_objects(job) == ["clip-00-16x9.jpg", "clip-00-16x9.mp4", "clip-00-9x16.jpg", "clip-00-9x16.mp4"]
    assert [e["detail"]["clip"]["aspect"] for e in job.events if e["type"] == "render.recorded"] == ["9:16", "16:9"]
    assert_chapters_and_timeline(job)
    calls = [e for e in job.events if e["type"] == "model.called"]
    assert [e["detail"]["purpose"] for e in calls] == ["summarize_video", "plan_clips"]
    assert all(e["detail"]["model_id"] == MODEL_ID and len(e["detail"]["prompt_sha256"]) == 64 for e in calls)
    validated = next(e for e in job.events if e["type"] == "plan.validated")
    assert (validated["detail"]["draft_clips"], validated["detail"]["clips"]) == (3, 1)
    assert job.manifest["cost"]["by_service"]["bedrock"]["usd"] > 0
