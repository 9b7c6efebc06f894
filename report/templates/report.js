// teardown report: sort the flow table, filter flows by class.
// The class filter can be set in the URL: report.html#class=rst-abort.
(function () {
  "use strict";
  var table = document.getElementById("flows");
  var select = document.getElementById("class-filter");
  var count = document.getElementById("filter-count");
  if (!table || !select) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var sections = Array.prototype.slice.call(document.querySelectorAll("section.flow"));

  function apply(cls) {
    var shown = 0;
    rows.forEach(function (r) {
      var hide = cls !== "" && r.getAttribute("data-class") !== cls;
      r.hidden = hide;
      if (!hide) { shown++; }
    });
    sections.forEach(function (s) {
      s.hidden = cls !== "" && s.getAttribute("data-class") !== cls;
    });
    document.body.setAttribute("data-filter", cls === "" ? "all" : cls);
    if (count) { count.textContent = shown + " of " + rows.length + " flows"; }
  }

  function fromHash() {
    var m = /^#class=([a-z-]*)$/.exec(window.location.hash);
    if (!m) { return false; }
    var ok = m[1] === "" || Array.prototype.some.call(select.options, function (o) { return o.value === m[1]; });
    if (!ok) { return false; }
    select.value = m[1];
    apply(m[1]);
    return true;
  }

  select.addEventListener("change", function () {
    apply(select.value);
    window.location.hash = "class=" + select.value;
  });
  window.addEventListener("hashchange", fromHash);

  var sortKey = "", sortDir = 1;
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
    var key = th.getAttribute("data-sort");
    if (!key) { return; }
    th.tabIndex = 0;
    function sort() {
      sortDir = sortKey === key ? -sortDir : 1;
      sortKey = key;
      var numeric = th.hasAttribute("data-numeric");
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute("data-v"), y = b.cells[col].getAttribute("data-v");
        var c = numeric ? Number(x) - Number(y) : (x < y ? -1 : x > y ? 1 : 0);
        return c * sortDir || Number(a.getAttribute("data-id")) - Number(b.getAttribute("data-id"));
      });
      rows.forEach(function (r) { body.appendChild(r); });
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
    }
    th.addEventListener("click", sort);
    th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sort(); } });
  });

  if (!fromHash()) { apply(""); }
  document.body.setAttribute("data-ready", "1");
})();
