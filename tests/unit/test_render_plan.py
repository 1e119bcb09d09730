"""The clip renderer's pure parts: the render spec, the ffmpeg argv, the crop math and the VTT shift.

No ffmpeg runs here; test_render_worker.py renders for real and checks the results with ffprobe.
"""

import pytest
import webvtt
from pydantic import ValidationError

from containers.render import ffmpeg_plan
from containers.render.ffmpeg_plan import (
    CropWindow,
    SourceVideo,
    audio_filter,
    crop_window,
    format_vtt_time,
    plan,
    shift_vtt,
    source_from_probe,
    subtitles_filter,
)
from containers.render.spec import CropKey, RenderSpec

LANDSCAPE = SourceVideo(width=1280, height=720)


def _spec(**changes) -> RenderSpec:
    document = {
        "job_id": "job-render-1",
        "clip_index": 2,
        "source": {"bucket": "videoflow-ingest", "key": "uploads/talk.mp4", "version_id": "v1"},
        "start_s": 2.0,
        "end_s": 5.0,
        "title": "The budget",
        "output": {"bucket": "videoflow-output", "key": "clips/job-render-1/clip-02.mp4"},
        **changes,
    }
    return RenderSpec.model_validate(document)


def _captions(mode: str) -> dict:
    return {"mode": mode, "vtt": {"bucket": "videoflow-output", "key": "captions/job-render-1/captions.vtt"}}


def _value_after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


# --- the spec ------------------------------------------------------------------------------------


def test_given_the_minimal_spec_when_validated_then_the_defaults_are_9_16_centred_no_captions_minus_14_lufs():
    spec = _spec()

    assert (spec.target.width, spec.target.height) == (1080, 1920)
    assert spec.crop_path == [CropKey(t_s=0, x=0.5, y=0.5)]
    assert spec.captions.top_spans == []
    assert spec.captions.mode == "none" and spec.captions.vtt is None
    assert spec.loudness_lufs == -14
    assert spec.duration_s == 3.0


def test_given_an_end_before_the_start_when_validated_then_the_spec_is_refused():
    with pytest.raises(ValidationError, match=r"end_s \(2.0\) must be after start_s \(5.0\)"):
        _spec(start_s=5.0, end_s=2.0)


def test_given_a_misspelt_field_when_validated_then_the_spec_is_refused_naming_it():
    with pytest.raises(ValidationError, match="crop_centre_x"):
        _spec(crop_centre_x=0.2)


def test_given_burned_captions_without_a_vtt_when_validated_then_the_spec_is_refused():
    with pytest.raises(ValidationError, match="captions mode 'burn' needs a vtt location"):
        _spec(captions={"mode": "burn"})


@pytest.mark.parametrize("key", [{"t_s": 0, "x": -0.01, "y": 0.5}, {"t_s": 0, "x": 0.5, "y": 1.01},
                                 {"t_s": -1, "x": 0.5, "y": 0.5}])
def test_given_a_crop_key_outside_the_frame_or_before_the_clip_when_validated_then_the_spec_is_refused(key):
    with pytest.raises(ValidationError, match="crop_path"):
        _spec(crop_path=[key])


def test_given_crop_keys_out_of_time_order_or_none_when_validated_then_the_spec_is_refused():
    with pytest.raises(ValidationError, match="crop_path keys must be in time order: t_s 1.0 comes after 2.0"):
        _spec(crop_path=[{"t_s": 2, "x": 0.5, "y": 0.5}, {"t_s": 1, "x": 0.5, "y": 0.5}])
    with pytest.raises(ValidationError, match="crop_path"):
        _spec(crop_path=[])


def test_given_the_retired_crop_center_x_when_validated_then_the_spec_is_refused_naming_it():
    with pytest.raises(ValidationError, match="crop_center_x"):
        _spec(crop_center_x=0.5)


def test_given_a_top_span_that_ends_before_it_starts_when_validated_then_the_spec_is_refused():
    with pytest.raises(ValidationError, match=r"a top span must end after it starts, not \[2.0, 1.0\]"):
        _spec(captions={**_captions("burn"), "top_spans": [[2.0, 1.0]]})


def test_given_an_output_on_the_source_when_validated_then_the_spec_is_refused():
    with pytest.raises(ValidationError, match="must not overwrite the source"):
        _spec(output={"bucket": "videoflow-ingest", "key": "uploads/talk.mp4"})


