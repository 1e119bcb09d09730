"""build_captions: cue rules (2 x 42 characters, 1-7 s, no overlap, breaks at sentences and pauses) and syntax.

The WebVTT output is read back with webvtt-py and the SRT with srt, two independent parsers.
"""

import json
import random
from datetime import timedelta
from pathlib import Path

import pytest
import srt
import webvtt

from lambdas.build_captions.handler import handler
from lambdas.build_captions.logic import (
    CaptionsRequest,
    Cue,
    build_captions,
    build_cues,
    fix_timing,
    timestamp,
    to_srt,
    to_webvtt,
    wrap,
)
from lambdas.common import aws, storage
from lambdas.common.events import EventLog
from lambdas.common.sentences import sentences_from_words
from lambdas.normalize_transcript.logic import Transcript, Word, transcript_from_transcribe
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

EVENTS = Path(__file__).resolve().parent.parent / "events"
JOB_ID = "job-captions-0001"
OUTPUT_BUCKET = "videoflow-output"
TRANSCRIPT_KEY = f"transcripts/{JOB_ID}/transcript.json"
CONTEXT = LocalLambdaContext("build_captions")
VOCABULARY = ("the a of to and in serverless pipeline video upload caption transcript workflow function "
              "state machine normalization interoperability bucket we it is was for on with").split()


def _transcript(timed_words: list[tuple[str, float, float]]) -> Transcript:
    words = [Word(text=text, start_s=start, end_s=end, confidence=0.9) for text, start, end in timed_words]
    return Transcript(job_id=JOB_ID, language="en-US", words=words, sentences=sentences_from_words(words))


def _speech(count: int, seed: int, pause_every: int = 0) -> Transcript:
    """`count` words of fluent speech (0.15-0.6 s each, short gaps), a sentence end every 5-25 words."""
    rng = random.Random(seed)
    timed, t, until_end = [], rng.uniform(0, 2), rng.randint(5, 25)
    for index in range(count):
        duration = rng.uniform(0.15, 0.6)
        text = rng.choice(VOCABULARY)
        until_end -= 1
        if until_end == 0:
            text += rng.choice(".?!")
            until_end = rng.randint(5, 25)
        elif rng.random() < 0.08:
            text += ","
        timed.append((text, round(t, 3), round(t + duration, 3)))
        t += duration + rng.uniform(0.0, 0.25)
        if pause_every and index % pause_every == pause_every - 1:
            t += rng.uniform(0.9, 3.0)
    return _transcript(timed)


def _assert_rules(cues: list[Cue]) -> None:
    for cue in cues:
        assert 1 <= len(cue.lines) <= 2, cue.lines
        assert all(0 < len(line) <= 42 for line in cue.lines), cue.lines
        assert 1000 <= cue.end_ms - cue.start_ms <= 7000, (cue.start_ms, cue.end_ms, cue.text)
    for previous, cue in zip(cues, cues[1:], strict=False):
        assert previous.end_ms <= cue.start_ms, (previous.text, cue.text)


# --- lines -----------------------------------------------------------------------------


def test_given_text_of_42_characters_or_fewer_when_wrapped_then_it_is_one_line():
    text = "x" * 20 + " " + "y" * 21

    assert wrap(text) == [text]


def test_given_longer_text_when_wrapped_then_two_lines_of_close_length_each_at_most_42():
    lines = wrap("This talk covers serverless video pipelines, step by step, with examples")

    assert lines == ["This talk covers serverless video", "pipelines, step by step, with examples"]


def test_given_text_that_needs_three_lines_when_wrapped_then_it_does_not_fit():
    assert wrap("word " * 20) is None


# --- cue rules -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_given_long_fluent_speech_when_captioned_then_every_cue_keeps_the_line_duration_and_overlap_rules(seed):
    cues = build_cues(_speech(400, seed, pause_every=17 if seed % 2 else 0))

    _assert_rules(cues)


@pytest.mark.parametrize("seed", range(4))
def test_given_speech_when_captioned_then_every_word_appears_once_in_order(seed):
    transcript = _speech(300, seed)

    cues = build_cues(transcript)

    assert " ".join(cue.text for cue in cues).split() == [word.text for word in transcript.words]


def test_given_two_sentences_when_captioned_then_no_cue_spans_the_sentence_end():
    transcript = _transcript([("Welcome", 0.0, 0.5), ("to", 0.5, 0.7), ("VideoFlow.", 0.7, 1.4),
                              ("This", 1.5, 1.8), ("talk", 1.8, 2.2), ("begins.", 2.2, 2.9)])

    assert [cue.text for cue in build_cues(transcript)] == ["Welcome to VideoFlow.", "This talk begins."]


def test_given_a_pause_inside_a_sentence_when_captioned_then_the_cue_breaks_at_the_pause():
    transcript = _transcript([("So", 0.0, 0.3), ("we", 0.3, 0.5), ("start", 0.5, 1.1), ("with", 2.3, 2.6),
                              ("the", 2.6, 2.7), ("upload.", 2.7, 3.4)])

    cues = build_cues(transcript)

    assert [cue.text for cue in cues] == ["So we start", "with the upload."]
    assert (cues[0].end_ms, cues[1].start_ms) == (1100, 2300)


