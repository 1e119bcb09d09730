// VideoFlow's page: upload with presigned multipart URLs, follow a job live, show its results.
// Plain JavaScript, no build step. Everything shown comes from the jobs API (/api), the job's event
// stream (/api/jobs/{id}/stream, server-sent events) and its exported results (/results/{id}/...).
// Each part is its own classic script, listed in index.html (this one last); they share one global scope and
// only define names, so nothing runs until start() below wires the buttons and the browser's history and opens
// the job named in the URL.
"use strict";

function start() {
  setUpUpload();
  $("retry-button").addEventListener("click", retry);
  $("refresh-jobs").addEventListener("click", refreshJobs);
  window.addEventListener("popstate", () => {
    const id = jobFromUrl();
    if (id) openJob(id);
    else {
      closeJob();
      $("job").hidden = true;
      $("results").hidden = true;
    }
  });
  const id = jobFromUrl();
  if (id) openJob(id);
  refreshJobs();
  setInterval(() => {
    if (document.visibilityState === "visible") refreshJobs();
  }, 5000);
}

start();