def test_given_a_source_without_a_version_field_when_validated_then_the_spec_is_refused():
    with pytest.raises(ValidationError, match="version_id"):
        _spec(source={"bucket": "videoflow-ingest", "key": "uploads/talk.mp4"})


# --- the argv ------------------------------------------------------------------------------------


def test_given_a_clip_when_planned_then_it_seeks_accurately_before_the_input_and_limits_the_output_duration():
    argv = plan(_spec(), LANDSCAPE, "/work/source.mp4", "/work/clip.mp4")

    assert argv.index("-ss") < argv.index("-i") < argv.index("-t")
    assert _value_after(argv, "-ss") == "2.000"
    assert _value_after(argv, "-i") == "/work/source.mp4"
    assert _value_after(argv, "-t") == "3.000"
    assert "-c" not in argv and "copy" not in argv  # re-encoded: the cut is on the exact frame
    assert argv[-1] == "/work/clip.mp4" and _value_after(argv, "-f") == "mp4"


def test_given_a_clip_when_planned_then_it_encodes_h264_high_and_aac_with_faststart():
    argv = plan(_spec(), LANDSCAPE, "source.mp4", "clip.mp4")

    assert _value_after(argv, "-c:v") == "libx264"
    assert _value_after(argv, "-profile:v") == "high"
    assert _value_after(argv, "-pix_fmt") == "yuv420p"
    assert _value_after(argv, "-c:a") == "aac"
    assert _value_after(argv, "-ar") == "48000"
    assert _value_after(argv, "-movflags") == "+faststart"
    assert _value_after(argv, "-map_metadata") == "-1"
    assert _value_after(argv, "-metadata") == "title=The budget"


def test_given_a_clip_when_planned_then_ffmpeg_reports_progress_on_stdout():
    argv = plan(_spec(), LANDSCAPE, "source.mp4", "clip.mp4")

    assert _value_after(argv, "-progress") == "pipe:1"
    assert "-nostats" in argv and "-nostdin" in argv


def test_given_a_source_with_sound_when_planned_then_loudnorm_runs_single_pass_at_the_target():
    argv = plan(_spec(), LANDSCAPE, "source.mp4", "clip.mp4")

    assert _value_after(argv, "-af").startswith("loudnorm=I=-14:TP=-1.5:LRA=11,")
    assert "print_format" not in _value_after(argv, "-af")  # no measurement pass
    assert argv[argv.index("-map", argv.index("-map") + 1) + 1] == "0:a:0"


def test_given_another_loudness_target_when_planned_then_loudnorm_uses_it():
    assert audio_filter(-16.5).startswith("loudnorm=I=-16.5:TP=-1.5:LRA=11,aresample=48000,")


def test_given_a_silent_source_when_planned_then_there_is_no_audio_map_filter_or_encoder():
    argv = plan(_spec(), SourceVideo(1280, 720, has_audio=False), "source.mp4", "clip.mp4")

    assert "0:a:0" not in argv and "-af" not in argv and "-c:a" not in argv


def test_given_a_landscape_source_when_planned_then_the_video_is_cropped_then_scaled_to_the_target():
    argv = plan(_spec(), LANDSCAPE, "source.mp4", "clip.mp4")

    assert _value_after(argv, "-vf") == "crop=404:720:438:0,scale=1080:1920:flags=lanczos,setsar=1,format=yuv420p"


def test_given_attached_captions_when_planned_then_the_vtt_is_a_second_unseeked_input_muxed_as_mov_text():
    argv = plan(_spec(captions=_captions("attach")), LANDSCAPE, "source.mp4", "clip.mp4", "/work/clip.vtt")

    inputs = [argv[index + 1] for index, value in enumerate(argv) if value == "-i"]
    assert inputs == ["source.mp4", "/work/clip.vtt"]
    assert argv.count("-ss") == 1 and argv.index("-ss") < argv.index("-i")
    assert "1:s:0" in argv and _value_after(argv, "-c:s") == "mov_text"
    assert "subtitles=" not in _value_after(argv, "-vf")


def test_given_burned_captions_when_planned_then_the_subtitles_filter_draws_them_after_the_scale():
    argv = plan(_spec(captions=_captions("burn")), LANDSCAPE, "source.mp4", "clip.mp4", "/work/clip.vtt")

    chain = _value_after(argv, "-vf")
    assert chain.index("scale=1080:1920") < chain.index("subtitles=filename=/work/clip.vtt:original_size=1080x1920")
    assert chain.endswith(",format=yuv420p")
    assert argv.count("-i") == 1 and "-c:s" not in argv


