/*
 * The dashboard's script (templates/dashboard/page.hbs). It renders nothing
 * itself: every 2 s it asks the server for the live parts of the page
 * (GET fragments, rendered by the same templates as the page) and swaps
 * each [data-fragment] element's content for the part of the same name.
 * Buttons with data-post call the API (POST, or data-method) and show
 * data-notice, or the error. Forms with data-json post their fields to that
 * API path as JSON: "a.b" names nest, data-list fields become lists (split
 * at commas), empty fields are left out. A button with data-silence-batch
 * fills the silence form with its matchers.
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

  /* Calls the API; resolves when it answered 2xx, rejects with its error otherwise. */
  function call(url, method, body) {
    var init = { method: method, credentials: "same-origin" };
    if (body !== undefined) {
      init.headers = { "content-type": "application/json" };
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (!response.ok) throw new Error(answer.error || answer.message || "HTTP " + response.status);
        return answer;
      });
    });
  }

  function post(button) {
    button.disabled = true;
    call(button.dataset.post, button.dataset.method || "POST")
      .then(function () { notice(button.dataset.notice || "Done.", false); })
      .catch(function (error) { notice("Could not send: " + error.message, true); })
      .then(function () { button.disabled = false; refresh(); });
  }

  /* A form's fields as a JSON object. */
  function formJson(form) {
    var body = {};
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name) return;
      var value = field.value.trim();
      if (value === "") return;
      if (field.hasAttribute("data-list")) value = value.split(/\s*,\s*/).filter(function (item) { return item !== ""; });
      var path = field.name.split(".");
      var target = body;
      for (var i = 0; i < path.length - 1; i++) target = target[path[i]] = target[path[i]] || {};
      target[path[path.length - 1]] = value;
    });
    return body;
  }

  function submit(form) {
    var button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    call(form.dataset.json, "POST", formJson(form))
      .then(function () {
        notice(form.dataset.notice || "Done.", false);
        form.querySelectorAll("input").forEach(function (input) { input.value = input.defaultValue; });
      })
      .catch(function (error) { notice("Could not create: " + error.message, true); })
      .then(function () { if (button) button.disabled = false; refresh(); });
  }

  /* Prefills the silence form with one group's matchers. */
  function prefill(button) {
    var form = document.getElementById("silence-form");
    form.querySelectorAll("input").forEach(function (input) { input.value = ""; });
    form.elements["match.batch"].value = button.dataset.silenceBatch;
    form.elements["match.group"].value = button.dataset.silenceGroup;
    form.classList.add("highlight");
    setTimeout(function () { form.classList.remove("highlight"); }, 1500);
    form.scrollIntoView({ block: "center" });
    form.elements["comment"].focus();
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    var button = target ? target.closest("button[data-post]") : null;
    if (button !== null && !button.disabled) post(button);
    var silence = target ? target.closest("button[data-silence-batch]") : null;
    if (silence !== null) prefill(silence);
  });
  document.addEventListener("submit", function (event) {
    var form = event.target instanceof HTMLFormElement && event.target.dataset.json ? event.target : null;
    if (form === null) return;
    event.preventDefault();
    submit(form);
  });
  setInterval(refresh, POLL_MS);
})();
