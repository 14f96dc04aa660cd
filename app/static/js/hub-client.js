"use strict";
/**
 * The browser's connection to the hub (protocol.md §2): one socket, hello, subscriptions that survive
 * reconnects (resumed with `since`), full-jitter backoff, token refresh before expiry, close codes per
 * §2.6, and an observable state so a page can say when it is offline instead of hiding it.
 * `follow()` adds snapshot-then-stream for reliable topics (KDS, stock): state is a snapshot plus the
 * events after it, applied once each, in seq order.
 *
 * The same shape as the team's Python client: HubClient ~ connection + subscriptions; follow ~ a
 * topic's local replica. Pages only render; they never touch the socket.
 */

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_CAP_MS = 10_000;
const STABLE_MS = 10_000; // online this long: the next outage starts its backoff from scratch
const COMMAND_TIMEOUT_MS = 10_000;

/** protocol.md §2.6: what to do after the server closed with `code` (1006: dropped without a close frame). */
export function closeAction(code) {
  if (code === 4401) return "login"; // token expired or revoked: one refresh, else log in again
  if (code === 4400 || code === 1009) return "stop"; // our bug: reconnecting would repeat it forever
  if (code === 4429) return "slow-down"; // we were abusive: reconnect, but late
  return "reconnect"; // 1001 draining, 1006 dropped, 1011, 4408 heartbeat, 4500 slow consumer, unknown
}

/** Full jitter (sleep = random(0, min(cap, base·2^attempt))): a fleet of tablets does not reconnect in step. */
export function backoffDelay(attempt, { baseMs = BACKOFF_BASE_MS, capMs = BACKOFF_CAP_MS, random = Math.random } = {}) {
  return random() * Math.min(capMs, baseMs * 2 ** attempt);
}

export function defaultUrl(loc = globalThis.location) {
  return `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}/ws`;
}

/**
 * state.name: "idle" | "connecting" | "online" | "offline" (waiting to retry) | "unauthorized" (log in again)
 *   | "failed" (protocol error: reconnecting would not help) | "stopped".
 * state.offlineSince: when the connection was lost (kept through retries until online again), else null.
 * lastHeardAt: when the last frame arrived: data is known complete up to then.
 *
 * `auth` supplies tokens: { token(), expiresAt() (ms), refresh() → true | false (refused); throws if unreachable }.
 */
export class HubClient {
  #auth; #opts; #ws = null; #subs = new Map(); #pending = new Map(); #listeners = new Map();
  #nextId = 1; #attempt = 0; #stopped = true; #authRetried = false; #pingSent = false;
  #retryTimer = 0; #phaseTimer = 0; #watchTimer = 0; #refreshTimer = 0;
  state = { name: "idle", offlineSince: null, retryAt: null, code: null, reason: "" };
  lastHeardAt = 0;
  serverOffsetMs = 0; // server clock − local clock, from welcome.server_time: ages are measured on the hub's clock
  user = null;

  constructor({ auth, url = defaultUrl(), device = null, baseMs = BACKOFF_BASE_MS, capMs = BACKOFF_CAP_MS,
    pingEveryMs = 5000, pongTimeoutMs = 3000, refreshLeadMs = 60_000 }) {
    this.#auth = auth;
    this.#opts = { url, device, baseMs, capMs, pingEveryMs, pongTimeoutMs, refreshLeadMs };
  }