def test_given_top_spans_when_planned_then_a_second_subtitles_filter_draws_the_top_cues_at_the_top():
    spec = _spec(captions={**_captions("burn"), "top_spans": [[0.5, 1.0]]})

    chain = _value_after(plan(spec, LANDSCAPE, "s.mp4", "c.mp4", "/w/bottom.vtt", top_captions_path="/w/top.vtt"), "-vf")

    bottom, top = chain.index("filename=/w/bottom.vtt"), chain.index("filename=/w/top.vtt")
    assert bottom < top and chain.count("subtitles=") == 2
    assert r"Alignment=2\,MarginV=384" in chain[bottom:top]  # 20 % of 1920 clear at the bottom
    assert r"Alignment=6\,MarginV=230" in chain[top:]  # 12 % at the top (6: libass's top centre)


def test_given_only_top_cues_when_planned_then_the_bottom_file_may_be_absent():
    spec = _spec(captions={**_captions("burn"), "top_spans": [[0.0, 3.0]]})

    chain = _value_after(plan(spec, LANDSCAPE, "s.mp4", "c.mp4", None, top_captions_path="/w/top.vtt"), "-vf")

    assert chain.count("subtitles=") == 1 and "Alignment=6" in chain


def test_given_top_spans_and_attached_captions_when_planned_then_the_track_is_muxed_as_before():
    spec = _spec(captions={**_captions("attach"), "top_spans": [[0.0, 1.0]]})

    argv = plan(spec, LANDSCAPE, "source.mp4", "clip.mp4", "/work/clip.vtt")

    assert "subtitles=" not in _value_after(argv, "-vf") and _value_after(argv, "-c:s") == "mov_text"


def test_given_a_moving_crop_path_when_planned_then_the_crop_offsets_are_escaped_expressions_of_t():
    spec = _spec(crop_path=[{"t_s": 0, "x": 0.25, "y": 0.5}, {"t_s": 2, "x": 0.75, "y": 0.5}])

    chain = _value_after(plan(spec, LANDSCAPE, "source.mp4", "clip.mp4"), "-vf")

    crop = chain[:chain.index(",scale=")]
    assert crop.startswith("crop=404:720:trunc(clip(118+") and crop.endswith(r"\,0\,876)/2)*2:0")
    assert r"clip(t\,0\,2)" in crop and "," not in crop.replace(r"\,", "")


def test_given_captions_to_burn_or_attach_without_the_shifted_file_when_planned_then_it_refuses():
    with pytest.raises(ValueError, match="needs the shifted VTT file"):
        plan(_spec(captions=_captions("burn")), LANDSCAPE, "source.mp4", "clip.mp4")


def test_given_a_captions_path_with_filter_syntax_when_escaped_then_each_special_character_is_protected():
    text = subtitles_filter("/tmp/it's a:b,c[1];d.vtt", 1080, 1920, style="FontSize=9,Outline=1")

    # option level escapes \ ' : ; the graph level then escapes \ ' [ ] , ; (the option separators stay bare)
    assert text == (r"subtitles=filename=/tmp/it\\\'s a\\:b\,c\[1\]\;d.vtt"
                    r":original_size=1080x1920:force_style=FontSize=9\,Outline=1")


# --- the crop ------------------------------------------------------------------------------------


def test_given_a_16_9_source_and_a_centred_subject_when_cropped_then_the_window_is_9_16_full_height_in_the_middle():
    assert crop_window(SourceVideo(1920, 1080), 1080, 1920, 0.5) == CropWindow(608, 1080, 656, 0)


@pytest.mark.parametrize(("center", "x"), [(0.0, 0), (0.05, 0), (1.0, 1312), (0.97, 1312), (0.25, 176)])
def test_given_a_face_near_an_edge_when_cropped_then_the_window_stays_inside_the_frame(center, x):
    window = crop_window(SourceVideo(1920, 1080), 1080, 1920, center)

    assert (window.width, window.height, window.x, window.y) == (608, 1080, x, 0)


