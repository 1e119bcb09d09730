"""One declaration per function: what it is, where it runs in the workflow, what it may touch.

The stack builds each function, its role and its environment from its entry here, and the
workflow builds the function's state from the same entry, so none of them can drift from
the others. An entry names:

- the function (`lambdas/<name>/handler.py`), its timeout, memory and purpose;
- its state in the workflow, where it has one: the state's name, its result path, and
  whether the step may find the input at fault (REJECTED);
- the S3 prefixes and tables it may touch, and how;
- any other capability it needs, by name (`Capability`), granted by the stack on the
  exact resource;
- its environment: the pydantic models its handler reads (`lambdas.common.settings` and the
  step's own); the function receives exactly those models' variables and nothing else.
"""

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

from lambdas.common.connections import BY_CONNECTION_INDEX
from lambdas.common.constants import (
    ANALYSIS_PREFIX,
    CAPTIONS_PREFIX,
    CLIPS_PREFIX,
    DERIVATIVES_PREFIX,
    INGEST_PREFIX,
    MANIFESTS_PREFIX,
    OUTPUTS_PREFIX,
    TRANSCRIPTS_PREFIX,
)
from lambdas.common.jobs import FINGERPRINT_INDEX, LISTING_INDEX
from lambdas.common.judgment import JudgmentSettings
from lambdas.common.owners import OWNER_INDEX, AccessSettings
from lambdas.common.render_list import RenderSettings
from lambdas.common.settings import (
    ConnectionSettings,
    EndpointSettings,
    FrameSettings,
    IdempotencySettings,
    InferenceSettings,
    IngestSettings,
    LimitSettings,
    Settings,
    WorkflowSettings,
)
from lambdas.jobs_api.models import UploadSettings
from lambdas.notify.logic import NotifySettings
from lambdas.record_cost.config import CostConfig
from lambdas.record_render.logic import FargateShape
from lambdas.stall_monitor.logic import StallSettings
from stacks.config import KEYFRAME_TIMEOUT_S

INGEST, OUTPUT = "ingest", "output"


class Capability(StrEnum):
    """What a function may do beyond its prefixes and tables; the stack grants each on its resource."""

    PROBE_MEDIA = "mediaconvert:Probe (no resource-level permissions)"
    INVOKE_ENDPOINT = "sagemaker:InvokeEndpoint on the embedding endpoint and its model; DescribeInferenceComponent"
    SET_INFERENCE_FLOOR = ("RegisterScalableTarget and Put/DeleteScheduledAction for the model's copies, with "
                           "DescribeInferenceComponent and UpdateInferenceComponentRuntimeConfig on the model")
    READ_EXECUTION_HISTORY = "states:GetExecutionHistory on the workflow's executions"
    START_EXECUTION = "states:StartExecution of the workflow"
    REDRIVE_AND_STOP = "states:RedriveExecution and StopExecution on the workflow's executions"
    INVOKE_MODEL = "bedrock:InvokeModel on the configured model (only when one is configured)"
    PUBLISH_NOTIFICATION = "sns:Publish to the notification topic (and its key)"
    PUT_EVENTS = "events:PutEvents on the default bus"
    MANAGE_CONNECTIONS = "execute-api:ManageConnections on the WebSocket stage"


@dataclass(frozen=True)
class S3Access:
    bucket: str  # INGEST or OUTPUT
    prefix: str
    actions: tuple[str, ...]
    listing: bool = False  # s3:ListBucket on the bucket, only under the prefix


@dataclass(frozen=True)
class TableAccess:
    table: str  # jobs, events, budget, leases, idempotency, connections, uploads
    actions: tuple[str, ...]
    index: str | None = None


def reads(bucket: str, prefix: str, *, versions: bool = False) -> S3Access:
    return S3Access(bucket, prefix, ("s3:GetObject", "s3:GetObjectVersion") if versions else ("s3:GetObject",))


def writes(bucket: str, prefix: str) -> S3Access:
    return S3Access(bucket, prefix, ("s3:PutObject",))


def reads_writes(bucket: str, prefix: str) -> S3Access:
    return S3Access(bucket, prefix, ("s3:GetObject", "s3:PutObject"))


def deletes(bucket: str, prefix: str) -> S3Access:
    return S3Access(bucket, prefix, ("s3:DeleteObject",))


def lists(bucket: str, prefix: str) -> S3Access:
    """Listing a prefix; without it S3 also answers 403 rather than 404 for a missing key."""
    return S3Access(bucket, prefix, (), listing=True)