def test_given_more_than_7_s_of_slow_speech_in_one_sentence_when_captioned_then_cues_are_cut_at_7_s():
    transcript = _transcript([(f"w{i}", i * 0.7, i * 0.7 + 0.6) for i in range(20)])

    cues = build_cues(transcript)

    assert len(cues) >= 2
    _assert_rules(cues)


def test_given_a_short_word_followed_by_silence_when_captioned_then_its_cue_lasts_one_second():
    [cue] = build_cues(_transcript([("Yes.", 3.0, 3.25)]))

    assert (cue.start_ms, cue.end_ms) == (3000, 4000)


def test_given_short_sentences_back_to_back_when_captioned_then_they_share_a_cue_rather_than_overlap():
    transcript = _transcript([("Yes.", 1.0, 1.2), ("No.", 1.25, 1.45), ("Maybe.", 1.5, 1.8), ("Well", 2.5, 2.8),
                              ("then.", 2.8, 3.3)])

    cues = build_cues(transcript)

    _assert_rules(cues)
    assert " ".join(cue.text for cue in cues) == "Yes. No. Maybe. Well then."


def test_given_overlapping_words_of_two_speakers_when_captioned_then_the_cues_do_not_overlap():
    transcript = transcript_from_transcribe(JOB_ID, {"results": {"items": [
        {"type": "pronunciation", "start_time": "0.0", "end_time": "2.0", "speaker_label": "spk_0",
         "alternatives": [{"confidence": "0.9", "content": "Absolutely"}]},
        {"type": "pronunciation", "start_time": "1.5", "end_time": "2.5", "speaker_label": "spk_1",
         "alternatives": [{"confidence": "0.9", "content": "Right"}]},
    ]}})

    _assert_rules(build_cues(transcript))


def test_given_a_word_longer_than_a_line_when_captioned_then_it_is_cut_to_fit():
    url = "https://example.com/" + "a" * 60

    cues = build_cues(_transcript([("See", 0.0, 0.3), (url, 0.3, 2.0)]))

    _assert_rules(cues)
    assert "".join(cue.text for cue in cues).replace(" ", "").replace("See", "", 1) == url


def test_given_a_cue_that_cannot_grow_or_merge_when_timed_then_the_next_cues_move_later_without_overlap():
    full = "x" * 40
    cues = fix_timing([Cue(0, 300, [full, full]), Cue(300, 600, [full, full]), Cue(600, 2000, [full])])

    _assert_rules(cues)
    assert [(cue.start_ms, cue.end_ms) for cue in cues] == [(0, 1000), (1000, 2000), (2000, 3400)]


# --- syntax ----------------------------------------------------------------------------


def test_given_times_when_formatted_then_srt_uses_a_comma_and_webvtt_a_period():
    assert timestamp(3_723_456, ",") == "01:02:03,456"
    assert timestamp(1000, ".") == "00:00:01.000"


def test_given_cues_when_written_as_webvtt_then_a_parser_reads_back_the_header_times_and_lines():
    transcript = transcript_from_transcribe(JOB_ID, json.loads((EVENTS / "transcribe_one_speaker.json").read_text()))
    cues = build_cues(transcript)

    text = to_webvtt(cues)
    parsed = webvtt.from_string(text)

    assert text.startswith("WEBVTT\n\n1\n00:00:00.640 --> 00:00:01.780\nWelcome to VideoFlow.\n")
    assert [(c.start, c.end, c.lines) for c in parsed] == [
        (timestamp(cue.start_ms, "."), timestamp(cue.end_ms, "."), cue.lines) for cue in cues
    ]


def test_given_cues_when_written_as_srt_then_a_parser_reads_back_numbers_times_and_text():
    cues = build_cues(_speech(200, seed=7))

    parsed = list(srt.parse(to_srt(cues)))

    assert [subtitle.index for subtitle in parsed] == list(range(1, len(cues) + 1))
    assert [(s.start, s.end, s.content) for s in parsed] == [
        (timedelta(milliseconds=c.start_ms), timedelta(milliseconds=c.end_ms), "\n".join(c.lines)) for c in cues
    ]


def test_given_markup_characters_when_written_as_webvtt_then_they_are_escaped_and_srt_keeps_them():
    cues = build_cues(_transcript([("R&D", 0.0, 0.5), ("<3", 0.5, 1.0), ("a->b.", 1.0, 1.5)]))

    assert "R&amp;D &lt;3 a-&gt;b." in to_webvtt(cues)
    assert webvtt.from_string(to_webvtt(cues)).captions[0].text == "R&amp;D &lt;3 a-&gt;b."
    assert "R&D <3 a->b." in to_srt(cues)


# --- speakers --------------------------------------------------------------------------


def _two_speakers() -> Transcript:
    return transcript_from_transcribe(JOB_ID, json.loads((EVENTS / "transcribe_two_speakers.json").read_text()))


