"""Odd media through probe, limits, the MediaConvert settings and the local MediaConvert (ffmpeg).

Each medium is what a camera, phone, broadcaster or screen recorder really writes (tests/odd_media.py
makes them, 1-2 s and small). The settings are what deploys; the local MediaConvert runs them, and
ffprobe and a pixel or sample statistic check what came out:

- HDR10 (PQ) and HLG, HEVC 10-bit: the proxy and the frames are SDR BT.709, tone-mapped, not washed out;
- interlaced BT.601 H.264 in MPEG-TS: deinterlaced, BT.709; a variable frame rate: a constant standard rate;
- ProRes 4:2:2 10-bit: an ordinary 4:2:0 8-bit proxy; 5.1: the centre (dialogue) kept, the LFE left out;
- several audio tracks, the first silent: one WAV per track, and the one with sound is the one kept;
- a 3-hour video: probed, within the limits, settings that cover it and stay small (no transcode);
- a 0.45 s video: rejected as too short, saying so.
"""

import math

import boto3
import numpy as np
import pytest

from containers.render import ffmpeg_plan as render_plan
from lambdas.build_mediaconvert_job.logic import MAX_AUDIO_CANDIDATES, MediaConvertJobRequest, plan_job
from lambdas.common import audio_level, constants
from lambdas.common.errors import DurationTooShort
from lambdas.common.events import EventLog
from lambdas.common.models import AudioTrack, JobRequest, MediaInfo, SourceObject
from lambdas.common.settings import LimitSettings
from lambdas.enforce_limits.logic import LimitsRequest, enforce_limits
from lambdas.probe_media.logic import normalize_probe
from tests.media import make_video, put_source
from tests.odd_media import (
    SURROUND_TONES_HZ,
    ffprobe,
    interlace_counts,
    make_hdr,
    make_interlaced,
    make_long,
    make_prores_422,
    make_surround,
    make_tracks,
    make_vfr,
    picture_stats,
    reference_stats,
)
from videoflow.local.ffprobe import FfprobeProber
from videoflow.local.mediaconvert import TaskFailed, build_ffmpeg_command, create_job_sync, settings_problems
from videoflow.local.mediaconvert.sound import audio_filters
from videoflow.local.mediaconvert.source import INPUT_GUARD, Loudness

OUTPUT_BUCKET = "videoflow-output"
ROLE = "arn:aws:iam::123456789012:role/videoflow-mediaconvert"
JOB_ID = "job-odd-media-0001"


def _probed(s3, path, key=None):
    """The source as uploaded, and probe_media's facts about it (the local prober, Probe's shape)."""
    source = put_source(s3, path, key or f"uploads/{path.name}")
    return source, normalize_probe(FfprobeProber(s3).probe(source), JobRequest(job_id=JOB_ID, source=source))


def _plan(source: SourceObject, media: MediaInfo, max_duration_s: float = constants.DEFAULT_MAX_DURATION_S):
    return plan_job(MediaConvertJobRequest(job_id=JOB_ID, source=source, media=media),
                    output_bucket=OUTPUT_BUCKET, max_duration_s=max_duration_s)


def _transcode(s3, path, tmp_path):
    """Probe, plan and run the derivatives job on `path`; the downloaded outputs by file name."""
    source, media = _probed(s3, path)
    spec = _plan(source, media)
    create_job_sync({"Role": ROLE, "Settings": spec.settings})
    outputs = {}
    for item in s3.list_objects_v2(Bucket=OUTPUT_BUCKET, Prefix=f"derivatives/{JOB_ID}/")["Contents"]:
        local = tmp_path / item["Key"].rsplit("/", 1)[-1]
        s3.download_file(OUTPUT_BUCKET, item["Key"], str(local))
        outputs[local.name] = local
    return spec, media, outputs


def _video_stream(path) -> dict:
    return next(s for s in ffprobe(path)["streams"] if s["codec_type"] == "video")


def _wav(path) -> tuple[np.ndarray, int]:
    import wave

    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(float), wav.getframerate()


