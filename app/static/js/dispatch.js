"use strict";
/**
 * /dispatch: the live fleet (gps:fleet, conflated: the newest position per driver is all that matters) on an
 * SVG map that needs no tile server, a list of drivers with last-seen and stale marking, a driver's trail on
 * click, and "who is near this point" on a click on the map.
 *
 * Built for 500 drivers at 1 ping/s: an event only records the newest position per driver; once per
 * animation frame the recorded ones move their own marker (one attribute each). Nothing re-renders the map
 * unless a driver leaves the drawing (then everything is re-placed once, on a wider fit).
 *
 * Query parameters (optional): stale_s (seconds without a ping before a driver is marked stale; default 60).
 */
import { Session } from "./auth.js";
import { HubClient } from "./hub-client.js";
import { Projection, scaleBar } from "./map.js";
import { $, ago, connectionBanner, deviceId, failure, h, requireLogin, toast } from "./screen.js";

const params = new URLSearchParams(location.search);
const STALE_S = Number(params.get("stale_s")) || 60;
const session = new Session();
const drivers = new Map(); // driver id → { pos, marker, row, ago }
const pending = new Map(); // driver id → newest position not drawn yet
const stats = { frames: 0, applied: 0, refits: 0, flushMs: [] };
window.fxDispatch = { drivers, stats };
let locations = [];
let projection = null;
let client = null;
let selected = null; // { id, points: [[px, py]…] }
let frameRequested = false;

main();

async function main() {
  await requireLogin(session, { section: $("#login"), roles: ["manager", "admin"] });
  $("#board").hidden = false;
  $("#tools").hidden = false;
  client = new HubClient({ auth: session, device: { id: deviceId("dispatch"), kind: "dashboard", app: "fusionx-dispatch/1" } });
  client.on("auth-required", () => { location.replace("/dispatch"); });
  // protocol notes: a new gps:fleet subscriber first gets every live driver's position, then live ones.
  const onPosition = (frame) => queue(frame.data);
  client.subscribe("gps:fleet", { event: onPosition });
  window.fxDispatch.receive = onPosition; // the browser tests feed 500 drivers through the same path
  connectionBanner($("#conn"), client, { what: "positions" });
  window.fxDispatch.client = client;
  client.start();
  wire();
  try {
    locations = (await session.api("GET", "/api/locations")).items.filter((l) => l.lat != null && l.lon != null);
    for (const p of (await session.api("GET", "/api/drivers/positions")).items) queue(p);
  } catch (err) {
    toast($("#toast"), failure("Loading the map", err));
  }
  refit();
  tick();
  setInterval(tick, 1000);
  new ResizeObserver(() => refit()).observe($("#map"));
}

function queue(pos) {
  const queued = pending.get(pos.driver_id);
  if (!queued || pos.ts >= queued.ts) pending.set(pos.driver_id, pos);
  if (!frameRequested) {
    frameRequested = true;
    requestAnimationFrame(flush);
  }
}

/** Once per frame: draw what arrived since the last one; a driver moving twice in a frame is drawn once. */
function flush() {
  const started = performance.now();
  frameRequested = false;
  let outside = false;
  const known = drivers.size;
  for (const pos of pending.values()) {
    const d = drivers.get(pos.driver_id) ?? addDriver(pos.driver_id);
    if (d.pos && pos.ts < d.pos.ts) continue; // an older ping (conflation may reorder): keep the newest
    d.pos = pos;
    stats.applied++;
    if (!projection || !projection.contains(pos.lat, pos.lon)) outside = true;
    else place(d);
    markSeen(d, client.now() / 1000);
    if (selected?.id === pos.driver_id) extendTrail(pos);
  }
  pending.clear();
  if (outside) refit();
  if (drivers.size !== known) tick(); // new drivers: the summary counts them now, not at the next second
  stats.frames++;
  stats.flushMs.push(performance.now() - started);
  if (stats.flushMs.length > 2000) stats.flushMs.splice(0, 1000);
}

function addDriver(id) {
  const marker = h("svg:g", { class: "driver", dataset: { driver: id } },
    h("svg:circle", { r: 7 }), h("svg:text", { x: 10, y: 4 }, String(id)));
  $("#drivers").append(marker);
  const agoEl = h("span", { class: "ago" });
  const row = h("li", { dataset: { driver: id } }, h("button", { type: "button" }, h("span", {}, `Driver ${id}`), agoEl));
  // Keep the list ordered by id without sorting it: insert before the first larger id (ids mostly arrive in order,
  // so look from the end).
  const list = $("#driver-list");
  let before = null;
  for (let li = list.lastElementChild; li && Number(li.dataset.driver) > id; li = li.previousElementSibling) before = li;
  list.insertBefore(row, before);
  const d = { pos: null, marker, row, ago: agoEl };
  drivers.set(id, d);
  return d;
}

function place(d) {
  const [x, y] = projection.toScreen(d.pos.lat, d.pos.lon);
  d.marker.setAttribute("transform", `translate(${x.toFixed(1)} ${y.toFixed(1)})`);
}

function markSeen(d, nowS) {
  const age = nowS - d.pos.ts;
  const text = ago(age);
  if (d.ago.textContent !== text) d.ago.textContent = text;
  const stale = age > STALE_S;
  if (d.row.classList.contains("stale") !== stale) {
    d.row.classList.toggle("stale", stale);
    d.marker.classList.toggle("stale", stale);
  }
}

