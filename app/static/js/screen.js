"use strict";
/**
 * What every screen shares: building DOM safely (text only, never HTML: customer names are user input),
 * the login form, the connection banner that says how old the data is, times, and error toasts.
 */

/** h("li", {class: "x", dataset: {id: 3}, onclick}, "text", child) → element. Strings become text nodes. */
export function h(tag, attrs = {}, ...children) {
  const el = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child != null && child !== false) el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

export function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

export function ago(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 90) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
}

/** Minutes:seconds of an age, e.g. "7:05". */
export function mmss(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * Resolve with the user once logged in with one of `roles`; shows `section` (a form with username and
 * password fields and a .error paragraph) until then. `notice` explains why the form is shown again.
 */
export function requireLogin(session, { section, roles, notice = "" }) {
  if (session.loggedIn && roles.includes(session.user?.role)) return Promise.resolve(session.user);
  session.clear();
  const form = $("form", section);
  const error = $(".error", section);
  error.textContent = notice;
  section.hidden = false;
  $("input[name=username]", form).focus();
  return new Promise((resolve) => {
    form.onsubmit = async (ev) => {
      ev.preventDefault();
      const data = new FormData(form);
      error.textContent = "";
      try {
        const user = await session.login(data.get("username"), data.get("password"));
        if (!roles.includes(user.role)) {
          session.clear();
          error.textContent = `This screen is for ${roles.join(", ")}; ${user.username} is ${user.role}.`;
          return;
        }
        section.hidden = true;
        form.reset();
        resolve(user);
      } catch (err) {
        error.textContent = err.status === 401 ? "Wrong username or password." : `Could not log in: ${err.message}`;
      }
    };
  });
}

/**
 * Keep `el` telling the truth about the connection: hidden while online and in sync; otherwise since when
 * the data is stale ("offline — tickets as of 14:02:31, 45 s ago"). `what` names the data; `syncing()`
 * says whether a snapshot is being refetched. Updated on every state change and every second.
 */
export function connectionBanner(el, client, { what, syncing = () => false }) {
  function render() {
    const { name, retryAt, reason } = client.state;
    const asOf = client.lastHeardAt || client.state.offlineSince;
    let text = "";
    if (name === "unauthorized") text = "Session ended — log in again.";
    else if (name === "failed") text = `The hub refused this screen (${reason}). Reload the page; if it persists, call support.`;
    else if (name !== "online" && name !== "stopped") {
      const stale = asOf ? `${what} as of ${clock(asOf)}, ${ago((Date.now() - asOf) / 1000)}` : `no ${what} yet`;
      const retry = retryAt ? ` · retrying in ${Math.max(0, Math.ceil((retryAt - Date.now()) / 1000))} s` : " · connecting…";
      text = `Offline — ${stale}${retry}`;
    } else if (name === "online" && syncing()) text = `Back online — reloading ${what}…`;
    el.hidden = text === "";
    el.dataset.state = name === "online" && text ? "syncing" : name;
    if (el.textContent !== text) el.textContent = text;
  }
  client.on("state", render);
  setInterval(render, 1000);
  render();
  return render;
}

/** A short message in `el` for a few seconds (errors of taps: "not saved — offline"). */
export function toast(el, text, ms = 6000) {
  el.textContent = text;
  el.hidden = false;
  clearTimeout(el._timer);
  el._timer = setTimeout(() => { el.hidden = true; }, ms);
}

/** A message for a failed REST call, honest about offline. */
export function failure(action, err) {
  if (err instanceof TypeError) return `${action}: not saved — the hub cannot be reached.`;
  return `${action}: ${err.message}`;
}

/** This browser's device id for `kind` (hello's device.id), made once and kept in localStorage. */
export function deviceId(kind) {
  const key = `fx.device.${kind}`;
  let id = localStorage.getItem(key);
  // getRandomValues, not randomUUID: a tablet on http://192.168.x.y is not a secure context.
  if (!id) localStorage.setItem(key, (id = `${kind}-${crypto.getRandomValues(new Uint32Array(2)).join("").slice(0, 12)}`));
  return id;
}
