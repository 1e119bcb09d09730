"""record_cost with `transcriber: whisper`: the whisper job's Fargate Spot seconds instead of Transcribe minutes.

The whisper job is priced with the one price table's Fargate Spot rates (lambdas/common/prices.py) under
batch_fargate; its seconds come from the TranscribeSpeech task in the execution history, else from an
estimate at the engine's speed. Figures are checked by hand with round test prices.
"""

from datetime import UTC, datetime, timedelta

import pytest

from lambdas.common.events import EventLog
from lambdas.common.prices import PRICES
from lambdas.record_cost.config import CostConfig
from lambdas.record_cost.pricing import compute_cost
from lambdas.record_cost.transcription import WHISPER_PURPOSE, WHISPER_S_PER_AUDIO_S, WHISPER_START_S
from lambdas.record_cost.usage import RecordCostRequest, gather_usage

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

JOB_ID = "5d1f0c1e9a2b4c3d8e7f6a5b4c3d2e1f"
WHISPER_ENV = {"FUNCTION_MEMORY_MB": '{"normalize_transcript": 512}', "TRANSCRIBER": "whisper",
               "TRANSCRIBER_VCPU": "2", "TRANSCRIBER_MEMORY_MB": "4096"}
WHISPER = CostConfig.model_validate(WHISPER_ENV)
TRANSCRIBE = CostConfig.model_validate({"FUNCTION_MEMORY_MB": '{"normalize_transcript": 512}'})
# Round unit prices: every figure below is a hand calculation.
TEST_PRICES = PRICES.model_copy(update={"fargate_spot_per_vcpu_hour": 0.036, "fargate_spot_per_gb_hour": 0.0036,
                                        "fargate_min_billed_s": 60, "public_ipv4_per_hour": 0.0072,
                                        "transcribe_per_minute": 0.02})
T0 = datetime(2026, 11, 25, 5, 0, 0, tzinfo=UTC)


def _log(audio: bool = True, duplicate_of: str | None = None) -> list:
    """The events of a 600 s video up to its analysis (or of a duplicate), as the steps write them."""
    log = EventLog("videoflow-events")
    log.append(JOB_ID, "media.probed", "ProbeMedia", duration_s=600, width=1280, height=720, frame_rate=25,
               has_audio=audio)
    if duplicate_of:
        log.append(JOB_ID, "content.duplicate", "CheckDuplicate", duplicate_of=duplicate_of)
        return log.read(JOB_ID)
    log.append(JOB_ID, "derivatives.recorded", "RecordDerivatives", proxy="960x540", audio=audio, frames=300)
    log.append(JOB_ID, "frames.manifest_built", "BuildFrameManifest", frames=300, chunks=5)
    log.append(JOB_ID, "transcript.normalized", "NormalizeTranscript", words=1500 if audio else 0)
    return log.read(JOB_ID)


def _request() -> RecordCostRequest:
    return RecordCostRequest.model_validate({"job_id": JOB_ID, "source": {
        "bucket": "videoflow-ingest", "key": "uploads/talk.mp4", "size_bytes": 1_000_000}})


def _task(first_id: int, state: str, started_s: float, ended_s: float, outcome: str = "TaskSucceeded") -> list[dict]:
    """A task state's events in an execution history: entered, scheduled, started, and how it ended."""
    def event(offset, kind, at_s, **details):
        return {"id": first_id + offset, "type": kind, "previousEventId": first_id + offset - 1,
                "timestamp": T0 + timedelta(seconds=at_s), **details}
    return [event(0, "TaskStateEntered", started_s, stateEnteredEventDetails={"name": state}),
            event(1, "TaskScheduled", started_s), event(2, "TaskStarted", started_s), event(3, outcome, ended_s)]


def _whisper_group(usage):
    return next((group for group in usage.fargate if group.purpose == WHISPER_PURPOSE), None)


# --- configuration ------------------------------------------------------------------------------------------------


def test_given_no_transcriber_variable_then_the_ledger_prices_amazon_transcribe():
    assert (TRANSCRIBE.transcriber, TRANSCRIBE.problems) == ("transcribe", [])


def test_given_a_transcriber_it_does_not_know_then_it_prices_transcribe_and_says_so():
    config = CostConfig.model_validate({**WHISPER_ENV, "TRANSCRIBER": "vosk"})

    assert config.transcriber == "transcribe"
    assert config.problems == ["TRANSCRIBER='vosk' is not valid (Input should be 'transcribe' or 'whisper'); "
                               "'transcribe' is used."]


# --- usage --------------------------------------------------------------------------------------------------------


