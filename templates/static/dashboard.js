/*
 * The dashboard's script (templates/dashboard/page.hbs). It renders nothing
 * itself: every 2 s it asks the server for the live parts of the page
 * (GET fragments, rendered by the same templates as the page) and swaps
 * each [data-fragment] element's content for the part of the same name.
 * Buttons with data-post call the API and show data-notice, or the error.
 */
(function () {
  "use strict";
  var POLL_MS = 2000;
  var NOTICE_MS = 6000;
  var busy = false;
  var again = false;
  var noticeTimer = 0;
  var shown = {};

  function connection(ok, why) {
    var node = document.getElementById("connection");
    node.className = ok ? "live" : "offline";
    node.textContent = ok ? "live" : "offline";
    node.title = ok ? "" : why;
  }

  function notice(text, bad) {
    var node = document.getElementById("notice");
    node.textContent = text;
    node.className = bad ? "notice bad" : "notice";
    node.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { node.hidden = true; }, NOTICE_MS);
  }

  /* Swaps in the parts of a fragments answer; a part that did not change is left alone (keeps a text selection). */
  function swap(html) {
    var answer = document.createElement("template");
    answer.innerHTML = html;
    answer.content.querySelectorAll("template[data-fragment]").forEach(function (part) {
      var name = part.dataset.fragment;
      var target = document.querySelector('[data-fragment="' + name + '"]');
      if (target === null || shown[name] === part.innerHTML) return;
      shown[name] = part.innerHTML;
      target.replaceChildren(part.content);
    });
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch("fragments", { cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("fragments: HTTP " + response.status);
        return response.text();
      })
      .then(function (html) { swap(html); connection(true, ""); },
        function (error) { connection(false, String((error && error.message) || error)); })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  function post(button) {
    button.disabled = true;
    fetch(button.dataset.post, { method: "POST", credentials: "same-origin" })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (answer) {
          if (!response.ok) throw new Error(answer.error || answer.message || "HTTP " + response.status);
          notice(button.dataset.notice || "Done.", false);
        });
      })
      .catch(function (error) { notice("Could not send: " + error.message, true); })
      .then(function () { button.disabled = false; refresh(); });
  }

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("button[data-post]") : null;
    if (button !== null && !button.disabled) post(button);
  });
  setInterval(refresh, POLL_MS);
})();
