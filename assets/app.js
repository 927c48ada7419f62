// Small progressive enhancement; every page works without it.
// - j / k move between rows marked data-nav-row (the issue stream), Enter follows the row's link.
// - Buttons with data-confirm ask before submitting their form.
"use strict";
(function () {
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("[data-nav-row]")); }
  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }
  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey || typing(e.target)) return;
    if (e.key !== "j" && e.key !== "k") return;
    var list = rows();
    if (!list.length) return;
    var at = list.findIndex(function (r) { return r.classList.contains("selected"); });
    var next = e.key === "j" ? Math.min(at + 1, list.length - 1) : Math.max(at - 1, 0);
    if (at >= 0) list[at].classList.remove("selected");
    list[next].classList.add("selected");
    var link = list[next].querySelector("a");
    if (link) link.focus();
    e.preventDefault();
  });
  document.addEventListener("submit", function (e) {
    var button = e.submitter;
    var question = button && button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) e.preventDefault();
  });
})();
// Copy buttons (data-copy): shown only where this script runs; the text stays selectable.
(function () {
  var buttons = document.querySelectorAll("button[data-copy]");
  Array.prototype.forEach.call(buttons, function (b) {
    if (!navigator.clipboard) return;
    b.hidden = false;
    b.addEventListener("click", function () {
      navigator.clipboard.writeText(b.getAttribute("data-copy")).then(function () {
        b.textContent = "Copied";
        window.setTimeout(function () { b.textContent = "Copy"; }, 1500);
      });
    });
  });
})();
