/* Technicians' pages: the phone's position (worklist order, GPS on the forms) and photos shrunk
   before upload. Plain JavaScript, no dependencies; every text comes from the page (data-msg-*),
   already translated by the server. Without JavaScript the pages still work: the list goes by date
   and a record is saved without its reading; the server shrinks and cleans photos either way. */
(function () {
  "use strict";

  var GPS_OPTIONS = { enableHighAccuracy: true, timeout: 20000, maximumAge: 0 };
  var IMPRECISE_M = 50;

  function format(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_, name) { return values[name]; });
  }

  function locate(onPosition, onError) {
    if (!("geolocation" in navigator)) { onError(null); return; }
    navigator.geolocation.getCurrentPosition(onPosition, onError, GPS_OPTIONS);
  }

  function errorText(box, error) {
    if (!error) { return box.dataset.msgUnsupported || box.dataset.msgFailed; }
    return error.code === 1 ? box.dataset.msgDenied : box.dataset.msgFailed;
  }

  /* The worklist: nearest first, by sending the position to the server (it does the ordering).
     With htmx the list is swapped in place (a message shown above it stays); without, a plain visit. */
  function setUpNearest(box) {
    var button = box.querySelector("[data-nearest-button]");
    var status = box.querySelector("[data-nearest-status]");
    if (!button || !("geolocation" in navigator)) { return; }
    button.hidden = false;
    function go() {
      status.textContent = box.dataset.msgWaiting;
      button.disabled = true;
      locate(function (position) {
        var url = new URL(window.location.href);
        url.searchParams.delete("orden");
        url.searchParams.set("lat", position.coords.latitude.toFixed(6));
        url.searchParams.set("lng", position.coords.longitude.toFixed(6));
        if (!window.htmx) { window.location.assign(url.toString()); return; }
        window.htmx.ajax("GET", url.toString(), { target: "#worklist-body", select: "#worklist-body", swap: "outerHTML" })
          .then(function () { window.history.replaceState(null, "", url.toString()); });
      }, function (error) {
        status.textContent = errorText(box, error);
        button.disabled = false;
      });
    }
    button.addEventListener("click", go);
    // Ask on arrival only when the phone already allowed it: no permission prompt out of the blue.
    if (box.dataset.auto === "1" && navigator.permissions && navigator.permissions.query) {
      navigator.permissions.query({ name: "geolocation" }).then(function (permission) {
        if (permission.state === "granted") { go(); }
      }).catch(function () {});
    }
  }

  /* The forms: fill the hidden latitude, longitude and accuracy, show the reading, offer a retry. */
  function setUpGps(box) {
    var form = box.closest("form");
    var reading = box.querySelector("[data-gps-reading]");
    var retry = box.querySelector("[data-gps-retry]");
    var fields = {
      lat: form.querySelector("input[name=latitude]"),
      lng: form.querySelector("input[name=longitude]"),
      acc: form.querySelector("input[name=accuracy_m]")
    };
    if (!("geolocation" in navigator)) { reading.textContent = box.dataset.msgUnsupported; return; }
    retry.hidden = false;
    function take() {
      reading.textContent = box.dataset.msgWaiting;
      retry.disabled = true;
      locate(function (position) {
        var c = position.coords;
        fields.lat.value = c.latitude.toFixed(6);
        fields.lng.value = c.longitude.toFixed(6);
        fields.acc.value = Math.max(c.accuracy, 0.1).toFixed(1);
        var text = format(box.dataset.msgReading, {
          lat: fields.lat.value, lng: fields.lng.value, acc: Math.round(c.accuracy)
        });
        if (c.accuracy > IMPRECISE_M) { text += " " + box.dataset.msgImprecise; }
        reading.textContent = text;
        retry.disabled = false;
      }, function (error) {
        reading.textContent = errorText(box, error);
        retry.disabled = false;
      });
    }
    retry.addEventListener("click", take);
    if (!fields.lat.value) { take(); } else { reading.dataset.kept = "1"; }
  }

  /* Photos: redraw each picture on a canvas at most data-max-side pixels a side, as a JPEG. The
     canvas keeps pixels only, so EXIF (and its GPS) is gone before upload; the server cleans again. */
  function shrink(file, maxSide) {
    if (!window.createImageBitmap || !/^image\//.test(file.type)) { return Promise.resolve(file); }
    return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bitmap) {
      var scale = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
      var context = canvas.getContext("2d");
      context.fillStyle = "#fff";
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      if (bitmap.close) { bitmap.close(); }
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) {
          if (!blob) { resolve(file); return; }
          var name = file.name.replace(/\.[^.]*$/, "") + ".jpg";
          resolve(new File([blob], name, { type: "image/jpeg", lastModified: Date.now() }));
        }, "image/jpeg", 0.85);
      });
    }).catch(function () { return file; });
  }

  function setUpPhotos(input) {
    var form = input.closest("form");
    var status = form.querySelector("[data-photo-status]");
    var submit = form.querySelector("button[type=submit]");
    var maxSide = parseInt(input.dataset.maxSide, 10) || 1600;
    var working = false;
    input.addEventListener("change", function () {
      if (working || !input.files.length || !window.DataTransfer) { return; }
      working = true;
      submit.disabled = true;
      status.textContent = input.dataset.msgWorking;
      Promise.all(Array.prototype.map.call(input.files, function (file) { return shrink(file, maxSide); }))
        .then(function (files) {
          var transfer = new DataTransfer();
          files.forEach(function (file) { transfer.items.add(file); });
          input.files = transfer.files;
          status.textContent = format(input.dataset.msgReady, { count: files.length });
        })
        .finally(function () { working = false; submit.disabled = false; });
    });
  }

  function start() {
    document.querySelectorAll("[data-nearest]").forEach(setUpNearest);
    document.querySelectorAll("[data-gps]").forEach(setUpGps);
    document.querySelectorAll("input[type=file][data-shrink]").forEach(setUpPhotos);
    var summary = document.getElementById("errores");
    if (summary) { summary.focus(); }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
