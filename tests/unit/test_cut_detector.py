"""The cut detector (containers/frames/cuts.py) over the proxy reader (proxy.py), on short edits of real photographs.

tests/edits.py draws each clip with its truth: a hard cut on a known frame, a dissolve and a fade through
black over known spans, and a clip that has no cut but a camera flash and a fast pan.
"""

import io

import numpy as np
import pytest

from containers.frames import cuts, proxy
from tests.edits import Shot, make_edit, transitions

FPS = 25
EDIT = [Shot("astronaut", 1.0, "handheld"), Shot("coffee", 0.8, "still"),
        Shot("coffee", 0.8, "still", view=(0.4, 0.5, 2.0)),  # the same photograph, closer: a cut between similar pictures
        Shot("chelsea", 1.2, "zoom", into="dissolve", into_s=0.6),
        Shot("rocket", 1.0, "pan", into="fade", into_s=0.6)]
NO_CUT = [Shot("retina", 1.2, "still", flashes=(0.4,)), Shot("retina", 1.6, "fast_pan", view=(0.2, 0.5, 1.0), into="cut")]


@pytest.fixture(scope="module")
def edit(tmp_path_factory):
    return make_edit(tmp_path_factory.mktemp("edit") / "edit.mp4", EDIT, fps=FPS, width=320, height=180)


@pytest.fixture(scope="module")
def found(edit):
    with proxy.Proxy(str(edit)) as video:
        transitions_found, _ = cuts.scan(video.frames(0.0, None, cuts.WORK_WIDTH_PX), video.fps)
    return transitions_found


def test_given_hard_cuts_when_scanned_then_each_is_found_on_its_first_frame(found):
    truth = [t.frame for t in transitions(EDIT, FPS) if t.kind == "cut"]

    assert [t.frame for t in found if t.kind == "cut"] == truth == [25, 45]


def test_given_a_dissolve_when_scanned_then_it_is_one_transition_inside_its_span(found):
    [truth] = [t for t in transitions(EDIT, FPS) if t.kind == "dissolve"]

    dissolves = [t for t in found if truth.span[0] <= t.frame <= truth.span[1]]

    assert len(dissolves) == 1 and dissolves[0].kind == "dissolve"
    assert abs(dissolves[0].frame - truth.frame) <= 2


def test_given_a_fade_through_black_when_scanned_then_the_new_shot_starts_as_the_picture_comes_back(found):
    [truth] = [t for t in transitions(EDIT, FPS) if t.kind == "fade"]

    [fade] = [t for t in found if truth.span[0] <= t.frame <= truth.span[1]]

    assert fade.kind == "fade" and abs(fade.frame - truth.frame) <= 1
    assert len(found) == len(transitions(EDIT, FPS))  # nothing else: no cut into the black and out of it


def test_given_a_flash_and_a_fast_pan_when_scanned_then_only_the_real_cut_between_them_is_found(tmp_path):
    clip = make_edit(tmp_path / "no-cut.mp4", NO_CUT, fps=FPS, width=320, height=180)

    with proxy.Proxy(str(clip)) as video:
        transitions_found, count = cuts.scan(video.frames(0.0, None, cuts.WORK_WIDTH_PX), video.fps)

    assert count == 70
    assert [(t.frame, t.kind) for t in transitions_found] == [(30, "cut")]  # the flash (frames 10-11) and the pan: none


def test_given_two_overlapping_ranges_when_each_keeps_its_own_frames_then_they_find_what_one_pass_finds(edit, found):
    # Two chunks whose edge is frame 45, a hard cut: the first decodes past it, the second from before it.
    halves = []
    for start_s, end_s, own in ((0.0, 2.6, (0, 45)), (1.0, None, (45, 2**62))):
        with proxy.Proxy(str(edit)) as video:
            halves += cuts.scan(video.frames(start_s, end_s, cuts.WORK_WIDTH_PX), video.fps, own)[0]

    assert [(t.frame, t.kind) for t in halves] == [(t.frame, t.kind) for t in found]


def test_given_a_time_range_when_read_through_s3_ranges_then_only_its_part_of_the_file_is_fetched(edit):
    data = edit.read_bytes()
    reads = []

    def get_range(first, last):
        reads.append((first, last))
        return data[first:last + 1]

    source = proxy.S3RangeFile(get_range, len(data), range_bytes=8 * 1024)
    with proxy.Proxy(source) as video:
        frames = list(video.frames(2.0, 3.0, 64))

    assert [index for index, _, _ in frames] == list(range(50, 75))  # numbered from the video's start
    assert frames[0][2].shape == (36, 64, 3)
    assert sum(last + 1 - first for first, last in reads) < 0.7 * len(data)


def test_given_bytes_that_are_not_a_video_when_opened_then_the_proxy_is_unreadable():
    data = b"not a video at all" * 100

    with pytest.raises(proxy.ProxyUnreadable):
        proxy.Proxy(io.BytesIO(data))


def _features(pictures, first_index=0):
    features = cuts.Features()
    for offset, picture in enumerate(pictures):
        features.push(picture, first_index + offset)
    return features


def test_given_a_long_black_run_across_a_chunk_edge_when_each_chunk_keeps_its_own_then_they_find_what_one_pass_finds():
    rng = np.random.default_rng(3)
    a, b = (rng.integers(40, 220, (72, 128, 3), dtype=np.uint8) for _ in range(2))
    black = np.zeros((72, 128, 3), np.uint8)
    pictures = [a] * 30 + [black] * 40 + [b] * 30  # 10 fps: 3 s, 4 s of black (a shot of its own), 3 s
    context = round(cuts.CONTEXT_S * 10)

    whole = cuts.detect(_features(pictures), 10.0, at_end=True)
    chunked = []
    for low, high in ((0, 50), (50, 100)):
        start, end = max(0, low - context), min(100, high + context)
        chunked += cuts.detect(_features(pictures[start:end], start), 10.0, (low, high), at_end=end == 100)

    assert [(t.frame, t.kind) for t in whole] == [(30, "cut"), (70, "fade")]
    assert [(t.frame, t.kind) for t in chunked] == [(t.frame, t.kind) for t in whole]
