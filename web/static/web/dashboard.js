/* The dashboard's map: clustered markers of installations on a blank Leaflet map (no tile server).
 * Points come from the element's data-points-url (same filters as the page). The figures region is
 * swapped by htmx when the filters change, so the map is set up again after every swap. */
(function () {
  "use strict";

  var CITY = [19.36, -99.13]; // Mexico City, before the points arrive

  function say(status, template, count) {
    if (!status) return;
    var lang = document.documentElement.lang || "es-MX";
    status.textContent = template.replace("%(n)s", count.toLocaleString(lang));
  }

  function setUp(element) {
    if (element.dataset.ready || !window.L || !L.markerClusterGroup) return;
    element.dataset.ready = "loading";
    var status = document.getElementById("mapa-estado");
    // Without a tile layer the map has no zoom range of its own; the clustering needs one.
    var map = L.map(element, { attributionControl: false, zoomSnap: 0.5, minZoom: 8, maxZoom: 18 }).setView(CITY, 10);
    L.control.scale({ imperial: false }).addTo(map);

    fetch(element.dataset.pointsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (data) {
        var icon = L.divIcon({ className: "map-dot", iconSize: [12, 12] });
        var markers = data.points.map(function (point) {
          return L.marker(point, { icon: icon, keyboard: false });
        });
        var group = L.markerClusterGroup({ chunkedLoading: true, showCoverageOnHover: false });
        group.addLayers(markers);
        map.addLayer(group);
        if (markers.length) {
          map.fitBounds(group.getBounds(), { padding: [24, 24], maxZoom: 16 });
          say(status, data.capped ? element.dataset.msgCapped : element.dataset.msgShown, markers.length);
        } else {
          say(status, element.dataset.msgNone, 0);
        }
        element.dataset.points = String(markers.length);
        element.dataset.ready = "yes";
      })
      .catch(function (error) {
        if (window.console) console.warn("map:", error);
        say(status, element.dataset.msgError, 0);
        element.dataset.ready = "failed";
      });
  }

  function setUpAll() {
    document.querySelectorAll(".dashboard-map").forEach(setUp);
  }

  // Scripts are deferred: Leaflet is loaded once this runs.
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUpAll);
  } else {
    setUpAll();
  }
  document.body.addEventListener("htmx:afterSettle", setUpAll);
})();
