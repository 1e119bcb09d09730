"""Copy a job's results out of the local account into DIR/<job_id>/.

The published manifest names S3 keys; the exported one names paths relative to itself,
so the folder can be moved, zipped or opened as it is.
"""

import json
from pathlib import Path

from lambdas.common.events import EventLog
from lambdas.common.keys import index_key, manifest_key
from lambdas.common.models import JobManifest
from lambdas.common.storage import exists, get_json

FRAMES_DIR = "frames"
CLIPS_DIR = "clips"
SEARCH_INDEX_FILE = "index.json"


def export_job(s3, output_bucket: str, events_table: str, job_id: str, out_dir: Path) -> Path:
    target = out_dir / job_id
    target.mkdir(parents=True, exist_ok=True)
    manifest = JobManifest.model_validate(get_json(output_bucket, manifest_key(job_id)))
    local = manifest.model_dump(mode="json")

    def fetch(key: str, relative: str) -> str:
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(output_bucket, key, str(path))
        return relative

    if manifest.derivatives:
        derivatives = manifest.derivatives
        local["derivatives"] = {
            "proxy": fetch(derivatives.proxy, "proxy" + Path(derivatives.proxy).suffix),
            "audio": fetch(derivatives.audio, "audio" + Path(derivatives.audio).suffix) if derivatives.audio else None,
            "frames": [fetch(key, f"{FRAMES_DIR}/{Path(key).name}") for key in derivatives.frames],
        }
    if manifest.transcript:
        local["transcript"] = fetch(manifest.transcript, "transcript.json")
    if manifest.captions:
        local["captions"] = {
            kind: fetch(key, f"captions.{kind}") if key else None
            for kind, key in (("vtt", manifest.captions.vtt), ("srt", manifest.captions.srt))
        }
    if manifest.frames_analysis:
        local["frames_analysis"] = fetch(manifest.frames_analysis, "frames_analysis.json")
    local["clips"] = [
        {**clip.model_dump(mode="json"),
         "path": fetch(clip.path, f"{CLIPS_DIR}/{Path(clip.path).name}"),
         "thumbnail": fetch(clip.thumbnail, f"{CLIPS_DIR}/{Path(clip.thumbnail).name}") if clip.thumbnail else None}
        for clip in manifest.clips
    ]
    # The timeline files, beside the manifest in both places (their media paths follow this folder's names).
    if manifest.timeline:
        folder = manifest_key(job_id).rsplit("/", 1)[0]
        for relative in manifest.timeline.model_dump().values():
            fetch(f"{folder}/{relative}", relative)
    # The search index (keyframe_inference), for `videoflow search`; a duplicate upload reuses the earlier job's.
    for owner in (job_id, manifest.duplicate_of):
        if owner and exists(output_bucket, index_key(owner)):
            local["search_index"] = fetch(index_key(owner), SEARCH_INDEX_FILE)
            break
    (target / "manifest.json").write_text(json.dumps(local, indent=2) + "\n")
    with (target / "events.jsonl").open("w") as log:
        for event in EventLog(events_table).read(job_id):
            log.write(event.model_dump_json() + "\n")
    return target
