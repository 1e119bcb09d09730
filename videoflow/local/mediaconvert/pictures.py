"""A video output's preprocessing in ffmpeg filters: deinterlacing, frame rate and colour space.

MediaConvert decides each from the input (Color space FOLLOW, frames flagged interlaced, the
source's frame rate); here the input's facts (source.SourceFacts) stand in for that. Without
facts (a command built for a benchmark, say) only what the settings alone decide is applied.

- Deinterlacer INTERPOLATE: yadif, one frame per frame; NORMAL leaves frames flagged progressive
  alone, FORCE_ALL_FRAMES does every frame. Other algorithms and inverse telecine are refused.
- Frame rate "follow source": a constant rate, the source's own or, for a variable-rate source,
  the nearest standard one (MediaConvert never writes a variable rate).
- ColorCorrector FORCE_709: HDR10 (PQ) and HLG are tone-mapped to SDR BT.709 in linear light
  (zscale + tonemap: mobius for VIBRANT, reinhard for PRESERVE_DETAILS, which MediaConvert also
  uses for every HLG source); a tagged SDR source in another matrix is converted to BT.709.
"""

from __future__ import annotations

from videoflow.local.mediaconvert.errors import unsupported
from videoflow.local.mediaconvert.source import SourceFacts

HDR_TRANSFERS = {"smpte2084", "arib-std-b67"}
# The input's colour space, when the job's VideoSelector names it: (transfer, primaries, matrix).
_NAMED_SPACES = {
    "HDR10": ("smpte2084", "bt2020", "bt2020nc"),
    "HLG_2020": ("arib-std-b67", "bt2020", "bt2020nc"),
    "REC_709": ("bt709", "bt709", "bt709"),
    "REC_601": ("smpte170m", "smpte170m", "smpte170m"),
}
# ffprobe's colour names -> zscale's.
_ZSCALE_PRIMARIES = {"bt709": "709", "bt2020": "2020", "smpte170m": "170m", "bt470bg": "170m",
                     "smpte240m": "240m"}
_ZSCALE_MATRIX = {"bt709": "709", "bt2020nc": "2020_ncl", "bt2020c": "2020_cl", "smpte170m": "170m",
                  "bt470bg": "470bg", "smpte240m": "240m"}
_ZSCALE_TRANSFER = {"smpte2084": "smpte2084", "arib-std-b67": "arib-std-b67", "bt709": "709",
                    "smpte170m": "601", "bt470bg": "601", "bt2020-10": "2020_10", "bt2020-12": "2020_12"}
_TONE_MAPPERS = {"VIBRANT": "mobius", "PRESERVE_DETAILS": "reinhard"}
# Encoder options that label an output as SDR BT.709 (ColorMetadata INSERT).
BT709_TAGS = ["-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv"]


def input_color(selector: dict, source: SourceFacts | None) -> tuple[str | None, str | None, str | None]:
    """(transfer, primaries, matrix) of the input: from the file (FOLLOW) or as the VideoSelector names it."""
    found = (source.color_transfer, source.color_primaries, source.color_space) if source else (None, None, None)
    named = selector.get("ColorSpace", "FOLLOW")
    if named == "FOLLOW":
        return found
    if named not in _NAMED_SPACES:
        raise unsupported(f"VideoSelector ColorSpace {named}")
    if selector.get("ColorSpaceUsage", "FORCE") == "FALLBACK" and any(found):
        return found
    return _NAMED_SPACES[named]


def deinterlace_filters(video: dict, source: SourceFacts | None) -> list[str]:
    deinterlacer = (video.get("VideoPreprocessors") or {}).get("Deinterlacer")
    if deinterlacer is None:
        return []
    mode = deinterlacer.get("Mode", "DEINTERLACE")
    algorithm = deinterlacer.get("Algorithm", "INTERPOLATE")
    if mode not in ("DEINTERLACE", "ADAPTIVE") or algorithm != "INTERPOLATE":
        raise unsupported(f"Deinterlacer Mode {mode} with Algorithm {algorithm}")
    every_frame = deinterlacer.get("Control", "NORMAL") == "FORCE_ALL_FRAMES"
    if not every_frame and source is not None and source.field_order in (None, "progressive"):
        return []  # nothing is flagged interlaced: NORMAL leaves every frame as it is
    return [f"yadif=mode=send_frame:parity=auto:deint={'all' if every_frame else 'interlaced'}"]


