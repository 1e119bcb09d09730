// Upload a chosen or dropped video: presigned multipart URLs from POST /api/uploads, the parts PUT
// in parallel (each retried), then POST /api/uploads/complete, and the page opens the new job.
"use strict";

const PARALLEL_PARTS = 3;
const PART_ATTEMPTS = 3;

function putPart(url, blob, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("PUT", url);
    request.upload.onprogress = (event) => onProgress(event.loaded);
    request.onload = () => {
      const etag = request.getResponseHeader("ETag");
      if (request.status >= 200 && request.status < 300 && etag) resolve(etag);
      else if (request.status >= 200 && request.status < 300) reject(new Error("the storage did not expose the part's ETag (CORS)"));
      else reject(new Error(`part upload failed: HTTP ${request.status}`));
    };
    request.onerror = () => reject(new Error("part upload failed: network error"));
    request.send(blob);
  });
}

async function putPartWithRetries(url, blob, onProgress) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await putPart(url, blob, onProgress);
    } catch (error) {
      onProgress(0);
      if (attempt >= PART_ATTEMPTS) throw error;
      await new Promise((wait) => setTimeout(wait, 500 * attempt));
    }
  }
}

async function upload(file) {
  const progress = $("upload-progress");
  const bar = $("upload-bar");
  const text = $("upload-text");
  const error = $("upload-error");
  error.hidden = true;
  $("file-input").disabled = true;
  $("upload-label").replaceChildren("Uploading ", element("span", { id: "upload-name", text: file.name }));
  bar.value = 0;
  setText(text, "Preparing the upload…");
  progress.hidden = false;
  try {
    const created = await api("POST", "/uploads", {
      filename: file.name,
      content_type: file.type || "application/octet-stream",
      size_bytes: file.size,
    });
    const parts = created.parts;
    const loaded = new Array(parts.length).fill(0);
    const etags = new Array(parts.length);
    const report = () => {
      const sent = Math.min(file.size, loaded.reduce((a, b) => a + b, 0));
      const percent = file.size ? Math.floor((100 * sent) / file.size) : 100;
      bar.value = percent;
      setText(text, `${formatBytes(sent)} of ${formatBytes(file.size)} (${percent} %)`);
    };
    let next = 0;
    const worker = async () => {
      while (next < parts.length) {
        const index = next++;
        const start = (parts[index].part_number - 1) * created.part_size_bytes;
        const blob = file.slice(start, Math.min(file.size, start + created.part_size_bytes));
        etags[index] = await putPartWithRetries(parts[index].url, blob, (bytes) => {
          loaded[index] = bytes;
          report();
        });
        loaded[index] = blob.size;
        report();
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_PARTS, parts.length) }, worker));
    setText(text, "Finishing the upload…");
    const completed = await api("POST", "/uploads/complete", {
      key: created.key,
      upload_id: created.upload_id,
      parts: parts.map((part, index) => ({ part_number: part.part_number, etag: etags[index] })),
    });
    bar.value = 100;
    $("upload-label").replaceChildren("Uploaded ", element("span", { id: "upload-name", text: file.name }));
    setText(text, `${formatBytes(file.size)} uploaded; the job has started.`);
    history.pushState({ job: completed.job_id }, "", jobUrl(completed.job_id));
    openJob(completed.job_id, { name: file.name });
    refreshJobs();
  } catch (failure) {
    setText(error, `The upload failed: ${failure.message}`);
    error.hidden = false;
    setText(text, "");
  } finally {
    $("file-input").disabled = false;
    $("file-input").value = "";
  }
}

function setUpUpload() {
  const input = $("file-input");
  const zone = $("drop-zone");
  input.addEventListener("change", () => {
    if (input.files && input.files[0]) upload(input.files[0]);
  });
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    zone.addEventListener(name, () => zone.classList.remove("dragging"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) upload(file);
  });
}
