"use strict";
/**
 * /kds: log in, pick the truck's open shift, then keep the board a replica of kds:{shift} (snapshot + events
 * by seq, hub-client.js) and stock:{shift} (sold-out/low banner). Taps call the REST API; the board changes
 * only when the resulting event arrives, so what it shows is what the hub holds, on every screen alike.
 *
 * Query parameters (optional): truck (managers: preselect), warn_s / late_s (override the age thresholds).
 */
import { Session } from "./auth.js";
import { HubClient, follow } from "./hub-client.js";
import { Board, NEXT } from "./kds-board.js";
import { $, clock, connectionBanner, deviceId, failure, h, requireLogin, toast } from "./screen.js";

const ROLES = ["staff", "manager", "admin"];
const RECALL_SIZE = 20;
const params = new URLSearchParams(location.search);
const session = new Session();
const thresholds = { warn: 300, late: 480 }; // seconds (applyThresholds)
const recent = []; // tickets bumped while this screen watched, newest first: the recall list when the hub is away
const debug = { applyMs: [], states: [] }; // read by the browser tests (apply timing, states) and handy in the console
window.fxKds = debug;
let client = null;
let board = null;
let me = null; // the user this board was opened for

main();

async function main() {
  me = (await requireLogin(session, { section: $("#login"), roles: ROLES })).id;
  const shift = await pickShift();
  await startBoard(shift);
}

async function pickShift() {
  const user = session.user;
  const section = $("#pick");
  const form = $("form", section);
  const error = $(".error", section);
  let truckId = user.role === "staff" ? user.truck_id : Number(params.get("truck")) || null;
  if (user.role === "staff") $("#truck-field").hidden = true;
  else {
    const trucks = (await session.api("GET", "/api/trucks")).items;
    $("select", form).replaceChildren(...trucks.map((t) => h("option", { value: t.id, selected: t.id === truckId }, t.name)));
  }
  for (;;) {
    if (truckId) {
      try {
        const shift = await session.api("GET", `/api/shifts/active?truck_id=${truckId}`);
        section.hidden = true;
        return shift;
      } catch (err) {
        error.textContent = err.status === 404
          ? `Truck ${truckId} has no open shift yet: check in from the POS. Looking again every 10 s.`
          : failure("Finding the shift", err);
      }
    }
    section.hidden = false;
    truckId = await new Promise((resolve) => {
      form.onsubmit = (ev) => { ev.preventDefault(); resolve(Number(new FormData(form).get("truck")) || truckId); };
      if (truckId) setTimeout(() => resolve(truckId), 10_000);
    });
  }
}

/** Age thresholds: ?warn_s/late_s, else the shift config's warn_after_s/late_after_s, else 300/480 s. */
function applyThresholds(config) {
  thresholds.warn = Number(params.get("warn_s")) || config.warn_after_s || 300;
  thresholds.late = Number(params.get("late_s")) || config.late_after_s || 480;
}

/** shift:{id} events carry the whole shift: its status for the header, its config for the thresholds. */
function showShift(shift) {
  const status = shift.status === "active" ? "" : ` · ${shift.status === "paused" ? "paused: no new orders" : shift.status}`;
  $("#shift-label").textContent = `Shift ${shift.id} · truck ${shift.truck_id}${status}`;
  applyThresholds(shift.config ?? {});
}

async function startBoard(shift) {
  showShift(shift);
  try {
    applyThresholds(await session.api("GET", `/api/shifts/${shift.id}/config`));
  } catch { /* the shift's own config, or defaults */ }

  client = new HubClient({ auth: session, device: { id: deviceId("kds"), kind: "kds", app: "fusionx-kds/1" } });
  client.on("auth-required", relogin);
  client.on("state", (state) => { debug.states.push(state.name); if (debug.states.length > 200) debug.states.shift(); });
  board = new Board({
    rail: $("#rail"), allDay: $("#allday"), thresholds: () => thresholds, now: () => client.now(), onStations: renderViews,
  });
  const kds = follow(client, {
    topic: `kds:${shift.id}`,
    load: () => session.api("GET", `/api/shifts/${shift.id}/kds`),
    reset: (snapshot) => board.reset(snapshot.tickets),
    apply: applyTicket,
    onStatus: (status, err) => { if (err?.status === 401) relogin(); },
  });
  const stock = follow(client, {
    topic: `stock:${shift.id}`,
    load: () => session.api("GET", `/api/shifts/${shift.id}/menu`),
    reset: resetStock,
    apply: applyStock,
  });
  client.subscribe(`shift:${shift.id}`, { event: (frame) => showShift(frame.data) });
  Object.assign(debug, { board, client, kds, stock, thresholds });
  connectionBanner($("#conn"), client, { what: "tickets", syncing: () => !kds.live });
  wire(shift);
  board.setView(localStorage.getItem("fx.kds.view") ?? "all");
  renderViews(board.stations);
  setInterval(() => board.tick(), 1000);
  $("#board").hidden = false;
  $("#tools").hidden = false;
  client.start();
}

