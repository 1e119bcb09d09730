"""The one unit-price table the cost ledger uses: versioned, us-east-1, on-demand, in USD.

Every figure is APPROXIMATE. They are AWS list prices for us-east-1 as published on each
service's pricing page (the URL on each line), on-demand, first volume tier, without the free
tier, without taxes and without any discount (Savings Plans, reserved capacity, private
pricing). They were written down on PRICES_RECORDED_ON from the pricing pages as the author
knew them; they were NOT re-read live from AWS when this file was written (no network
access), so check them before quoting a figure to anyone. The least certain lines say so.

When a price changes: edit the line, its comment, PRICES_RECORDED_ON, and bump PRICES_VERSION.
Every cost report carries the version it was computed with, so old reports stay explainable.

MediaConvert (https://aws.amazon.com/mediaconvert/pricing/): on-demand, billed per output,
per second of output duration with a 10 s minimum per output. A video output's rate depends
on the tier (Basic: AVC with single-pass or single-pass HQ quality tuning, as the proxy uses;
multi-pass HQ or accelerated transcoding would be Professional), the resolution class (SD
below 720 lines, HD 720-1080, UHD above) and the frame rate (more than 30 fps costs twice
as much). What is ASSUMED here, because the pricing page does not spell it out for our case:
  * the audio-only WAV output is billed at the audio-only rate, and the loudness correction
    (AudioNormalizationSettings) as a per-minute add-on on that output;
  * the frame-capture (JPEG) output is billed like an SD AVC Basic output for the full
    duration of the source, whatever the capture interval (a conservative upper bound).
"""

from pydantic import BaseModel, ConfigDict, Field

PRICES_VERSION = "2026-11"
PRICES_REGION = "us-east-1"
PRICES_CURRENCY = "USD"
PRICES_RECORDED_ON = "2026-11-25"  # written from the pages below as known on this date; not re-read live
HOURS_PER_MONTH = 730  # AWS's own convention for monthly estimates (24 x 365 / 12)


class TokenPrice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_1k: float = Field(ge=0)
    output_per_1k: float = Field(ge=0)


