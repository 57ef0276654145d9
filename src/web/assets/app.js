// trustfold's page script: the map, the answers of the API forms, the remembered name.
// No value from the server is ever put into the page as HTML: only as textContent.
"use strict";

(function () {
  var NAME_KEY = "trustfold.by";

  function flash(message, kind) {
    var el = document.getElementById("flash");
    if (!el) return;
    el.textContent = message;
    el.className = "flash " + (kind || "");
    el.hidden = false;
  }

  function fillNames(root) {
    var name = "";
    try { name = window.localStorage.getItem(NAME_KEY) || ""; } catch (e) { name = ""; }
    root.querySelectorAll("input.who").forEach(function (input) {
      if (!input.value) input.value = name;
      if (input.type !== "hidden" && !input.dataset.watched) {
        input.dataset.watched = "1";
        input.addEventListener("change", function () {
          try { window.localStorage.setItem(NAME_KEY, input.value); } catch (e) { /* private mode */ }
          document.querySelectorAll("input.who").forEach(function (other) { other.value = input.value; });
        });
      }
    });
  }

  // Colours of the sources on the map (a fixed vocabulary; unknown ones are grey).
  var COLOURS = {
    google_places: "#1a73e8",
    serper: "#f29900",
    openstreetmap: "#188038",
    sport_scotland: "#8430ce",
    edinburgh_council: "#d93025",
    open_charge_map: "#12b5cb",
    admin: "#000000"
  };

  function label(text) {
    var span = document.createElement("span");
    span.textContent = text;
    return span;
  }

  function drawMap(el) {
    if (el.dataset.drawn || typeof L === "undefined") return;
    el.dataset.drawn = "1";
    var data;
    try { data = JSON.parse(el.dataset.map); } catch (e) { return; }
    var map = L.map(el, { attributionControl: false, zoomSnap: 0.25 });
    var bounds = [];
    var winner = data.winner ? [data.winner.lat, data.winner.lon] : null;
    (data.points || []).forEach(function (p, i) {
      var at = [p.lat, p.lon];
      bounds.push(at);
      if (winner && !p.winner) {
        L.polyline([winner, at], { color: "#777", weight: 1, dashArray: "4 4" }).addTo(map);
      }
      var colour = COLOURS[p.source] || "#666";
      L.circleMarker(at, {
        radius: p.winner ? 10 : 7,
        color: colour,
        weight: p.winner ? 3 : 2,
        fillColor: colour,
        fillOpacity: p.winner ? 0.5 : 0.3
      })
        .bindTooltip(label((i + 1) + " " + p.source + (p.winner ? " (winner)" : "") +
          (p.from_winner_metres ? " · " + Math.round(p.from_winner_metres) + " m" : "")),
          { permanent: false })
        .addTo(map);
    });
    L.control.scale({ imperial: false }).addTo(map);
    if (bounds.length === 1) {
      map.setView(bounds[0], 17);
    } else if (bounds.length > 1) {
      map.fitBounds(bounds, { padding: [40, 40], maxZoom: 19 });
    }
    // The outline under the points: no tile server is reachable, so this is the land.
    fetch("/assets/outline.geojson", { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (g) {
        var layer = L.geoJSON(g, {
          style: { color: "#9aa7b0", weight: 1, fillColor: "#eef2e6", fillOpacity: 1 }
        }).addTo(map);
        layer.bringToBack();
      })
      .catch(function () { /* the points stand on their own */ });
  }

  function init(root) {
    fillNames(root);
    root.querySelectorAll("div.map[data-map]").forEach(drawMap);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function () { init(document); });

  // The answer of an API form: an error goes to the flash area; success reloads the
  // region the form names (or, for a new run, opens the run's page).
  document.addEventListener("htmx:afterRequest", function (ev) {
    var form = ev.detail && ev.detail.elt && ev.detail.elt.closest ? ev.detail.elt.closest("form.api") : null;
    if (!form) return;
    var xhr = ev.detail.xhr;
    var doc = null;
    try { doc = JSON.parse(xhr.responseText); } catch (e) { doc = null; }
    if (xhr.status >= 200 && xhr.status < 300) {
      var reload = form.dataset.reload;
      if (reload === "run" && doc && doc.links && doc.links.page) {
        window.location.assign(doc.links.page);
        return;
      }
      flash("Recorded.", "ok");
      if (reload && document.querySelector(reload)) {
        htmx.ajax("GET", window.location.href, { target: reload, select: reload, swap: "outerHTML" });
      }
    } else {
      flash((doc && doc.error) ? doc.error : ("The server answered " + xhr.status), "error");
    }
  });

  // Before an API form is sent, copy the remembered name into its hidden "by" field.
  document.addEventListener("htmx:configRequest", function (ev) {
    var form = ev.detail && ev.detail.elt && ev.detail.elt.closest ? ev.detail.elt.closest("form.api") : null;
    if (!form) return;
    var name = "";
    try { name = window.localStorage.getItem(NAME_KEY) || ""; } catch (e) { name = ""; }
    // Only forms that ask who acts carry a name (starting a run does not).
    if (name && form.querySelector("input[name=by]") && ev.detail.parameters && !ev.detail.parameters.by) {
      ev.detail.parameters.by = name;
    }
  });
})();
