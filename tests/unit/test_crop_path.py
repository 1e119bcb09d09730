"""The crop path (lambdas/build_render_specs/crop_path.py): the window follows whoever speaks, eased, cut with the shots."""

from lambdas.build_render_specs.crop_path import (
    DEAD_ZONE,
    EASE_S,
    caption_top_spans,
    crop_path,
    follow,
    match_speakers,
    speaker_at,
    speaker_turns,
)

LEFT_X, RIGHT_X = 0.2, 0.7  # face centres


def _track(track_id: str, centre_x: float, speaking: list[float | None], start_s: float = 0.0,
           y: float = 0.2, size: float = 0.2) -> dict:
    faces = [{"t_s": start_s + 2.0 * number, "x": centre_x - size / 2, "y": y, "w": size, "h": size * 1.5,
              "score": 0.9, "speaking": score} for number, score in enumerate(speaking)]
    return {"id": track_id, "faces": faces}


def _words(turns: list[tuple[float, float, str]]) -> list[dict]:
    words = []
    for start, end, speaker in turns:
        t_s = start
        while t_s + 0.3 <= end:
            words.append({"text": "word", "start_s": t_s, "end_s": t_s + 0.3, "speaker": speaker})
            t_s += 0.4
    return words


def _two_people_shot(end_s: float = 12.0) -> dict:
    """Left speaks 0-6 s (her mouth moves), right 6-12 s."""
    return {"start_s": 0.0, "end_s": end_s, "tracks": [
        _track("s0-f1", LEFT_X, [0.6, 0.7, 0.5, 0.02, 0.01, 0.03, 0.02]),
        _track("s0-f2", RIGHT_X, [0.01, 0.02, 0.01, 0.6, 0.7, 0.6, 0.5]),
    ]}


def _x_at(path: list[dict], t_s: float) -> float:
    """The window's x at t_s, joined linearly as the renderer does."""
    before = [key for key in path if key["t_s"] <= t_s][-1]
    after = next((key for key in path if key["t_s"] > t_s), before)
    if after is before:
        return before["x"]
    share = (t_s - before["t_s"]) / (after["t_s"] - before["t_s"])
    return before["x"] + share * (after["x"] - before["x"])


def test_given_words_with_speakers_when_turned_into_turns_then_runs_of_one_speaker_merge():
    words = _words([(0.0, 2.0, "spk_0"), (2.1, 4.0, "spk_1")]) + [{"start_s": 4.5, "end_s": 4.8, "speaker": None}]

    turns = speaker_turns(words)

    assert [(speaker, round(start, 1)) for start, _, speaker in turns] == [("spk_0", 0.0), ("spk_1", 2.1)]
    assert speaker_at(turns, 1.0) == "spk_0"
    assert speaker_at(turns, 4.5) == "spk_1"  # a short pause keeps the last speaker
    assert speaker_at(turns, 9.0) is None


def test_given_two_faces_and_two_speakers_when_matched_then_each_speaker_gets_the_face_whose_mouth_moved():
    turns = speaker_turns(_words([(0.0, 5.5, "spk_0"), (6.0, 12.0, "spk_1")]))

    assert match_speakers(_two_people_shot()["tracks"], turns) == {"spk_1": "s0-f2", "spk_0": "s0-f1"}


def test_given_two_people_speaking_in_turns_when_followed_then_the_window_moves_to_whoever_speaks():
    words = _words([(0.0, 5.5, "spk_0"), (6.0, 12.0, "spk_1")])

    moments = follow([_two_people_shot()], words, [], 0.0, 12.0)
    path = crop_path(moments, 0.0)

    assert abs(_x_at(path, 3.0) - LEFT_X) < 0.01
    assert abs(_x_at(path, 6.0 + EASE_S + 0.1) - RIGHT_X) < 0.01
    assert abs(_x_at(path, 11.9) - RIGHT_X) < 0.01


def test_given_a_turn_change_inside_a_shot_when_followed_then_the_window_slides_smoothly_not_jumps():
    path = crop_path(follow([_two_people_shot()], _words([(0.0, 5.5, "spk_0"), (6.0, 12.0, "spk_1")]), [], 0.0,
                            12.0), 0.0)

    slide = [key for key in path if 6.0 <= key["t_s"] <= 6.0 + EASE_S + 1e-6]
    xs = [key["x"] for key in slide]
    assert len(xs) >= 4 and xs == sorted(xs)  # one way only
    assert len({key["t_s"] for key in slide}) == len(slide)  # no jump: every key at its own time
    steps = [later - earlier for earlier, later in zip(xs, xs[1:], strict=False)]
    assert steps[0] < max(steps) and steps[-1] < max(steps)  # eased: slow, fast, slow


