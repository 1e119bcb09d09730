"""The timeline editors open (lambdas/common/timeline.py), read back through OpenTimelineIO's own adapters.

Each format is written, then read by the adapter that reads it (otio_json, cmx_3600, fcp_xml),
and every shot, rendered clip, chapter and planned clip is looked for at the frame the source
times give at the proxy's rate: round(t x fps), the first frame at or after a cut.
"""

from dataclasses import replace

import pytest

from lambdas.common.models import Chapter
from lambdas.common.timeline import (
    Cue,
    PlannedClip,
    RenderedClip,
    TimelineSource,
    edl_rate,
    parse_srt,
    read,
    render,
    timeline_clock,
)

NTSC = 30000 / 1001
SHOTS = [(0.0, 9.2), (9.2, 18.04), (18.04, 27.4), (27.4, 36.04)]
CHAPTERS = [Chapter(start_s=0.0, end_s=20.1, title="John Dashwood", summary="He considers what to do for them."),
            Chapter(start_s=20.1, end_s=36.04, title="Amiable woman", summary="He might have been made amiable.")]
PLAN = [PlannedClip(0.5, 19.0, "The promise", "Opens on the question of money.", 0.71),
        PlannedClip(19.0, 35.96, "A better marriage", "A complete thought about his wife.", 0.51)]
CLIPS = [RenderedClip("clips/clip-00.mp4", 0.5, 19.0, "The promise"),
         RenderedClip("clips/clip-01.mp4", 19.0, 35.96, "A better marriage")]
CUES = [Cue(0.5, 3.24, "And Mr. John Dashwood had then"), Cue(3.3, 6.02, "leisure to consider")]


def source(frame_rate: float) -> TimelineSource:
    return TimelineSource(name="reading.mp4", duration_s=36.04, frame_rate=frame_rate, proxy="proxy.mp4",
                          has_audio=True, shots=SHOTS, chapters=CHAPTERS, plan=PLAN, clips=CLIPS, captions=CUES,
                          metadata={"job_id": "job-timeline-01", "original": {"name": "reading.mp4"}})


def frame(seconds: float, fps: float) -> int:
    return round(seconds * fps)


def record(item) -> tuple[int, int]:
    """An item's first frame and its frame count where it sits in the timeline."""
    placed = item.range_in_parent()
    return round(placed.start_time.value), round(placed.duration.value)


@pytest.fixture(scope="module", params=[25.0, NTSC], ids=["25fps", "29.97fps"])
def written(request):
    return request.param, render(source(request.param))


@pytest.mark.parametrize("kind", ["otio", "edl", "fcpxml"])
def test_every_shot_is_a_cut_of_the_proxy_on_its_first_frame_in_each_format(written, kind):
    fps, texts = written

    timeline = read(texts[kind], kind, timeline_clock(fps).rate)

    shots = [clip for clip in timeline.find_clips() if clip.name.startswith("Shot")]
    assert [clip.name for clip in shots] == ["Shot 1", "Shot 2", "Shot 3", "Shot 4"]
    expected = [(frame(start, fps), frame(end, fps) - frame(start, fps)) for start, end in SHOTS]
    assert [record(clip) for clip in shots] == expected
    assert [round(clip.source_range.start_time.value) for clip in shots] == [start for start, _ in expected]
    assert {clip.media_reference.target_url for clip in shots} == {"proxy.mp4"}


@pytest.mark.parametrize("kind", ["otio", "fcpxml"])
def test_every_rendered_clip_is_its_own_file_where_it_was_taken_from_the_source(written, kind):
    fps, texts = written

    timeline = read(texts[kind], kind)

    clips = [clip for clip in timeline.find_clips() if clip.name.startswith("Clip")]
    assert [clip.media_reference.target_url for clip in clips] == ["clips/clip-00.mp4", "clips/clip-01.mp4"]
    assert [record(clip) for clip in clips] == [
        (frame(clip.start_s, fps), frame(clip.end_s, fps) - frame(clip.start_s, fps)) for clip in CLIPS]
    assert [clip.name for clip in clips] == ["Clip 1: The promise", "Clip 2: A better marriage"]


@pytest.mark.parametrize("kind", ["otio", "fcpxml"])
def test_chapters_and_planned_clips_are_ranges_with_their_summary_or_rationale_as_the_note(written, kind):
    fps, texts = written

    timeline = read(texts[kind], kind)

    markers = timeline.tracks.markers
    spans = [(marker.name, round(marker.marked_range.start_time.value), round(marker.marked_range.duration.value))
             for marker in markers]
    assert spans == [(f"Chapter {n}: {c.title}", frame(c.start_s, fps), frame(c.end_s, fps) - frame(c.start_s, fps))
                     for n, c in enumerate(CHAPTERS, 1)] + [
        (f"Clip {n}: {p.title}", frame(p.start_s, fps), frame(p.end_s, fps) - frame(p.start_s, fps))
        for n, p in enumerate(PLAN, 1)]
    notes = [marker.comment or marker.metadata.get("fcp_xml", {}).get("comment") for marker in markers]
    assert notes == [c.summary for c in CHAPTERS] + [f"{p.rationale} (score {p.score:.2f})" for p in PLAN]


