"""Layer 05, state: where everything rests. Buckets and tables are retained when the stack goes."""

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb, aws_s3 as s3
from constructs import Construct

from lambdas.common.jobs import FINGERPRINT_INDEX, LISTING_ATTRIBUTES, LISTING_INDEX, LISTING_KEY
from lambdas.common.owners import OWNER_ATTRIBUTE, OWNER_INDEX, OWNER_LISTING_ATTRIBUTES
from stacks.config import VideoFlowConfig
from stacks.nag import acknowledge, checkov_skip

# An overwritten or deleted original stays this long as a noncurrent version: a job reading it pins its
# version, and Step Functions can redrive a failed execution up to 14 days after it started.
NONCURRENT_VERSION_DAYS = 15


class StateLayer(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: VideoFlowConfig):
        super().__init__(scope, construct_id)
        removal = cdk.RemovalPolicy.RETAIN if config.retain_data else cdk.RemovalPolicy.DESTROY

        self.access_logs = s3.Bucket(
            self, "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(365))],
            removal_policy=removal,
        )
        acknowledge(self.access_logs, {
            "AwsSolutions-S1": "This is the access-log bucket itself; logging it into itself would loop.",
        })
        checkov_skip(self.access_logs, {
            "CKV_AWS_18": "This is the access-log bucket itself; logging it into itself would loop.",
            "CKV_AWS_21": "S3 writes each access-log object once and never overwrites it; they expire after a year.",
        })
        # Originals: versioned so an overwrite never loses the object a job is reading; old versions expire.
        self.ingest_bucket = self._bucket("Ingest", removal, versioned=True, event_bridge=True)
        self.ingest_bucket.add_lifecycle_rule(
            id="ExpireReplacedOriginals",
            noncurrent_version_expiration=cdk.Duration.days(NONCURRENT_VERSION_DAYS),
            expired_object_delete_marker=True,
        )
        if config.upload_allowed_origins:
            # A browser PUTs the parts of a presigned multipart upload and must read each part's ETag.
            self.ingest_bucket.add_cors_rule(
                allowed_methods=[s3.HttpMethods.PUT], allowed_origins=list(config.upload_allowed_origins),
                allowed_headers=["*"], exposed_headers=["ETag"], max_age=3600,
            )
        # Derivatives, frame manifests and published results.
        self.output_bucket = self._bucket("Output", removal, versioned=False)
        checkov_skip(self.output_bucket, {
            "CKV_AWS_21": "Everything here is made again from the versioned original by running the job again; "
                          "versions would keep what compensate deletes and every re-run overwrites, as billed storage.",
        })

        self.jobs_table = dynamodb.Table(
            self, "Jobs",
            partition_key=dynamodb.Attribute(name="job_id", type=dynamodb.AttributeType.STRING),
            **self._table_defaults(removal),
        )
        self.jobs_table.add_global_secondary_index(
            index_name=FINGERPRINT_INDEX,
            partition_key=dynamodb.Attribute(name="fingerprint", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="created_at", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=["status"],
        )
        # GET /jobs and the stall monitor: every job, newest first (JobStore.list).
        self.jobs_table.add_global_secondary_index(
            index_name=LISTING_INDEX,
            partition_key=dynamodb.Attribute(name=LISTING_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="created_at", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=list(LISTING_ATTRIBUTES),
        )
        # GET /jobs for everyone but administrators: the caller's own jobs, newest first (lambdas/jobs_api/owned.py).
        self.jobs_table.add_global_secondary_index(
            index_name=OWNER_INDEX,
            partition_key=dynamodb.Attribute(name=OWNER_ATTRIBUTE, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="created_at", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=list(OWNER_LISTING_ATTRIBUTES),
        )
        # The uploads the jobs API started: owner and declared size, until completed (lambdas/jobs_api/claims.py).
        self.uploads_table = dynamodb.Table(
            self, "Uploads",
            partition_key=dynamodb.Attribute(name="upload_id", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute="expires_at",
            **self._table_defaults(cdk.RemovalPolicy.DESTROY),
        )
        self.events_table = dynamodb.Table(
            self, "Events",
            partition_key=dynamodb.Attribute(name="job_id", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="seq", type=dynamodb.AttributeType.NUMBER),
            # The stream feeds live push to clients (interface layer); the table stays the truth.
            stream=dynamodb.StreamViewType.NEW_IMAGE,
            **self._table_defaults(removal),
        )
        # Judgment's per-job model budget (check_budget): tokens, calls and time, by conditional writes.
        self.budget_table = dynamodb.Table(
            self, "Budget",
            partition_key=dynamodb.Attribute(name="job_id", type=dynamodb.AttributeType.STRING),
            **self._table_defaults(removal),
        )
        # Powertools idempotency records for start_pipeline; expired records are deleted by TTL.
        self.idempotency_table = dynamodb.Table(
            self, "Idempotency",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute="expiration",
            **self._table_defaults(cdk.RemovalPolicy.DESTROY),
        )

    def _bucket(self, name: str, removal: cdk.RemovalPolicy, *, versioned: bool, event_bridge: bool = False):
        return s3.Bucket(
            self, name,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=versioned,
            event_bridge_enabled=event_bridge,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{name.lower()}/",
            lifecycle_rules=[s3.LifecycleRule(abort_incomplete_multipart_upload_after=cdk.Duration.days(7))],
            removal_policy=removal,
        )

    @staticmethod
    def _table_defaults(removal: cdk.RemovalPolicy) -> dict:
        return {
            "billing_mode": dynamodb.BillingMode.PAY_PER_REQUEST,
            "encryption": dynamodb.TableEncryption.AWS_MANAGED,
            "point_in_time_recovery_specification": dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            "removal_policy": removal,
        }
