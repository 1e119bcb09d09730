"""Is a CreateJob request one MediaConvert would accept? Checked before any work is done.

The botocore model gives the shapes; MediaConvert also refuses what its documentation states
only in prose ("Required when you set Codec to the value H_264"), so those rules are here too.
The golden-settings tests use the same check on what build_mediaconvert_job produces.
"""

from __future__ import annotations

import re

from videoflow.local.botocore_model import request_problems, validate_request
from videoflow.local.mediaconvert.errors import BadRequestException


def check_create_job(parameters: dict) -> None:
    """Refuse the request with BadRequestException, as the CreateJob call itself would."""
    validate_request("mediaconvert", "CreateJob", parameters, BadRequestException,
                     structure_rule=_conditional_problems)


def create_job_problems(parameters: dict) -> list[str]:
    """Everything a CreateJob request gets wrong against botocore's MediaConvert model."""
    return request_problems("mediaconvert", "CreateJob", parameters, structure_rule=_conditional_problems)


def settings_problems(settings: dict) -> list[str]:
    """The same check, for the job's Settings alone."""
    return request_problems("mediaconvert", "CreateJob", settings, member="Settings",
                            structure_rule=_conditional_problems)


_REQUIRED_WHEN = re.compile(r"Required when you set \(?Codec\)?.*?to the value (\w+)", re.IGNORECASE)
_GROUP_SETTINGS = {
    "FILE_GROUP_SETTINGS": "FileGroupSettings",
    "HLS_GROUP_SETTINGS": "HlsGroupSettings",
    "DASH_ISO_GROUP_SETTINGS": "DashIsoGroupSettings",
    "MS_SMOOTH_GROUP_SETTINGS": "MsSmoothGroupSettings",
    "CMAF_GROUP_SETTINGS": "CmafGroupSettings",
}


def _conditional_problems(value: dict, shape, path: str) -> list[str]:
    """The rules the model states only in its documentation, for one structure of the request."""
    found = []
    codec = value.get("Codec")
    if codec is not None:
        for name, member in shape.members.items():
            match = _REQUIRED_WHEN.search(member.documentation or "")
            if match and match.group(1).upper() == str(codec).upper() and name not in value:
                found.append(f"{path}: {name} is required when Codec is {codec}")
    if shape.name == "OutputGroupSettings":
        needed = _GROUP_SETTINGS.get(value.get("Type", ""))
        if needed and needed not in value:
            found.append(f"{path}: {needed} is required when Type is {value['Type']}")
    if shape.name == "H264Settings":
        mode = value.get("RateControlMode")
        if mode == "QVBR" and "MaxBitrate" not in value:
            found.append(f"{path}: MaxBitrate is required when RateControlMode is QVBR")
        if mode in ("CBR", "VBR") and "Bitrate" not in value:
            found.append(f"{path}: Bitrate is required when RateControlMode is {mode}")
        if value.get("ParControl") == "SPECIFIED" and not {"ParNumerator", "ParDenominator"} <= value.keys():
            found.append(f"{path}: ParNumerator and ParDenominator are required when ParControl is SPECIFIED")
    return found
