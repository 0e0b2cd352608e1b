// The shared kernel of the browser app: DOM helpers, the JSON API client, list paging.
// Session cookie + CSRF header on unsafe requests; never a bearer token in the browser.

export const body = document.body;
export const viewer = body.dataset.viewer || "";

// --- DOM helpers --------------------------------------------------------------------------

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

export function flash(message) {
  const box = $(".flash");
  if (!box) return;
  box.textContent = message;
  box.hidden = !message;
}

export function showFormError(form, message) {
  const box = $(".form-error", form.closest("section") || form);
  if (box) {
    box.textContent = message || "";
    box.hidden = !message;
  } else if (message) {
    flash(message);
  }
}

export function plural(count, word) {
  return `${count.toLocaleString()} ${word}${count === 1 ? "" : "s"}`;
}

export function ago(iso) {
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return "just now";
  const steps = [
    [60, "minute"],
    [24, "hour"],
    [7, "day"],
    [52, "week"],
  ];
  let value = seconds / 60;
  for (const [size, unit] of steps) {
    if (value < size) return `${plural(Math.floor(value), unit)} ago`;
    value /= size;
  }
  return `${plural(Math.floor(value), "year")} ago`;
}

// crypto.randomUUID() exists only in secure contexts; getRandomValues works everywhere.
export function uuid4() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function loginUrl() {
  return `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
}

// --- the API ------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function cookie(name) {
  const prefix = `${name}=`;
  for (const part of document.cookie.split(";")) {
    const item = part.trim();
    if (item.startsWith(prefix)) return decodeURIComponent(item.slice(prefix.length));
  }
  return "";
}

export async function csrfToken() {
  let token = cookie("csrftoken");
  if (!token) {
    await fetch("/api/auth/csrf", { credentials: "same-origin" });
    token = cookie("csrftoken");
  }
  return token;
}

export async function api(path, { method = "GET", json, form } = {}) {
  const headers = { Accept: "application/json" };
  let payload;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(json);
  } else if (form !== undefined) {
    payload = form; // the browser sets the multipart boundary itself
  }
  if (!["GET", "HEAD"].includes(method)) headers["X-CSRFToken"] = await csrfToken();
  const response = await fetch(`/api${path}`, {
    method,
    headers,
    body: payload,
    credentials: "same-origin",
  });
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message || response.statusText || "request failed",
    );
  }
  return data;
}

export function query(params) {
  const pairs = Object.entries(params).filter(([, v]) => v !== null && v !== undefined && v !== "");
  return pairs.length ? `?${new URLSearchParams(pairs)}` : "";
}

// A keyset list with a "Load more" button: `fetchPage(cursor)` returns {items, next_cursor}.
export function pager({ button, fetchPage, render, onEmpty }) {
  let cursor = null;
  let loaded = 0;
  async function next() {
    button.disabled = true;
    // Invisible while the page lands above it: a button pushed down by new items on screen
    // would count as a layout shift; one that reappears in its new place does not.
    button.classList.add("loading");
    try {
      const data = await fetchPage(cursor);
      data.items.forEach(render);
      loaded += data.items.length;
      cursor = data.next_cursor;
      button.hidden = !cursor;
      if (!loaded && onEmpty) onEmpty();
      return data;
    } finally {
      button.disabled = false;
      button.classList.remove("loading");
    }
  }
  button.addEventListener("click", () => next().catch(reportError));
  return next;
}

// Infinite scroll for a list's pager: the next page loads whenever the "Load more" button is
// on screen, and again while it still is (the button stays, for keyboards and for when the
// observer is not told). Feeds preload further ahead with render.js's autoLoad.
export function loadWhileShown(button, next) {
  let busy = false;
  const fill = async () => {
    if (busy) return;
    busy = true;
    try {
      while (!button.hidden && button.getBoundingClientRect().top < innerHeight) await next();
    } catch (error) {
      reportError(error);
    } finally {
      busy = false;
    }
  };
  new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && fill()).observe(button);
}

export function reportError(error) {
  if (error instanceof ApiError && error.status === 401) {
    if (!body.dataset.leaving) location.assign(loginUrl()); // not while signing out
    return;
  }
  flash(error.message || "Something went wrong.");
}

export async function openRoom(usernames) {
  const room = await api("/chat/rooms", { method: "POST", json: { users: usernames } });
  location.assign(`/inbox/${room.id}`);
}