def test_given_no_transcript_when_followed_then_the_face_whose_mouth_moves_clearly_most_is_followed():
    path = crop_path(follow([_two_people_shot()], [], [], 0.0, 12.0), 0.0)

    assert abs(_x_at(path, 3.0) - LEFT_X) < 0.01
    assert abs(_x_at(path, 10.0) - RIGHT_X) < 0.01


def test_given_a_cut_between_two_shots_when_followed_then_the_window_jumps_on_the_cut():
    first = {"start_s": 0.0, "end_s": 5.0, "tracks": [_track("s0-f1", LEFT_X, [0.5, 0.5, 0.5])]}
    second = {"start_s": 5.0, "end_s": 10.0, "tracks": [_track("s1-f1", RIGHT_X, [0.5, 0.5, 0.5], start_s=5.0)]}

    path = crop_path(follow([first, second], [], [], 0.0, 10.0), 0.0)

    at_cut = [key for key in path if key["t_s"] == 5.0]
    assert [round(key["x"], 2) for key in at_cut] == [LEFT_X, RIGHT_X]


def test_given_a_face_that_nods_within_the_dead_zone_when_followed_then_the_window_keeps_still():
    nodding = _track("s0-f1", 0.5, [0.5] * 5)
    for number, face in enumerate(nodding["faces"]):
        face["x"] += (DEAD_ZONE / 3) * (-1) ** number  # a swing of two thirds of the dead zone

    path = crop_path(follow([{"start_s": 0.0, "end_s": 10.0, "tracks": [nodding]}], [], [], 0.0, 10.0), 0.0)

    assert len({key["x"] for key in path}) == 1


def test_given_a_clip_inside_the_video_when_followed_then_the_keys_are_in_clip_time():
    path = crop_path(follow([_two_people_shot()], _words([(0.0, 5.5, "spk_0"), (6.0, 12.0, "spk_1")]), [], 4.0,
                            9.0), 4.0)

    assert path[0]["t_s"] == 0.0
    assert all(0.0 <= key["t_s"] <= 5.0 + EASE_S for key in path)
    assert abs(_x_at(path, 0.5) - LEFT_X) < 0.01 and abs(_x_at(path, 4.5) - RIGHT_X) < 0.01


def test_given_a_shot_without_faces_when_followed_then_the_window_keeps_the_centre_of_interest():
    frames = [{"t_s": 0.0, "interest": [0.8, 0.4]}, {"t_s": 2.0, "interest": [0.81, 0.4]}]

    path = crop_path(follow([{"start_s": 0.0, "end_s": 4.0, "tracks": []}], [], frames, 0.0, 4.0), 0.0)

    assert path == [{"t_s": 0.0, "x": 0.8, "y": 0.4}]


def test_given_nothing_to_follow_when_followed_then_the_window_stays_in_the_middle():
    assert crop_path([], 0.0) == [{"t_s": 0.0, "x": 0.5, "y": 0.5}]


def test_given_a_face_low_in_the_frame_when_captions_are_placed_then_they_go_up_while_it_is_followed():
    low = {"start_s": 0.0, "end_s": 4.0, "tracks": [_track("s0-f1", 0.5, [0.5, 0.5], y=0.5, size=0.25)]}
    high = {"start_s": 4.0, "end_s": 8.0, "tracks": [_track("s1-f1", 0.5, [0.5, 0.5], start_s=4.0, y=0.1)]}
    filling = {"start_s": 8.0, "end_s": 10.0, "tracks": [_track("s2-f1", 0.5, [0.5], start_s=8.0, y=0.05, size=0.6)]}

    moments = follow([low, high, filling], [], [], 0.0, 10.0)

    assert caption_top_spans(moments, 0.0, 10.0) == [[0.0, 4.0]]


def test_given_a_transcript_without_speaker_labels_when_followed_then_mouths_count_only_while_someone_speaks():
    words = [{"text": "word", "start_s": t / 2, "end_s": t / 2 + 0.4, "speaker": None} for t in range(20, 24)]
    # The left face's mouth moves in silence (0-6 s, a laugh); speech comes at 10-12 s, from the right.

    shot = _two_people_shot()
    shot["tracks"][1] = _track("s0-f2", RIGHT_X, [0.01, 0.02, 0.01, 0.6, 0.7, 0.6, 0.5], size=0.25)  # the larger

    path = crop_path(follow([shot], words, [], 0.0, 12.0), 0.0)

    assert abs(_x_at(path, 3.0) - RIGHT_X) < 0.01  # not the left one, moving in silence: the largest face
    assert abs(_x_at(path, 11.0) - RIGHT_X) < 0.01
    assert abs(_x_at(crop_path(follow([shot], [], [], 0.0, 12.0), 0.0), 3.0) - LEFT_X) < 0.01  # no transcript