EVENT_LOG = TableAccess("events", ("dynamodb:Query", "dynamodb:PutItem"))  # compute appends to the log
READS_EVENT_LOG = TableAccess("events", ("dynamodb:Query",))  # the interface only reads it
JOB_RECORD = TableAccess("jobs", ("dynamodb:GetItem", "dynamodb:UpdateItem"))
BUDGET = TableAccess("budget", ("dynamodb:GetItem", "dynamodb:UpdateItem"))
LEASES = TableAccess("leases", ("dynamodb:GetItem", "dynamodb:UpdateItem"))
# The functions that embed run in this image (containers/embedding): the model and its encoder ship in it,
# so they embed on CPU themselves when the endpoint's model has no copy. publish_results too, for OpenTimelineIO.
EMBEDDING_IMAGE = "embedding"


@dataclass(frozen=True)
class Step:
    function: str
    timeout_s: int
    memory_mb: int
    description: str
    settings: tuple[type[BaseModel], ...] = (Settings,)
    state: str | None = None  # its Task state in the workflow
    result_path: str | None = None
    rejects: bool = False  # may find the input at fault: caught into HandleFailure (REJECTED)
    s3: tuple[S3Access, ...] = ()
    tables: tuple[TableAccess, ...] = (EVENT_LOG,)
    capabilities: tuple[Capability, ...] = ()
    # The container image it runs in (containers/<image>, its handler the image's command); else the zip asset.
    image: str | None = None


def _judge(function: str, state: str, result_path: str, timeout_s: int, description: str) -> Step:
    """summarize_video and plan_clips: the transcript and analysis in, a model within the budget."""
    return Step(function, timeout_s, 512, description, (Settings, JudgmentSettings), state, result_path,
                s3=(reads(OUTPUT, TRANSCRIPTS_PREFIX), reads_writes(OUTPUT, ANALYSIS_PREFIX)),
                tables=(EVENT_LOG, BUDGET), capabilities=(Capability.INVOKE_MODEL,))


