// The pages work without this; it only refreshes a page marked data-refresh while work moves.
(function () {
  "use strict";
  var holder = document.querySelector("[data-refresh]");
  if (!holder) { return; }
  var seconds = parseInt(holder.getAttribute("data-refresh"), 10) || 3;
  function tick() {
    if (document.hidden) { return setTimeout(tick, seconds * 1000); }
    fetch(holder.getAttribute("data-refresh-url") || window.location.href,
          { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.querySelector("[data-refresh]");
        if (fresh) { holder.innerHTML = fresh.innerHTML; }
        if (!fresh || fresh.getAttribute("data-refresh") === "0") { return; }
        setTimeout(tick, seconds * 1000);
      })
      .catch(function () { setTimeout(tick, seconds * 4000); });
  }
  if (holder.getAttribute("data-refresh") !== "0") { setTimeout(tick, seconds * 1000); }
})();
