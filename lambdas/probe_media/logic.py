"""probe_media: turn a MediaConvert Probe response into the few facts the pipeline plans with.

The prober is MediaConvert in AWS and ffprobe locally; both answer in MediaConvert's
`Probe` response shape, so everything below is the same code in both places. The facts
that matter downstream are the size *as displayed*: a phone records 1920x1080 pixels with
"rotate 90" in the container, and a clip planned for that video must be 1080 wide.

Probe reads headers, and a header is one field anyone can edit. For MP4 and QuickTime (most
uploads) the index is read too, with a few ranged GETs of the pinned version: the length is
measured from the sample tables, and a file that ends before the media its index points at
(a "fast start" file cut short) is rejected here, before MediaConvert is paid to find out.
Other containers are measured after the transcode, by record_derivatives.
"""

from botocore.exceptions import ClientError

from lambdas.common import mp4
from lambdas.common.errors import MediaUnreadable, NoVideoStream, SourceMissing, TransientError
from lambdas.common.events import EventLog
from lambdas.common.media_probe import MediaProber
from lambdas.common.models import AudioTrack, JobRequest, MediaInfo, UploadCheck

# MediaConvert answers these when it cannot read the file at all; anything else
# (throttling, service errors) is the service's problem, worth a retry.
_UNREADABLE_CODES = {"BadRequestException", "UnprocessableEntityException"}
_TRANSIENT_CODES = {"TooManyRequestsException", "InternalServerErrorException", "ServiceUnavailableException"}


MP4_FAMILY = frozenset({"mp4", "quicktime", "three_gp", "three_g2"})
# Probe's Format names that describe one container family; within a family they may differ.
_FAMILIES = [MP4_FAMILY, frozenset({"matroska", "webm"})]


class ProbeRequest(JobRequest):
    upload: UploadCheck | None = None  # validate_upload's verdict: the container its bytes begin with


def probe_media(request: ProbeRequest, prober: MediaProber, s3, events: EventLog) -> MediaInfo:
    sniffed = request.upload.detected_format if request.upload else None
    try:
        response = prober.probe(request.source, container=sniffed)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "") or code
        if code in _UNREADABLE_CODES:
            raise MediaUnreadable(f"The file could not be read as media: {message}.") from error
        if code in _TRANSIENT_CODES:
            raise TransientError(f"MediaConvert Probe was unavailable: {message}") from error
        raise
    media = normalize_probe(response, request)
    check_same_container(sniffed, media.container)
    media = measure_from_index(media, request.source, s3)
    events.append(
        request.job_id, "media.probed", "ProbeMedia",
        container=media.container, duration_s=media.duration_s, width=media.width, height=media.height,
        rotation_deg=media.rotation_deg, video_codec=media.video_codec, frame_rate=media.frame_rate,
        has_audio=media.has_audio, stated_duration_s=media.stated_duration_s,
    )
    return media


def check_same_container(sniffed: str | None, probed: str) -> None:
    """What decodes decides: bytes that begin like one container but decode as another are refused."""
    if not sniffed or sniffed == probed or probed == "unknown":
        return
    if any(sniffed in family and probed in family for family in _FAMILIES):
        return
    raise MediaUnreadable(
        f"The file begins like {sniffed} but decodes as {probed}; it is damaged or disguised, so it is not processed."
    )


def measure_from_index(media: MediaInfo, source, s3) -> MediaInfo:
    """For MP4/QuickTime: the length its samples hold (not its header), and every byte of it present."""
    if media.container not in MP4_FAMILY:
        return media
    try:
        read, size = mp4.s3_reader(s3, source.bucket, source.key, source.version_id)
        extent = mp4.read_mp4_extent(read, size)
    except mp4.Mp4Truncated as error:
        raise MediaUnreadable(
            f"The file is incomplete: {error} (the upload may have been cut short; the file may be truncated)."
        ) from error
    except mp4.Mp4Unreadable:
        # Probe read it, but its index is not one this reader measures (an unusual layout):
        # record_derivatives measures what MediaConvert decoded instead.
        return media
    measured_s = extent.duration_s
    if measured_s is None or abs(measured_s - media.duration_s) <= mp4.length_tolerance_s(media.duration_s):
        return media
    return media.model_copy(update={"duration_s": round(measured_s, 3), "stated_duration_s": media.duration_s})


