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
  // "Vem ringer jag?" gives way to the state screen this long after the last touch
  const CONTACTS_BACK_MS = Number(view.dataset.contactsBack) || 120000;
  let progress = null;  // the progress view's query after a press; null: the overview
  let contacts = false;  // "Vem ringer jag?" shown (over the overview or the progress)
  let contactsTimer = null;
  let sending = false;
  let backTimer = null;
  let touching = false;  // a finger (or mouse button) is down on the screen

  function setOffline(isOffline) {
    offline.hidden = !isOffline;
    document.body.classList.toggle("offline", isOffline);
  }

  function viewUrl() {
    const query = new URLSearchParams(contacts ? {contacts: 1} : progress || {});
    if (lang !== "sv") query.set("lang", lang);
    return "/kiosk/view?" + query;
  }

  async function refresh() {
    const asked = viewUrl();
    try {
      const response = await fetch(asked, {cache: "no-store",
                                           signal: AbortSignal.timeout(3000)});
      if (!response.ok) throw new Error(String(response.status));
      const incoming = document.createElement("template");
      incoming.innerHTML = await response.text();
      setOffline(false);
      if (asked !== viewUrl()) return;  // a tap changed the view meanwhile: not this one
      // Swapped only when it changed (compared as the browser serialises both), and never
      // while a finger is down: a button replaced between press and release gets no click,
      // and the nurse's tap would be lost.
      if (incoming.innerHTML !== view.innerHTML && !touching) {
        view.replaceChildren(incoming.content);
      }
      const screen = document.getElementById("screen");
      if (progress && screen && screen.dataset.final === "1" && !backTimer) {
        backTimer = setTimeout(backToOverview, BACK_AFTER_MS);
      }
    } catch (error) {
      setOffline(true);
    }
  }

  function back() {
    if (contacts) {  // back to the screen it was opened from
      closeContacts();
      return;
    }
    clearTimeout(backTimer);
    backTimer = null;
    progress = null;
    refresh();
  }

  function backToOverview() {  // a finished kit's progress, by itself
    clearTimeout(backTimer);
    backTimer = null;
    progress = null;
    if (!contacts) refresh();
  }

  function openContacts() {
    contacts = true;
    holdContacts();
    refresh();
  }

  function holdContacts() {  // every touch on the contacts starts the wait again
    clearTimeout(contactsTimer);
    contactsTimer = setTimeout(closeContacts, CONTACTS_BACK_MS);
  }

  function closeContacts() {
    clearTimeout(contactsTimer);
    contactsTimer = null;
    contacts = false;
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
    if (contacts) holdContacts();
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
    else if (button.dataset.action === "contacts") openContacts();
    else if (button.dataset.profile) press(button);
  });

  (async function loop() {
    await refresh();
    setTimeout(loop, poll);
  })();
})();
