"""The job as one editing timeline, in the three formats editors open: OTIO JSON, CMX 3600 EDL, FCP 7 XML.

Built with OpenTimelineIO (the `opentimelineio` package) and written through its adapters:
`otio_json` (built in), `cmx_3600` (otio-cmx3600-adapter) and `fcp_xml` (otio-fcp-adapter, the
Final Cut Pro 7 interchange XML, `xmeml`, which Premiere Pro and DaVinci Resolve import). Every
time is a whole frame of the proxy at the timeline's rate (timeline_clock: the proxy's rate), so
a cut lands on the frame the shot list names.

What the timeline holds, one time axis (the source's, from 0), tracks from the bottom up:

- V1 "Clips" (one track per aspect rendered, "Clips 9:16", "Clips 1:1", ...): each rendered clip (its
  own file, named "Clip 1 (9:16): title" so the aspects stay apart where a format drops track
  names) where it was taken from the source, switched off;
- V2 "Shots": the proxy, cut at every shot change: one clip per shot, edge to edge, covering the
  whole video, so the source is what plays (FCP XML has no switched-off track: the shots on top
  hide the rendered clips there too);
- A1 "Audio": the proxy's sound, when it has sound;
- markers with a duration on the timeline: each chapter (name "Chapter N: title", the note its
  one-sentence summary) and each planned clip ("Clip N: title", the note its rationale and score);
- in the OTIO file only, a "Captions" track (switched off) whose markers are the caption cues.

The formats keep what they can: FCP XML has no place for caption cues (they stay in
captions.srt beside it) and no track names; an EDL is one video track of events, so the
chapters and clips become LOC markers on the shot where they begin, a clip's name carrying its
out point ("Clip 1: title [to 00:00:29:20]"); its timecode counts whole frames without dropping
(edl_rate: 29.97 fps is labelled at 30, FCM: NON-DROP FRAME). Media are referenced by paths relative to the
timeline files, as the job's exported folder lays them out (proxy.mp4, clips/clip-00-9x16.mp4); the
original is named in the timeline's name (the EDL's TITLE, the XML's sequence) and, in full, in
the OTIO metadata.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import opentimelineio as otio

from lambdas.common.models import Chapter

RationalTime, TimeRange = otio.opentime.RationalTime, otio.opentime.TimeRange
FORMATS = {"otio": ("otio_json", "timeline.otio"), "edl": ("cmx_3600", "timeline.edl"),
           "fcpxml": ("fcp_xml", "timeline.xml")}
METADATA_KEY = "videoflow"
DEFAULT_RATE = 30.0  # a proxy whose rate is unknown (0)
CHAPTER_COLOR, CLIP_COLOR, CAPTION_COLOR = otio.schema.MarkerColor.CYAN, otio.schema.MarkerColor.GREEN, \
    otio.schema.MarkerColor.WHITE
SHOTS, CLIPS, AUDIO, CAPTIONS = "Shots", "Clips", "Audio", "Captions"
_SRT_TIME = re.compile(r"(\d+):(\d\d):(\d\d)[,.](\d{3})\s*-->\s*(\d+):(\d\d):(\d\d)[,.](\d{3})")


@dataclass(frozen=True)
class PlannedClip:
    start_s: float
    end_s: float
    title: str
    rationale: str = ""
    score: float | None = None


@dataclass(frozen=True)
class RenderedClip:
    path: str  # relative to the timeline files
    start_s: float
    end_s: float
    title: str = ""
    aspect: str = ""  # "9:16", "1:1", "16:9"; empty for a clip recorded before aspects


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class TimelineSource:
    """Everything the timeline is made of, in seconds of the source."""

    name: str  # the original's file name: the timeline's name
    duration_s: float
    frame_rate: float  # the proxy's
    proxy: str  # relative to the timeline files
    has_audio: bool
    shots: list[tuple[float, float]] = field(default_factory=list)
    chapters: list[Chapter] = field(default_factory=list)
    plan: list[PlannedClip] = field(default_factory=list)
    clips: list[RenderedClip] = field(default_factory=list)
    captions: list[Cue] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)  # job id, the original, the captions files: the OTIO file's


@dataclass(frozen=True)
class Clock:
    """The timeline's rate, and how many of its frames one proxy frame lasts (2 for a 15 fps proxy on 30)."""

    rate: float
    step: int = 1

    def at(self, seconds: float) -> RationalTime:
        """The proxy frame at `seconds`, in timeline frames."""
        return RationalTime(round(max(0.0, seconds) * self.rate / self.step) * self.step, self.rate)

    def span(self, start_s: float, end_s: float) -> TimeRange:
        first = self.at(start_s)
        return TimeRange(first, max(self.at(end_s) - first, RationalTime(0, self.rate)))


