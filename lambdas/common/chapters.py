"""Chapters: the video cut into stretches about one thing each, covering it from 0 to its end.

The local method (summarize_video's, and its fallback when the model's chapters cannot be used)
is TextTiling (Hearst, 1997) over sentence embeddings:

1. each transcript sentence gets the vector keyframe_inference already computed for it with the
   project's MiniLM model (the job's search index holds one unit-length vector per sentence, or
   per window of a long one); read here in pure Python (the function has no numpy);
2. at each gap between sentences, the cosine similarity of the WINDOW_SENTENCES sentences before
   it with the WINDOW_SENTENCES after it (summed vectors);
3. each gap's depth: how far its similarity lies below the highest points reached climbing left
   and right; topic shifts are the deepest valleys;
4. boundaries are taken deepest first while they are deep enough (MIN_DEPTH) and leave every
   chapter at least min_chapter_s long with MIN_CHAPTER_SENTENCES sentences; a boundary sits at
   a shot cut when one falls in the pause, else where the next sentence starts.

Without the index's vectors (it has none for these sentences) the same tiling runs on content
word counts ("words"). Each chapter is titled by its own salient phrases (runs of content words,
scored by how often the chapter says them and how few other chapters do) and summarized by its
most central sentence (closest to the chapter's mean vector). A video without speech is
chaptered by its shots, merged until each chapter is long enough.
"""

from __future__ import annotations

import base64
import math
import re
import sys
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from typing import Literal

from lambdas.common.models import CHAPTER_TITLE_MAX_CHARS as MAX_TITLE_CHARS, Chapter, Sentence
from lambdas.common.signals import Signals

Chapterer = Literal["bedrock", "embeddings", "words", "shots"]

WINDOW_SENTENCES = (2, 5)  # sentences each side of a gap: a fifteenth of them, within these
MIN_CHAPTER_SENTENCES = 2
MIN_CHAPTER_S_FLOOR, MIN_CHAPTER_S_CEILING = 10.0, 60.0  # a twentieth of the video, within these
MAX_CHAPTERS = 30
# How far below its surroundings a gap's similarity must lie to be a topic shift (cosine, summed over both sides).
MIN_DEPTH = {"embeddings": 0.3, "words": 0.25}
TITLE_PHRASE_WORDS = 3
SUMMARY_WORDS = 40
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Za-z]")
_PHRASE_BREAK = re.compile(r"[,.;:!?()\"“”]")
STOPWORDS = frozenset("""a about above after again against all almost also although always am among an and another
any anyone anything are around as at away back be became because become been before being below between both
but by came can cannot could did do does doing done down during each either else enough even ever every
everyone everything few for from further get gets getting give given go goes going gone got had has have having
he her here hers herself him himself his how however i if in instead into is it its itself just keep know
last least less let like made make makes many may maybe me might mine more most much must my myself near need
never new next no nobody none nor not nothing now of off often oh ok okay on once only onto or other others
our ours ourselves out over own perhaps please put quite rather really right said same say says see seem seems
shall she should since so some someone something sometimes soon still such sure take than thank thanks that the
their theirs them themselves then there these they thing things think this those though through thus to today
together too took toward towards under until up upon us use used very via want was way we well went were what
whatever when where whether which while who whom whose why will with within without would yeah yes yet you your
yours yourself yourselves um uh hmm mister mr mrs ms dr also lot lots kind bit
one two three four five six seven eight nine ten eleven twelve twenty thirty hundred thousand million
first second third""".split())
# Verbs that make poor title words (a title names what a chapter is about); their -s, -ed and -ing forms too.
VERBS = """add allow appear ask begin believe borrow bring build buy call come consider continue create decide
describe discuss explain expect feel find follow get give go happen hear help hold include install join keep
know learn leave lend let look love make mean move need offer pass pick provide put reach remember remain reopen
require say see seem send serve show sit sound speak spend start stay suggest take talk tell think try turn use
wait walk want watch wonder""".split()
STOPWORDS = STOPWORDS | frozenset(form for verb in VERBS for form in (
    verb, verb + "s", verb + "es", verb + "ed", verb + "d", verb + "ing", verb.removesuffix("e") + "ing"))


def min_chapter_s(duration_s: float) -> float:
    return min(MIN_CHAPTER_S_CEILING, max(MIN_CHAPTER_S_FLOOR, duration_s / 20))


# ---------------------------------------------------------------------------------------
# Sentence vectors from the search index (keyframe_inference's, same model)
# ---------------------------------------------------------------------------------------


