"""Where burned captions go (containers/render/caption_layout.py): the safe areas, the style, the top/bottom split.

No ffmpeg here; test_render_reframe.py measures real burned captions in rendered pixels.
"""

import pytest
import webvtt

from containers.render.caption_layout import CaptionBox, aspect_of, caption_box, caption_style, split_top
from containers.render.ffmpeg_plan import ShiftedCaptions, split_captions


@pytest.mark.parametrize(("size", "aspect"), [((1080, 1920), "9:16"), ((180, 320), "9:16"), ((1080, 1080), "1:1"),
                                              ((1080, 1350), "1:1"), ((1920, 1080), "16:9"), ((2560, 1080), "16:9")])
def test_given_a_frame_size_when_classified_then_the_nearest_aspect_is_chosen(size, aspect):
    assert aspect_of(*size) == aspect


def test_given_a_9_16_frame_then_captions_keep_off_the_bottom_fifth_the_top_bar_and_the_right_hand_icons():
    assert caption_box(1080, 1920) == CaptionBox(left=65, top=230, right=950, bottom=1536, font_px=60)


def test_given_square_and_16_9_frames_then_the_margins_are_their_own_and_the_text_grows_with_the_height():
    assert caption_box(1080, 1080) == CaptionBox(left=54, top=54, right=1026, bottom=1026, font_px=54)
    assert caption_box(1920, 1080) == CaptionBox(left=96, top=54, right=1824, bottom=972, font_px=54)
    assert caption_box(1280, 720).font_px == 36


def test_given_a_frame_when_styled_then_sizes_are_in_its_own_pixels_and_top_captions_hang_from_the_safe_top():
    bottom, top = caption_style(1920, 1080), caption_style(1920, 1080, at_top=True)

    assert bottom.startswith("PlayResX=1920,PlayResY=1080,")  # libass's canvas is the frame, not 384x288
    assert "FontSize=54," in bottom and "Alignment=2,MarginV=108,MarginL=96,MarginR=96" in bottom
    assert "Alignment=6,MarginV=54," in top  # libass's own numbering for top centre (see caption_layout)


SHIFTED = """WEBVTT

STYLE
::cue { color: yellow }

1
00:00:00.000 --> 00:00:01.000
Before the face

2
00:00:01.000 --> 00:00:02.000 line:80%
Over the face

00:00:02.500 --> 00:00:03.000
Ends where the span starts

00:00:03.200 --> 00:00:04.000
After
"""


def test_given_top_spans_when_split_then_cues_overlapping_them_go_up_whole_and_the_rest_stay_down():
    bottom, top = split_captions(ShiftedCaptions(SHIFTED, 4), [(1.5, 2.0), (3.0, 3.1)])

    assert [cue.text for cue in webvtt.from_string(top.text).captions] == ["Over the face"]
    assert [cue.text for cue in webvtt.from_string(bottom.text).captions] == [
        "Before the face", "Ends where the span starts", "After"]
    assert (bottom.cue_count, top.cue_count) == (3, 1)
    assert "::cue { color: yellow }" in top.text and "::cue { color: yellow }" in bottom.text
    assert "2\n00:00:01.000 --> 00:00:02.000 line:80%\nOver the face" in top.text  # identifier and settings kept


def test_given_no_top_spans_when_split_then_every_cue_stays_at_the_bottom():
    bottom_text, bottom_count, top_text, top_count = split_top(SHIFTED, [])

    assert (bottom_count, top_count) == (4, 0)
    assert top_text.startswith("WEBVTT\n") and "-->" not in top_text
