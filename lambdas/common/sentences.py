"""Where a transcript's sentences end: a final mark that is not an abbreviation, a long pause, a new speaker.

normalize_transcript cuts the canonical transcript's sentences with it, and build_captions
keeps a caption cue from breaking right after a sentence's last word.
"""

from __future__ import annotations

from lambdas.common.models import Sentence, Word

SENTENCE_PAUSE_S = 1.5
SENTENCE_END_MARKS = ".?!"
# A period after these is part of the word, not the end of a sentence.
ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "vs", "mt", "e.g", "i.e"})


def ends_sentence(word: Word) -> bool:
    """True when the word carries a sentence-final mark that is not an abbreviation's period."""
    stripped = word.text.rstrip("\"')]")
    if not stripped or stripped[-1] not in SENTENCE_END_MARKS:
        return False
    if stripped.endswith(".") and stripped.rstrip(".").lower() in ABBREVIATIONS:
        return False
    return True


def sentences_from_words(words: list[Word], pause_s: float = SENTENCE_PAUSE_S) -> list[Sentence]:
    sentences: list[Sentence] = []
    first = 0
    for index, word in enumerate(words):
        last_of_all = index == len(words) - 1
        following = None if last_of_all else words[index + 1]
        boundary = (
            last_of_all
            or ends_sentence(word)
            or following.start_s - word.end_s > pause_s
            or following.speaker != word.speaker
        )
        if boundary:
            span = words[first:index + 1]
            sentences.append(Sentence(
                text=" ".join(part.text for part in span),
                start_s=span[0].start_s,
                end_s=max(part.end_s for part in span),
                first_word=first,
                last_word=index,
                speaker=span[0].speaker,
            ))
            first = index + 1
    return sentences