def test_the_edl_marks_each_chapter_and_clip_on_the_shot_where_it_begins_with_the_clips_out_point(written):
    fps, texts = written
    label = edl_rate(timeline_clock(fps).rate)

    timeline = read(texts["edl"], "edl", timeline_clock(fps).rate)

    assert "FCM: NON-DROP FRAME" in texts["edl"] and texts["edl"].startswith("TITLE: reading.mp4")
    markers = {marker.name: (clip.name, round(marker.marked_range.start_time.value))
               for clip in timeline.find_clips() for marker in clip.markers}

    def timecode(seconds: float) -> str:
        count = frame(seconds, fps)
        return f"{count // (3600 * label):02d}:{count // (60 * label) % 60:02d}:{count // label % 60:02d}:" \
               f"{count % label:02d}"

    assert markers == {
        "CHAPTER 1: JOHN DASHWOOD": ("Shot 1", 0),
        "CHAPTER 2: AMIABLE WOMAN": ("Shot 3", frame(20.1, fps)),
        f"CLIP 1: THE PROMISE [TO {timecode(19.0)}]": ("Shot 1", frame(0.5, fps)),
        f"CLIP 2: A BETTER MARRIAGE [TO {timecode(35.96)}]": ("Shot 3", frame(19.0, fps)),
    }


def test_the_otio_file_names_the_original_and_holds_the_caption_cues_which_the_xml_cannot(written):
    fps, texts = written

    timeline, xml = read(texts["otio"], "otio"), read(texts["fcpxml"], "fcpxml")

    assert timeline.name == xml.name == "reading.mp4"
    assert timeline.metadata["videoflow"]["original"] == {"name": "reading.mp4"}
    (captions,) = [track for track in timeline.tracks if track.name == "Captions"]
    assert not captions.enabled
    assert [(m.name, round(m.marked_range.start_time.value)) for m in captions.markers] == [
        (cue.text, frame(cue.start_s, fps)) for cue in CUES]
    assert not any(m.name == CUES[0].text for track in xml.tracks for m in track.markers)
    (audio,) = [track for track in timeline.tracks if track.kind == "Audio"]
    assert record(audio[0]) == (0, frame(36.04, fps))


@pytest.mark.parametrize("kind", ["otio", "fcpxml"])
def test_clips_rendered_in_two_aspects_are_a_track_each_named_apart_on_the_same_frames(kind):
    rendered = [replace(clip, path=clip.path.replace(".mp4", f"-{name}.mp4"), aspect=aspect)
                for clip in CLIPS for aspect, name in (("9:16", "9x16"), ("1:1", "1x1"))]
    texts = render(replace(source(25.0), clips=rendered))

    timeline = read(texts[kind], kind)

    placed = {clip.name: (record(clip), clip.media_reference.target_url) for clip in timeline.find_clips()
              if clip.name.startswith("Clip")}
    spans = [(frame(clip.start_s, 25.0), frame(clip.end_s, 25.0) - frame(clip.start_s, 25.0)) for clip in CLIPS]
    assert placed == {
        "Clip 1 (9:16): The promise": (spans[0], "clips/clip-00-9x16.mp4"),
        "Clip 2 (9:16): A better marriage": (spans[1], "clips/clip-01-9x16.mp4"),
        "Clip 1 (1:1): The promise": (spans[0], "clips/clip-00-1x1.mp4"),
        "Clip 2 (1:1): A better marriage": (spans[1], "clips/clip-01-1x1.mp4"),
    }
    if kind == "otio":  # FCP 7 XML keeps no track names
        names = [track.name for track in timeline.tracks]
        assert names[:3] == ["Clips 9:16", "Clips 1:1", "Shots"]
        assert not any(track.enabled for track in timeline.tracks if track.name.startswith("Clips"))


def test_a_15_fps_proxy_is_placed_on_30_fps_timecode_with_every_cut_on_one_of_its_own_frames():
    texts = render(source(15.0))

    timeline = read(texts["otio"], "otio")

    shots = [clip for clip in timeline.find_clips() if clip.name.startswith("Shot")]
    assert timeline_clock(15.0).rate == 30
    assert [record(clip)[0] for clip in shots] == [2 * frame(start, 15.0) for start, _ in SHOTS]


def test_srt_cues_are_read_with_their_times_and_joined_lines():
    text = "1\n00:00:00,500 --> 00:00:03,240\nAnd Mr. John\nDashwood had\n\n2\r\n00:01:03,300 --> 00:01:06,020\nthen\r\n"

    assert parse_srt(text) == [Cue(0.5, 3.24, "And Mr. John Dashwood had"), Cue(63.3, 66.02, "then")]
