"""One declaration per step (stacks/steps.py) makes the function, its role, its environment and its state."""

import importlib
import json

import pytest

from lambdas.common.settings import Settings, variables
from stacks.steps import STEP, STEPS, Step
from stacks.wiring import _environment
from tests.infra import cfn
from videoflow.local.template import LocalTemplate


def functions_by_step(template_dict: dict) -> dict[str, dict]:
    return {step: template_dict["Resources"][lid]["Properties"] for step, lid in cfn.step_functions(template_dict).items()}


@pytest.mark.parametrize("step", STEPS, ids=lambda step: step.function)
def test_each_function_gets_exactly_the_variables_of_its_settings_models(template_dict, step):
    environment = functions_by_step(template_dict)[step.function].get("Environment", {}).get("Variables", {})
    own = {name for name in environment if not name.startswith("POWERTOOLS_")}
    declared = set(variables(*step.settings))

    assert own <= declared
    assert {name for name, required in variables(*step.settings).items() if required} <= own


def test_a_step_that_does_not_judge_is_not_told_the_model(template_dict):
    environment = functions_by_step(template_dict)["detect_shots"]["Environment"]["Variables"]
    assert "BEDROCK_MODEL_ID" not in environment and "STATE_MACHINE_ARN" not in environment


@pytest.mark.parametrize("step", STEPS, ids=lambda step: step.function)
def test_each_handler_reads_the_settings_its_declaration_names(step):
    module = importlib.import_module(f"lambdas.{step.function}.handler")
    models = getattr(module.handler, "settings_models", None) or module.SETTINGS
    assert set(variables(*models)) == set(variables(*step.settings))


def test_each_lambda_state_of_the_workflow_is_a_declared_step_with_its_result_path(template_dict):
    local = LocalTemplate(template_dict)
    (machine,) = local.of_type("AWS::StepFunctions::StateMachine")
    names = {local.arn(lid): cfn.handler_of(r["Properties"]) for lid, r in local.of_type("AWS::Lambda::Function").items()}
    found = {}

    def walk(states: dict) -> None:
        for name, state in states.items():
            # payload_response_only: the task's Resource is the function's ARN itself
            handler = names.get(state.get("Resource", ""), "") if state.get("Type") == "Task" else ""
            if handler.startswith("lambdas."):
                found[name] = (handler.split(".")[1], state.get("ResultPath"))
            for branch in state.get("Branches", []):
                walk(branch["States"])
            if "ItemProcessor" in state:
                walk(state["ItemProcessor"]["States"])

    walk(local.state_machine_definition(machine)["States"])
    declared = {step.state: (step.function, step.result_path) for step in STEPS if step.state}
    assert found == declared


def test_a_required_variable_the_stack_cannot_provide_fails_the_synth():
    class Needs(Settings):
        pass

    with pytest.raises(ValueError, match="reads JOBS_TABLE"):
        _environment(Step("imaginary", 1, 128, "", settings=(Needs,)), function=None, provided={})


def test_record_cost_is_told_every_functions_memory_as_declared(template_dict):
    environment = functions_by_step(template_dict)["record_cost"]["Environment"]["Variables"]
    memory = json.loads(environment["FUNCTION_MEMORY_MB"])
    assert {name: memory[name] for name in STEP} == {step.function: step.memory_mb for step in STEPS}
