// The enrollment progress page: poll the job (GET enrollments/{id}/) until it is over.
(function () {
  "use strict";
  const root = document.querySelector(".enrollment[data-url]");
  if (!root) return;
  const $ = (id) => document.getElementById(id);

  function show(job) {
    $("enrollment-bar").value = job.progress;
    $("enrollment-status").textContent = job.status;
    $("enrollment-done").textContent = job.done;
    $("enrollment-matched").textContent = job.matched;
    $("enrollment-percent").textContent = Math.round(job.progress * 1000) / 10;
    $("enrollment-reason").textContent = job.reason;
    const body = document.querySelector("#enrollment-outcomes tbody");
    body.replaceChildren(...Object.entries(job.outcomes).map(([outcome, n]) => {
      const row = document.createElement("tr");
      for (const text of [outcome, n]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.appendChild(cell);
      }
      return row;
    }));
    if (job.status !== "running") {
      const cancel = $("enrollment-cancel");
      if (cancel) cancel.remove();
    }
  }

  function poll() {
    fetch(root.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then((job) => {
        show(job);
        if (job.status === "running") setTimeout(poll, 1000);
      })
      .catch(() => setTimeout(poll, 5000));
  }

  if (root.dataset.status === "running") setTimeout(poll, 500);
})();
