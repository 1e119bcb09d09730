// The list of past jobs beside the page (GET /api/jobs), the one on show marked.
"use strict";

async function refreshJobs() {
  try {
    const answer = await api("GET", "/jobs?limit=25");
    const list = $("job-list");
    list.replaceChildren(...(answer.jobs || []).map((job) => {
      const link = element("a", { href: jobUrl(job.job_id) }, baseName(job.source_key) || job.job_id);
      link.addEventListener("click", (event) => {
        event.preventDefault();
        history.pushState({ job: job.job_id }, "", jobUrl(job.job_id));
        openJob(job.job_id);
      });
      return element("li", { "data-job": job.job_id }, link, " ",
        element("span", { class: "status", "data-status": job.status, text: String(job.status || "").toLowerCase() }),
        element("br"),
        element("small", { text: job.created_at ? new Date(job.created_at).toLocaleString() : "" }));
    }));
    $("jobs-empty").hidden = list.children.length > 0;
    markCurrentInList();
  } catch (error) {
    setText($("jobs-empty"), `The jobs could not be listed: ${error.message}`);
    $("jobs-empty").hidden = false;
  }
}

function markCurrentInList() {
  for (const item of $("job-list").children) {
    const link = item.querySelector("a");
    if (current && item.dataset.job === current.id) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}