def _tone_db(samples: np.ndarray, rate: int, hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    frequencies = np.fft.rfftfreq(len(samples), 1 / rate)
    return 20 * math.log10(spectrum[(frequencies > hz * 0.9) & (frequencies < hz * 1.1)].max() + 1e-9)


# -- The settings every odd source gets ----------------------------------------------------------------------------


def _media(**overrides) -> MediaInfo:
    values = dict(container="mp4", duration_s=60, size_bytes=1, video_codec="HEVC", coded_width=3840,
                  coded_height=2160, width=3840, height=2160, frame_rate=50, has_audio=True, audio_channels=2)
    return MediaInfo(**{**values, **overrides})


SOURCE = SourceObject(bucket="videoflow-ingest", key="uploads/odd.mp4", size_bytes=1)


def test_given_any_source_when_planned_then_every_picture_output_is_tone_mapped_to_bt709_and_deinterlaced():
    settings = _plan(SOURCE, _media()).settings

    assert settings["Inputs"][0]["VideoSelector"]["ColorSpace"] == "FOLLOW"  # HDR10/HLG found from the file
    pictures = [output["VideoDescription"] for group in settings["OutputGroups"] for output in group["Outputs"]
                if "VideoDescription" in output]
    assert len(pictures) == 2  # the proxy and the frames
    for video in pictures:
        assert video["VideoPreprocessors"]["ColorCorrector"] == {
            "ColorSpaceConversion": "FORCE_709", "HdrToSdrToneMapper": "VIBRANT"}
        assert video["VideoPreprocessors"]["Deinterlacer"] == {
            "Mode": "ADAPTIVE", "Algorithm": "INTERPOLATE", "Control": "NORMAL"}
    proxy = pictures[0]["CodecSettings"]["H264Settings"]
    assert (proxy["InterlaceMode"], proxy["FramerateControl"]) == ("PROGRESSIVE", "INITIALIZE_FROM_SOURCE")


def test_given_three_audio_tracks_when_planned_then_each_gets_a_selector_and_a_transcription_wav_the_first_default():
    media = _media(audio_tracks=[AudioTrack(track=1, channels=2), AudioTrack(track=2, channels=6),
                                 AudioTrack(track=3, channels=1)])

    spec = _plan(SOURCE, media)

    selectors = spec.settings["Inputs"][0]["AudioSelectors"]
    assert {name: (s["Tracks"], s["DefaultSelection"]) for name, s in selectors.items()} == {
        "Audio Selector 1": ([1], "DEFAULT"), "Audio Selector 2": ([2], "NOT_DEFAULT"),
        "Audio Selector 3": ([3], "NOT_DEFAULT")}
    proxy_audio = spec.settings["OutputGroups"][0]["Outputs"][0]["AudioDescriptions"]
    assert [d["AudioSourceName"] for d in proxy_audio] == ["Audio Selector 1"]  # the default track
    wavs = spec.settings["OutputGroups"][1]["Outputs"]
    assert [(o.get("NameModifier"), o["AudioDescriptions"][0]["RemixSettings"]["ChannelsIn"]) for o in wavs] == [
        (None, 2), ("-track2", 6), ("-track3", 1)]
    assert all(o["AudioDescriptions"][0]["AudioNormalizationSettings"]["CorrectionGateLevel"] == -50 for o in wavs)
    assert [(c.track, c.key.rsplit("/", 1)[-1]) for c in spec.destinations.audio_candidates] == [
        (1, "audio.wav"), (2, "audio-track2.wav"), (3, "audio-track3.wav")]
    assert spec.destinations.audio_key == spec.destinations.audio_candidates[0].key
    assert settings_problems(spec.settings) == []


def test_given_more_audio_tracks_than_the_cap_when_planned_then_only_the_first_ones_become_wavs():
    media = _media(audio_tracks=[AudioTrack(track=n, channels=1) for n in range(1, 9)])  # a broadcast MXF

    spec = _plan(SOURCE, media)

    assert [c.track for c in spec.destinations.audio_candidates] == list(range(1, MAX_AUDIO_CANDIDATES + 1))


def test_given_audio_quieter_than_the_gate_when_normalizing_locally_then_it_is_left_as_it_is():
    description = _plan(SOURCE, _media()).settings["OutputGroups"][1]["Outputs"][0]["AudioDescriptions"][0]

    hiss = audio_filters(description, Loudness(-65.0, -50.0, 2.0, -75.0))
    speech = audio_filters(description, Loudness(-31.0, -12.0, 6.0, -41.0))
    silence = audio_filters(description, Loudness(-math.inf, -math.inf, 0.0, -70.0))

    assert not any(f.startswith("loudnorm") for f in hiss + silence)
    assert any(f.startswith("loudnorm=I=-23:TP=-2:measured_I=-31.00") and f.endswith("linear=true") for f in speech)


def test_given_an_upload_when_the_command_is_built_then_ffmpeg_opens_it_as_a_local_media_file_only():
    argv = build_ffmpeg_command(_plan(SOURCE, _media()).settings, "/work/in/odd.mp4", "/work/out").argv

    before_input = argv[:argv.index("-i")]
    assert before_input[before_input.index("-protocol_whitelist") + 1] == "file"
    allowed = before_input[before_input.index("-format_whitelist") + 1].split(",")
    assert "mov" in allowed and "mpegts" in allowed and not {"hls", "concat", "image2", "dash"} & set(allowed)


def test_the_demuxers_the_local_mediaconvert_allows_are_the_ones_the_local_probe_allows():
    from videoflow.local import ffprobe as local_probe

    mediaconvert_demuxers = INPUT_GUARD[INPUT_GUARD.index("-format_whitelist") + 1]
    assert mediaconvert_demuxers.split(",") == local_probe.SAFE_DEMUXERS.split(",")
    assert render_plan.SAFE_DEMUXERS == mediaconvert_demuxers  # the render opens the same upload


def test_given_a_playlist_naming_a_video_on_disk_when_the_job_runs_then_it_is_not_followed(aws_state, tmp_path):
    elsewhere = make_video(tmp_path / "elsewhere.mp4", seconds=1, width=160, height=90)
    playlist = tmp_path / "list.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{elsewhere}\n#EXT-X-ENDLIST\n")
    source = put_source(aws_state, playlist, "uploads/list.m3u8")

    with pytest.raises(TaskFailed) as failure:
        create_job_sync({"Role": ROLE, "Settings": _plan(source, _media(width=160, height=90)).settings})

    assert failure.value.error_code == 1010
    assert aws_state.list_objects_v2(Bucket=OUTPUT_BUCKET).get("KeyCount", 0) == 0