def normalize_probe(response: dict, request: JobRequest) -> MediaInfo:
    """MediaInfo from one Probe response; a file that cannot be planned with is rejected here."""
    results = response.get("ProbeResults") or []
    if not results:
        raise MediaUnreadable("The file could not be read as media: the probe found nothing in it.")
    result = results[0]
    _check_same_version(result.get("Metadata") or {}, request)
    container = result.get("Container") or {}
    tracks = sorted(container.get("Tracks") or [], key=lambda track: track.get("Index") or 0)
    if not tracks:
        raise MediaUnreadable("The file could not be read as media: it has no audio or video tracks.")
    videos = [track for track in tracks if track.get("TrackType") == "video"]
    audios = [track for track in tracks if track.get("TrackType") == "audio"]
    if not videos:
        raise NoVideoStream(
            "The file has audio but no video stream." if audios else "The file has no video stream."
        )
    video = videos[0]
    properties = video.get("VideoProperties") or {}
    codec_metadata = properties.get("CodecMetadata") or {}

    coded_width = properties.get("Width") or codec_metadata.get("Width") or 0
    coded_height = properties.get("Height") or codec_metadata.get("Height") or 0
    if coded_width <= 0 or coded_height <= 0:
        raise MediaUnreadable("The file could not be read as media: its video stream has no picture size.")

    duration_s = container.get("Duration") or max((track.get("Duration") or 0 for track in tracks), default=0)
    if duration_s <= 0:
        raise MediaUnreadable(
            "The file reports no duration; it may be truncated or still being written."
        )

    rotation_deg = _rotation(properties, codec_metadata)
    # The container's declaration wins over the bitstream's, as players do; each is null
    # where the file does not declare it.
    pixel_aspect = _ratio(properties.get("SampleAspectRatio")) or _ratio(codec_metadata.get("SampleAspectRatio")) or 1.0
    # Pixel aspect stretches the coded width; rotation then swaps what is displayed.
    width, height = max(1, round(coded_width * pixel_aspect)), coded_height
    if rotation_deg in (90, 270):
        width, height = height, width

    audio = audios[0] if audios else None
    audio_properties = (audio or {}).get("AudioProperties") or {}
    metadata = result.get("Metadata") or {}
    return MediaInfo(
        container=container.get("Format") or "unknown",
        duration_s=round(float(duration_s), 3),
        size_bytes=metadata.get("FileSize") or request.source.size_bytes,
        video_codec=video.get("Codec") or "UNKNOWN",
        coded_width=coded_width,
        coded_height=coded_height,
        width=width,
        height=height,
        rotation_deg=rotation_deg,
        frame_rate=round(_ratio(properties.get("FrameRate")) or 0.0, 3),
        has_audio=audio is not None,
        audio_codec=audio.get("Codec") if audio else None,
        audio_channels=audio_properties.get("Channels") or 0,
        audio_sample_rate_hz=audio_properties.get("SampleRate") or 0,
        # MediaConvert numbers audio tracks in file order (AudioSelector Tracks: 1 is the first).
        audio_tracks=[AudioTrack(track=number, channels=(track.get("AudioProperties") or {}).get("Channels") or 0,
                                 codec=track.get("Codec")) for number, track in enumerate(audios, start=1)],
    )


def _rotation(properties: dict, codec_metadata: dict) -> int:
    """Clockwise degrees, one of 0/90/180/270.

    MediaConvert reports the container's rotation (MP4 tkhd matrix, Matroska pose) on the
    track and the bitstream's (display orientation SEI) under CodecMetadata; both are null
    when there is none. The container's is what players apply, so it wins.
    """
    value = properties.get("Rotation")
    if value is None:
        value = codec_metadata.get("Rotation")
    degrees = round(float(value or 0)) % 360
    # An odd angle cannot be displayed by swapping sides; treat it as none rather than guess.
    return degrees if degrees in (0, 90, 180, 270) else 0


def _ratio(fraction: dict | None) -> float | None:
    if not fraction:
        return None
    numerator, denominator = fraction.get("Numerator") or 0, fraction.get("Denominator") or 0
    if numerator <= 0 or denominator <= 0:
        return None
    return numerator / denominator


def _check_same_version(metadata: dict, request: JobRequest) -> None:
    """MediaConvert Probe takes a URL, not a version: make sure it saw the bytes this job is for.

    If the key was overwritten after the upload event, the probe describes the newer object,
    which has its own event and its own job; this job's version is no longer the latest.
    """
    seen, expected = (metadata.get("ETag") or "").strip('"'), request.source.etag.strip('"')
    if seen and expected and seen != expected:
        raise SourceMissing(
            f"The file '{request.source.name}' was replaced by a newer upload while it was being checked."
        )
