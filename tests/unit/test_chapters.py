"""Chapters (lambdas/common/chapters.py): topic shifts in the sentences' MiniLM embeddings, titles from their words.

The embeddings are real: the model the project ships, run on CPU (tests/announcements.py), read
back from the search index document exactly as summarize_video reads keyframe_inference's.
"""

import re
from pathlib import Path

import pytest

from lambdas.common.chapters import choose_boundaries, index_rows, local_chapters, sentence_vectors
from lambdas.common.signals import signals_from_documents
from tests.announcements import ANNOUNCEMENTS, TOPIC_WORDS, index_document
from tests.judgment import shots_document, talk_words, transcript

TESTDATA = Path("/usr/share/pocketsphinx/test/data")


def talk(topics: list[list[str]], cuts=(), tail_s: float = 1.0):
    """Signals of the topics' sentences spoken in turn, the sentences' vectors from a real index, and where each topic
    after the first begins."""
    words = talk_words([sentence for topic in topics for sentence in topic])
    spoken = transcript(words)
    duration_s = words[-1].end_s + tail_s
    signals = signals_from_documents(duration_s, spoken.model_dump(mode="json"),
                                     shots_document(list(cuts), duration_s), {"frames": []})
    firsts = [sum(len(topic) for topic in topics[:k]) for k in range(1, len(topics))]
    vectors = sentence_vectors(signals.sentences, index_rows(index_document("job-chapters-01", spoken.sentences)))
    return signals, vectors, [signals.sentences[first].start_s for first in firsts]


def covers(chapters, duration_s: float) -> bool:
    edges = [(chapter.start_s, chapter.end_s) for chapter in chapters]
    return edges[0][0] == 0 and edges[-1][1] == pytest.approx(duration_s) and all(
        a[1] == b[0] and a[0] < a[1] for a, b in zip(edges, edges[1:], strict=False))


def test_eight_announcements_get_eight_chapters_that_begin_where_each_announcement_begins():
    signals, vectors, topic_starts = talk(ANNOUNCEMENTS)

    chapters, chapterer = local_chapters(signals, vectors)

    assert chapterer == "embeddings"
    assert [chapter.start_s for chapter in chapters[1:]] == topic_starts
    assert covers(chapters, signals.duration_s)
    for chapter, topic, word in zip(chapters, ANNOUNCEMENTS, TOPIC_WORDS, strict=True):
        assert word in chapter.title.lower(), chapter.title
        assert chapter.summary in topic  # its most central sentence, said in that chapter


def test_each_title_is_made_of_words_its_own_chapter_says():
    signals, vectors, _ = talk(ANNOUNCEMENTS)

    chapters, _ = local_chapters(signals, vectors)

    for chapter, topic in zip(chapters, ANNOUNCEMENTS, strict=True):
        said = set(re.findall(r"[a-z']+", " ".join(topic).lower()))
        assert set(re.findall(r"[a-z']+", chapter.title.lower())) <= said, chapter.title


def test_two_real_recordings_read_one_after_the_other_are_a_chapter_each():
    # The reference transcripts of Debian's pocketsphinx-testdata read speech: a LibriVox reading, then card calls.
    if not (TESTDATA / "cards" / "cards.transcription").is_file():
        pytest.skip("needs Debian's pocketsphinx-testdata (make tools)")
    reading, cards = ([re.match(r"\s*<s>(.*?)</s>", line).group(1).strip().capitalize() + "."
                       for line in (TESTDATA / folder / name).read_text().splitlines() if "<s>" in line]
                      for folder, name in (("librivox", "transcription"), ("cards", "cards.transcription")))
    signals, vectors, (cards_start,) = talk([reading, cards])

    chapters, _ = local_chapters(signals, vectors)

    assert [chapter.start_s for chapter in chapters] == [0.0, cards_start]
    assert "clubs" in chapters[1].title.lower()


GARAGE = ["The parking garage on Elm Street closes for repairs on Monday.",
          "Drivers should use the lot behind the library until the garage reopens.",
          "The garage repairs should take about two weeks.",
          "During the repairs the garage entrance on Elm Street is fenced off.",
          "Bicycles can still be parked at the garage's side entrance.",
          "We will tell you as soon as the garage opens again."]


def test_a_talk_about_one_thing_is_one_chapter():
    signals, vectors, _ = talk([GARAGE])

    chapters, _ = local_chapters(signals, vectors)

    assert len(chapters) == 1 and covers(chapters, signals.duration_s)
    assert "garage" in chapters[0].title.lower()


def test_a_boundary_in_a_pause_that_holds_a_shot_cut_lands_on_the_cut():
    second = talk_words([sentence for topic in ANNOUNCEMENTS[:2] for sentence in topic])[
        sum(len(sentence.split()) for sentence in ANNOUNCEMENTS[0])]
    cut = round(second.start_s - 0.5, 3)  # inside the pause before the second announcement's first word
    signals, vectors, _ = talk(ANNOUNCEMENTS[:2], cuts=[cut])

    chapters, _ = local_chapters(signals, vectors)

    assert [chapter.start_s for chapter in chapters] == [0.0, cut]


def test_without_the_index_the_chapters_come_from_the_words_and_still_cover_the_video():
    signals, _, _ = talk(ANNOUNCEMENTS)

    chapters, chapterer = local_chapters(signals, None)

    assert chapterer == "words" and len(chapters) >= 2 and covers(chapters, signals.duration_s)
    assert "garage" in chapters[0].title.lower()


def test_no_boundary_leaves_a_chapter_shorter_than_the_minimum_or_of_one_sentence():
    # Eight sentences 4 s apart in 40 s, deep valleys at every gap: the deepest (after sentence 3, at 12 s) is taken;
    # 4 s and 20 s would leave a chapter under 10 s, and 28 s a last chapter of one sentence; 24 s fits.
    depths = [0.9, 0.8, 0.95, 0.7, 0.85, 0.6, 0.9]
    starts = [4.0 * (gap + 1) for gap in range(len(depths))]

    gaps = choose_boundaries(depths, starts, sentence_count=8, duration_s=40.0, min_depth=0.3, shortest_s=10.0)

    assert gaps == [2, 5]


def test_valleys_too_shallow_for_a_topic_shift_make_no_boundary():
    gaps = choose_boundaries([0.29, 0.1, 0.2], [10.0, 20.0, 30.0], sentence_count=4, duration_s=40.0, min_depth=0.3,
                             shortest_s=10.0)

    assert gaps == []
