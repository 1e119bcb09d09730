"""`videoflow cost --video-hour`: one hour of video priced with each transcriber, with the ledger's own arithmetic."""

import json

import pytest

from lambdas.common.job_timing import whisper_seconds
from lambdas.common.prices import PRICES
from lambdas.record_cost.transcription import WHISPER_PURPOSE
from stacks.config import WHISPER_MEMORY_MB, WHISPER_VCPU
from videoflow import cli
from videoflow.cost import estimate_per_video_hour

# The target for one video-hour with whisper, MediaConvert's three outputs included.
WHISPER_TARGET_USD = 1.50


@pytest.fixture(scope="module")
def estimates() -> dict[str, dict]:
    return {name: estimate_per_video_hour(transcriber=name) for name in ("transcribe", "whisper")}


def test_given_whisper_then_the_hour_pays_no_transcribe_minutes_but_one_fargate_spot_job(estimates):
    whisper = estimates["whisper"]
    job = next(item for item in whisper["report"]["by_service"]["batch_fargate"]["items"]
               if item["description"].startswith(f"{WHISPER_PURPOSE}: vCPU"))

    assert whisper["transcriber"] == "whisper"
    assert whisper["by_service"]["transcribe"]["usd"] == 0
    assert job["quantity"] == pytest.approx(WHISPER_VCPU * whisper_seconds(3600))
    assert job["unit_usd"] == pytest.approx(PRICES.fargate_spot_per_vcpu_hour / 3600)
    memory = next(item for item in whisper["report"]["by_service"]["batch_fargate"]["items"]
                  if item["description"].startswith(f"{WHISPER_PURPOSE}: memory"))
    assert memory["quantity"] == pytest.approx(WHISPER_MEMORY_MB / 1024 * whisper_seconds(3600))


def test_given_amazon_transcribe_then_the_hour_pays_sixty_audio_minutes(estimates):
    assert estimates["transcribe"]["by_service"]["transcribe"]["usd"] == pytest.approx(60 * PRICES.transcribe_per_minute)


def test_given_the_same_hour_then_whisper_saves_nearly_all_of_transcribes_price(estimates):
    transcribe, whisper = estimates["transcribe"], estimates["whisper"]
    saved = transcribe["total_usd"] - whisper["total_usd"]

    assert saved > 0.95 * transcribe["by_service"]["transcribe"]["usd"]
    assert whisper["by_service"]["mediaconvert"] == transcribe["by_service"]["mediaconvert"]  # three outputs stay


def test_given_whisper_then_what_the_job_itself_adds_is_within_the_target(estimates):
    # The job's own cost: everything but its share of the endpoint's instance, which the endpoint's
    # configuration decides (instance type, scale to zero), not the transcriber.
    assert estimates["whisper"]["total_without_sagemaker_share_usd"] <= WHISPER_TARGET_USD


def test_given_whisper_and_the_default_gpu_endpoint_then_the_whole_hour_is_within_the_target(estimates):
    """The job asks for its copy when it expects to embed, less the 6 min a copy takes to start: the GPU runs
    for that and 1 min of embedding, not through MediaConvert and the transcription."""
    whisper = estimates["whisper"]

    assert whisper["total_usd"] <= WHISPER_TARGET_USD
    assert whisper["by_service"]["sagemaker"]["usd"] == pytest.approx(
        (6 + 1) / 60 * PRICES.sagemaker_per_instance_hour["ml.g5.xlarge"])


def test_given_a_short_video_then_the_copy_is_asked_for_at_ingest_and_held_for_all_of_it():
    from lambdas.common.job_timing import ask_for_copy_in_s, seconds_until_embedding

    assert ask_for_copy_in_s(120, "whisper", 360) == 0  # 2 min of video: embeds sooner than a copy can start
    assert ask_for_copy_in_s(3600, "whisper", 360) == pytest.approx(seconds_until_embedding(3600, "whisper") - 360)


def test_given_an_unknown_transcriber_then_the_estimate_refuses_it():
    with pytest.raises(ValueError, match="transcriber must be one of transcribe, whisper"):
        estimate_per_video_hour(transcriber="vosk")


def test_given_the_video_hour_command_then_it_prints_both_transcribers_side_by_side(capsys, estimates):
    assert cli.main(["cost", "--video-hour"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["service", "transcribe", "whisper"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert rows["transcribe"] == [f"{estimates['transcribe']['by_service']['transcribe']['usd']:.6f}", "0.000000"]
    assert rows["total"] == [f"{estimates[name]['total_usd']:.6f}" for name in ("transcribe", "whisper")]
    assert "not included: rendering the clips, once per planned clip and aspect" in lines[-1]


def test_given_the_video_hour_command_with_json_then_it_prints_each_estimate_without_the_full_report(capsys, estimates):
    assert cli.main(["cost", "--video-hour", "--json"]) == 0

    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"transcribe", "whisper"}
    assert printed["whisper"]["total_usd"] == estimates["whisper"]["total_usd"] and "report" not in printed["whisper"]


def test_given_another_instance_type_then_the_video_hour_command_prices_the_hold_of_that_type(capsys):
    assert cli.main(["cost", "--video-hour", "--json", "--instance-type", "ml.c6i.large"]) == 0

    printed = json.loads(capsys.readouterr().out)
    assert {estimate["instance_type"] for estimate in printed.values()} == {"ml.c6i.large"}
    assert printed["whisper"]["total_usd"] == estimate_per_video_hour(
        transcriber="whisper", instance_type="ml.c6i.large")["total_usd"]