def timeline_clock(frame_rate: float) -> Clock:
    """The proxy's rate as a timecode rate: an NTSC rate exactly (30000/1001 for 29.97), a whole rate as itself; a
    rate timecode cannot count (15, 12.5, 10 fps) as the lowest timecode rate it divides, each proxy frame `step`
    timeline frames; otherwise the nearest timecode rate."""
    if not frame_rate or frame_rate <= 0:
        return Clock(DEFAULT_RATE)
    nearest = RationalTime.nearest_valid_timecode_rate(frame_rate)
    if abs(nearest - frame_rate) <= 0.01:
        return Clock(nearest)
    for step in range(2, 7):
        valid = RationalTime.nearest_valid_timecode_rate(frame_rate * step)
        if abs(valid - frame_rate * step) <= 0.01:
            return Clock(valid, step)
    return Clock(nearest or DEFAULT_RATE)


def edl_rate(rate: float) -> int:
    """The EDL's timecode rate: whole frames per second, counted without dropping (NTSC 29.97 is labelled at 30,
    FCM: NON-DROP FRAME), so a frame's number is the same in the EDL as in the timeline."""
    return round(rate)


def build_timeline(source: TimelineSource) -> otio.schema.Timeline:
    """The whole timeline (the OTIO file's); edl_timeline and xml_timeline derive the others from it."""
    clock = timeline_clock(source.frame_rate)
    rate, end = clock.rate, clock.at(source.duration_s)
    timeline = otio.schema.Timeline(name=source.name, global_start_time=RationalTime(0, rate),
                                    metadata={METADATA_KEY: {**source.metadata, "frame_rate": rate}})
    # Bottom to top: the rendered clips, one track per aspect, under the shots, which cover the whole video, so the
    # source plays.
    for aspect in dict.fromkeys(clip.aspect for clip in source.clips) or [""]:
        timeline.tracks.append(_clips_track(source, aspect, clock, end))
    timeline.tracks.append(_shots_track(source, clock, end))
    if source.has_audio:
        audio = otio.schema.Track(name=AUDIO, kind=otio.schema.TrackKind.Audio)
        audio.append(otio.schema.Clip(name=source.name, media_reference=_proxy(source, rate, end),
                                      source_range=TimeRange(RationalTime(0, rate), end)))
        timeline.tracks.append(audio)
    captions = otio.schema.Track(name=CAPTIONS, kind=otio.schema.TrackKind.Video)
    captions.enabled = False
    captions.append(otio.schema.Gap(source_range=TimeRange(RationalTime(0, rate), end)))
    for cue in source.captions:
        captions.markers.append(otio.schema.Marker(name=cue.text, marked_range=clock.span(cue.start_s, cue.end_s),
                                                   color=CAPTION_COLOR))
    timeline.tracks.append(captions)
    for number, chapter in enumerate(source.chapters, start=1):
        timeline.tracks.markers.append(_marker(f"Chapter {number}: {chapter.title}", clock.span(
            chapter.start_s, chapter.end_s), CHAPTER_COLOR, chapter.summary, {"chapter": number}))
    for number, planned in enumerate(source.plan, start=1):
        note = planned.rationale + (f" (score {planned.score:.2f})" if planned.score is not None else "")
        timeline.tracks.markers.append(_marker(f"Clip {number}: {planned.title}", clock.span(
            planned.start_s, planned.end_s), CLIP_COLOR, note.strip(), {"clip": number}))
    return timeline


def _shots_track(source: TimelineSource, clock: Clock, end: RationalTime) -> otio.schema.Track:
    """The proxy cut at each shot change, edge to edge from 0 to the end (a shot too short for a frame is left out)."""
    track = otio.schema.Track(name=SHOTS, kind=otio.schema.TrackKind.Video)
    shots = source.shots or [(0.0, source.duration_s)]
    rate = clock.rate
    cuts = [RationalTime(0, rate)] + [clock.at(start) for start, _ in shots[1:]] + [end]
    for number, (first, last) in enumerate(zip(cuts, cuts[1:], strict=False), start=1):
        if last > first:
            track.append(otio.schema.Clip(name=f"Shot {number}", media_reference=_proxy(source, rate, end),
                                          source_range=TimeRange(first, last - first)))
    return track


def _clips_track(source: TimelineSource, aspect: str, clock: Clock, end: RationalTime) -> otio.schema.Track:
    """The clips rendered in one aspect at their place in the source, gaps between; switched off."""
    rate = clock.rate
    track = otio.schema.Track(name=f"{CLIPS} {aspect}".rstrip(), kind=otio.schema.TrackKind.Video)
    track.enabled = False
    at = RationalTime(0, rate)
    label = f" ({aspect})" if aspect else ""
    rendered = [clip for clip in source.clips if clip.aspect == aspect]
    for number, clip in enumerate(sorted(rendered, key=lambda clip: clip.start_s), start=1):
        first, last = max(clock.at(clip.start_s), at), min(clock.at(clip.end_s), end)
        if last <= first:
            continue
        if first > at:
            track.append(otio.schema.Gap(source_range=TimeRange(RationalTime(0, rate), first - at)))
        length = last - first
        reference = otio.schema.ExternalReference(target_url=clip.path,
                                                  available_range=TimeRange(RationalTime(0, rate), length))
        track.append(otio.schema.Clip(name=f"Clip {number}{label}: {clip.title}".rstrip(": "),
                                      media_reference=reference, source_range=TimeRange(RationalTime(0, rate), length),
                                      metadata={METADATA_KEY: {"source_start_s": clip.start_s,
                                                               "source_end_s": clip.end_s, "aspect": aspect or None}}))
        at = last
    return track