function applyTicket(frame) {
  const started = performance.now();
  const before = board.upsert(frame.data);
  if (frame.data.status === "completed") {
    recent.unshift(frame.data);
    recent.length = Math.min(recent.length, RECALL_SIZE);
  }
  if (frame.event === "ticket.created" && !before) chime();
  debug.applyMs.push(performance.now() - started);
  if (debug.applyMs.length > 2000) debug.applyMs.splice(0, 1000);
}

function wire(shift) {
  $("#rail").addEventListener("click", (ev) => {
    const li = ev.target.closest("li.ticket");
    const ticket = li && board.tickets.get(Number(li.dataset.ticketId));
    if (!ticket) return;
    const action = ev.target.closest("button[data-action]")?.dataset.action ?? "advance"; // a tap on the card advances
    if (action === "cancel") return askCancel(li, ticket);
    if (action === "advance" && ticket.held) return toast($("#toast"), `#${ticket.number} is on hold: resume it first.`);
    act(li, ticket, action, action === "advance" ? { to: NEXT[ticket.status][0] } : undefined);
  });
  $("#recall-open").onclick = () => openRecall(shift);
  const chimeButton = $("#chime");
  const showChime = () => {
    const on = localStorage.getItem("fx.kds.chime") !== "off";
    chimeButton.setAttribute("aria-pressed", String(on));
    chimeButton.textContent = on ? "Chime on" : "Chime off";
  };
  chimeButton.onclick = () => {
    localStorage.setItem("fx.kds.chime", localStorage.getItem("fx.kds.chime") === "off" ? "on" : "off");
    showChime();
  };
  showChime();
  $("#logout").onclick = async () => {
    client.stop();
    await session.logout();
    location.replace("/kds");
  };
  $("#views").onclick = (ev) => {
    const view = ev.target.closest("button")?.dataset.view;
    if (!view) return;
    localStorage.setItem("fx.kds.view", view);
    board.setView(view);
    renderViews(board.stations);
  };
}

async function act(li, ticket, action, body) {
  if (li.dataset.busy) return; // a double tap must not send the transition twice
  li.dataset.busy = "1";
  try {
    await session.api("POST", `/api/orders/${ticket.id}/${action}`, body);
  } catch (err) {
    if (err.status === 401) return relogin();
    toast($("#toast"), failure(`#${ticket.number}`, err));
  } finally {
    delete li.dataset.busy;
  }
}

function askCancel(li, ticket) {
  const dialog = $("#cancel-dialog");
  const form = $("form", dialog);
  form.reset();
  $(".num", dialog).textContent = `#${ticket.number}`;
  dialog.returnValue = "";
  dialog.onclose = () => {
    if (dialog.returnValue !== "cancel") return;
    const data = new FormData(form);
    const reason = data.get("reason") === "other" ? data.get("other").trim() || "other" : data.get("reason");
    act(li, ticket, "cancel", { reason });
  };
  dialog.showModal();
}

async function openRecall(shift) {
  const dialog = $("#recall-dialog");
  let items = recent;
  let note = "";
  try {
    items = (await session.api("GET", `/api/shifts/${shift.id}/tickets?status=completed&limit=${RECALL_SIZE}`)).items;
  } catch {
    note = "The hub cannot be reached: these are the tickets bumped on this screen.";
  }
  $(".note", dialog).textContent = items.length ? note : "Nothing bumped yet.";
  $(".recall-list", dialog).replaceChildren(...items.map((t) => h("li", {},
    h("button", { type: "button", dataset: { ticketId: t.id }, onclick: () => showTicket(t) },
      `#${t.number} ${t.customer_name ?? ""} · bumped ${t.completed_at ? clock(Date.parse(t.completed_at)) : ""}`))));
  dialog.showModal();
}

