"""Where media facts come from: the MediaConvert Probe API in AWS.

A prober returns the MediaConvert `Probe` response shape ({"ProbeResults": [...]}); the
local runner registers an ffprobe-backed prober that returns the same shape, so
probe_media's logic is the same code in both places.

`container` is what validate_upload recognised from the bytes. MediaConvert's Probe takes
only a URL and decides for itself; the local prober reads the file with that demuxer and
no other, so a file is never opened as a playlist that names other files.
"""

from typing import Protocol

from lambdas.common import aws
from lambdas.common.models import SourceObject


class MediaProber(Protocol):
    def probe(self, source: SourceObject, container: str | None = None) -> dict: ...


class MediaConvertProber:
    def probe(self, source: SourceObject, container: str | None = None) -> dict:
        return aws.client("mediaconvert").probe(InputFiles=[{"FileUrl": source.url}])


_registered: MediaProber | None = None


def register(prober: MediaProber | None) -> None:
    """Replace the prober (the local runner does; None restores MediaConvert)."""
    global _registered
    _registered = prober


def get_prober() -> MediaProber:
    return _registered or MediaConvertProber()
