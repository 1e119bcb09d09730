"""asl-validator (pinned, tools/package.json) accepts the synthesized state machine definition.

The definition is read from the template as it deploys; its CloudFormation tokens (function and
role ARNs, the partition) are resolved to placeholder ARNs the way the local runner resolves them.
"""

import json
import subprocess

from tests.infra.tools import NODE_BIN, node_env, tool
from videoflow.local.template import LocalTemplate


def test_given_the_synthesized_state_machine_when_asl_validator_reads_it_then_it_is_valid(
    synth, state_machine_id, tmp_path
):
    definition = LocalTemplate(synth.template_dict).state_machine_definition(state_machine_id)
    path = tmp_path / "definition.asl.json"
    path.write_text(json.dumps(definition, indent=2))
    result = subprocess.run(
        [tool(NODE_BIN / "asl-validator"), "--json-path", str(path)],
        env=node_env(), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