# -- What the local MediaConvert makes of them ---------------------------------------------------------------------


@pytest.mark.parametrize("transfer", ["pq", "hlg"])
def test_given_hevc_10bit_hdr_when_transcoded_then_proxy_and_frames_are_sdr_bt709_and_not_washed_out(
        aws_state, media, tmp_path, transfer):
    path = media(f"hdr-{transfer}.mp4", make_hdr, transfer=transfer)
    source_video = _video_stream(path)
    assert (source_video["pix_fmt"], source_video["color_primaries"]) == ("yuv420p10le", "bt2020")

    _, _, outputs = _transcode(aws_state, path, tmp_path)

    proxy = _video_stream(outputs["proxy.mp4"])
    assert (proxy["codec_name"], proxy["pix_fmt"]) == ("h264", "yuv420p")
    assert (proxy["color_transfer"], proxy["color_primaries"], proxy["color_space"]) == ("bt709", "bt709", "bt709")
    # The bars as SDR are the truth. Shown as SDR without tone mapping, HDR looks grey and flat: its
    # saturation drops to a quarter (PQ) or a third (HLG) and its whites stop near mid-grey.
    truth, seen = reference_stats(), picture_stats(outputs["proxy.mp4"])
    assert seen["SATAVG"] >= 0.75 * truth["SATAVG"]
    assert seen["YMAX"] >= 185 and abs(seen["YAVG"] - truth["YAVG"]) <= 0.15 * truth["YAVG"]
    assert picture_stats(outputs["frame.0000000.jpg"])["SATAVG"] >= 0.75 * truth["SATAVG"]


def test_given_interlaced_h264_in_mpeg_ts_when_transcoded_then_the_proxy_is_deinterlaced(aws_state, media, tmp_path):
    path = media("broadcast.ts", make_interlaced, seconds=1)
    before = interlace_counts(path)
    assert before["TFF"] > 0.9 * sum(before.values())  # the source really combs

    spec, media_info, outputs = _transcode(aws_state, path, tmp_path)

    assert media_info.container == "mpegts"
    after = interlace_counts(outputs["proxy.mp4"])
    assert after["Progressive"] >= 0.75 * sum(after.values()) and after["TFF"] <= 0.2 * sum(after.values())
    proxy = _video_stream(outputs["proxy.mp4"])
    assert proxy["field_order"] == "progressive" and proxy["r_frame_rate"] == "25/1"
    # Its BT.601 colours are converted to BT.709, and labelled so.
    assert _video_stream(path)["color_space"] == "smpte170m"
    assert (proxy["color_space"], proxy["color_primaries"], proxy["color_transfer"]) == ("bt709",) * 3


def test_given_a_variable_frame_rate_when_transcoded_then_the_proxy_has_a_constant_standard_rate(
        aws_state, media, tmp_path):
    path = media("phone-vfr.mp4", make_vfr)  # 30 fps for 1 s, then 10 fps: 20.7 fps on average
    source = _video_stream(path)
    assert source["r_frame_rate"] == "30/1" and source["avg_frame_rate"] != "30/1"

    _, _, outputs = _transcode(aws_state, path, tmp_path)

    proxy = _video_stream(outputs["proxy.mp4"])
    # MediaConvert: a VFR input's "follow source" output has the average rate rounded to a standard one.
    assert proxy["r_frame_rate"] == proxy["avg_frame_rate"] == "24/1"
    assert abs(float(proxy["duration"]) - 2.0) <= 0.1
    assert abs(int(proxy["nb_frames"]) - 48) <= 3


