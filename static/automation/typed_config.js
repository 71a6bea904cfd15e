// Event conditions and actions: show only the settings of the chosen type.
// Each inline form has a <select data-typed-config="type"> and one fieldset
// per type ("typed-config typed-config-<TYPE>"); the others are hidden.
"use strict";
(function () {
  function formOf(select) {
    return select.closest(".inline-related") || select.closest("form");
  }

  function sync(select) {
    const scope = formOf(select);
    if (!scope) return;
    scope.querySelectorAll("fieldset.typed-config").forEach((fieldset) => {
      const chosen = fieldset.classList.contains("typed-config-" + select.value);
      // A fieldset with errors stays visible even if the type changed.
      fieldset.classList.toggle("typed-hidden", !chosen && !fieldset.querySelector(".errorlist li"));
    });
  }

  function syncAll(root) {
    root.querySelectorAll('select[data-typed-config="type"]').forEach(sync);
  }

  document.addEventListener("change", (event) => {
    if (event.target.matches('select[data-typed-config="type"]')) sync(event.target);
  });
  // A new row goes last: its position is the number of rows before it.
  function numberNewRow(row) {
    const position = row.querySelector('input[name$="-position"]');
    const group = row.closest(".inline-group");
    if (!position || !group) return;
    const rows = group.querySelectorAll(".inline-related:not(.empty-form)");
    position.value = Math.max(rows.length - 1, 0);
  }

  // Action set timing: show the delay inputs the chosen mode uses.
  const DELAY_ROWS = {
    immediate: [],
    fixed: ["delay_days"],
    after_last_called: ["delay_days"],
    lead_field: ["delay_days", "delay_field"],
  };
  function syncDelay() {
    const mode = document.getElementById("id_delay_mode");
    if (!mode) return;
    const shown = DELAY_ROWS[mode.value] || ["delay_days", "delay_field"];
    ["delay_days", "delay_field"].forEach((name) => {
      const row = document.querySelector("fieldset .form-row.field-" + name);
      if (row) row.classList.toggle("typed-hidden", !shown.includes(name) && !row.querySelector(".errorlist li"));
    });
  }
  document.addEventListener("change", (event) => {
    if (event.target.id === "id_delay_mode") syncDelay();
  });

  document.addEventListener("formset:added", (event) => {
    syncAll(event.target);
    numberNewRow(event.target);
  });
  function init() {
    syncAll(document);
    syncDelay();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