def index_rows(document: dict) -> list[tuple[float, str, list[float]]]:
    """(start_s, text, vector) per segment of a search index document (lambdas/common/search_index.py's format)."""
    stored = document["embeddings"]
    rows, dim = (int(n) for n in stored["shape"])
    if stored.get("dtype") != "float32" or stored.get("byte_order") != "little":
        raise ValueError(f"index embeddings are {stored.get('dtype')}, not little-endian float32")
    values = array("f")
    values.frombytes(base64.b64decode(stored["base64"]))
    if sys.byteorder == "big":
        values.byteswap()
    segments = document["segments"]
    if len(values) != rows * dim or len(segments) != rows:
        raise ValueError(f"index holds {len(values)} values for {len(segments)} segments of {dim}")
    return [(float(segment["start_s"]), " ".join(segment["text"].split()), list(values[i * dim:(i + 1) * dim]))
            for i, segment in enumerate(segments)]


def sentence_vectors(sentences: Sequence[Sentence], rows: list[tuple[float, str, list[float]]],
                     ) -> list[list[float] | None]:
    """Each sentence's vector: the mean of the index segments that are its text (a whole sentence, or windows of
    its words), None where the index has none. Keyframe descriptions and other segments match no sentence."""
    starts = [sentence.start_s for sentence in sentences]
    texts = [" ".join(sentence.text.split()) for sentence in sentences]
    sums: list[list[float] | None] = [None] * len(sentences)
    for start_s, text, vector in rows:
        position = bisect_right(starts, start_s + 1e-3) - 1
        if position < 0 or not text or text not in texts[position]:
            continue
        total = sums[position]
        sums[position] = list(vector) if total is None else [a + b for a, b in zip(total, vector, strict=True)]
    return [_unit(total) if total is not None else None for total in sums]


# ---------------------------------------------------------------------------------------
# Topic shifts (TextTiling)
# ---------------------------------------------------------------------------------------


