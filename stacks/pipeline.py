"""Layers 01 to 04 composed: each construct owns one concern; this only builds them in order and connects them.

    Operations         stacks/operations.py     topics and their key, the dead-letter queue, alarms, stall monitor
    Functions          stacks/functions.py      one function per step of stacks/steps.py
    Network            stacks/network.py        the VPC the workers and the endpoint share
    InferenceEndpoint  stacks/inference.py      the embedding model (an inference component that scales to zero)
    Renderer           stacks/render.py         the clip renderer (Fargate task and Lambda)
    FrameWorkers       stacks/analysis.py       the Batch frame workers
    WhisperTranscriber stacks/transcriber.py    with `transcriber: whisper`, the speech-to-text Batch job
    Orchestration      stacks/orchestration.py  the state machine, its upload trigger and status rules
    SearchApi          stacks/api.py            the REST API and its search route
    JobsApi            stacks/jobs_api.py       the jobs routes on that API
    LivePush           stacks/jobs_api.py       the WebSocket API of live job events

Then every function gets the permissions and variables its step names (stacks/wiring.py).
"""

from constructs import Construct

from lambdas.stall_monitor.logic import DEFAULT_LOOKBACK_H
from stacks.analysis import FRAME_WORKER_MEMORY_MB, FRAME_WORKER_VCPU, FrameWorkers
from stacks.api import SearchApi
from stacks.config import VideoFlowConfig
from stacks.functions import Functions
from stacks.inference import InferenceEndpoint
from stacks.jobs_api import JobsApi, LivePush
from stacks.network import Network
from stacks.operations import Operations
from stacks.orchestration import Orchestration
from stacks.render import Renderer
from stacks.state import StateLayer
from stacks.steps import INGEST, OUTPUT
from stacks.transcriber import WHISPER_MEMORY_MB, WHISPER_VCPU, WhisperTranscriber
from stacks.wiring import Wiring, function_memory_mb


class PipelineLayer(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, state: StateLayer, config: VideoFlowConfig):
        super().__init__(scope, construct_id)
        self.operations = Operations(self, "Operations")
        # CDK leaves the id "Default" out of logical ids: the functions keep the ids they had as this
        # layer's own children, so not one of them (nor its log group) is replaced.
        self.functions = Functions(self, "Default", config=config, dead_letters=self.operations.dead_letters)
        self.network = Network(self, "Network")
        self.inference = InferenceEndpoint(self, "Inference", network=self.network, config=config,
                                           capture_bucket=state.output_bucket)
        self.renderer = Renderer(self, "Render", network=self.network, state=state, config=config)
        self.frame_workers = FrameWorkers(self, "FrameWorkers", network=self.network, state=state, config=config)
        # transcriber: whisper: a Batch job on the frame workers' capacity instead of Amazon Transcribe.
        self.transcriber = WhisperTranscriber(self, "Transcriber", frame_workers=self.frame_workers, state=state,
                                              config=config) if config.transcriber == "whisper" else None
        self.orchestration = Orchestration(
            self, "Orchestration", functions={**self.functions.by_name, "render_short_clip": self.renderer.short_clip},
            state=state, renderer=self.renderer, frame_workers=self.frame_workers, transcriber=self.transcriber,
            dead_letters=self.operations.dead_letters, config=config,
        )
        self.operations.watch(self.orchestration.state_machine)
        # The interface keeps the ids it has: a new REST or WebSocket API would be a new URL for every client.
        self.api = SearchApi(self, "Api", search=self.functions["search_api"], config=config)
        self.jobs_api = JobsApi(self, "JobsApi", rest_api=self.api.api, function=self.functions["jobs_api"])
        self.live_push = LivePush(self, "LivePush", routes=self.functions["ws_connections"],
                                  push=self.functions["push_events"], state=state, config=config)
        self.operations.watch_stalls(self.functions["stall_monitor"], threshold_min=config.stall_after_min)
        self.functions.wire(Wiring(
            config=config,
            buckets={INGEST: state.ingest_bucket, OUTPUT: state.output_bucket},
            tables={"jobs": state.jobs_table, "events": state.events_table, "budget": state.budget_table,
                    "leases": self.inference.leases, "idempotency": state.idempotency_table,
                    "connections": self.live_push.connections, "uploads": state.uploads_table},
            environment=self._environment(state, config),
            state_machine=self.orchestration.state_machine, endpoint_arn=self.inference.endpoint_arn,
            component_arn=self.inference.component_arn,
            notifications=self.operations.notifications,
            manage_connections_arn=self.live_push.manage_connections_arn,
            manage_connections_finding=self.live_push.manage_connections_finding,
        ))

    def _environment(self, state: StateLayer, config: VideoFlowConfig) -> dict[str, str]:
        """Every variable a function may be given; each gets those its settings models name (steps.py)."""
        return {
            "JOBS_TABLE": state.jobs_table.table_name,
            "EVENTS_TABLE": state.events_table.table_name,
            "INGEST_BUCKET": state.ingest_bucket.bucket_name,
            "OUTPUT_BUCKET": state.output_bucket.bucket_name,
            "IDEMPOTENCY_TABLE": state.idempotency_table.table_name,
            "BUDGET_TABLE": state.budget_table.table_name,
            "STATE_MACHINE_ARN": self.orchestration.state_machine.state_machine_arn,
            **config.function_environment(),
            "BEDROCK_MODEL_ID": config.bedrock_model_id,
            # The embedding model (EndpointSettings, InferenceSettings in lambdas/common/settings.py).
            "INFERENCE_ENDPOINT_NAME": self.inference.endpoint_name,
            "INFERENCE_COMPONENT_NAME": self.inference.component_name,
            "INFERENCE_WARM_WAIT_S": str(config.inference_warm_wait_s),
            "INFERENCE_LEASES_TABLE": self.inference.leases.table_name,
            "INFERENCE_WARM_COPIES": str(config.inference_warm_copies),
            "INFERENCE_MAX_COPIES": str(config.inference_max_copies),
            "INFERENCE_SCALE_UP_S": str(config.inference_scale_up_s),
            "INFERENCE_MIN_INSTANCES": str(config.inference_min_instances),  # record_cost: what bills at rest
            **config.render_environment(),
            "RENDER_TASK_VCPU": str(config.render_task_vcpu),
            "RENDER_TASK_MEMORY_MB": str(config.render_task_memory_mb),
            "NOTIFY_TOPIC_ARN": self.operations.notifications.topic_arn,
            "FUNCTION_MEMORY_MB": function_memory_mb(config),
            "INFERENCE_INSTANCE_TYPE": config.inference_instance_type,
            "FRAME_WORKER_VCPU": str(FRAME_WORKER_VCPU),
            "FRAME_WORKER_MEMORY_MB": str(FRAME_WORKER_MEMORY_MB),
            "CONNECTIONS_TABLE": self.live_push.connections.table_name,
            "UPLOADS_TABLE": state.uploads_table.table_name,
            "ADMIN_PRINCIPAL_ARNS": ",".join(config.admin_principal_arns),
            "WEBSOCKET_CALLBACK_URL": self.live_push.stage.callback_url,
            "STALL_THRESHOLD_MIN": str(config.stall_after_min),
            "STALL_LOOKBACK_H": str(DEFAULT_LOOKBACK_H),
            # record_cost prices the whisper job instead of Transcribe minutes (only set with transcriber: whisper).
            **({"TRANSCRIBER": "whisper", "TRANSCRIBER_VCPU": str(WHISPER_VCPU),
                "TRANSCRIBER_MEMORY_MB": str(WHISPER_MEMORY_MB)} if self.transcriber else {}),
        }