def test_given_whisper_and_the_history_then_the_job_is_its_task_seconds_and_no_transcribe_minutes(aws_state):
    history = [*_task(1, "TranscribeSpeech", 10, 310), *_task(5, "AnalyzeFrames", 10, 70)]

    usage = gather_usage(_request(), _log(), WHISPER, history=history)

    assert usage.transcribe_audio_s == 0
    assert "transcriber: whisper" in usage.notes["transcribe"][0]
    whisper = _whisper_group(usage)
    assert (whisper.task_seconds, whisper.vcpu, whisper.memory_gb, whisper.spot, whisper.public_ipv4,
            whisper.measured) == ([300], 2, 4, True, True, True)
    assert any("300 s, the TranscribeSpeech task's time" in note for note in usage.notes["batch_fargate"])


def test_given_whisper_failed_for_good_then_its_run_is_still_billed(aws_state):
    usage = gather_usage(_request(), _log(), WHISPER, history=_task(1, "TranscribeSpeech", 10, 130, "TaskFailed"))

    assert _whisper_group(usage).task_seconds == [120]


def test_given_whisper_without_the_history_then_the_job_is_estimated_from_the_audio_length(aws_state):
    usage = gather_usage(_request(), _log(), WHISPER)

    whisper = _whisper_group(usage)
    assert whisper.task_seconds == pytest.approx([WHISPER_START_S + 600 * WHISPER_S_PER_AUDIO_S])
    assert whisper.measured is False
    assert any("estimated" in note for note in usage.notes["batch_fargate"])


@pytest.mark.parametrize(("log", "reason"), [
    (dict(audio=False), "The job has no audio"),
    (dict(duplicate_of="0123456789abcdef0123456789abcdef"), "were reused"),
])
def test_given_no_speech_to_transcribe_then_whisper_costs_nothing(aws_state, log, reason):
    usage = gather_usage(_request(), _log(**log), WHISPER)

    assert _whisper_group(usage) is None and usage.transcribe_audio_s == 0
    assert reason in usage.notes["transcribe"][0]


def test_given_amazon_transcribe_then_nothing_changes_it_bills_the_audio_minutes(aws_state):
    usage = gather_usage(_request(), _log(), TRANSCRIBE, history=_task(1, "TranscribeSpeech", 0, 1))

    assert usage.transcribe_audio_s == 600 and _whisper_group(usage) is None


# --- price ----------------------------------------------------------------------------------------------------------


def test_given_a_300_s_whisper_job_then_it_costs_its_vcpu_memory_and_ip_seconds_at_fargate_spot_prices(aws_state):
    usage = gather_usage(_request(), _log(), WHISPER, history=_task(1, "TranscribeSpeech", 10, 310))

    items = {item.description: item.usd for item in compute_cost(usage, TEST_PRICES).by_service["batch_fargate"].items
             if item.description.startswith(WHISPER_PURPOSE)}

    # 2 vCPU x 300 s x $0.036/h; 4 GB x 300 s x $0.0036/h; one public IPv4 for 300 s at $0.0072/h.
    assert items == {"whisper transcriber: vCPU (Spot, 1 tasks)": pytest.approx(0.006),
                     "whisper transcriber: memory (Spot)": pytest.approx(0.0012),
                     "whisper transcriber: public IPv4": pytest.approx(0.0006)}
    assert compute_cost(usage, TEST_PRICES).by_service["transcribe"].usd == 0


def test_given_a_5_s_whisper_job_then_fargates_one_minute_minimum_is_billed(aws_state):
    usage = gather_usage(_request(), _log(), WHISPER, history=_task(1, "TranscribeSpeech", 10, 15))

    vcpu = next(item for item in compute_cost(usage, TEST_PRICES).by_service["batch_fargate"].items
                if item.description.startswith("whisper transcriber: vCPU"))
    assert (vcpu.quantity, vcpu.usd) == (120, pytest.approx(0.0012))


def test_given_the_same_video_then_whisper_costs_a_small_fraction_of_amazon_transcribe(aws_state):
    history = _task(1, "TranscribeSpeech", 10, 10 + WHISPER_START_S + 600 * WHISPER_S_PER_AUDIO_S)
    whisper = compute_cost(gather_usage(_request(), _log(), WHISPER, history=history), PRICES)
    transcribe = compute_cost(gather_usage(_request(), _log(), TRANSCRIBE, history=history), PRICES)

    extra = whisper.by_service["batch_fargate"].usd - transcribe.by_service["batch_fargate"].usd
    assert transcribe.by_service["transcribe"].usd == pytest.approx(10 * PRICES.transcribe_per_minute)
    assert 0 < extra < transcribe.by_service["transcribe"].usd / 50
