"use strict";
/**
 * Login session for one browser tab, and JSON calls to the REST API with it (protocol.md §4).
 *
 * Tokens live in sessionStorage: they last as long as the tab, are not shared with other tabs (a kitchen
 * tablet and a manager's laptop are separate sessions) and are gone when the tab closes. A 401 from the
 * API gets one refresh and one retry; a refused refresh means "log in again".
 */

const KEY = "fx.session";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code ?? null;
  }
}

export class Session {
  #data;
  #refreshing = null;
  #storage;

  constructor(storage = globalThis.sessionStorage) {
    this.#storage = storage;
    try { this.#data = JSON.parse(storage.getItem(KEY) ?? "null"); } catch { this.#data = null; }
  }

  get loggedIn() { return this.#data !== null; }
  get user() { return this.#data?.user ?? null; }
  token() { return this.#data?.access_token ?? null; }
  expiresAt() { return this.#data?.expires_at ?? 0; }

  async login(username, password) {
    const body = await call("POST", "/api/auth/login", { body: { username, password } });
    this.#store(body);
    return body.user;
  }

  /** New token pair from the refresh token: true, or false when refused (log in again). Throws if unreachable. */
  refresh() {
    // Single flight: the socket's timer and a 401 retry may ask at once, and a refresh token works only once.
    this.#refreshing ??= this.#doRefresh().finally(() => { this.#refreshing = null; });
    return this.#refreshing;
  }

  async #doRefresh() {
    if (!this.#data) return false;
    try {
      const body = await call("POST", "/api/auth/refresh", { body: { refresh_token: this.#data.refresh_token } });
      this.#store({ ...body, user: body.user ?? this.#data.user });
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) { this.clear(); return false; }
      throw err;
    }
  }

  async logout() {
    try { await this.api("POST", "/api/auth/logout"); } catch { /* the tokens go either way */ }
    this.clear();
  }

  clear() {
    this.#data = null;
    this.#storage.removeItem(KEY);
  }

  /** A JSON call with the bearer token; one refresh-and-retry on 401. Throws ApiError (or TypeError offline). */
  async api(method, path, body) {
    try {
      return await call(method, path, { body, token: this.token() });
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401 || !(await this.refresh())) throw err;
      return call(method, path, { body, token: this.token() });
    }
  }

  #store(body) {
    this.#data = {
      access_token: body.access_token,
      refresh_token: body.refresh_token,
      expires_at: Date.now() + body.expires_in * 1000,
      user: body.user,
    };
    this.#storage.setItem(KEY, JSON.stringify(this.#data));
  }
}

async function call(method, path, { body, token } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON (a proxy's error page): status says enough */ }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}
