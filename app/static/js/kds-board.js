"use strict";
/**
 * The kitchen board: open tickets oldest first, one element per ticket, kept in step with the ticket map.
 * A change re-renders only its ticket (an event costs the same with 5 or 200 tickets on the rail); a
 * ticket carries its whole state, so rendering it twice gives the same element (idempotent).
 */
import { h, mmss } from "./screen.js";

export const OPEN = new Set(["new", "in_progress", "ready"]);
/** status → [next status, what the tap does] (protocol.md §4: new → in_progress → ready → completed). */
export const NEXT = { new: ["in_progress", "Start"], in_progress: ["ready", "Ready"], ready: ["completed", "Bump"] };
const STATUS_LABEL = { new: "New", in_progress: "Cooking", ready: "Ready" };

const earlier = (a, b) => a.created_at < b.created_at || (a.created_at === b.created_at && a.number < b.number);

export class Board {
  tickets = new Map(); // id → ticket (contract shape)
  stations = new Set();
  view = "all"; // "all" | "expo" | a station
  #els = new Map(); // id → <li>
  #rail; #allDay; #onStations; #thresholds; #now;

  /** thresholds(): {warn, late} in seconds; now(): the hub's clock in ms; onStations(set) when a new one appears. */
  constructor({ rail, allDay, thresholds, now, onStations }) {
    this.#rail = rail;
    this.#allDay = allDay;
    this.#thresholds = thresholds;
    this.#now = now;
    this.#onStations = onStations;
  }

  /** Replace everything with a snapshot's tickets (oldest first). */
  reset(list) {
    this.tickets = new Map(list.filter((t) => OPEN.has(t.status)).map((t) => [t.id, t]));
    this.#rerender();
  }

  /** Apply the current state of one ticket; returns the state it replaces (undefined if new here). */
  upsert(ticket) {
    const before = this.tickets.get(ticket.id);
    const old = this.#els.get(ticket.id);
    if (!OPEN.has(ticket.status)) {
      this.tickets.delete(ticket.id);
      this.#els.delete(ticket.id);
      old?.remove();
    } else {
      this.tickets.set(ticket.id, ticket);
      const el = this.#render(ticket);
      this.#els.set(ticket.id, el);
      this.#age(el, this.#now(), this.#thresholds());
      if (old) old.replaceWith(el);
      else this.#insert(el, ticket);
    }
    this.#noteStations([ticket]);
    this.renderAllDay();
    return before;
  }

  setView(view) {
    this.view = view;
    this.#rail.dataset.view = view;
    this.#rerender();
  }

  /** Once a second: age timers and their colours. */
  tick() {
    const now = this.#now();
    const limits = this.#thresholds();
    for (const el of this.#els.values()) this.#age(el, now, limits);
  }

  #age(el, now, { warn, late }) {
    const age = (now - el._created) / 1000;
    const text = mmss(age);
    if (el._ageText.textContent !== text) el._ageText.textContent = text;
    const level = age >= late ? "late" : age >= warn ? "warn" : "ok";
    if (el.dataset.age !== level) el.dataset.age = level;
  }

  /** All-day counts: quantity per item over the open tickets shown (only this station's items in a station view). */
  renderAllDay() {
    const counts = new Map();
    for (const t of this.tickets.values()) {
      for (const item of t.items) {
        if (this.#mine(item)) counts.set(item.name, (counts.get(item.name) ?? 0) + item.qty);
      }
    }
    const rows = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    this.#allDay.replaceChildren(...rows.map(([name, qty]) => h("li", {}, h("span", { class: "qty" }, qty), ` ${name}`)));
  }

  #mine(item) { return this.view === "all" || this.view === "expo" || item.station === this.view; }

  #rerender() {
    this.#els.clear();
    const sorted = [...this.tickets.values()].sort((a, b) => (earlier(a, b) ? -1 : earlier(b, a) ? 1 : 0));
    const fragment = document.createDocumentFragment();
    for (const t of sorted) {
      const el = this.#render(t);
      this.#els.set(t.id, el);
      fragment.append(el);
    }
    this.#rail.replaceChildren(fragment);
    this.#noteStations(sorted);
    this.renderAllDay();
    this.tick();
  }

  #insert(el, ticket) {
    // Newest tickets are the usual case: walk from the end, so an arrival costs one comparison.
    let next = null;
    for (let node = this.#rail.lastElementChild; node; node = node.previousElementSibling) {
      const other = this.tickets.get(Number(node.dataset.ticketId));
      if (other && !earlier(ticket, other)) break;
      next = node;
    }
    this.#rail.insertBefore(el, next);
  }

  #noteStations(list) {
    const before = this.stations.size;
    for (const t of list) for (const item of t.items) this.stations.add(item.station);
    if (this.stations.size !== before) this.#onStations(this.stations);
  }

  #render(t) {
    const [, verb] = NEXT[t.status];
    const ageText = h("time", { class: "age" });
    const inView = t.items.some((item) => this.#mine(item));
    const el = h("li", {
      class: "ticket",
      hidden: !inView,
      dataset: { ticketId: t.id, status: t.status, held: t.held, age: "ok" },
    },
      h("article", { "aria-label": `Ticket ${t.number}` },
        h("header", {},
          h("span", { class: "num" }, `#${t.number}`),
          h("span", { class: "who" }, t.customer_name ?? ""),
          ageText),
        h("p", { class: "status" }, t.held ? "On hold" : STATUS_LABEL[t.status]),
        h("ul", { class: "items" }, t.items.map((item) =>
          h("li", { class: this.#mine(item) ? "item" : "item other", dataset: { station: item.station } },
            h("span", { class: "qty" }, `${item.qty}×`), " ", h("span", { class: "name" }, item.name),
            item.modifiers?.length ? h("span", { class: "mods" }, item.modifiers.join(" · ")) : null))),
        t.note ? h("p", { class: "note" }, t.note) : null,
        h("footer", { class: "actions" },
          h("button", { type: "button", class: "advance", dataset: { action: "advance" }, disabled: t.held }, verb),
          t.status === "ready" ? null
            : h("button", { type: "button", dataset: { action: t.held ? "resume" : "hold" } }, t.held ? "Resume" : "Hold"),
          h("button", { type: "button", class: "cancel", dataset: { action: "cancel" } }, "Cancel"))));
    el._created = Date.parse(t.created_at);
    el._ageText = ageText;
    return el;
  }
}