  /** Listen to "state", "welcome", "error" (unsolicited error frames) or "auth-required". Returns an unsubscriber. */
  on(name, fn) {
    if (!this.#listeners.has(name)) this.#listeners.set(name, new Set());
    this.#listeners.get(name).add(fn);
    return () => this.#listeners.get(name).delete(fn);
  }

  now() { return Date.now() + this.serverOffsetMs; }

  start() {
    if (!this.#stopped) return;
    this.#stopped = false;
    globalThis.addEventListener?.("offline", this.#browserOffline);
    globalThis.addEventListener?.("online", this.#browserOnline);
    this.#scheduleRefresh();
    this.#connect();
  }

  stop() {
    if (this.#stopped) return; // keeps a final state ("unauthorized", "failed") for the page to show
    this.#stopped = true;
    globalThis.removeEventListener?.("offline", this.#browserOffline);
    globalThis.removeEventListener?.("online", this.#browserOnline);
    for (const t of [this.#retryTimer, this.#phaseTimer, this.#refreshTimer]) clearTimeout(t);
    clearInterval(this.#watchTimer);
    const ws = this.#ws;
    this.#ws = null;
    ws?.close(1000, "bye");
    this.#setState("stopped");
  }

  /**
   * Keep `topic` subscribed across reconnects. handlers: since() → {seq, epoch} | null (asked at each
   * (re)subscribe), subscribed(reply, sentSince), event(frame), error(err). Returns { close() }.
   */
  subscribe(topic, handlers) {
    const sub = { topic, ...handlers };
    this.#subs.set(topic, sub);
    if (this.state.name === "online") this.#sendSubscribe(sub);
    return {
      close: () => {
        if (this.#subs.get(topic) !== sub) return;
        this.#subs.delete(topic);
        if (this.state.name === "online") this.command({ type: "unsubscribe", topic }).catch(() => {});
      },
    };
  }

  /** Send a command with a fresh id; resolves with the reply echoing it, rejects on an error frame or a drop. */
  command(frame, timeoutMs = COMMAND_TIMEOUT_MS) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#settle(id, null, new Error(`no reply to ${frame.type}`)), timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      if (!this.#sendNow({ ...frame, id })) this.#settle(id, null, new Error("not connected"));
    });
  }

  #settle(id, reply, error) {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    clearTimeout(p.timer);
    if (error) p.reject(error); else p.resolve(reply);
  }

  #sendNow(frame) {
    // Nothing but hello before welcome (protocol.md §2.1: any other first frame is closed 4400).
    if (this.#ws?.readyState !== WebSocket.OPEN || (frame.type !== "hello" && this.state.name !== "online")) return false;
    this.#ws.send(JSON.stringify(frame));
    return true;
  }

  #emit(name, value) { for (const fn of this.#listeners.get(name) ?? []) fn(value); }

  #setState(name, extra = {}) {
    this.state = { ...this.state, name, retryAt: null, ...extra };
    this.#emit("state", this.state);
  }

  async #connect() {
    clearTimeout(this.#retryTimer);
    this.#setState("connecting");
    if (this.#auth.expiresAt() - Date.now() < 5000 && (await this.#refreshTokens()) === false) return this.#authRequired();
    if (this.#stopped) return;
    const ws = new WebSocket(this.#opts.url);
    this.#ws = ws;
    this.#phaseTimer = setTimeout(() => this.#drop(4408, "no welcome from the hub"), COMMAND_TIMEOUT_MS);
    ws.onopen = () => this.#sendNow({ type: "hello", token: this.#auth.token(), ...(this.#opts.device && { device: this.#opts.device }) });
    ws.onmessage = (msg) => { if (this.#ws === ws) this.#onFrame(JSON.parse(msg.data)); };
    ws.onclose = (ev) => { if (this.#ws === ws) { this.#ws = null; this.#lost(ev.code, ev.reason); } };
  }

  #onFrame(frame) {
    this.lastHeardAt = Date.now();
    this.#pingSent = false;
    if (frame.type === "welcome") return this.#online(frame);
    if (frame.type === "event") return this.#subs.get(frame.topic)?.event?.(frame);
    if (frame.id != null && this.#pending.has(frame.id)) {
      const failed = frame.type === "error" ? Object.assign(new Error(frame.message), { code: frame.code }) : null;
      return this.#settle(frame.id, frame, failed);
    }
    if (frame.type === "error") this.#emit("error", frame);
  }

  #online(welcome) {
    this.serverOffsetMs = welcome.server_time * 1000 - Date.now();
    this.user = welcome.user;
    this.#authRetried = false;
    clearTimeout(this.#phaseTimer);
    this.#phaseTimer = setTimeout(() => { this.#attempt = 0; }, STABLE_MS);
    clearInterval(this.#watchTimer);
    this.#watchTimer = setInterval(() => this.#watch(), 1000);
    this.#setState("online", { offlineSince: null, code: null, reason: "" });
    this.#emit("welcome", welcome);
    for (const sub of this.#subs.values()) this.#sendSubscribe(sub);
  }

  #sendSubscribe(sub) {
    const since = sub.since?.() ?? null;
    this.command({ type: "subscribe", topic: sub.topic, ...(since && { since }) })
      .then((reply) => { if (this.#subs.get(sub.topic) === sub) sub.subscribed?.(reply, since); })
      .catch((err) => sub.error?.(err));
  }

  /** A socket can die silently (Wi-Fi gone, NAT forgot it): ask when quiet, give up when the hub stays silent. */
  #watch() {
    const quiet = Date.now() - this.lastHeardAt;
    const { pingEveryMs, pongTimeoutMs } = this.#opts;
    if (quiet > pingEveryMs + pongTimeoutMs) this.#drop(4408, "no answer from the hub");
    else if (quiet >= pingEveryMs && !this.#pingSent) this.#pingSent = this.#sendNow({ type: "ping" });
  }

  #drop(code, reason) {
    const ws = this.#ws;
    if (!ws) return;
    this.#ws = null; // its late close event is ignored
    ws.close();
    this.#lost(code, reason);
  }

  #browserOffline = () => this.#drop(1006, "this device is offline");
  #browserOnline = () => { if (this.state.name === "offline") this.#connect(); };

  async #lost(code, reason) {
    clearTimeout(this.#phaseTimer);
    clearInterval(this.#watchTimer);
    for (const id of [...this.#pending.keys()]) this.#settle(id, null, new Error("connection lost"));
    if (this.#stopped) return;
    const offlineSince = this.state.offlineSince ?? Date.now();
    const action = closeAction(code);
    if (action === "stop") return this.#halt("failed", { offlineSince, code, reason: reason || "protocol error" });
    this.#setState("offline", { offlineSince, code, reason });
    if (action === "login") {
      if (this.#authRetried || (await this.#refreshTokens()) === false) return this.#authRequired();
      this.#authRetried = true;
      if (this.#stopped) return;
    }
    if (action === "slow-down") this.#attempt = Math.max(this.#attempt, 4);
    const delay = backoffDelay(this.#attempt++, this.#opts);
    this.#setState("offline", { retryAt: Date.now() + delay });
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
  }

  /** Stop for good, in a state that says why; start() begins afresh (after a new login, say). */
  #halt(name, extra) {
    this.stop();
    this.#setState(name, extra);
  }

  #authRequired() {
    this.#halt("unauthorized", { code: 4401, reason: "log in again" });
    this.#emit("auth-required", this.state);
  }

  /** true: new tokens; false: refused (log in again); null: hub unreachable (try later). */
  async #refreshTokens() {
    try { return await this.#auth.refresh(); } catch { return null; }
  }

  #scheduleRefresh() {
    clearTimeout(this.#refreshTimer);
    const left = this.#auth.expiresAt() - Date.now();
    const lead = Math.min(this.#opts.refreshLeadMs, left / 5);
    this.#refreshTimer = setTimeout(async () => {
      const ok = await this.#refreshTokens();
      if (this.#stopped) return;
      if (ok === false) return this.#authRequired();
      if (ok === null) { this.#refreshTimer = setTimeout(() => this.#scheduleRefresh(), 5000); return; }
      // protocol.md §2.2: the open socket keeps its identity with the new token (else 4401 at expiry).
      if (this.state.name === "online") this.command({ type: "refresh", token: this.#auth.token() }).catch(() => {});
      this.#scheduleRefresh();
    }, Math.max(0, left - lead));
  }
}

/**
 * Snapshot-then-stream replica of a reliable topic (protocol.md §3): load() a snapshot carrying {seq, epoch},
 * subscribe with since = that position, apply events in seq order, each once. `recovered:false`, a new epoch
 * or a gap means the stream cannot be trusted: refetch the snapshot (events arriving meanwhile are buffered and
 * those newer than it applied after it). reset(snapshot) replaces the page's state; apply(frame) applies one event.
 */
export function follow(client, { topic, load, reset, apply, onStatus = () => {} }) {
  let pos = null; // {seq, epoch} of the last snapshot or event applied
  let buffer = null; // events received while a snapshot is loading; null when live
  let generation = 0;
  let sub = null;
  const stats = { snapshots: 0, applied: 0, duplicates: 0, resyncs: 0 };

  async function resync() {
    const gen = ++generation;
    buffer = [];
    onStatus("syncing");
    for (let attempt = 0; ; attempt++) {
      try {
        const snapshot = await load();
        if (gen !== generation) return;
        reset(snapshot);
        pos = { seq: snapshot.seq, epoch: snapshot.epoch };
        stats.snapshots++;
        break;
      } catch (err) {
        if (gen !== generation) return;
        onStatus("error", err); // 401: the page asks for a login, and the next attempt uses the new token
        if (err?.status === 403 || err?.status === 404) return; // not this user's, or gone: retrying cannot help
        await new Promise((r) => setTimeout(r, backoffDelay(attempt)));
        if (gen !== generation) return;
      }
    }
    const pending = buffer.sort((a, b) => a.seq - b.seq);
    buffer = null;
    onStatus("live");
    for (const frame of pending) handle(frame);
  }

  function handle(frame) {
    if (buffer) return void buffer.push(frame);
    if (frame.epoch !== pos.epoch || frame.seq > pos.seq + 1) { // another history, or a hole: trust nothing
      stats.resyncs++;
      resync();
      return void buffer.push(frame);
    }
    if (frame.seq <= pos.seq) return void stats.duplicates++; // already in the snapshot, or seen
    apply(frame);
    pos = { seq: frame.seq, epoch: frame.epoch };
    stats.applied++;
  }

  const handlers = {
    since: () => (buffer ? null : pos),
    subscribed: (reply) => { if (!reply.recovered) { stats.resyncs++; resync(); } },
    event: handle,
    error: (err) => onStatus("error", err),
  };
  let closed = false;
  const started = resync().then(() => { if (pos && !closed) sub = client.subscribe(topic, handlers); });
  return {
    stats,
    get position() { return pos; },
    get live() { return buffer === null && pos !== null; },
    started,
    close() { closed = true; generation++; sub?.close(); },
  };
}
