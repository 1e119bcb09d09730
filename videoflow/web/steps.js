// The job's steps, from the workflow's state changes (the stream's `event: state`) and the job's events:
// one list item per step, in the order the steps started, each with its status, runs, retried failures and events.
"use strict";

const HIDDEN_STATE_TYPES = new Set(["Choice", "Pass", "Succeed", "Fail", "Wait"]);
// The step outside the workflow, first in the list: start_pipeline (job.started).
const FIRST_STEPS = { StartPipeline: -1 };

function onState(job, state) {
  if (job !== current || job.stateKeys.has(state.key)) return;
  job.stateKeys.add(state.key);
  if (!state.state || HIDDEN_STATE_TYPES.has(state.type)) return;
  const step = stepFor(job, state.state, state.at, state.branch);
  if (state.kind === "entered") {
    step.entered += 1;
    step.open += 1;
    step.enteredAt = state.at;
  } else if (state.kind === "exited") {
    step.open = Math.max(0, step.open - 1);
    step.finishedAt = state.at;
    step.failedOpen = false;
    step.caught = Boolean(state.caught); // the step's error went to a Catch: it failed, nothing retried it
  } else if (state.kind === "failed") {
    step.failures += 1;
    step.lastError = state.error + (state.cause ? `: ${state.cause}` : "");
    step.failedOpen = true;
  }
  renderStep(job, step);
}

function stepFor(job, name, at, branch) {
  let step = job.steps.get(name);
  const moment = name in FIRST_STEPS ? FIRST_STEPS[name] : Date.parse(at);
  if (!step) {
    step = {
      name, branch, first: moment, entered: 0, open: 0, failures: 0, failedOpen: false, caught: false,
      enteredAt: null, finishedAt: null, lastError: "", events: [],
      node: element("li", { class: "step", "data-step": name }),
    };
    job.steps.set(name, step);
    placeStep(job, step);
  } else if (moment < step.first) {
    step.first = moment;
    placeStep(job, step);
  }
  if (branch && !step.branch) step.branch = branch;
  return step;
}

function placeStep(job, step) {
  // Steps stay in the order they started, whatever order their news arrives in.
  const list = $("steps");
  const later = [...job.steps.values()]
    .filter((other) => other !== step && other.node.parentNode === list)
    .filter((other) => other.first > step.first || (other.first === step.first && other.name > step.name))
    .sort((a, b) => a.first - b.first || (a.name < b.name ? -1 : 1))[0];
  list.insertBefore(step.node, later ? later.node : null);
}

function stepStatus(job, step) {
  const over = FINAL.has(job.status) && job.stream && job.stream.readyState === EventSource.CLOSED;
  if (step.open > 0 && over) return step.failedOpen ? "failed" : "stopped";
  if (step.open > 0) return "running";
  if (step.failedOpen || step.caught) return "failed";
  return "done";
}

function renderStep(job, step) {
  const status = stepStatus(job, step);
  step.node.dataset.status = status;
  let text = { running: "running…", done: "done", failed: "failed", stopped: "stopped" }[status];
  if (status === "done" && step.enteredAt && step.finishedAt) {
    text = `done in ${formatDuration(Math.max(0, (Date.parse(step.finishedAt) - Date.parse(step.enteredAt)) / 1000))}`;
  }
  if (step.entered > 1) text += ` (${step.entered} runs)`;
  const retried = step.failures - (status === "failed" ? 1 : 0);
  if (retried > 0) text += `, ${retried} failed attempt${retried > 1 ? "s" : ""} retried`;
  const children = [
    element("span", { class: "step-name", text: step.name }),
    step.branch ? element("span", { class: "branch", text: step.branch }) : null,
    element("span", { class: "step-status", text }),
  ];
  if (status === "failed" && step.lastError) children.push(element("p", { class: "step-error", text: step.lastError }));
  if (step.events.length) {
    children.push(element("ul", { class: "step-events" }, ...step.events.map((event) => element("li", {},
      element("code", { text: event.type }), " ", summary(event.detail)))));
  }
  step.node.replaceChildren(...children.filter(Boolean));
}