def test_given_any_source_and_centre_when_cropped_then_the_window_is_even_inside_the_frame_and_9_16():
    for width, height in [(1280, 720), (1279, 719), (640, 480), (1080, 1080), (3840, 2160), (720, 1600)]:
        for step in range(21):
            window = crop_window(SourceVideo(width, height), 1080, 1920, step / 20)
            assert window.x >= 0 and window.y >= 0, (width, height, step)
            assert window.x + window.width <= width and window.y + window.height <= height, (width, height, step)
            assert window.width % 2 == window.height % 2 == window.x % 2 == window.y % 2 == 0
            assert abs(window.width / window.height - 9 / 16) < 0.01, (width, height, window)


def test_given_a_portrait_9_16_source_when_cropped_then_the_whole_frame_is_kept():
    assert crop_window(SourceVideo(1080, 1920), 1080, 1920, 0.1) == CropWindow(1080, 1920, 0, 0)


def test_given_a_source_taller_than_9_16_when_cropped_then_top_and_bottom_go_equally():
    assert crop_window(SourceVideo(720, 1600), 1080, 1920, 0.9) == CropWindow(720, 1280, 0, 160)


@pytest.mark.parametrize(("center_y", "y"), [(0.0, 0), (0.3, 272), (0.5, 656), (1.0, 1312)])
def test_given_a_portrait_source_and_a_16_9_target_when_cropped_then_y_moves_the_window_down_the_frame(center_y, y):
    assert crop_window(SourceVideo(1080, 1920), 1920, 1080, 0.5, center_y) == CropWindow(1080, 608, 0, y)


def test_given_a_phone_video_stored_sideways_when_cropped_then_the_upright_frame_is_used():
    phone = SourceVideo(1280, 720, rotation=90)

    assert (phone.frame_width, phone.frame_height) == (720, 1280)
    assert crop_window(phone, 1080, 1920, 0.5) == CropWindow(720, 1280, 0, 0)


def test_given_a_square_source_and_a_face_right_of_centre_when_cropped_then_the_window_follows_the_face():
    assert crop_window(SourceVideo(1080, 1080), 1080, 1920, 0.6) == CropWindow(608, 1080, 344, 0)


def test_given_anamorphic_pixels_when_cropped_then_the_window_is_9_16_as_displayed():
    pal_4_3 = SourceVideo(720, 576, sample_aspect=16 / 15)  # displayed 768x576

    window = crop_window(pal_4_3, 1080, 1920, 0.5)

    assert window == CropWindow(304, 576, 208, 0)
    assert abs(window.width * 16 / 15 / window.height - 9 / 16) < 0.01


# --- the captions --------------------------------------------------------------------------------

JOB_VTT = """WEBVTT

NOTE written by build_captions

1
00:00:00.500 --> 00:00:01.800
Before the clip

2
00:00:01.500 --> 00:00:02.600 line:80%
Starts before the clip

3
00:00:03.000 --> 00:00:04.250
Inside the clip,
on two lines

00:04.900 --> 00:06.000
Runs past the end

00:00:05.000 --> 00:00:07.000
After the clip
"""


def test_given_the_jobs_captions_when_shifted_to_a_clip_then_only_its_cues_remain_in_clip_time():
    shifted = shift_vtt(JOB_VTT, 2.0, 5.0)

    cues = webvtt.from_string(shifted.text).captions
    assert shifted.cue_count == 3
    assert [(cue.start, cue.end, cue.text) for cue in cues] == [
        ("00:00:00.000", "00:00:00.600", "Starts before the clip"),
        ("00:00:01.000", "00:00:02.250", "Inside the clip,\non two lines"),
        ("00:00:02.900", "00:00:03.000", "Runs past the end"),
    ]


def test_given_cues_with_identifiers_and_settings_when_shifted_then_both_are_kept_and_notes_dropped():
    text = shift_vtt(JOB_VTT, 2.0, 5.0).text

    assert text.startswith("WEBVTT\n\n2\n00:00:00.000 --> 00:00:00.600 line:80%\nStarts before the clip\n")
    assert "NOTE" not in text and "\n3\n00:00:01.000 --> 00:00:02.250\n" in text


def test_given_a_span_with_no_cues_when_shifted_then_the_file_is_a_valid_empty_vtt():
    shifted = shift_vtt(JOB_VTT, 10.0, 12.0)

    assert shifted.cue_count == 0
    assert shifted.text == "WEBVTT\n"


