// Workflow settings: show only the related objects of the chosen relation,
// and add rows to the stop filter.
"use strict";
(function () {
  const RELATION_FIELDS = {
    campaign: "campaigns",
    list: "lists",
    queue: "queues",
    inbound_number: "inbound_numbers",
    email_template: "email_templates",
  };

  function syncRelation() {
    const select = document.getElementById("id_relation");
    if (!select) return;
    Object.entries(RELATION_FIELDS).forEach(([relation, field]) => {
      const row = document.querySelector(".form-row.field-" + field);
      if (!row) return;
      const keep = relation === select.value || row.querySelector(".errorlist li");
      row.classList.toggle("relation-hidden", !keep);
    });
  }

  function addFilterRow(button) {
    const widget = button.closest(".stop-filter");
    const body = widget.querySelector("tbody");
    const rows = body.querySelectorAll("tr");
    const last = rows[rows.length - 1];
    const copy = last.cloneNode(true);
    const name = widget.dataset.name;
    const index = rows.length;
    copy.querySelectorAll("input, select").forEach((input) => {
      input.name = input.name.replace(new RegExp("^" + name + "-\\d+-"), name + "-" + index + "-");
      if (input.tagName === "SELECT") input.selectedIndex = 0;
      else input.value = "";
    });
    body.appendChild(copy);
  }

  function init() {
    const select = document.getElementById("id_relation");
    if (select) select.addEventListener("change", syncRelation);
    syncRelation();
    document.querySelectorAll(".stop-filter-add").forEach((button) =>
      button.addEventListener("click", () => addFilterRow(button))
    );
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