def window_sentences(count: int) -> int:
    return max(WINDOW_SENTENCES[0], min(WINDOW_SENTENCES[1], count // 15))


def gap_similarities(vectors: Sequence[Sequence[float]] | Sequence[Counter], window: int | None = None,
                     ) -> list[float]:
    """Cosine similarity across each gap (between unit g and g + 1) of the window before with the window after."""
    n = len(vectors)
    if n < 2:
        return []
    window = window or window_sentences(n)
    if isinstance(vectors[0], Counter):
        return [_sparse_cosine(sum(vectors[max(0, g - window + 1):g + 1], Counter()),
                               sum(vectors[g + 1:g + 1 + window], Counter())) for g in range(n - 1)]
    dim = len(vectors[0])
    prefix = [[0.0] * dim]
    for vector in vectors:
        prefix.append([a + b for a, b in zip(prefix[-1], vector, strict=True)])

    def window_sum(first: int, end: int) -> list[float]:
        return [b - a for a, b in zip(prefix[first], prefix[end], strict=True)]

    return [_cosine(window_sum(max(0, g - window + 1), g + 1), window_sum(g + 1, min(n, g + 1 + window)))
            for g in range(n - 1)]


def depth_scores(similarities: Sequence[float]) -> list[float]:
    """TextTiling's depth of each gap: (highest similarity climbing left - its own) + (climbing right - its own)."""
    depths = []
    for g, own in enumerate(similarities):
        left = own
        for value in reversed(similarities[:g]):
            if value < left:
                break
            left = value
        right = own
        for value in similarities[g + 1:]:
            if value < right:
                break
            right = value
        depths.append(left + right - 2 * own)
    return depths


def choose_boundaries(depths: Sequence[float], boundary_s: Sequence[float], sentence_count: int, duration_s: float,
                      min_depth: float, shortest_s: float) -> list[int]:
    """The gaps to cut at, in order: deepest first while deep enough, each chapter long enough."""
    most = max(0, min(MAX_CHAPTERS, int(duration_s // shortest_s)) - 1)
    chosen: list[int] = []
    for gap in sorted(range(len(depths)), key=lambda g: (-depths[g], g)):
        if len(chosen) >= most or depths[gap] < min_depth:
            break
        trial = sorted([*chosen, gap])
        place = trial.index(gap)
        before_gap = trial[place - 1] if place else None
        after_gap = trial[place + 1] if place + 1 < len(trial) else None
        start_s = boundary_s[before_gap] if before_gap is not None else 0.0
        end_s = boundary_s[after_gap] if after_gap is not None else duration_s
        first = before_gap + 1 if before_gap is not None else 0
        last = after_gap if after_gap is not None else sentence_count - 1
        if (boundary_s[gap] - start_s >= shortest_s and end_s - boundary_s[gap] >= shortest_s
                and gap + 1 - first >= MIN_CHAPTER_SENTENCES and last - gap >= MIN_CHAPTER_SENTENCES):
            chosen = trial
    return chosen


def boundary_times(sentences: Sequence[Sentence], cuts: Sequence[float]) -> list[float]:
    """Where a chapter starting after gap g begins: a shot cut inside the pause (nearest its middle), else the
    next sentence's start."""
    times = []
    for before, after in zip(sentences, sentences[1:], strict=False):
        inside = [cut for cut in cuts if before.end_s <= cut <= after.start_s]
        middle = (before.end_s + after.start_s) / 2
        times.append(min(inside, key=lambda cut: abs(cut - middle)) if inside else after.start_s)
    return times


# ---------------------------------------------------------------------------------------
# The chapters
# ---------------------------------------------------------------------------------------


def local_chapters(signals: Signals, vectors: Sequence[list[float] | None] | None = None,
                   ) -> tuple[list[Chapter], Chapterer]:
    """Chapters from the transcript's topic shifts (its sentence vectors when given, else its words), or from the
    shots when nothing was said."""
    spoken = [(i, sentence) for i, sentence in enumerate(signals.sentences) if _words(sentence.text)]
    if not spoken:
        return shot_chapters(signals), "shots"
    duration_s = signals.duration_s or spoken[-1][1].end_s  # no boundary comes within min_chapter_s of its end
    units = [sentence for _, sentence in spoken]
    unit_vectors = [vectors[i] for i, _ in spoken] if vectors is not None and len(vectors) == len(signals.sentences) \
        else None
    if unit_vectors is not None and all(vector is not None for vector in unit_vectors):
        method: Chapterer = "embeddings"
        similarities = gap_similarities(unit_vectors)  # type: ignore[arg-type]
    else:
        method, unit_vectors = "words", None
        similarities = gap_similarities([Counter(_keys(sentence.text)) for sentence in units])
    times = boundary_times(units, signals.cuts)
    gaps = choose_boundaries(depth_scores(similarities), times, len(units), duration_s, MIN_DEPTH[method],
                             min_chapter_s(duration_s))
    starts = [0, *(gap + 1 for gap in gaps)]
    edges = [0.0, *(times[gap] for gap in gaps), duration_s]
    groups = [units[first:end] for first, end in zip(starts, [*starts[1:], len(units)], strict=True)]
    vector_groups = ([unit_vectors[first:end] for first, end in zip(starts, [*starts[1:], len(units)], strict=True)]
                     if unit_vectors is not None else [None] * len(groups))
    titles = chapter_titles([[sentence.text for sentence in group] for group in groups])
    chapters = [Chapter(start_s=round(edges[k], 3), end_s=round(edges[k + 1], 3), title=titles[k],
                        summary=central_sentence([sentence.text for sentence in group], vector_groups[k]))
                for k, group in enumerate(groups)]
    return chapters, method


def shot_chapters(signals: Signals) -> list[Chapter]:
    """A video without speech: its shots, consecutive ones merged until each chapter is long enough."""
    duration_s = signals.duration_s
    shots = [(start, end) for start, end in signals.shots if end > start] or [(0.0, duration_s)]
    shortest_s = min_chapter_s(duration_s)
    groups: list[list[int]] = [[]]
    for number, (_, end) in enumerate(shots, start=1):
        groups[-1].append(number)
        if end - shots[groups[-1][0] - 1][0] >= shortest_s:
            groups.append([])
    groups = [group for group in groups if group]
    if len(groups) > 1 and shots[groups[-1][-1] - 1][1] - shots[groups[-1][0] - 1][0] < shortest_s:
        groups[-2] += groups.pop()
    chapters = []
    for k, group in enumerate(groups):
        start_s = 0.0 if k == 0 else shots[group[0] - 1][0]
        end_s = duration_s if k == len(groups) - 1 else shots[groups[k + 1][0] - 1][0]
        name = f"Shot {group[0]}" if len(group) == 1 else f"Shots {group[0]}–{group[-1]}"
        if len(shots) == 1:
            name = "The whole video"
        chapters.append(Chapter(start_s=round(start_s, 3), end_s=round(end_s, 3), title=name,
                                summary=_describe_span(signals, start_s, end_s, len(group))))
    return chapters


def _describe_span(signals: Signals, start_s: float, end_s: float, shots: int) -> str:
    span = f"{_clock(start_s)}–{_clock(end_s)}"
    frames = [frame for frame in signals.frames if start_s <= frame.t_s < end_s]
    seen = ""
    if frames:
        share = sum(frame.has_face for frame in frames) / len(frames)
        seen = f", faces in {share * 100:.0f} % of its frames" if share else ", no faces"
    return f"{shots} shot{'s' if shots > 1 else ''} without speech ({span}){seen}."


# ---------------------------------------------------------------------------------------
# Titles and summaries from the chapters' own words
# ---------------------------------------------------------------------------------------


def chapter_titles(chapters: Sequence[Sequence[str]]) -> list[str]:
    """One title per chapter (its sentences' texts): its most salient phrase, and a second one when the first is a
    single word; a phrase's score is its count in the chapter times the TF-IDF weight of its words across chapters."""
    counts = [Counter(key for text in texts for key in _keys(text)) for texts in chapters]
    spread = Counter(key for counted in counts for key in counted)
    titles = []
    for number, (texts, counted) in enumerate(zip(chapters, counts, strict=True), start=1):
        weight = {key: count * math.log(1 + len(chapters) / spread[key]) for key, count in counted.items()}
        phrases: Counter = Counter()
        surfaces: dict[tuple[str, ...], Counter] = {}
        first_seen: dict[tuple[str, ...], int] = {}
        for phrase in (phrase for text in texts for phrase in _phrases(text)):
            key = tuple(_key(word) for word in phrase)
            phrases[key] += 1
            surfaces.setdefault(key, Counter())[" ".join(phrase)] += 1
            first_seen.setdefault(key, len(first_seen))
        if not phrases:
            titles.append(f"Chapter {number}")
            continue
        ranked = sorted(phrases, key=lambda key: (-phrases[key] * sum(weight[word] for word in key), first_seen[key]))
        chosen = [ranked[0]]
        if len(ranked[0]) == 1:
            chosen += [key for key in ranked[1:] if not set(key) & set(ranked[0])][:1]
        words = [_surface(surfaces[key]) for key in chosen]
        title = ", ".join(words)
        titles.append(_cap_chars(title[:1].upper() + title[1:], MAX_TITLE_CHARS))
    return titles


def central_sentence(texts: Sequence[str], vectors: Sequence[list[float] | None] | None = None) -> str:
    """The sentence closest to the chapter's mean vector (or sharing the most content words with the others)."""
    texts = [" ".join(text.split()) for text in texts]
    if vectors is not None and all(vector is not None for vector in vectors) and texts:
        centroid = [sum(values) for values in zip(*vectors, strict=True)]  # type: ignore[misc]
        scores = [_cosine(vector, centroid) for vector in vectors]  # type: ignore[arg-type]
    else:
        bags = [Counter(_keys(text)) for text in texts]
        scores = [sum(_sparse_cosine(bag, other) for j, other in enumerate(bags) if j != i)
                  for i, bag in enumerate(bags)]
    best = max(range(len(texts)), key=lambda i: (scores[i] + (1e-9 if len(texts[i].split()) > 3 else 0), -i))
    return _cap_words(texts[best], SUMMARY_WORDS)


def _phrases(text: str) -> list[list[str]]:
    """Runs of content words (not crossing punctuation or a stopword), each cut to its last TITLE_PHRASE_WORDS."""
    phrases: list[list[str]] = []
    for part in _PHRASE_BREAK.split(text):
        run: list[str] = []
        for word in [*_WORD.findall(part), ""]:
            if word and _is_content(word):
                run.append(word)
                continue
            if run:  # a long run's last words: an English noun phrase ends in its head
                phrases.append(run[-TITLE_PHRASE_WORDS:])
            run = []
    return phrases


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _is_content(word: str) -> bool:
    return len(word) > 2 and word.lower().strip("'’") not in STOPWORDS


def _key(word: str) -> str:
    """A word's counting key: lower case, a plural's s dropped (garages -> garage, but not class or bus)."""
    word = word.lower().replace("’", "'").removesuffix("'s")
    return word[:-1] if len(word) > 4 and word.endswith("s") and not word.endswith(("ss", "us", "is")) else word


def _keys(text: str) -> list[str]:
    return [_key(word) for word in _words(text) if _is_content(word)]


def _surface(spellings: Counter) -> str:
    """The most frequent spelling of a phrase; lower case unless every spelling has capitals (a name)."""
    best = spellings.most_common(1)[0][0]
    return best if all(any(c.isupper() for c in spelling) for spelling in spellings) else best.lower()


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector] if norm > 0 else vector


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norms if norms > 0 else 0.0


def _sparse_cosine(a: Counter, b: Counter) -> float:
    if not a or not b:
        return 0.0
    dot = sum(count * b[key] for key, count in a.items() if key in b)
    return dot / (math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values())))


def _cap_words(text: str, limit: int) -> str:
    words = text.split()
    return text if len(words) <= limit else " ".join(words[:limit]).rstrip(".,;:") + "…"


def _cap_chars(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip(" ,") + "…"


def _clock(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"
