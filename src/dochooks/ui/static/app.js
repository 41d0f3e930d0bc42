// dochooks web UI: small enhancements. Every page works without them.
(function () {
  "use strict";

  // Live refresh: a region with data-live="URL" fetches that HTML fragment every 2 s and
  // swaps it in when it changed, keeping open <details> open. It pauses while the page is
  // hidden or while someone is typing into a form inside it. When the fragment's state (its
  // data-live-state digest, which leaves out the clock) differs from what was shown, the
  // page's notices have been overtaken: they go.
  function live(region) {
    var url = region.getAttribute("data-live");
    var last = null;
    var timer = setInterval(function () {
      if (document.hidden || region.dataset.dirty) {
        return;
      }
      fetch(url, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
        .then(function (response) {
          if (response.status === 401 || response.status === 404) {
            clearInterval(timer);
            stopped(region, response.status === 401
              ? "Live updates stopped: your session has ended. Reload the page to sign in again."
              : "Live updates stopped: this page no longer exists.");
          }
          return response.ok ? response.text() : null;
        })
        .then(function (html) {
          if (html === null || html === last || region.dataset.dirty) {
            return;
          }
          var open = Array.prototype.map.call(region.querySelectorAll("details[open]"), function (d) {
            return d.id;
          });
          var before = stateOf(region);
          region.innerHTML = html;
          if (stateOf(region) !== before) {
            overtaken();
          }
          last = html;
          open.forEach(function (id) {
            var details = document.getElementById(id);
            if (details) {
              details.open = true;
            }
          });
          enhance(region);
        })
        .catch(function () {});
    }, 2000);
    region.addEventListener("input", function (event) {
      if (event.target.form) {
        region.dataset.dirty = "1";
      }
    });
  }

  function stateOf(region) {
    var marker = region.querySelector("[data-live-state]");
    return marker ? marker.getAttribute("data-live-state") : null;
  }

  // A notice ("Test delivery queued", "Document uploaded") speaks of the state the page was
  // drawn with. Once live refresh shows newer state it fades out (the element is removed, so
  // assistive technology has nothing stale to read), though not before it has been on screen
  // long enough to read: the workflow often moves on within the first refresh. It leaves the
  // address too, so that a reload does not bring it back.
  var NOTICE_READING_MS = 5000;
  var drawnAt = Date.now();

  function overtaken() {
    var wait = Math.max(0, drawnAt + NOTICE_READING_MS - Date.now());
    document.querySelectorAll("main > .notice").forEach(function (notice) {
      setTimeout(function () {
        notice.classList.add("fading");
      }, wait);
      setTimeout(function () {
        if (notice.parentNode) {
          notice.parentNode.removeChild(notice);
        }
      }, wait + 450);
    });
    var url = new URL(window.location.href);
    if (url.searchParams.has("notice")) {
      url.searchParams.delete("notice");
      history.replaceState(history.state, "", url.pathname + url.search + url.hash);
    }
  }

  // Say so above the region when live refresh stops, rather than let the page go stale quietly.
  function stopped(region, message) {
    var note = document.createElement("p");
    note.className = "error-summary";
    note.setAttribute("role", "status");
    note.textContent = message;
    region.parentNode.insertBefore(note, region);
  }

  // "Select all" per workflow stage, kept in step with the stage's topic checkboxes.
  function selectAll(box) {
    var stage = box.getAttribute("data-select-all");
    var topics = Array.prototype.slice.call(
      document.querySelectorAll('input[name="topics"][data-stage="' + stage + '"]')
    );
    function sync() {
      var checked = topics.filter(function (t) { return t.checked; }).length;
      box.checked = checked === topics.length;
      box.indeterminate = checked > 0 && checked < topics.length;
    }
    box.closest("label").hidden = false;
    box.addEventListener("change", function () {
      topics.forEach(function (t) { t.checked = box.checked; });
      sync();
    });
    topics.forEach(function (t) { t.addEventListener("change", sync); });
    sync();
  }

  // Rows of name/value inputs (headers, custom fields): add a row, remove a row.
  function renumber(row, n) {
    row.querySelectorAll("input").forEach(function (input) {
      input.id = input.id.replace(/-\d+$/, "-" + n);
    });
    row.querySelectorAll("label").forEach(function (label) {
      label.htmlFor = label.htmlFor.replace(/-\d+$/, "-" + n);
    });
  }

  function removable(button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var row = button.closest(".row");
      var list = row.parentNode;
      if (list.querySelectorAll(".row").length > 1) {
        list.removeChild(row);
      } else {
        row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      }
    });
  }

  function addable(button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var list = document.getElementById(button.getAttribute("data-add-row"));
      var rows = list.querySelectorAll(".row");
      var copy = rows[rows.length - 1].cloneNode(true);
      copy.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      renumber(copy, Date.now() + rows.length);
      list.appendChild(copy);
      removable(copy.querySelector("[data-remove-row]"));
      copy.querySelector("input").focus();
    });
  }

  function enhance(root) {
    root.querySelectorAll("[data-select-all]").forEach(selectAll);
    root.querySelectorAll("[data-remove-row]").forEach(removable);
    root.querySelectorAll("[data-add-row]").forEach(addable);
  }

  document.addEventListener("DOMContentLoaded", function () {
    enhance(document);
    document.querySelectorAll("[data-live]").forEach(live);
  });
})();
