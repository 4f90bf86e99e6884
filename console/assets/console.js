// Strata console: the live feed on every page (Server-Sent Events from
// /live) and small keyboard helpers. No framework, no build step.
(function () {
  "use strict";
  const main = document.getElementById("main");
  const state = document.getElementById("live-state");
  if (!main || !state || location.pathname === "/signin") return;

  function say(text, cls) {
    state.textContent = text;
    state.className = cls || "";
  }

  // "refresh" pages reload their main part when something happens; a burst
  // of records costs one reload.
  let pending = null;
  function refresh() {
    if (pending) return;
    pending = setTimeout(async () => {
      pending = null;
      try {
        const res = await fetch(location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" });
        if (res.redirected && new URL(res.url).pathname === "/signin") { location.assign(res.url); return; }
        if (!res.ok) return;
        const doc = new DOMParser().parseFromString(await res.text(), "text/html");
        const fresh = doc.getElementById("main");
        // Keep what the user is typing (a force-release reason) untouched.
        if (fresh && (!main.contains(document.activeElement) || document.activeElement === main)) {
          main.innerHTML = fresh.innerHTML;
        }
      } catch (e) { /* the next record tries again */ }
    }, 150);
  }

  function connect() {
    const source = new EventSource("/live");
    source.addEventListener("ready", () => say("● live", "live"));
    source.addEventListener("missed", () => { if (main.dataset.live === "refresh") refresh(); });
    source.addEventListener("down", (e) => {
      let msg = "the live feed stopped";
      try { msg = JSON.parse(e.data).message; } catch (x) {}
      say("○ live feed lost: " + msg + " (reconnecting)", "down");
    });
    source.onerror = () => { if (state.className !== "down") say("○ reconnecting…", "down"); };
    source.onmessage = (e) => {
      let item;
      try { item = JSON.parse(e.data); } catch (x) { return; }
      if (main.dataset.live === "prepend") {
        const feed = document.getElementById("feed");
        if (feed && item.row) {
          feed.insertAdjacentHTML("afterbegin", item.row);  // escaped by the server
          feed.firstElementChild.classList.add("new");
          while (feed.children.length > 500) feed.lastElementChild.remove();
        }
      } else if (main.dataset.live === "refresh") {
        refresh();
      }
    };
  }
  connect();

  // "/" jumps to the object search; Escape leaves it.
  document.addEventListener("keydown", (e) => {
    const q = document.getElementById("q");
    if (!q) return;
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if (e.key === "/" && !typing) { e.preventDefault(); q.focus(); }
    if (e.key === "Escape" && document.activeElement === q) q.blur();
  });
})();