def follow_source_rate(h264: dict, source: SourceFacts | None) -> list[str]:
    """A constant frame rate for an H.264 output whose rate follows the source."""
    if h264.get("FramerateControl", "INITIALIZE_FROM_SOURCE") != "INITIALIZE_FROM_SOURCE" or source is None:
        return []
    rate = source.follow_source_frame_rate
    return [f"fps={rate.numerator}/{rate.denominator}"] if rate else []


def color_filters(video: dict, selector: dict, source: SourceFacts | None, *, frame_capture: bool) -> list[str]:
    """Filters after scaling that bring the picture into the output's colour space."""
    corrector = (video.get("VideoPreprocessors") or {}).get("ColorCorrector")
    if corrector is None:
        return []
    for setting in ("Brightness", "Contrast", "Hue", "Saturation"):
        if corrector.get(setting) not in (None, 50 if setting != "Hue" else 0):
            raise unsupported(f"ColorCorrector {setting}")
    conversion = corrector.get("ColorSpaceConversion", "NONE")
    if conversion == "NONE":
        return []
    if conversion != "FORCE_709":
        raise unsupported(f"ColorSpaceConversion {conversion}")
    transfer, primaries, matrix = input_color(selector, source)
    out_format = "yuvj420p" if frame_capture else "yuv420p"
    if transfer in HDR_TRANSFERS:
        tone_mapper = "reinhard" if transfer == "arib-std-b67" else _TONE_MAPPERS[
            corrector.get("HdrToSdrToneMapper", "PRESERVE_DETAILS")]
        source_range = "full" if source is not None and source.color_range == "pc" else "limited"
        return [
            f"zscale=tin={_ZSCALE_TRANSFER[transfer]}:pin={_ZSCALE_PRIMARIES.get(primaries or '', '2020')}"
            f":min={_ZSCALE_MATRIX.get(matrix or '', '2020_ncl')}:rin={source_range}:t=linear:npl=100",
            "format=gbrpf32le",
            "zscale=p=709",
            f"tonemap=tonemap={tone_mapper}:desat=0",
            "zscale=t=709:m=709:r=limited",
            f"format={out_format}",
        ]
    if matrix and matrix != "bt709" and matrix in _ZSCALE_MATRIX:
        # SDR in another matrix (BT.601 SD, BT.2020 SDR): to BT.709, primaries too where they are known.
        conversion_args = [f"min={_ZSCALE_MATRIX[matrix]}", "m=709"]
        if primaries in _ZSCALE_PRIMARIES and primaries != "bt709":
            conversion_args += [f"pin={_ZSCALE_PRIMARIES[primaries]}", "p=709"]
            conversion_args += [f"tin={_ZSCALE_TRANSFER.get(transfer or '', '709')}", "t=709"]
        return ["zscale=" + ":".join(conversion_args), f"format={out_format}"]
    return []


def tags_bt709(video: dict) -> bool:
    """Whether the encoder labels the output BT.709 (FORCE_709 with ColorMetadata INSERT, the default)."""
    corrector = (video.get("VideoPreprocessors") or {}).get("ColorCorrector") or {}
    return corrector.get("ColorSpaceConversion") == "FORCE_709" and video.get("ColorMetadata", "INSERT") == "INSERT"


def unsupported_preprocessors(video: dict) -> None:
    for name in (video.get("VideoPreprocessors") or {}):
        if name not in ("ColorCorrector", "Deinterlacer"):
            raise unsupported(f"VideoPreprocessors.{name}")
