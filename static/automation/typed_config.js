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
  document.addEventListener("formset:added", (event) => syncAll(event.target));
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => syncAll(document));
  else syncAll(document);
})();