STEPS: tuple[Step, ...] = (
    # -- ingest -------------------------------------------------------------------------------
    Step("start_pipeline", 30, 256, "Starts one workflow per uploaded object version",
         (Settings, WorkflowSettings, IdempotencySettings),
         tables=(EVENT_LOG, TableAccess("idempotency", ("dynamodb:GetItem", "dynamodb:PutItem",
                                                        "dynamodb:UpdateItem", "dynamodb:DeleteItem"))),
         capabilities=(Capability.START_EXECUTION,)),
    Step("validate_upload", 30, 256, "Checks the key, the size and the magic bytes of an upload",
         state="ValidateUpload", result_path="$.upload", rejects=True,
         s3=(reads(INGEST, INGEST_PREFIX, versions=True), lists(INGEST, INGEST_PREFIX))),
    Step("probe_media", 120, 256, "Reads duration, streams and orientation with MediaConvert Probe",
         state="ProbeMedia", result_path="$.media", rejects=True,
         s3=(reads(INGEST, INGEST_PREFIX, versions=True),), capabilities=(Capability.PROBE_MEDIA,)),
    Step("enforce_limits", 10, 128, "Rejects media beyond the configured limits", (Settings, LimitSettings),
         state="EnforceLimits", result_path="$.limits", rejects=True),
    Step("register_job", 10, 128, "Creates the job record", state="RegisterJob", result_path="$.job",
         tables=(EVENT_LOG, JOB_RECORD)),
    Step("check_duplicate", 10, 128, "Finds an earlier completed job with the same content",
         state="CheckDuplicate", result_path="$.duplicate",
         tables=(EVENT_LOG, TableAccess("jobs", ("dynamodb:GetItem", "dynamodb:Query")),
                 TableAccess("jobs", ("dynamodb:Query",), index=FINGERPRINT_INDEX))),
    # -- derivatives --------------------------------------------------------------------------
    Step("warm_inference", 30, 128, "Asks for the embedding model's copies while the job runs",
         (Settings, InferenceSettings), "WarmInference", "$.inference",
         tables=(EVENT_LOG, LEASES), capabilities=(Capability.SET_INFERENCE_FLOOR,)),
    Step("build_mediaconvert_job", 10, 128, "Builds the one MediaConvert job for the three derivatives",
         (Settings, LimitSettings), "BuildMediaConvertJob", "$.mediaconvert"),
    # HeadObject of the upload's current version (was it replaced while MediaConvert read it?); the
    # proxy's decoded length against the limits: either finds the input at fault.
    Step("record_derivatives", 60, 256, "Checks and records the proxy, audio and frames", (Settings, LimitSettings),
         state="RecordDerivatives", result_path="$.derivatives", rejects=True,
         s3=(reads(OUTPUT, DERIVATIVES_PREFIX), lists(OUTPUT, DERIVATIVES_PREFIX),
             reads(INGEST, INGEST_PREFIX), lists(INGEST, INGEST_PREFIX)), tables=(EVENT_LOG, JOB_RECORD)),
    Step("build_frame_manifest", 60, 256, "Splits the frames into chunks for the vision work",
         (Settings, FrameSettings), "BuildFrameManifest", "$.frame_manifest",
         s3=(lists(OUTPUT, DERIVATIVES_PREFIX), writes(OUTPUT, MANIFESTS_PREFIX))),
    # -- transcript ---------------------------------------------------------------------------
    Step("normalize_transcript", 60, 512, "Turns Transcribe output into the canonical transcript",
         state="NormalizeTranscript", result_path="$.transcript", s3=(reads_writes(OUTPUT, TRANSCRIPTS_PREFIX),)),
    Step("build_captions", 30, 256, "Writes WebVTT and SRT captions from the transcript",
         state="BuildCaptions", result_path="$.captions",
         s3=(reads(OUTPUT, TRANSCRIPTS_PREFIX), writes(OUTPUT, CAPTIONS_PREFIX))),
    # -- vision -------------------------------------------------------------------------------
    Step("aggregate_frames", 120, 1024, "Merges the frame workers' chunk results into one timeline",
         state="AggregateFrames", result_path="$.frame_timeline",
         s3=(reads_writes(OUTPUT, ANALYSIS_PREFIX), reads(OUTPUT, MANIFESTS_PREFIX))),
    Step("detect_shots", 60, 512, "Finds the hard cuts in the frame timeline",
         state="DetectShots", result_path="$.shots", s3=(reads_writes(OUTPUT, ANALYSIS_PREFIX),)),
    # Waits up to inference_warm_wait_s for a copy, then embeds on its own CPU (the model ships in its image):
    # memory for the model and about two vCPUs, and the rest of Lambda's 15 minutes for that.
    Step("keyframe_inference", KEYFRAME_TIMEOUT_S, 3008,
         "Embeds transcript segments and shot descriptions into a search index",
         (Settings, EndpointSettings), "KeyframeInference", "$.search_index",
         s3=(reads_writes(OUTPUT, ANALYSIS_PREFIX), reads(OUTPUT, TRANSCRIPTS_PREFIX)),
         capabilities=(Capability.INVOKE_ENDPOINT,), image=EMBEDDING_IMAGE),
    Step("release_inference", 30, 128, "Lets go of the embedding model; the last job out scales it to zero",
         (Settings, InferenceSettings), "ReleaseInference", "$.inference",
         tables=(EVENT_LOG, LEASES), capabilities=(Capability.SET_INFERENCE_FLOOR,)),
    # -- judgment -----------------------------------------------------------------------------
    Step("check_budget", 15, 128, "Opens the job's model budget (tokens, calls, time) and reports what is left",
         (Settings, JudgmentSettings), "CheckBudget", "$.budget", tables=(EVENT_LOG, BUDGET)),
    _judge("summarize_video", "SummarizeVideo", "$.summary", 150,
           "Titles and summarizes the video (Bedrock within budget, else extractive)"),
    _judge("plan_clips", "PlanClips", "$.plan_draft", 150,
           "Drafts the clip plan (Bedrock within budget, else the local planner)"),
    Step("validate_plan", 30, 256, "Clamps or rejects the drafted clips: inside the video, no overlaps, bounded",
         (Settings, JudgmentSettings), "ValidatePlan", "$.plan", s3=(reads_writes(OUTPUT, ANALYSIS_PREFIX),)),
    # -- render -------------------------------------------------------------------------------
    Step("build_render_specs", 30, 256,
         "Writes one render spec per clip and aspect and chooses Lambda or Fargate for it",
         (Settings, RenderSettings), "BuildRenderSpecs", "$.render",
         # The transcript's speakers tell whose face the crop follows.
         s3=(reads_writes(OUTPUT, ANALYSIS_PREFIX), reads(OUTPUT, TRANSCRIPTS_PREFIX))),
    Step("record_render", 60, 256,
         "Checks each rendered clip's length, codec and its aspect's size from its MP4 header",
         (Settings, RenderSettings, FargateShape), "RecordRender", "$.clips",
         s3=(reads(OUTPUT, CLIPS_PREFIX), lists(OUTPUT, CLIPS_PREFIX))),
    # -- finish -------------------------------------------------------------------------------
    Step("record_cost", 60, 256, "Computes the job's cost by service and stores it with the job",
         (Settings, CostConfig), "RecordCost", "$.cost", tables=(EVENT_LOG, JOB_RECORD),
         capabilities=(Capability.READ_EXECUTION_HISTORY,)),
    # The timeline beside the manifest (OpenTimelineIO, compiled: its image holds it) reads the captions' cues.
    Step("publish_results", 30, 256, "Writes the job's timeline and manifest and completes the job",
         state="PublishResults", result_path="$.result",
         s3=(reads(OUTPUT, ANALYSIS_PREFIX), reads(OUTPUT, MANIFESTS_PREFIX), reads(OUTPUT, CAPTIONS_PREFIX),
             writes(OUTPUT, OUTPUTS_PREFIX)),
         tables=(EVENT_LOG, JOB_RECORD), image=EMBEDDING_IMAGE),
    Step("notify", 30, 128, "Announces a completed job on EventBridge and SNS", (Settings, NotifySettings),
         "Notify", "$.notified", capabilities=(Capability.PUT_EVENTS, Capability.PUBLISH_NOTIFICATION)),
    Step("compensate", 60, 256, "Records a failed execution, removes half-written renders, releases the endpoint",
         (Settings, InferenceSettings),
         s3=(writes(OUTPUT, OUTPUTS_PREFIX), deletes(OUTPUT, CLIPS_PREFIX), lists(OUTPUT, CLIPS_PREFIX)),
         tables=(EVENT_LOG, JOB_RECORD, LEASES),
         capabilities=(Capability.READ_EXECUTION_HISTORY, Capability.SET_INFERENCE_FLOOR)),
    Step("handle_failure", 30, 256, "Records why a job was rejected or failed, releases the endpoint",
         (Settings, InferenceSettings), state="HandleFailure", result_path="$.failure",
         s3=(writes(OUTPUT, OUTPUTS_PREFIX),), tables=(EVENT_LOG, JOB_RECORD, LEASES),
         capabilities=(Capability.SET_INFERENCE_FLOOR,)),
    # -- interface and operations -------------------------------------------------------------
    # A query against a model with no copy is embedded on this function's CPU (its image holds the model);
    # 29 s: API Gateway's integration limit, room for a cold start that loads the model.
    Step("search_api", 29, 2048, "Answers GET /jobs/{id}/search from the job's index",
         (Settings, EndpointSettings, AccessSettings), s3=(reads(OUTPUT, ANALYSIS_PREFIX),),
         tables=(TableAccess("jobs", ("dynamodb:GetItem",)),),  # whose job it is
         capabilities=(Capability.INVOKE_ENDPOINT,), image=EMBEDDING_IMAGE),
    # CreateMultipartUpload, the presigned UploadPart and CompleteMultipartUpload are all s3:PutObject;
    # ListParts (the sizes of the parts, checked before completing) is s3:ListMultipartUploadParts.
    Step("jobs_api", 29, 512, "Serves the jobs API: uploads, jobs, events, retry, cancel",
         (Settings, IngestSettings, LimitSettings, WorkflowSettings, UploadSettings, AccessSettings),
         s3=(S3Access(INGEST, INGEST_PREFIX, ("s3:PutObject", "s3:ListMultipartUploadParts",
                                              "s3:AbortMultipartUpload")),),
         tables=(READS_EVENT_LOG, JOB_RECORD, TableAccess("jobs", ("dynamodb:Query",), index=LISTING_INDEX),
                 TableAccess("jobs", ("dynamodb:Query",), index=OWNER_INDEX),
                 TableAccess("uploads", ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"))),
         capabilities=(Capability.REDRIVE_AND_STOP,)),
    Step("ws_connections", 30, 256, "WebSocket routes: $connect, $disconnect, subscribe (backlog from the log)",
         (Settings, ConnectionSettings, AccessSettings),
         tables=(READS_EVENT_LOG, TableAccess("jobs", ("dynamodb:GetItem",)),
                 TableAccess("connections", ("dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query")),
                 TableAccess("connections", ("dynamodb:Query",), index=BY_CONNECTION_INDEX)),
         capabilities=(Capability.MANAGE_CONNECTIONS,)),
    Step("push_events", 60, 256, "Pushes new job events to the WebSocket connections following the job",
         (ConnectionSettings,), tables=(TableAccess("connections", ("dynamodb:Query", "dynamodb:DeleteItem")),),
         capabilities=(Capability.MANAGE_CONNECTIONS,)),
    # It also lets go of the model for a job that ended without releasing it (and takes the copies to zero).
    Step("stall_monitor", 120, 256, "Flags RUNNING jobs whose event log has gone quiet; releases stuck holds",
         (Settings, StallSettings, InferenceSettings),
         tables=(EVENT_LOG, TableAccess("jobs", ("dynamodb:Query",), index=LISTING_INDEX), LEASES),
         capabilities=(Capability.SET_INFERENCE_FLOOR,)),
)
STEP = {step.function: step for step in STEPS}
