"""The moving reframing window's expressions (containers/render/crop_path.py), without ffmpeg.

The expression is evaluated here as Python with ffmpeg's meaning of its few functions (the
syntax of the subset it uses is the same); test_render_reframe.py runs it in real ffmpeg.
"""

import functools
import math
import random

import pytest

from containers.render import crop_path
from containers.render.crop_path import offset_expression, simplify, value_at

FFMPEG_FUNCTIONS = {"clip": lambda value, low, high: min(max(value, low), high),
                    "gte": lambda value, other: 1.0 if value >= other else 0.0,
                    "trunc": math.trunc}


@functools.cache
def _compiled(expression: str):
    return compile(expression, "<ffmpeg expression>", "eval")


def evaluate(expression: str, t: float) -> float:
    return eval(_compiled(expression), {"__builtins__": {}}, {**FFMPEG_FUNCTIONS, "t": t})  # noqa: S307 - ours


def nesting(expression: str) -> int:
    depth = deepest = 0
    for character in expression:
        depth += (character == "(") - (character == ")")
        deepest = max(deepest, depth)
    return deepest


def test_given_two_keys_when_evaluated_then_the_offset_slides_between_them_and_holds_outside():
    expression = offset_expression([(1.0, 100.0), (3.0, 300.0)], room=1000)

    assert [evaluate(expression, t) for t in (0.0, 1.0, 1.5, 2.0, 3.0, 9.0)] == [100, 100, 150, 200, 300, 300]


def test_given_two_keys_at_one_time_when_evaluated_then_the_window_jumps_on_that_frame_without_sliding():
    expression = offset_expression([(0.0, 100.0), (1.0, 100.0), (1.0, 500.0), (2.0, 500.0)], room=1000)

    assert [evaluate(expression, t) for t in (0.5, 0.96, 0.999, 1.0, 1.04, 5.0)] == [100, 100, 100, 500, 500, 500]


def test_given_keys_less_than_a_microsecond_apart_when_evaluated_then_they_are_a_jump_not_a_lost_step():
    expression = offset_expression([(0.0, 100.0), (1.0, 100.0), (1.0000001, 500.0)], room=1000)

    assert [evaluate(expression, t) for t in (0.5, 1.0, 2.0)] == [100, 500, 500]


def test_given_a_path_past_the_edges_when_evaluated_then_the_window_is_clamped_inside_the_frame():
    expression = offset_expression([(0.0, -50.0), (1.0, 1200.0)], room=1000)

    assert [evaluate(expression, t) for t in (0.0, 0.02, 0.5, 0.98, 1.0)] == [0, 0, 574, 1000, 1000]


def test_given_any_path_when_evaluated_then_every_offset_is_even_and_inside_the_room():
    generator = random.Random(7)
    keys = sorted((round(generator.uniform(0, 10), 2), generator.uniform(-100, 700)) for _ in range(40))

    expression = offset_expression(keys, room=601)

    for step in range(400):
        value = evaluate(expression, step / 40)
        assert value == int(value) and value % 2 == 0 and 0 <= value <= 600, (step, value)


def test_given_an_odd_room_when_clamped_at_the_far_edge_then_the_offset_is_the_even_one_below():
    assert evaluate(offset_expression([(0.0, 0.0), (1.0, 999.0)], room=217), 1.0) == 216


def test_given_a_still_path_or_no_room_when_built_then_the_offset_is_a_plain_number():
    assert offset_expression([(0.0, 437.6), (5.0, 437.6)], room=876) == "436"
    assert offset_expression([(0.0, -20.0), (5.0, -80.0)], room=876) == "0"  # pushed past the left edge throughout
    assert offset_expression([(0.0, 10.0), (5.0, 500.0)], room=1) == "0"  # the window fills the frame


def test_given_a_200_key_path_when_built_then_the_expression_matches_the_path_within_a_pixel_and_stays_shallow():
    keys = [(index / 100, 500 + 400 * math.sin(index / 9) - (300 if index >= 120 else 0)) for index in range(200)]
    keys[120:120] = [(1.2, 500 + 400 * math.sin(120 / 9))]  # a cut at 1.2 s: the window jumps 300 px

    expression = offset_expression(keys, room=1000)

    assert 40 < expression.count("clip(t") < 200
    assert nesting(expression) < 12  # ffmpeg refuses about 100 levels; a flat 100-term sum counts as 100
    for step in range(0, 200):
        expected = min(max(value_at(keys, step / 100), 0), 1000)
        assert abs(evaluate(expression, step / 100) - expected) <= 1 + 2, step  # tolerance, then the even floor


def test_given_keys_that_a_line_reproduces_when_simplified_then_only_the_ends_and_the_bends_stay():
    line = [(t / 10, 100 + 20 * t) for t in range(11)]  # straight: 100 at 0 s to 300 at 1 s
    wobble = [(t, value + (0.4 if index % 2 else -0.4)) for index, (t, value) in enumerate(line)]
    bend = [*line, (1.5, 300.0), (2.0, 300.0)]

    assert simplify(line) == [line[0], line[-1]]
    assert len(simplify(wobble)) == 2  # within 1 px of the line through the ends
    assert simplify(bend) == [line[0], line[-1], (2.0, 300.0)]


def test_given_jumps_when_simplified_then_big_ones_stay_small_ones_go_and_middle_keys_at_one_time_go():
    keys = [(0.0, 100.0), (1.0, 100.0), (1.0, 400.0), (1.0, 700.0), (2.0, 700.0), (2.0, 700.5), (3.0, 700.5)]

    assert simplify(keys) == [(0.0, 100.0), (1.0, 100.0), (1.0, 700.0), (3.0, 700.5)]


def test_given_more_cuts_than_an_expression_holds_when_built_then_it_is_resampled_to_fit_and_stays_in_the_frame():
    keys = []
    for cut in range(3000):  # a cut every 0.5 s, each from one edge to the other
        keys += [(cut / 2, 0.0 if cut % 2 else 900.0), (cut / 2, 900.0 if cut % 2 else 0.0)]

    expression = offset_expression(keys, room=900)

    assert expression.count("*") <= crop_path.MAX_TERMS + 1 and len(expression) < 100_000
    assert nesting(expression) < 12 and "clip(t" in expression
    assert all(0 <= evaluate(expression, t / 3) <= 900 for t in range(0, 4500, 37))


@pytest.mark.parametrize("value", [1e-9, -1e-9, 123456.7, 0.1 + 0.2, -2.5e-7])
def test_given_any_number_when_written_then_it_is_fixed_point_without_an_exponent(value):
    text = crop_path._number(value)

    assert "e" not in text and abs(float(text) - value) < 1e-6