def edl_timeline(timeline: otio.schema.Timeline) -> otio.schema.Timeline:
    """The EDL's timeline: the shots track alone, at edl_rate (same frame numbers), each chapter and clip marker moved
    onto the shot where it begins (an EDL has no timeline markers), a clip's out point in its name."""
    label = edl_rate(timeline.global_start_time.rate)

    def relabel(time: RationalTime) -> RationalTime:
        return RationalTime(time.value, label)

    shots = otio.schema.Track(name=SHOTS, kind=otio.schema.TrackKind.Video)
    for clip in _track(timeline, SHOTS):
        reference = clip.media_reference
        available = reference.available_range
        shots.append(otio.schema.Clip(
            name=clip.name, source_range=TimeRange(relabel(clip.source_range.start_time),
                                                   relabel(clip.source_range.duration)),
            media_reference=otio.schema.ExternalReference(target_url=reference.target_url, available_range=TimeRange(
                relabel(available.start_time), relabel(available.duration)))))
    for marker in timeline.tracks.markers:
        start = relabel(marker.marked_range.start_time)
        name = marker.name
        if "clip" in marker.metadata.get(METADATA_KEY, {}):
            name += f" [to {otio.opentime.to_timecode(relabel(marker.marked_range.end_time_exclusive()), label)}]"
        for clip in shots:
            if clip.range_in_parent().contains(start) or clip is shots[-1]:
                clip.markers.append(otio.schema.Marker(name=name, color=marker.color,
                                                       marked_range=TimeRange(start, RationalTime(0, label))))
                break
    edl = otio.schema.Timeline(name=timeline.name, global_start_time=RationalTime(0, label))
    edl.tracks.append(shots)
    return edl


def xml_timeline(timeline: otio.schema.Timeline) -> otio.schema.Timeline:
    """The FCP XML's timeline: the tracks an editor plays (not the captions'), each marker's note as its comment."""
    xml = timeline.deepcopy()
    for index in reversed(range(len(xml.tracks))):
        if xml.tracks[index].name == CAPTIONS:
            del xml.tracks[index]
    for marker in xml.tracks.markers:
        if marker.comment:
            marker.metadata["fcp_xml"] = {"comment": marker.comment}
    return xml


def render(source: TimelineSource) -> dict[str, str]:
    """Each format's text, by its manifest key (otio, edl, fcpxml)."""
    timeline = build_timeline(source)
    label = edl_rate(timeline.global_start_time.rate)
    edl = otio.adapters.write_to_string(edl_timeline(timeline), adapter_name=FORMATS["edl"][0], rate=label)
    title, _, events = edl.partition("\n\n")
    return {
        "otio": otio.adapters.write_to_string(timeline, adapter_name=FORMATS["otio"][0]),
        "edl": f"{title}\nFCM: NON-DROP FRAME\n\n{events}",
        "fcpxml": otio.adapters.write_to_string(xml_timeline(timeline), adapter_name=FORMATS["fcpxml"][0]),
    }


def read(text: str, kind: str, rate: float | None = None) -> otio.schema.Timeline:
    """A written timeline read back through the same adapter (the tests and tools check what was written); an EDL at
    edl_rate of the timeline's `rate`."""
    options = {"rate": edl_rate(rate)} if kind == "edl" and rate else {}
    return otio.adapters.read_from_string(text, adapter_name=FORMATS[kind][0], **options)


def parse_srt(text: str) -> list[Cue]:
    """The cues of an SRT file (build_captions writes it): times and text, in order."""
    cues = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        lines = block.strip().splitlines()
        for index, line in enumerate(lines):
            match = _SRT_TIME.search(line)
            if match:
                h1, m1, s1, ms1, h2, m2, s2, ms2 = (int(part) for part in match.groups())
                words = " ".join(" ".join(lines[index + 1:]).split())
                if words:
                    cues.append(Cue(start_s=h1 * 3600 + m1 * 60 + s1 + ms1 / 1000,
                                    end_s=h2 * 3600 + m2 * 60 + s2 + ms2 / 1000, text=words))
                break
    return cues


def _track(timeline: otio.schema.Timeline, name: str) -> otio.schema.Track:
    return next(track for track in timeline.tracks if track.name == name)


def _proxy(source: TimelineSource, rate: float, end: RationalTime) -> otio.schema.ExternalReference:
    return otio.schema.ExternalReference(target_url=source.proxy, available_range=TimeRange(RationalTime(0, rate), end))


def _marker(name: str, span: TimeRange, color: str, note: str, tag: dict) -> otio.schema.Marker:
    return otio.schema.Marker(name=name, marked_range=span, color=color, comment=note, metadata={METADATA_KEY: tag})