def test_given_two_speakers_when_captioned_then_each_change_of_speaker_starts_its_cue_with_a_dash():
    cues = build_cues(_two_speakers())

    assert [cue.lines[0] for cue in cues] == ["I've been on hold for an hour.", "- Sorry about that.", "- No problem",
                                              "- Thanks for waiting."]
    assert [subtitle.content for subtitle in srt.parse(to_srt(cues))] == [cue.lines[0] for cue in cues]


def test_given_two_speakers_when_written_as_webvtt_then_each_cue_is_a_voice_span_naming_its_speaker():
    parsed = webvtt.from_string(to_webvtt(build_cues(_two_speakers())))

    assert [(caption.voice, caption.text) for caption in parsed] == [
        ("spk_0", "I've been on hold for an hour."), ("spk_1", "- Sorry about that."), ("spk_0", "- No problem"),
        ("spk_1", "- Thanks for waiting.")]


def test_given_one_speaker_when_captioned_then_no_cue_is_marked():
    transcript = _speech(60, seed=5)
    transcript = transcript.model_copy(update={"words": [w.model_copy(update={"speaker": "spk_0"})
                                                         for w in transcript.words]})

    assert "<v " not in to_webvtt(build_cues(transcript)) and "- " not in to_srt(build_cues(transcript))


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_given_speakers_taking_turns_when_captioned_then_no_cue_holds_two_and_marked_lines_keep_42(seed):
    speech = _speech(240, seed=seed)
    rng = random.Random(seed)
    words, speaker = [], "spk_0"
    for word in speech.words:  # a new speaker now and then, at a sentence end
        words.append(word.model_copy(update={"speaker": speaker}))
        if word.text[-1] in ".?!" and rng.random() < 0.5:
            speaker = "spk_1" if speaker == "spk_0" else "spk_0"
    transcript = Transcript(job_id=JOB_ID, language="en-US", words=words, sentences=sentences_from_words(words))

    cues = build_cues(transcript)

    _assert_rules(cues)
    assert " ".join(cue.text for cue in cues) == " ".join(w.text for w in words)
    remaining = iter(words)
    for cue in cues:  # the cue's words, in order, are all its speaker's
        assert {next(remaining).speaker for _ in cue.words} == {cue.speaker}, cue.text
    for previous, cue in zip(cues, cues[1:], strict=False):
        assert cue.lines[0].startswith("- ") == (cue.speaker != previous.speaker)
    assert len({cue.speaker for cue in cues}) == 2


# --- the step --------------------------------------------------------------------------


def _store(transcript: Transcript) -> dict:
    storage.put_json(OUTPUT_BUCKET, TRANSCRIPT_KEY, transcript.model_dump(mode="json"))
    return {
        "job_id": JOB_ID,
        "source": {"bucket": "videoflow-ingest", "key": "uploads/talk.mp4", "size_bytes": 1000},
        "transcript": {"bucket": OUTPUT_BUCKET, "key": TRANSCRIPT_KEY, "word_count": len(transcript.words),
                       "sentence_count": len(transcript.sentences), "language": transcript.language},
    }


def test_given_a_transcript_when_the_handler_runs_then_vtt_and_srt_are_stored_by_job(aws_state):
    state = _store(_speech(120, seed=3))

    answer = handler(state, CONTEXT)

    assert answer["bucket"] == OUTPUT_BUCKET and answer["cue_count"] > 0
    assert (answer["vtt_key"], answer["srt_key"]) == (f"captions/{JOB_ID}/captions.vtt",
                                                      f"captions/{JOB_ID}/captions.srt")
    s3 = aws.client("s3")
    vtt = s3.get_object(Bucket=OUTPUT_BUCKET, Key=answer["vtt_key"])
    srt_object = s3.get_object(Bucket=OUTPUT_BUCKET, Key=answer["srt_key"])
    assert vtt["ContentType"] == "text/vtt; charset=utf-8"
    assert len(webvtt.from_string(vtt["Body"].read().decode()).captions) == answer["cue_count"]
    assert len(list(srt.parse(srt_object["Body"].read().decode()))) == answer["cue_count"]


def test_given_a_transcript_when_captions_are_built_then_a_captions_built_event_is_logged(aws_state):
    request = CaptionsRequest.model_validate(_store(_speech(30, seed=1)))

    result = build_captions(request, OUTPUT_BUCKET, EventLog("videoflow-events"))

    [event] = EventLog("videoflow-events").read(JOB_ID)
    assert (event.type, event.step, event.detail) == ("captions.built", "BuildCaptions", {
        "cues": result.cue_count, "vtt_key": result.vtt_key, "srt_key": result.srt_key})


def test_given_a_transcript_without_words_when_the_handler_runs_then_there_are_no_captions_and_no_failure(
    aws_state,
):
    state = _store(Transcript(job_id=JOB_ID, language=None, words=[], sentences=[]))

    answer = handler(state, CONTEXT)

    assert answer == {"bucket": OUTPUT_BUCKET, "vtt_key": None, "srt_key": None, "cue_count": 0}
    assert storage.list_keys(OUTPUT_BUCKET, "captions/") == []
    [event] = EventLog("videoflow-events").read(JOB_ID)
    assert (event.type, event.detail["cues"]) == ("captions.built", 0)