/** Once a second: last-seen texts and stale marks, and the summary. */
function tick() {
  const nowS = client.now() / 1000;
  let stale = 0;
  for (const d of drivers.values()) {
    if (!d.pos) continue;
    markSeen(d, nowS);
    if (d.row.classList.contains("stale")) stale++;
  }
  const n = drivers.size;
  $("#summary").textContent = `${n} driver${n === 1 ? "" : "s"} · ${stale} stale (no ping for ${STALE_S} s)`;
}

/** Fit the drawing to every driver and location; re-place everything (rare: a driver left the drawing). */
function refit() {
  const svg = $("#map");
  const { width, height } = svg.getBoundingClientRect();
  if (!width || !height) return;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const points = [...locations, ...[...drivers.values()].filter((d) => d.pos).map((d) => d.pos)];
  projection = new Projection(points, width, height);
  stats.refits++;
  for (const d of drivers.values()) if (d.pos) place(d);
  $("#landmarks").replaceChildren(...locations.map((l) => {
    const [x, y] = projection.toScreen(l.lat, l.lon);
    return h("svg:g", { class: "landmark", transform: `translate(${x.toFixed(1)} ${y.toFixed(1)})` },
      h("svg:rect", { x: -6, y: -6, width: 12, height: 12 }), h("svg:text", { x: 10, y: -8 }, l.name));
  }));
  const lat = points.length ? points[0].lat : 0;
  const [, px, label] = scaleBar(projection, lat);
  $("#scale").replaceChildren(h("svg:line", { x1: 16, y1: height - 20, x2: 16 + px, y2: height - 20 }),
    h("svg:text", { x: 16, y: height - 28 }, `${label} (grid)`));
  const lines = []; // a distance grid, one square per scale-bar length: the eye needs something to measure by
  for (let x = px; x < width; x += px) lines.push(h("svg:line", { x1: x.toFixed(1), y1: 0, x2: x.toFixed(1), y2: height }));
  for (let y = px; y < height; y += px) lines.push(h("svg:line", { x1: 0, y1: y.toFixed(1), x2: width, y2: y.toFixed(1) }));
  $("#grid").replaceChildren(...lines);
  $("#nearby").replaceChildren(); // its circle was drawn for the old fit
  if (selected) drawTrail();
}

function wire() {
  $("#map").addEventListener("click", (ev) => {
    const marker = ev.target.closest(".driver");
    if (marker) return select(Number(marker.dataset.driver));
    const box = $("#map").getBoundingClientRect(); // not offsetX: on an SVG child it is not the map's
    if (projection) nearby(ev.clientX - box.left, ev.clientY - box.top);
  });
  $("#driver-list").addEventListener("click", (ev) => {
    const row = ev.target.closest("li[data-driver]");
    if (row) select(Number(row.dataset.driver));
  });
  $("#logout").onclick = async () => {
    client.stop();
    await session.logout();
    location.replace("/dispatch");
  };
}

async function select(id) {
  for (const d of drivers.values()) {
    d.marker.classList.remove("selected");
    d.row.classList.remove("selected");
  }
  const d = drivers.get(id);
  d?.marker.classList.add("selected");
  d?.row.classList.add("selected");
  selected = { id, points: [] };
  $("#trail-panel").hidden = false;
  $("#trail-title").textContent = `Trail of driver ${id}`;
  try {
    const trail = (await session.api("GET", `/api/drivers/${id}/trail`)).items;
    if (selected?.id !== id) return;
    selected.points = trail.map((p) => [p.lat, p.lon]);
    $("#trail-info").textContent = `${trail.length} positions in the last 15 minutes`;
  } catch (err) {
    $("#trail-info").textContent = failure("Trail", err);
  }
  drawTrail();
}

function extendTrail(pos) {
  selected.points.push([pos.lat, pos.lon]);
  drawTrail();
}

function drawTrail() {
  const points = selected.points.map(([lat, lon]) => projection.toScreen(lat, lon).map((v) => v.toFixed(1)).join(","));
  $("#trail polyline").setAttribute("points", points.join(" "));
}

async function nearby(px, py) {
  const [lat, lon] = projection.toLatLon(px, py);
  const radius = Number($("#radius").value);
  const r = radius / projection.metresPerPixel(lat);
  $("#nearby").replaceChildren(h("svg:circle", { cx: px, cy: py, r: r.toFixed(1) }));
  $("#nearby-panel").hidden = false;
  $("#nearby-title").textContent = `Within ${$("#radius").selectedOptions[0].text} of ${lat.toFixed(4)}, ${lon.toFixed(4)}`;
  try {
    const query = `lat=${lat.toFixed(6)}&lon=${lon.toFixed(6)}&radius_m=${radius}`;
    const found = (await session.api("GET", `/api/drivers/nearby?${query}`)).items;
    $("#nearby-list").replaceChildren(...(found.length
      ? found.map((p) => h("li", { dataset: { driver: p.driver_id } }, `Driver ${p.driver_id} — ${Math.round(p.distance_m)} m`))
      : [h("li", {}, "No driver there.")]));
  } catch (err) {
    $("#nearby-list").replaceChildren(h("li", {}, failure("Nearby", err)));
  }
}
