/**
 * HTTP API helpers for the pages: JSON in and out, the session cookie, and
 * Django's CSRF header on cookie-authenticated writes.
 */

/** The value of a cookie, or "". */
export function cookie(name, source = globalThis.document ? document.cookie : "") {
  for (const part of source.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

/** An API failure: status plus the contract's {"error": {code, message}}. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

/** Call the API; resolves to the decoded JSON body, rejects with ApiError. */
export async function api(method, path, body = undefined) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method !== "GET" && method !== "HEAD") {
    const token = cookie("csrftoken");
    if (token) headers["X-CSRFToken"] = token;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "network", "The server cannot be reached.");
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(response.status, error.code || "http_" + response.status, error.message || `HTTP ${response.status}`);
  }
  return data;
}

/** The logged-in user {user, token}, or null when not logged in. */
export async function currentSession() {
  try {
    return await api("GET", "/api/session");
  } catch (err) {
    if (err.status === 401 || err.status === 403) return null;
    throw err;
  }
}

/** Log in as a guest with a display name. */
export function guestLogin(name) {
  return api("POST", "/api/session/guest", { name });
}
