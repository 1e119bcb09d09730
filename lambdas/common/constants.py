"""Names and defaults in one place, with units in the names."""

# Bump when the derivatives change shape: it is part of the execution name, so the
# same upload processed by a new pipeline version is a new run, not a duplicate.
PIPELINE_VERSION = "1"

INGEST_PREFIX = "uploads/"
DERIVATIVES_PREFIX = "derivatives/"
OUTPUTS_PREFIX = "outputs/"
MANIFESTS_PREFIX = "manifests/"
ANALYSIS_PREFIX = "analysis/"
TRANSCRIPTS_PREFIX = "transcripts/"
CAPTIONS_PREFIX = "captions/"
CLIPS_PREFIX = "clips/"

PROXY_SHORT_SIDE_PX = 540
FRAME_INTERVAL_S = 2
AUDIO_SAMPLE_RATE_HZ = 16_000
FRAMES_PER_CHUNK = 60

# Default limits; deployments override them in cdk.json context "videoflow".
DEFAULT_MAX_DURATION_S = 4 * 3600
DEFAULT_MAX_SIZE_BYTES = 20 * 1024**3
DEFAULT_MIN_DURATION_S = 0.5
MAX_KEY_LENGTH = 512

METRICS_NAMESPACE = "VideoFlow"