def test_given_prores_422_10bit_when_transcoded_then_the_proxy_is_ordinary_420_8bit_h264(aws_state, media, tmp_path):
    path = media("edit.mov", make_prores_422)

    _, media_info, outputs = _transcode(aws_state, path, tmp_path)

    assert (media_info.container, media_info.video_codec) == ("quicktime", "PRORES")
    proxy = _video_stream(outputs["proxy.mp4"])
    assert (proxy["codec_name"], proxy["profile"], proxy["pix_fmt"]) == ("h264", "High", "yuv420p")
    assert picture_stats(outputs["proxy.mp4"])["SATAVG"] >= 0.9 * reference_stats()["SATAVG"]


def test_given_5_1_audio_when_transcoded_then_the_transcription_audio_is_mono_with_the_centre_and_no_lfe(
        aws_state, media, tmp_path):
    path = media("film.mp4", make_surround)

    _, media_info, outputs = _transcode(aws_state, path, tmp_path)

    assert media_info.audio_tracks == [AudioTrack(track=1, channels=6, codec="AAC")]
    samples, rate = _wav(outputs["audio.wav"])
    centre = _tone_db(samples, rate, SURROUND_TONES_HZ["FC"])
    assert centre - _tone_db(samples, rate, SURROUND_TONES_HZ["LFE"]) >= 40
    assert abs(20 * math.log10(np.sqrt(np.mean(samples**2)) / 32768) + 23) <= 2  # normalized near -23 LUFS
    proxy_audio = next(s for s in ffprobe(outputs["proxy.mp4"])["streams"] if s["codec_type"] == "audio")
    assert (proxy_audio["channels"], proxy_audio["channel_layout"]) == (2, "stereo")


def test_given_a_silent_first_track_and_a_second_with_sound_when_transcoded_then_the_one_with_sound_is_kept(
        aws_state, media, tmp_path):
    path = media("recorder.mp4", make_tracks, tracks=["silent", "tone:1000"], default=2)

    spec, media_info, outputs = _transcode(aws_state, path, tmp_path)

    assert [t.track for t in media_info.audio_tracks] == [1, 2]
    first, second = _wav(outputs["audio.wav"]), _wav(outputs["audio-track2.wav"])
    assert not first[0].any()  # track 1's WAV is silence: before, this was all the transcription got
    assert _tone_db(*second, 1000) > 100
    choice = audio_level.choose_audio(boto3.client("s3"), OUTPUT_BUCKET, spec.destinations.audio_candidates)
    assert (choice.track, choice.key) == (2, spec.destinations.audio_candidates[1].key)
    assert choice.silent_tracks == [1]


# -- Length: a 3-hour video and a 0.45 s one -----------------------------------------------------------------------


def test_given_a_three_hour_video_when_probed_and_planned_then_it_passes_the_limits_and_the_settings_cover_it(
        aws_state, media):
    path = media("three-hours.mp4", make_long, hours=3)
    source, media_info = _probed(aws_state, path)

    enforce_limits(LimitsRequest(job_id=JOB_ID, source=source, media=media_info), LimitSettings(),
                   EventLog("videoflow-events"))
    spec = _plan(source, media_info)

    assert media_info.duration_s == pytest.approx(3 * 3600, abs=1)
    capture = spec.settings["OutputGroups"][-1]["Outputs"][0]["VideoDescription"]["CodecSettings"][
        "FrameCaptureSettings"]
    assert capture["MaxCaptures"] >= 3 * 3600 / constants.FRAME_INTERVAL_S + 1  # 5,401 frames: not cut short
    assert settings_problems(spec.settings) == []
    # The state carries settings and keys, never per-frame data: 3 hours is as small as a minute.
    short = _plan(source, media_info.model_copy(update={"duration_s": 60.0}))
    assert len(spec.model_dump_json()) == len(short.model_dump_json()) < 8_000


def test_given_a_video_of_0_45_s_when_probed_then_it_is_rejected_as_too_short_naming_both_lengths(aws_state, media):
    path = media("blink.mp4", make_video, seconds=0.45, fps=20, width=320, height=180)
    source, media_info = _probed(aws_state, path)

    with pytest.raises(DurationTooShort) as rejected:
        enforce_limits(LimitsRequest(job_id=JOB_ID, source=source, media=media_info), LimitSettings(),
                       EventLog("videoflow-events"))

    assert media_info.duration_s < constants.DEFAULT_MIN_DURATION_S
    assert str(rejected.value) == f"The video lasts {media_info.duration_s:.2f} s; at least 0.5 s is needed."
