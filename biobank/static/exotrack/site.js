/* ExoTrack bench pages: three small behaviours, no library.
 *
 * 1. Box grids: clicking (or Enter / Space on) a free position puts its label in the
 *    form's position field; taken positions are disabled buttons and never chosen.
 *    The plate map's editor works the same way with `button.pick` (any position, in
 *    the order clicked: a move is the source, then the target).
 * 2. Textareas of scanned codes: the scanner's Enter makes a new line, so Ctrl+Enter
 *    (or Cmd+Enter) submits the form.
 * 3. Uploads marked data-upload-progress show a progress bar while the file is sent,
 *    and a file over data-max-bytes is refused before it is sent.
 * 4. A form that came back with errors puts the cursor in the first field in error.
 * Everything works without this file too: positions can be typed, forms submitted.
 */
(function () {
  "use strict";

  function splitLabels(text) {
    return text.toUpperCase().split(/[\s,;]+/).filter(Boolean);
  }

  document.querySelectorAll("table[data-grid-for]").forEach(function (grid) {
    var input = document.getElementById(grid.dataset.gridFor);
    var count = grid.dataset.gridCount ? document.getElementById(grid.dataset.gridCount) : null;
    var many = grid.dataset.gridMode === "many";
    if (!input) return;

    function sync() {
      var chosen = new Set(splitLabels(input.value));
      grid.querySelectorAll("button.free, button.pick").forEach(function (button) {
        var on = chosen.has(button.dataset.position);
        button.classList.toggle("chosen", on);
        button.setAttribute("aria-pressed", on ? "true" : "false");
      });
    }

    grid.addEventListener("click", function (event) {
      var button = event.target.closest("button.free, button.pick");
      if (!button || button.disabled) return;
      var position = button.dataset.position;
      var labels = splitLabels(input.value);
      if (!many) {
        labels = [position];
      } else if (labels.indexOf(position) >= 0) {
        labels = labels.filter(function (label) { return label !== position; });
      } else {
        labels.push(position);
      }
      input.value = labels.join(" ");
      if (count && labels.length) count.value = labels.length;
      sync();
    });
    input.addEventListener("input", sync);
    sync();
  });

  document.addEventListener("keydown", function (event) {
    var field = event.target;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && field.form && field.tagName === "TEXTAREA") {
      event.preventDefault();
      field.form.requestSubmit();
    }
  });

  var firstError = document.querySelector(
    ".has-error input:not([type=hidden]), .has-error select, .has-error textarea"
  );
  if (firstError) firstError.focus();

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });

  document.querySelectorAll("form[data-upload-progress]").forEach(function (form) {
    var bar = form.querySelector("progress");
    var status = form.querySelector("[data-upload-status]");
    form.addEventListener("submit", function (event) {
      // The server refuses a larger body before reading it; say so without sending it.
      var limit = Number(form.dataset.maxBytes || 0);
      var input = form.querySelector("input[type=file]");
      var file = input && input.files && input.files[0];
      if (limit && file && file.size > limit) {
        event.preventDefault();
        status.textContent = "The file is " + (file.size / 1048576).toFixed(1) +
          " MB; a file may be at most " + (limit / 1048576) + " MB. Is this the right file?";
        return;
      }
      if (!window.FormData || !bar) return;
      event.preventDefault();
      var request = new XMLHttpRequest();
      request.open("POST", form.action || window.location.href);
      request.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      request.upload.addEventListener("progress", function (progress) {
        if (!progress.lengthComputable) return;
        bar.max = progress.total;
        bar.value = progress.loaded;
        status.textContent = Math.round((100 * progress.loaded) / progress.total) + " % sent";
      });
      request.upload.addEventListener("load", function () {
        status.textContent = "Sent; reading the file…";
      });
      request.addEventListener("load", function () {
        var type = request.getResponseHeader("Content-Type") || "";
        if (type.indexOf("application/json") === 0) {
          window.location.assign(JSON.parse(request.responseText).location);
        } else {
          // The form came back with its errors: show that page as it is.
          document.open();
          document.write(request.responseText);
          document.close();
        }
      });
      request.addEventListener("error", function () {
        status.textContent = "The upload failed; check the connection and try again.";
      });
      bar.hidden = false;
      status.textContent = "Sending…";
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      request.send(new FormData(form));
    });
  });
})();
