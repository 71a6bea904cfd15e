// Tabs for a change form: fieldsets with a "tab-<key>" class, inline groups
// named in #tab-config, and elements with data-tab="<key>" each belong to one
// tab; one tab is shown at a time. Without JavaScript everything stays visible.
"use strict";
(function () {
  function init() {
    const configElement = document.getElementById("tab-config");
    const form = document.querySelector("#content-main form");
    if (!configElement || !form) return;
    const config = JSON.parse(configElement.textContent);
    const tabs = config.tabs.map(([key, label]) => ({ key, label }));
    const keys = new Set(tabs.map((t) => t.key));

    form.querySelectorAll("fieldset").forEach((fieldset) => {
      const match = [...fieldset.classList].find((c) => c.startsWith("tab-") && keys.has(c.slice(4)));
      if (match) fieldset.dataset.tab = match.slice(4);
    });
    Object.entries(config.inlines || {}).forEach(([id, key]) => {
      const group = document.getElementById(id);
      if (group && key) group.dataset.tab = key;
    });
    const panes = () => document.querySelectorAll("[data-tab]");

    const nav = document.createElement("div");
    nav.className = "automation-tabs";
    nav.setAttribute("role", "tablist");
    const buttons = {};
    tabs.forEach(({ key, label }) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "automation-tab";
      button.id = "tab-button-" + key;
      button.dataset.tabKey = key;
      button.setAttribute("role", "tab");
      button.textContent = label;
      button.addEventListener("click", () => show(key, true));
      buttons[key] = button;
      nav.appendChild(button);
    });
    const first = form.querySelector("[data-tab]");
    (first ? first.parentNode : form).insertBefore(nav, first);

    function hasErrors(key) {
      return [...document.querySelectorAll(`[data-tab="${key}"]`)].some((pane) =>
        pane.querySelector(".errorlist li, .errornote")
      );
    }

    function show(key, remember) {
      panes().forEach((pane) => pane.classList.toggle("tab-hidden", pane.dataset.tab !== key));
      Object.entries(buttons).forEach(([k, b]) => {
        b.classList.toggle("selected", k === key);
        b.setAttribute("aria-selected", k === key ? "true" : "false");
      });
      if (remember) {
        history.replaceState(null, "", "#tab-" + key);
        sessionStorage.setItem("automation-tab:" + location.pathname, key);
      }
    }

    const withErrors = tabs.filter((t) => hasErrors(t.key)).map((t) => t.key);
    withErrors.forEach((key) => buttons[key].classList.add("has-errors"));
    const fromHash = location.hash.startsWith("#tab-") ? location.hash.slice(5) : null;
    const stored = sessionStorage.getItem("automation-tab:" + location.pathname);
    const start = [withErrors[0], fromHash, stored, tabs[0].key].find((k) => k && keys.has(k));
    show(start, false);
    // Links to "#tab-<key>" on this page switch tabs.
    window.addEventListener("hashchange", () => {
      const key = location.hash.startsWith("#tab-") ? location.hash.slice(5) : null;
      if (key && keys.has(key)) show(key, true);
    });
    // Keep the tab across "Save and continue editing".
    form.addEventListener("submit", () => {
      const current = Object.keys(buttons).find((k) => buttons[k].classList.contains("selected"));
      if (current) sessionStorage.setItem("automation-tab:" + location.pathname, current);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