def test_given_windows_line_endings_and_a_bom_when_shifted_then_the_cues_are_read():
    shifted = shift_vtt("\ufeffWEBVTT\r\n\r\n00:00:10.000 --> 00:00:12.000\r\nHello\r\n", 9.0, 20.0)

    assert shifted.text == "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nHello\n"


def test_given_a_clip_an_hour_in_when_shifted_then_hours_are_read_and_written():
    shifted = shift_vtt("WEBVTT\n\n01:00:01.250 --> 01:00:02.000\nLate\n", 3600.0, 3610.0)

    assert "00:00:01.250 --> 00:00:02.000" in shifted.text
    assert format_vtt_time(3_723_004) == "01:02:03.004"


def test_given_a_file_that_is_not_webvtt_when_shifted_then_it_is_refused():
    with pytest.raises(ValueError, match="does not start with WEBVTT"):
        shift_vtt("1\n00:00:01,000 --> 00:00:02,000\nSRT, not VTT\n", 0.0, 5.0)


# --- the source, from ffprobe -------------------------------------------------------------------


def test_given_ffprobe_of_an_upright_phone_video_when_read_then_the_rotation_is_clockwise_and_sound_is_seen():
    probe = {
        "streams": [
            {"codec_type": "video", "width": 1920, "height": 1080, "sample_aspect_ratio": "1:1",
             "side_data_list": [{"side_data_type": "Display Matrix", "rotation": -90}]},
            {"codec_type": "audio", "codec_name": "aac"},
        ],
        "format": {"duration": "12.480000"},
    }

    source = source_from_probe(probe)

    assert source == SourceVideo(1920, 1080, rotation=90, sample_aspect=1.0, has_audio=True, duration_s=12.48)
    assert (source.display_width, source.display_height) == (1080, 1920)


def test_given_ffprobe_with_only_a_cover_picture_when_read_then_there_is_no_video():
    probe = {"streams": [{"codec_type": "video", "width": 600, "height": 600, "disposition": {"attached_pic": 1}},
                         {"codec_type": "audio"}], "format": {"duration": "3.0"}}

    with pytest.raises(ValueError, match="no video stream"):
        source_from_probe(probe)


# --- two-pass loudness -----------------------------------------------------------------------------------------

LOUDNORM_FIRST_PASS = """[Parsed_loudnorm_0 @ 0x55] 
{
	"input_i" : "-24.83",
	"input_tp" : "-6.08",
	"input_lra" : "8.70",
	"input_thresh" : "-35.41",
	"output_i" : "-15.90",
	"output_tp" : "-1.50",
	"output_lra" : "6.00",
	"output_thresh" : "-26.40",
	"normalization_type" : "dynamic",
	"target_offset" : "1.90"
}
"""


def test_given_a_first_loudnorm_pass_then_the_second_pass_is_linear_with_its_measurements():
    measured = ffmpeg_plan.parse_loudness(LOUDNORM_FIRST_PASS)

    assert measured == {"input_i": "-24.83", "input_tp": "-6.08", "input_lra": "8.70", "input_thresh": "-35.41",
                        "target_offset": "1.90"}
    second = ffmpeg_plan.audio_filter(-14, measured)
    assert "measured_I=-24.83:measured_TP=-6.08:measured_LRA=8.70:measured_thresh=-35.41:offset=1.90:linear=true" \
        in second


def test_given_silence_or_no_measurement_then_the_render_falls_back_to_a_single_pass():
    silent = LOUDNORM_FIRST_PASS.replace('"-24.83"', '"-inf"')

    assert ffmpeg_plan.parse_loudness(silent) is None
    assert ffmpeg_plan.parse_loudness("ffmpeg said nothing useful") is None
    assert "measured_I" not in ffmpeg_plan.audio_filter(-14, None)


def test_given_an_untrusted_upload_when_the_render_opens_it_then_only_a_local_media_file_is_allowed():
    """A playlist or concat list as the source can never make ffmpeg read another file or the network."""
    for argv in (plan(_spec(), LANDSCAPE, "source.mp4", "clip.mp4"),
                 ffmpeg_plan.measure_loudness_argv(_spec(), "source.mp4")):
        source = argv.index("source.mp4")
        options = argv[:source]
        assert options[options.index("-protocol_whitelist") + 1] == "file"
        assert "hls" not in options[options.index("-format_whitelist") + 1].split(",")