class Prices(BaseModel):
    """Unit prices in USD; names carry the unit. Frozen: copy with model_copy(update=...) to vary one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    region: str
    currency: str
    recorded_on: str

    # MediaConvert, per output minute (see the module docstring for the billing rules and assumptions).
    mediaconvert_per_output_minute: dict[str, float]
    mediaconvert_high_frame_rate_multiplier: float = Field(gt=0)  # outputs over 30 fps (up to 60)
    mediaconvert_min_billed_s: float = Field(ge=0)
    # Lambda, x86, per GB-second of billed duration (1 ms granularity) and per request.
    lambda_per_gb_second: float
    lambda_per_request: float
    # Step Functions Standard workflows, per state transition.
    step_functions_per_transition: float
    # Fargate Spot (Linux/x86), per vCPU-hour and GB-hour; per second with a 1 min minimum per task.
    fargate_spot_per_vcpu_hour: float
    fargate_spot_per_gb_hour: float
    # Fargate on-demand (a render task, when it runs outside Spot), same billing rules.
    fargate_per_vcpu_hour: float
    fargate_per_gb_hour: float
    fargate_min_billed_s: float
    # Each frame worker task has a public IPv4 address while it runs.
    public_ipv4_per_hour: float
    # Transcribe, standard batch, tier 1: per audio minute, per second with a 15 s minimum per job.
    transcribe_per_minute: float
    transcribe_min_billed_s: float
    # SageMaker real-time inference, per instance-hour, by instance type.
    sagemaker_per_instance_hour: dict[str, float]
    # Bedrock on-demand, per 1,000 tokens, by model family: the longest family contained in a model id wins,
    # so "us.anthropic.claude-3-5-haiku-20241022-v1:0" (an inference profile) is priced as claude-3-5-haiku.
    bedrock_per_1k_tokens: dict[str, TokenPrice]
    # S3 Standard requests.
    s3_put_per_1k: float
    s3_get_per_1k: float
    # DynamoDB on-demand (standard table class), per million request units.
    dynamodb_per_million_write_units: float
    dynamodb_per_million_read_units: float
    # At rest, per month.
    kms_key_per_month: float
    cloudwatch_alarm_per_month: float
    cloudwatch_high_resolution_alarm_per_month: float
    # At rest, per hour (videoflow/idle_cost.py prices a template's idle resources with these).
    nat_gateway_per_hour: float
    interface_endpoint_per_az_hour: float
    ec2_per_vcpu_hour: float  # a Batch EC2 compute environment's MinvCpus, which run with no job


PRICES = Prices(
    version=PRICES_VERSION,
    region=PRICES_REGION,
    currency=PRICES_CURRENCY,
    recorded_on=PRICES_RECORDED_ON,
    mediaconvert_per_output_minute={
        "avc_sd_basic": 0.0075,  # https://aws.amazon.com/mediaconvert/pricing/ Basic, AVC, SD, <=30 fps
        "avc_hd_basic": 0.015,  # https://aws.amazon.com/mediaconvert/pricing/ Basic, AVC, HD, <=30 fps
        "avc_uhd_basic": 0.030,  # https://aws.amazon.com/mediaconvert/pricing/ Basic, AVC, UHD, <=30 fps
        "audio_only": 0.003,  # https://aws.amazon.com/mediaconvert/pricing/ audio-only output (less certain)
        "audio_normalization": 0.003,  # https://aws.amazon.com/mediaconvert/pricing/ add-on per minute (least certain)
        "frame_capture": 0.0075,  # ASSUMED: billed as an SD AVC Basic output (module docstring)
    },
    mediaconvert_high_frame_rate_multiplier=2.0,  # https://aws.amazon.com/mediaconvert/pricing/ (>30 to 60 fps rows)
    mediaconvert_min_billed_s=10,  # https://aws.amazon.com/mediaconvert/pricing/ "minimum billing increment 10 s"
    lambda_per_gb_second=0.0000166667,  # https://aws.amazon.com/lambda/pricing/ x86, first 6 billion GB-s/month
    lambda_per_request=0.0000002,  # https://aws.amazon.com/lambda/pricing/ $0.20 per 1M requests
    step_functions_per_transition=0.000025,  # https://aws.amazon.com/step-functions/pricing/ $0.025 per 1,000
    fargate_spot_per_vcpu_hour=0.01334058,  # https://aws.amazon.com/fargate/pricing/ Spot, Linux/x86 (varies)
    fargate_spot_per_gb_hour=0.00146489,  # https://aws.amazon.com/fargate/pricing/ Spot, Linux/x86 (varies)
    fargate_per_vcpu_hour=0.04048,  # https://aws.amazon.com/fargate/pricing/ on-demand, Linux/x86
    fargate_per_gb_hour=0.004445,  # https://aws.amazon.com/fargate/pricing/ on-demand, Linux/x86
    fargate_min_billed_s=60,  # https://aws.amazon.com/fargate/pricing/ per second, 1 minute minimum
    public_ipv4_per_hour=0.005,  # https://aws.amazon.com/vpc/pricing/ public IPv4 address in use
    transcribe_per_minute=0.024,  # https://aws.amazon.com/transcribe/pricing/ batch, tier 1 (first 250k min)
    transcribe_min_billed_s=15,  # https://aws.amazon.com/transcribe/pricing/ per second, 15 s minimum
    sagemaker_per_instance_hour={
        "ml.g5.xlarge": 1.408,  # https://aws.amazon.com/sagemaker/pricing/ real-time inference (config default)
        "ml.g4dn.xlarge": 0.736,  # https://aws.amazon.com/sagemaker/pricing/ real-time inference
        "ml.c6i.large": 0.119,  # https://aws.amazon.com/sagemaker/pricing/ real-time inference (less certain)
    },
    bedrock_per_1k_tokens={  # https://aws.amazon.com/bedrock/pricing/ on-demand, by model family (id prefix)
        "anthropic.claude-3-haiku": TokenPrice(input_per_1k=0.00025, output_per_1k=0.00125),  # https://aws.amazon.com/bedrock/pricing/
        "anthropic.claude-3-5-haiku": TokenPrice(input_per_1k=0.0008, output_per_1k=0.004),  # https://aws.amazon.com/bedrock/pricing/
        "anthropic.claude-3-5-sonnet": TokenPrice(input_per_1k=0.003, output_per_1k=0.015),  # https://aws.amazon.com/bedrock/pricing/
        "anthropic.claude-3-7-sonnet": TokenPrice(input_per_1k=0.003, output_per_1k=0.015),  # https://aws.amazon.com/bedrock/pricing/
        "anthropic.claude-sonnet-4": TokenPrice(input_per_1k=0.003, output_per_1k=0.015),  # https://aws.amazon.com/bedrock/pricing/
        "amazon.nova-micro": TokenPrice(input_per_1k=0.000035, output_per_1k=0.00014),  # https://aws.amazon.com/bedrock/pricing/
        "amazon.nova-lite": TokenPrice(input_per_1k=0.00006, output_per_1k=0.00024),  # https://aws.amazon.com/bedrock/pricing/
        "amazon.nova-pro": TokenPrice(input_per_1k=0.0008, output_per_1k=0.0032),  # https://aws.amazon.com/bedrock/pricing/
    },
    s3_put_per_1k=0.005,  # https://aws.amazon.com/s3/pricing/ Standard, PUT/COPY/POST/LIST
    s3_get_per_1k=0.0004,  # https://aws.amazon.com/s3/pricing/ Standard, GET/SELECT
    dynamodb_per_million_write_units=0.625,  # https://aws.amazon.com/dynamodb/pricing/on-demand/ (Nov 2024 rate)
    dynamodb_per_million_read_units=0.125,  # https://aws.amazon.com/dynamodb/pricing/on-demand/ (Nov 2024 rate)
    kms_key_per_month=1.0,  # https://aws.amazon.com/kms/pricing/ customer managed key
    cloudwatch_alarm_per_month=0.10,  # https://aws.amazon.com/cloudwatch/pricing/ standard-resolution metric alarm
    cloudwatch_high_resolution_alarm_per_month=0.30,  # https://aws.amazon.com/cloudwatch/pricing/ high-resolution alarm
    nat_gateway_per_hour=0.045,  # https://aws.amazon.com/vpc/pricing/ NAT gateway per hour (data processed extra)
    interface_endpoint_per_az_hour=0.01,  # https://aws.amazon.com/privatelink/pricing/ interface endpoint per AZ-hour
    ec2_per_vcpu_hour=0.048,  # https://aws.amazon.com/ec2/pricing/on-demand/ m5.large $0.096/h / 2 vCPU (less certain)
)


def bedrock_price(model_id: str, prices: Prices = PRICES) -> tuple[str, TokenPrice] | None:
    """(family, price) of a Bedrock model id, or None when the table has no family for it."""
    families = [family for family in prices.bedrock_per_1k_tokens if family in model_id]
    if not families:
        return None
    family = max(families, key=len)
    return family, prices.bedrock_per_1k_tokens[family]