function showTicket(t) {
  const dialog = $("#ticket-dialog");
  $("h2", dialog).textContent = `#${t.number} ${t.customer_name ?? ""} — ${t.status.replace("_", " ")}`;
  const times = [["ordered", t.created_at], ["started", t.started_at], ["ready", t.ready_at], ["bumped", t.completed_at]]
    .filter(([, at]) => at).map(([what, at]) => `${what} ${clock(Date.parse(at))}`).join(" · ");
  $(".detail", dialog).replaceChildren(
    h("ul", { class: "items" }, t.items.map((i) => h("li", {}, `${i.qty}× ${i.name}`,
      i.modifiers?.length ? h("span", { class: "mods" }, i.modifiers.join(" · ")) : null))),
    t.note ? h("p", { class: "note" }, t.note) : null,
    h("p", { class: "times" }, times));
  dialog.showModal();
}

function renderViews(stations) {
  const current = board?.view ?? "all";
  const views = [["all", "All"], ["expo", "Expo"], ...[...stations].sort().map((s) => [s, s])];
  $("#views").replaceChildren(...views.map(([view, label]) =>
    h("button", { type: "button", dataset: { view }, "aria-pressed": String(view === current) }, label)));
  $("#views").hidden = false;
}

// ---- stock: sold out / running low, from the shift menu then stock:{shift} events ----

const stockState = new Map(); // item id → {name, state: "ok" | "low" | "sold_out", remaining}

function resetStock(menu) {
  stockState.clear();
  for (const item of [...menu.categories.flatMap((c) => c.items), ...menu.specials]) {
    const low = item.stock != null && item.low_threshold != null && item.stock <= item.low_threshold;
    stockState.set(item.id, { name: item.name, state: item.sold_out ? "sold_out" : low ? "low" : "ok", remaining: item.stock });
  }
  renderStock();
}

function applyStock(frame) {
  const d = frame.data;
  const state = d.state ?? { "stock.sold_out": "sold_out", "stock.low": "low" }[frame.event] ?? "ok";
  stockState.set(d.item_id, { name: d.name, state, remaining: d.remaining });
  renderStock();
}

function renderStock() {
  const of = (state) => [...stockState.values()].filter((s) => s.state === state);
  const out = of("sold_out").map((s) => s.name);
  const low = of("low").map((s) => (s.remaining != null ? `${s.name} (${s.remaining} left)` : s.name));
  const text = [out.length ? `Sold out: ${out.join(", ")}` : "", low.length ? `Running low: ${low.join(", ")}` : ""]
    .filter(Boolean).join(" · ");
  const el = $("#stock");
  el.textContent = text;
  el.hidden = !text;
}

// ---- session, chime ----

let relogging = null;

function relogin() { // the socket (4401), a snapshot load and a tap may all find out at once: one login form
  relogging ??= (async () => {
    client?.stop();
    await requireLogin(session, { section: $("#login"), roles: ROLES, notice: "Your session ended: log in again." });
    relogging = null;
    if (session.user.id !== me) return location.reload(); // another person: start from their truck
    client.start(); // subscriptions resume with since: nothing is missed, nothing doubled
  })();
  return relogging;
}

let audio = null;
let lastChime = 0;
document.addEventListener("pointerdown", () => { // browsers allow sound only after a gesture
  try { audio ??= new AudioContext(); audio.resume(); } catch { /* no WebAudio: silent */ }
});

function chime() {
  if (localStorage.getItem("fx.kds.chime") === "off" || audio?.state !== "running") return;
  if (Date.now() - lastChime < 1000) return; // a burst of tickets after a reconnect beeps once
  lastChime = Date.now();
  const osc = audio.createOscillator();
  const gain = audio.createGain();
  osc.frequency.value = 880;
  gain.gain.setValueAtTime(0.25, audio.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.5);
  osc.connect(gain).connect(audio.destination);
  osc.start();
  osc.stop(audio.currentTime + 0.5);
}
