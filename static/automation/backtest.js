// The workflow's Backtest tab: while its backtest runs, poll its status (the admin's
// JSON view) once a second, move the progress bar, and reload the tab when it is over.
(function () {
  "use strict";
  function poll(box) {
    fetch(box.dataset.url, {credentials: "same-origin"})
      .then(function (response) { return response.json(); })
      .then(function (data) {
        document.getElementById("bt-progress").value = data.progress;
        document.getElementById("bt-state").textContent =
          data.status + " (" + Math.round(data.progress * 100) + " %)";
        if (data.status === "running") {
          setTimeout(function () { poll(box); }, 1000);
        } else {
          window.location.reload();
        }
      })
      .catch(function () { setTimeout(function () { poll(box); }, 5000); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("bt-result");
    if (box && box.dataset.status === "running") {
      poll(box);
    }
  });
})();
