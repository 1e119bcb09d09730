"""Face tracks (lambdas/detect_shots/tracks.py): one id per person per shot, from the faces sampled every 2 s."""

from lambdas.detect_shots.tracks import MAX_GAP_FRAMES, link_tracks


def _face(x: float, y: float = 0.3, size: float = 0.2, speaking: float | None = None) -> dict:
    return {"x": x, "y": y, "w": size, "h": size * 16 / 9, "score": 0.9, "speaking": speaking}


def _frames(*faces_per_frame: list[dict], start_s: float = 0.0) -> list[dict]:
    return [{"t_s": start_s + 2.0 * number, "faces": faces} for number, faces in enumerate(faces_per_frame)]


def test_given_two_people_side_by_side_when_linked_then_each_keeps_one_id_in_every_frame():
    left, right = 0.1, 0.6
    frames = _frames([_face(left), _face(right)], [_face(right + 0.02), _face(left - 0.01)],
                     [_face(left + 0.02), _face(right)])

    tracks = link_tracks(3, frames)

    assert [track["id"] for track in tracks] == ["s3-f1", "s3-f2"]
    assert [[round(face["x"], 2) for face in track["faces"]] for track in tracks] == [[0.1, 0.09, 0.12],
                                                                                       [0.6, 0.62, 0.6]]
    assert tracks[0]["first_s"] == 0.0 and tracks[0]["last_s"] == 4.0


def test_given_a_face_missing_for_a_few_frames_when_linked_then_its_track_continues_after_the_gap():
    frames = _frames([_face(0.4)], *([[]] * MAX_GAP_FRAMES), [_face(0.42)])

    assert [len(track["faces"]) for track in link_tracks(0, frames)] == [2]


def test_given_a_face_missing_longer_than_the_gap_when_linked_then_a_new_track_starts():
    frames = _frames([_face(0.4)], *([[]] * (MAX_GAP_FRAMES + 1)), [_face(0.42)])

    assert [track["id"] for track in link_tracks(0, frames)] == ["s0-f1", "s0-f2"]


def test_given_a_face_that_jumps_across_the_frame_when_linked_then_it_is_not_the_same_person():
    assert len(link_tracks(0, _frames([_face(0.05)], [_face(0.75)]))) == 2


def test_given_mouth_scores_when_linked_then_the_track_keeps_each_and_their_mean_unknown_ones_left_out():
    track, = link_tracks(0, _frames([_face(0.4, speaking=0.6)], [_face(0.4, speaking=None)],
                                    [_face(0.4, speaking=0.2)]))

    assert [face["speaking"] for face in track["faces"]] == [0.6, None, 0.2]
    assert track["speaking"] == 0.4
    assert track["box"]["x"] == 0.4


def test_given_no_faces_when_linked_then_no_tracks():
    assert link_tracks(0, _frames([], [])) == []
