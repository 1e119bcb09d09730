"""A talk of eight separate announcements, and a job's search index made of real MiniLM embeddings.

The announcements are what a chapter list must find: eight topics of two to four sentences
each, spoken one after another (tests/judgment.py's timing: 0.4 s a word, 1.2 s between
sentences). `index_document` embeds sentences with the model the project ships
(lambdas/common/embedders.py CpuEmbedder, the same as keyframe_inference's CPU path) and returns
the index as keyframe_inference stores it.
"""

from functools import cache

from lambdas.common.models import Sentence

ANNOUNCEMENTS = [
    ["Good morning everyone, here are this week's announcements.",
     "The parking garage on Elm Street closes for repairs on Monday.",
     "Drivers should use the lot behind the library until the garage reopens.",
     "The garage repairs should take about two weeks."],
    ["The cafeteria has new opening hours starting next week.",
     "Breakfast is now served from seven until ten in the cafeteria.",
     "The salad bar and the coffee counter stay open all afternoon."],
    ["Our annual charity run takes place on the first Saturday of June.",
     "Runners can sign up for the five or the ten kilometre race.",
     "All money raised goes to the children's hospital."],
    ["The IT department will replace every laptop on the third floor.",
     "Please back up your files to the shared drive before Thursday.",
     "New laptops come with the updated operating system installed."],
    ["The fire alarm will be tested on Wednesday at noon.",
     "You do not need to leave the building during the alarm test.",
     "If the alarm sounds at any other time, evacuate by the nearest exit."],
    ["Welcome to the three new engineers who joined the design team.",
     "They moved here from our office in Lisbon.",
     "Say hello to them at lunch and help them find their way."],
    ["The library now lends board games and puzzles to staff.",
     "Games can be borrowed for a week at the library desk."],
    ["Finally, the summer party is on the rooftop terrace in July.",
     "There will be music, a barbecue and drinks for everyone.",
     "Thanks for listening and have a great week."],
]
# A word of each topic that its chapter's title should hold (drawn from the chapter's own words).
TOPIC_WORDS = ["garage", "cafeteria", "run", "laptop", "alarm", "team", "games", "party"]


@cache
def _embedder():
    from lambdas.common.embedders import CpuEmbedder

    return CpuEmbedder()


def index_document(job_id: str, sentences: list[Sentence]) -> dict:
    """The job's search index as keyframe_inference writes it: one segment per sentence, then a keyframe description
    (which matches no sentence), embedded for real."""
    from lambdas.common.search import build_index, index_to_json

    segments = [{"start_s": s.start_s, "end_s": s.end_s, "text": s.text} for s in sentences]
    segments.append({"start_s": 0.0, "end_s": 5.0, "text": "Shot 1 (0–5 s): 1 face, close-up, bright, sharp"})
    return index_to_json(build_index(job_id, segments, _embedder()))
