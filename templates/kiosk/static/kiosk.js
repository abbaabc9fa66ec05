// The kiosk page's behaviour: poll the changing part, send presses, reconnect by itself.
// Everything shown comes rendered from the server (one source of words: the catalogue).
"use strict";
(function () {
  const view = document.getElementById("view");
  const offline = document.getElementById("offline");
  const tokenTag = document.querySelector('meta[name="kiosk-token"]');
  const lang = document.documentElement.lang;
  const poll = Number(view.dataset.poll) || 1000;
  const BACK_AFTER_MS = 60000;  // a finished kit's progress gives way to the overview
  let progress = null;  // the progress view's query after a press; null: the overview
  let sending = false;
  let backTimer = null;
  let touching = false;  // a finger (or mouse button) is down on the screen

  function setOffline(isOffline) {
    offline.hidden = !isOffline;
    document.body.classList.toggle("offline", isOffline);
  }

  function viewUrl() {
    const query = new URLSearchParams(progress || {});
    if (lang !== "sv") query.set("lang", lang);
    return "/kiosk/view?" + query;
  }

  async function refresh() {
    try {
      const response = await fetch(viewUrl(), {cache: "no-store",
                                                signal: AbortSignal.timeout(3000)});
      if (!response.ok) throw new Error(String(response.status));
      const incoming = document.createElement("template");
      incoming.innerHTML = await response.text();
      setOffline(false);
      // Swapped only when it changed (compared as the browser serialises both), and never
      // while a finger is down: a button replaced between press and release gets no click,
      // and the nurse's tap would be lost.
      if (incoming.innerHTML !== view.innerHTML && !touching) {
        view.replaceChildren(incoming.content);
      }
      const screen = document.getElementById("screen");
      if (progress && screen && screen.dataset.final === "1" && !backTimer) {
        backTimer = setTimeout(back, BACK_AFTER_MS);
      }
    } catch (error) {
      setOffline(true);
    }
  }

  function back() {
    clearTimeout(backTimer);
    backTimer = null;
    progress = null;
    refresh();
  }

  async function press(button) {
    if (sending || !tokenTag) return;  // one request at a time from this screen
    sending = true;
    const query = new URLSearchParams({profile: button.dataset.profile});
    if (button.dataset.unit) query.set("unit", button.dataset.unit);
    try {
      const response = await fetch("/kiosk/print?" + query, {
        method: "POST", headers: {"X-Kiosk-Token": tokenTag.content},
        signal: AbortSignal.timeout(30000)});
      const answer = await response.json();
      if (response.ok) {
        clearTimeout(backTimer);
        backTimer = null;
        progress = answer.view;
      }
    } catch (error) {
      setOffline(true);
    } finally {
      sending = false;
    }
    refresh();
  }

  let touchTimer = null;
  view.addEventListener("pointerdown", function () {
    touching = true;  // and at most a few seconds, should the release never arrive
    clearTimeout(touchTimer);
    touchTimer = setTimeout(function () { touching = false; }, 5000);
  });
  for (const type of ["pointerup", "pointercancel"]) {
    window.addEventListener(type, function () { touching = false; });
  }

  view.addEventListener("click", function (event) {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.dataset.action === "back") back();
    else if (button.dataset.profile) press(button);
  });

  (async function loop() {
    await refresh();
    setTimeout(loop, poll);
  })();
})();
