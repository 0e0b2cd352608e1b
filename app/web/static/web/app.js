// instalab's one browser module: fills the server-rendered page shells from the JSON API.
// Session cookie + CSRF header on unsafe requests (never bearer tokens in the browser);
// chat over the per-user WebSocket at <body data-ws>. No dependencies, no build step.

const body = document.body;
const viewer = body.dataset.viewer || "";

// --- DOM helpers --------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
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

const $ = (selector, root = document) => root.querySelector(selector);

function flash(message) {
  const box = $(".flash");
  if (!box) return;
  box.textContent = message;
  box.hidden = !message;
}

function showFormError(form, message) {
  const box = $(".form-error", form.closest("section") || form);
  if (box) {
    box.textContent = message || "";
    box.hidden = !message;
  } else if (message) {
    flash(message);
  }
}

function plural(count, word) {
  return `${count.toLocaleString()} ${word}${count === 1 ? "" : "s"}`;
}

function ago(iso) {
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
function uuid4() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function loginUrl() {
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

function cookie(name) {
  const prefix = `${name}=`;
  for (const part of document.cookie.split(";")) {
    const item = part.trim();
    if (item.startsWith(prefix)) return decodeURIComponent(item.slice(prefix.length));
  }
  return "";
}

async function csrfToken() {
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

function query(params) {
  const pairs = Object.entries(params).filter(([, v]) => v !== null && v !== undefined && v !== "");
  return pairs.length ? `?${new URLSearchParams(pairs)}` : "";
}

// A keyset list with a "Load more" button: `fetchPage(cursor)` returns {items, next_cursor}.
function pager({ button, fetchPage, render, onEmpty }) {
  let cursor = null;
  let loaded = 0;
  async function next() {
    button.disabled = true;
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
    }
  }
  button.addEventListener("click", () => next().catch(reportError));
  return next;
}

function reportError(error) {
  if (error instanceof ApiError && error.status === 401) {
    location.assign(loginUrl());
    return;
  }
  flash(error.message || "Something went wrong.");
}

// --- shared renderers ---------------------------------------------------------------------

// Inline SVG icons: no icon font, no emoji font needed on the reader's machine.
const ICONS = {
  heart:
    "M12 20.5s-7.6-4.7-9.4-9.2C1.3 8 3.1 4.5 6.7 4.5c2.3 0 3.7 1.3 5.3 3.2 1.6-1.9 3-3.2 5.3-3.2 3.6 0 5.4 3.5 4.1 6.8-1.8 4.5-9.4 9.2-9.4 9.2z",
  comment: "M20.5 11.5a8.5 8.5 0 0 1-12.4 7.6L3.5 20.5l1.4-4.4A8.5 8.5 0 1 1 20.5 11.5z",
  bookmark: "M6 3.5h12v17l-6-5-6 5z",
};

function icon(name, filled = false) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "24");
  svg.setAttribute("height", "24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name]);
  path.setAttribute("fill", filled ? "currentColor" : "none");
  path.setAttribute("stroke", "currentColor");
  path.setAttribute("stroke-width", "1.8");
  path.setAttribute("stroke-linejoin", "round");
  svg.append(path);
  return svg;
}

function avatar(user, size = "") {
  const initial = (user.username || "?").slice(0, 1).toUpperCase();
  const node = el("span", { class: `avatar ${size}`.trim(), "data-initial": initial });
  if (user.avatar_url) node.append(el("img", { src: user.avatar_url, alt: "" }));
  return node;
}

function userLink(user, extra = {}) {
  return el("a", { href: `/u/${encodeURIComponent(user.username)}`, ...extra }, user.username);
}

// Hashtags and mentions become links; entity offsets count Unicode code points.
function captionNodes(text, entities) {
  const chars = Array.from(text);
  const nodes = [];
  let at = 0;
  for (const entity of [...(entities || [])].sort((a, b) => a.start - b.start)) {
    if (entity.start < at) continue;
    nodes.push(chars.slice(at, entity.start).join(""));
    const label = chars.slice(entity.start, entity.end).join("");
    const href =
      entity.type === "hashtag"
        ? `/tags/${encodeURIComponent(entity.text)}`
        : `/u/${encodeURIComponent(entity.text)}`;
    nodes.push(el("a", { href }, label));
    at = entity.end;
  }
  nodes.push(chars.slice(at).join(""));
  return nodes;
}

function commentItem(comment) {
  return el(
    "li",
    { class: "comment", "data-comment-id": comment.id },
    userLink(comment.author, { class: "author" }),
    comment.text,
  );
}

function excerpt(text, size = 80) {
  const chars = Array.from(text || "");
  return chars.length > size ? `${chars.slice(0, size).join("")}…` : chars.join("");
}

function imageAlt(post, index, total) {
  const which = total > 1 ? ` ${index + 1} of ${total}` : "";
  const caption = excerpt(post.caption);
  return `Photo${which} by @${post.author.username}${caption ? `: ${caption}` : ""}`;
}

function likeButton(post, countNode) {
  const button = el("button", {
    type: "button",
    class: "icon-button like",
    "aria-pressed": String(post.viewer_has_liked),
    "aria-label": "Like",
  });
  button.append(icon("heart", post.viewer_has_liked));
  button.addEventListener("click", async () => {
    if (!viewer) return location.assign(loginUrl());
    const liked = button.getAttribute("aria-pressed") === "true";
    button.disabled = true;
    try {
      const state = await api(`/posts/${post.id}/like`, { method: liked ? "DELETE" : "POST" });
      button.setAttribute("aria-pressed", String(state.liked));
      button.replaceChildren(icon("heart", state.liked));
      countNode.textContent = plural(state.like_count, "like");
    } catch (error) {
      reportError(error);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

function saveButton(post) {
  const button = el("button", {
    type: "button",
    class: "icon-button save",
    "aria-pressed": String(post.viewer_has_saved),
    "aria-label": "Save",
  });
  button.append(icon("bookmark", post.viewer_has_saved));
  button.addEventListener("click", async () => {
    if (!viewer) return location.assign(loginUrl());
    const saved = button.getAttribute("aria-pressed") === "true";
    try {
      const state = await api(`/posts/${post.id}/save`, { method: saved ? "DELETE" : "POST" });
      button.setAttribute("aria-pressed", String(state.saved));
      button.replaceChildren(icon("bookmark", state.saved));
    } catch (error) {
      reportError(error);
    }
  });
  return button;
}

function commentForm(post, list) {
  const id = `comment-${post.id}`;
  const input = el("input", {
    id,
    name: "text",
    placeholder: "Add a comment…",
    maxlength: "2200",
    autocomplete: "off",
    required: true,
  });
  const form = el(
    "form",
    { class: "comment-form" },
    el("label", { class: "visually-hidden", for: id }, "Add a comment"),
    input,
    el("button", { type: "submit", class: "button" }, "Post"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    try {
      const comment = await api(`/posts/${post.id}/comments`, { method: "POST", json: { text } });
      list.append(commentItem(comment));
      input.value = "";
    } catch (error) {
      reportError(error);
    }
  });
  return form;
}

function postCard(post, { full = false } = {}) {
  const likeCount = el("span", { "data-role": "like-count" }, plural(post.like_count, "like"));
  const comments = el("ul", { class: "comments" });
  const postUrl = `/p/${post.id}`;
  const place = post.place
    ? el("a", { class: "place", href: `/places/${post.place.id}` }, post.place.name)
    : null;
  const card = el(
    "article",
    { class: "post-card", "data-post-id": post.id, "aria-label": `Post by @${post.author.username}` },
    el(
      "header",
      { class: "post-head" },
      avatar(post.author),
      el("div", {}, userLink(post.author), place),
    ),
    el(
      "div",
      { class: "post-media" },
      post.images.map((image, index) =>
        el("img", {
          src: image.url,
          alt: imageAlt(post, index, post.images.length),
          width: String(image.width),
          height: String(image.height),
          loading: "lazy",
        }),
      ),
    ),
  );
  const actions = el(
    "div",
    { class: "post-actions" },
    likeButton(post, likeCount),
    el("a", { class: "icon-button", href: postUrl, "aria-label": "Comments" }, icon("comment")),
    el("span", { class: "spacer" }),
    saveButton(post),
  );
  const caption = post.caption
    ? el(
        "p",
        { class: "caption" },
        userLink(post.author, { class: "author" }),
        captionNodes(post.caption, post.caption_entities),
      )
    : null;
  const section = el(
    "div",
    { class: "post-body" },
    actions,
    el("p", { class: "likes" }, likeCount),
    caption,
  );
  if (!full && post.comment_count > post.comments_preview.length) {
    section.append(
      el("a", { class: "muted", href: postUrl }, `View all ${plural(post.comment_count, "comment")}`),
    );
  }
  section.append(comments);
  if (!full) [...post.comments_preview].reverse().forEach((c) => comments.append(commentItem(c)));
  section.append(
    el("a", { class: "time", href: postUrl }, el("time", { datetime: post.created_at }, ago(post.created_at))),
  );
  card.append(section);
  if (viewer) card.append(commentForm(post, comments));
  return { card, comments };
}

function tile(post) {
  const thumb = post.thumb_url ?? (post.images && post.images[0] && post.images[0].thumb_url);
  const label = `Post by @${post.author.username}${post.caption ? `: ${excerpt(post.caption)}` : ""}`;
  return el(
    "a",
    { class: "tile", href: `/p/${post.id}`, "data-post-id": post.id },
    thumb ? el("img", { src: thumb, alt: label, loading: "lazy" }) : el("span", { class: "visually-hidden" }, label),
    el(
      "span",
      { class: "stats", "aria-hidden": "true" },
      el("span", {}, icon("heart", true), ` ${post.like_count}`),
      el("span", {}, icon("comment", true), ` ${post.comment_count}`),
    ),
  );
}

// A grid of tiles with "Load more" and an empty message.
function gridPager(fetchPage, emptyText) {
  const grid = $("#grid");
  const empty = $(".empty");
  return pager({
    button: $('[data-action="more"]'),
    fetchPage,
    render: (post) => grid.append(tile(post)),
    onEmpty: () => {
      empty.textContent = emptyText;
      empty.hidden = false;
    },
  });
}

// --- pages --------------------------------------------------------------------------------

const pages = {};

function authForm(formId, path, fields) {
  const form = $(formId);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const payload = Object.fromEntries(fields.map((name) => [name, String(data.get(name) || "").trim()]));
    if (fields.some((name) => !payload[name])) {
      showFormError(form, "Fill in every field.");
      return;
    }
    const button = $("button[type=submit]", form);
    button.disabled = true;
    try {
      await api(path, { method: "POST", json: payload });
      location.assign(body.dataset.next || "/");
    } catch (error) {
      showFormError(form, error.message);
      button.disabled = false;
    }
  });
}

pages.login = () => authForm("#login-form", "/auth/login", ["username", "password"]);
pages.signup = () => authForm("#signup-form", "/auth/signup", ["email", "username", "password"]);

pages.home = () => {
  const feed = $("#feed");
  const more = pager({
    button: $('[data-action="more"]'),
    fetchPage: (cursor) => api(`/feed${query({ cursor, limit: 10 })}`),
    render: (post) => feed.append(postCard(post).card),
    onEmpty: () => {
      $(".empty").hidden = false;
    },
  });
  return more();
};

pages.post = async () => {
  const holder = $("#post");
  const postId = body.dataset.post;
  const post = await api(`/posts/${postId}`);
  const { card, comments } = postCard(post, { full: true });
  holder.append(card);
  const olderButton = el("button", { type: "button", class: "link-button muted", hidden: true }, "Load more comments");
  comments.before(olderButton);
  const loadComments = pager({
    button: olderButton,
    fetchPage: (cursor) => api(`/posts/${postId}/comments${query({ cursor })}`),
    render: (comment) => comments.append(commentItem(comment)),
  });
  if (post.author.username === viewer) {
    const remove = el("button", { type: "button", class: "button secondary small" }, "Delete");
    remove.addEventListener("click", async () => {
      if (!confirm("Delete this post?")) return;
      try {
        await api(`/posts/${postId}`, { method: "DELETE" });
        location.assign(`/u/${encodeURIComponent(viewer)}`);
      } catch (error) {
        reportError(error);
      }
    });
    $(".post-head", card).append(el("span", { class: "spacer", style: "flex:1" }), remove);
  }
  return loadComments();
};

function followButton(profile, refresh) {
  let label = profile.follows_viewer ? "Follow back" : "Follow";
  let following = false;
  if (profile.viewer_follows) {
    label = "Following";
    following = true;
  } else if (profile.viewer_requested) {
    label = "Requested";
    following = true;
  }
  const button = el(
    "button",
    { type: "button", class: following ? "button secondary small" : "button small", "data-action": "follow" },
    label,
  );
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const path = `/users/${encodeURIComponent(profile.username)}/follow`;
      await api(path, { method: following ? "DELETE" : "POST" });
      await refresh();
    } catch (error) {
      reportError(error);
      button.disabled = false;
    }
  });
  return button;
}

async function openRoom(usernames) {
  const room = await api("/chat/rooms", { method: "POST", json: { users: usernames } });
  location.assign(`/inbox/${room.id}`);
}

pages.profile = async () => {
  const username = body.dataset.username;
  const actions = $(".profile-actions");
  const refreshHeader = async () => {
    const profile = await api(`/users/${encodeURIComponent(username)}`);
    for (const node of document.querySelectorAll("[data-count]")) {
      node.textContent = profile[node.dataset.count].toLocaleString();
    }
    actions.replaceChildren();
    if (profile.username === viewer) {
      actions.append(el("a", { class: "button secondary small", href: "/upload" }, "New post"));
    } else if (viewer) {
      actions.append(followButton(profile, refreshHeader));
      const message = el("button", { type: "button", class: "button secondary small" }, "Message");
      message.addEventListener("click", () => openRoom([profile.username]).catch(reportError));
      actions.append(message);
    } else {
      actions.append(el("a", { class: "button small", href: loginUrl() }, "Follow"));
    }
    return profile;
  };
  await refreshHeader();
  const more = gridPager((cursor) => api(`/users/${encodeURIComponent(username)}/posts${query({ cursor, limit: 12 })}`), "No posts yet.");
  try {
    await more();
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
    const empty = $(".empty");
    empty.textContent = "This account is private. Follow to see their photos.";
    empty.hidden = false;
  }
};

pages.upload = () => {
  const form = $("#upload-form");
  const input = $("#upload-images");
  const previews = $(".previews");
  input.addEventListener("change", () => {
    previews.replaceChildren(
      ...[...input.files].map((file) => el("img", { src: URL.createObjectURL(file), alt: `Preview of ${file.name}` })),
    );
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!input.files.length) {
      showFormError(form, "Choose at least one photo.");
      return;
    }
    const button = $("button[type=submit]", form);
    button.disabled = true;
    showFormError(form, "");
    try {
      const post = await api("/posts", { method: "POST", form: new FormData(form) });
      location.assign(`/p/${post.id}`);
    } catch (error) {
      showFormError(form, error.message);
      button.disabled = false;
    }
  });
};

function suggestionHref(item) {
  if (item.kind === "user") return `/u/${encodeURIComponent(item.text)}`;
  if (item.kind === "hashtag") return `/tags/${encodeURIComponent(item.text)}`;
  return `/places/${item.id}`;
}

function typeahead(input, list, onPick) {
  let timer = null;
  let active = -1;
  let seq = 0;
  const close = () => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };
  const highlight = (index) => {
    const options = [...list.children];
    options.forEach((node, i) => node.setAttribute("aria-selected", String(i === index)));
    active = index;
    if (options[index]) input.setAttribute("aria-activedescendant", options[index].id);
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    const text = input.value.trim();
    if (!text) return close();
    timer = setTimeout(async () => {
      const mine = ++seq;
      try {
        const data = await api(`/search/suggest${query({ q: text })}`);
        if (mine !== seq) return; // a later keystroke's answer wins
        // An answer that lands after the user picked an option keeps that option picked.
        const picked = active >= 0 ? list.children[active]?.querySelector("a")?.getAttribute("href") : null;
        list.replaceChildren(
          ...data.items.map((item, i) => {
            const label = item.kind === "hashtag" ? `#${item.text}` : item.text;
            const link = el(
              "a",
              { href: suggestionHref(item), tabindex: "-1" },
              item.kind === "user" ? avatar({ username: item.text, avatar_url: item.image_url }) : null,
              el("span", {}, label, " ", el("span", { class: "detail" }, item.detail || item.kind)),
            );
            link.addEventListener("click", () => onPick(item));
            return el("li", { id: `suggestion-${i}`, role: "option", "aria-selected": "false" }, link);
          }),
        );
        list.hidden = !data.items.length;
        input.setAttribute("aria-expanded", String(!list.hidden));
        active = -1;
        const again = [...list.children].findIndex((node) => node.querySelector("a")?.getAttribute("href") === picked);
        if (picked && again >= 0) highlight(again);
      } catch (error) {
        close();
      }
    }, 150);
  });
  input.addEventListener("keydown", (event) => {
    const count = list.hidden ? 0 : list.children.length;
    if (event.key === "ArrowDown" && count) {
      event.preventDefault();
      highlight((active + 1) % count);
    } else if (event.key === "ArrowUp" && count) {
      event.preventDefault();
      highlight((active - 1 + count) % count);
    } else if (event.key === "Enter" && active >= 0 && count) {
      event.preventDefault();
      $("a", list.children[active]).click();
    } else if (event.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 200));
}

function resultSection(title, items, render) {
  if (!items.length) return null;
  return el("section", {}, el("h2", {}, title), render(items));
}

function linkList(items, href, label, detail) {
  return el(
    "ul",
    { class: "result-list" },
    items.map((item) =>
      el("li", {}, el("a", { href: href(item) }, label(item), el("span", { class: "detail" }, detail(item)))),
    ),
  );
}

pages.search = () => {
  const form = $("#search-form");
  const input = $("#search-q");
  const results = $("#results");
  const record = (entry) => {
    if (viewer) api("/search/history", { method: "POST", json: entry }).catch(() => {});
  };
  typeahead(input, $("#suggestions"), (item) =>
    record({ query: input.value.trim() || item.text, kind: "click", target_type: item.kind, target_id: item.id }),
  );
  const run = async (q) => {
    results.replaceChildren(el("p", { class: "muted" }, "Searching…"));
    const data = await api(`/search${query({ q, type: "all" })}`);
    const sections = [
      resultSection("Accounts", data.users.items, (items) =>
        linkList(
          items,
          (u) => `/u/${encodeURIComponent(u.username)}`,
          (u) => [avatar(u), el("strong", {}, u.username)],
          (u) => `${u.name ? `${u.name} · ` : ""}${plural(u.follower_count, "follower")}`,
        ),
      ),
      resultSection("Hashtags", data.hashtags.items, (items) =>
        linkList(
          items,
          (h) => `/tags/${encodeURIComponent(h.name)}`,
          (h) => el("strong", {}, `#${h.name}`),
          (h) => plural(h.post_count, "post"),
        ),
      ),
      resultSection("Places", data.places.items, (items) =>
        linkList(
          items,
          (p) => `/places/${p.id}`,
          (p) => el("strong", {}, p.name),
          (p) => `${p.address} · ${plural(p.post_count, "post")}`,
        ),
      ),
      resultSection("Posts", data.posts.items, (items) => el("div", { class: "grid" }, items.map(tile))),
    ].filter(Boolean);
    results.replaceChildren(...(sections.length ? sections : [el("p", { class: "empty muted" }, `No results for “${q}”.`)]));
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    history.replaceState(null, "", `/search${query({ q })}`);
    record({ query: q, kind: "query" });
    run(q).catch(reportError);
  });
  if (input.value.trim()) return run(input.value.trim());
  return null;
};

function orderedGrid(path, header) {
  const tabs = [...document.querySelectorAll(".tab")];
  let order = "top";
  const load = async () => {
    $("#grid").replaceChildren();
    $(".empty").hidden = true;
    let first = true;
    const more = gridPager(async (cursor) => {
      const data = await api(`${path}${query({ order, cursor, limit: 12 })}`);
      if (first) header(data);
      first = false;
      return data;
    }, "No posts yet.");
    try {
      await more();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) throw error;
      const empty = $(".empty");
      empty.textContent = "Nothing here yet.";
      empty.hidden = false;
    }
  };
  for (const tab of tabs) {
    tab.addEventListener("click", () => {
      order = tab.dataset.order;
      tabs.forEach((t) => t.setAttribute("aria-pressed", String(t === tab)));
      // A fresh "Load more" button drops the old order's listener and cursor.
      const old = $('[data-action="more"]');
      old.replaceWith(old.cloneNode(true));
      load().catch(reportError);
    });
  }
  return load();
}

pages.hashtag = () =>
  orderedGrid(`/hashtags/${encodeURIComponent(body.dataset.hashtag)}`, (data) => {
    $('[data-role="summary"]').textContent = plural(data.hashtag.post_count, "post");
  });

pages.place = () =>
  orderedGrid(`/places/${body.dataset.place}`, (data) => {
    $('[data-role="title"]').textContent = data.place.name;
    document.title = `${data.place.name} · instalab`;
    $('[data-role="summary"]').textContent = `${data.place.address} · ${plural(data.place.post_count, "post")}`;
  });

// --- chat ---------------------------------------------------------------------------------

function roomTitle(room) {
  if (room.title) return room.title;
  const others = room.members.filter((m) => m.username !== viewer).map((m) => m.username);
  return others.join(", ") || "Just you";
}

// The heartbeat that keeps this user "online" for others (the server's presence TTL is 60 s).
const PING_MS = 25000;

// One socket per user; reconnects with backoff and replays what it missed via `sync`.
function userSocket({ onFrame, onStatus, lastSeen }) {
  let socket = null;
  let delay = 1000;
  let heartbeat = null;
  const connect = () => {
    socket = new WebSocket(body.dataset.ws);
    onStatus("connecting");
    socket.addEventListener("open", () => {
      delay = 1000;
      onStatus("live");
      const since = lastSeen();
      if (since) socket.send(JSON.stringify({ type: "sync", since }));
      const open = socket;
      heartbeat = setInterval(() => open.send(JSON.stringify({ type: "ping" })), PING_MS);
    });
    socket.addEventListener("message", (event) => {
      try {
        const frame = JSON.parse(event.data);
        if (frame.type !== "pong") onFrame(frame);
      } catch (error) {
        console.error(error);
      }
    });
    socket.addEventListener("close", (event) => {
      clearInterval(heartbeat);
      if (event.code === 4401) {
        location.assign(loginUrl());
        return;
      }
      onStatus("offline");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    });
  };
  connect();
  return {
    send(frame) {
      if (socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify(frame));
        return true;
      }
      return false;
    },
  };
}

// "online", "last seen …" for a DM's other member; "N online" for a group.
function presenceLine(room, others) {
  const online = others.filter((m) => m.online).length;
  if (room.kind === "group") return online ? `${online} online` : "";
  const [other] = others;
  if (!other) return "";
  if (other.online) return "online";
  return other.last_seen ? `last seen ${ago(other.last_seen)}` : "";
}

pages.inbox = () => {
  const rooms = $("#rooms");
  const roomItem = (room) => {
    const others = room.members.filter((m) => m.username !== viewer);
    const other = others[0] || room.members[0] || { username: "?" };
    const online = others.some((m) => m.online);
    const presence = presenceLine(room, others);
    const last = room.last_message;
    const preview = last ? (last.kind === "post" ? "Shared a post" : last.text) : "No messages yet";
    return el(
      "li",
      { "data-room-id": room.id },
      el(
        "a",
        { href: `/inbox/${room.id}` },
        el(
          "span",
          { class: "presence" },
          avatar(other),
          online ? el("span", { class: "online-dot", role: "img", "aria-label": "online" }) : null,
        ),
        el(
          "span",
          {},
          el("span", { class: "room-title" }, roomTitle(room)),
          presence ? el("span", { class: "muted presence-line" }, ` · ${presence}`) : null,
          el("br"),
          el("span", { class: "muted" }, excerpt(preview, 60), room.last_activity_at ? ` · ${ago(room.last_activity_at)}` : ""),
        ),
        room.unread ? el("span", { class: "unread", "aria-label": `${room.unread} unread` }, String(room.unread)) : null,
      ),
    );
  };
  const reload = () => {
    rooms.replaceChildren();
    $(".empty").hidden = true;
    const old = $('[data-action="more"]');
    old.replaceWith(old.cloneNode(true));
    const more = pager({
      button: $('[data-action="more"]'),
      fetchPage: (cursor) => api(`/chat/rooms${query({ cursor })}`),
      render: (room) => rooms.append(roomItem(room)),
      onEmpty: () => {
        $(".empty").hidden = false;
      },
    });
    return more();
  };
  const form = $("#new-room-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const users = $("#new-room-users")
      .value.split(",")
      .map((u) => u.trim().replace(/^@/, ""))
      .filter(Boolean);
    if (!users.length) return;
    openRoom(users).catch((error) => showFormError(form, error.message));
  });
  let pending = null;
  userSocket({
    onFrame: (frame) => {
      if (frame.type !== "message.new") return;
      clearTimeout(pending);
      pending = setTimeout(() => reload().catch(reportError), 300);
    },
    onStatus: () => {},
    lastSeen: () => 0,
  });
  return reload();
};

pages.room = async () => {
  const roomId = Number(body.dataset.room);
  const list = $("#messages");
  const status = $('[data-role="status"]');
  const typingLine = $(".typing");
  const byClientId = new Map();
  let lastId = 0;
  let typingTimer = null;

  const messageNode = (message, pending = false) => {
    const mine = message.sender.username === viewer;
    let content;
    if (message.kind === "post" && message.post) {
      const post = message.post;
      content = post.available
        ? el(
            "a",
            { class: "shared", href: `/p/${post.id}` },
            post.thumb_url ? el("img", { src: post.thumb_url, alt: `Post by @${post.author.username}` }) : null,
            el("span", {}, `@${post.author.username}: ${post.caption}`),
          )
        : el("em", {}, "This post is unavailable");
    }
    return el(
      "li",
      { class: `message${mine ? " mine" : ""}${pending ? " pending" : ""}`, "data-message-id": message.id || "" },
      mine ? null : el("span", { class: "who" }, message.sender.username),
      el("span", { class: "bubble" }, content || null, message.text ? (content ? ["\n", message.text] : message.text) : null),
    );
  };
  const scrollDown = () => {
    list.scrollTop = list.scrollHeight;
  };
  const place = (message) => {
    lastId = Math.max(lastId, message.id || 0);
    const known = byClientId.get(message.client_id);
    const node = messageNode(message);
    byClientId.set(message.client_id, node);
    if (known) known.replaceWith(node);
    else list.append(node);
    return node;
  };

  // Title from the inbox (the room is nearly always on its first page).
  api("/chat/rooms?limit=50")
    .then((data) => {
      const room = data.items.find((r) => r.id === roomId);
      if (room) {
        $('[data-role="title"]').textContent = roomTitle(room);
        document.title = `${roomTitle(room)} · instalab`;
      }
    })
    .catch(() => {});

  let cursor = null;
  const older = $('[data-action="older"]');
  const loadOlder = async () => {
    const data = await api(`/chat/rooms/${roomId}/messages${query({ cursor, limit: 30 })}`);
    const first = list.firstChild;
    for (const message of [...data.items].reverse()) {
      lastId = Math.max(lastId, message.id);
      if (byClientId.has(message.client_id)) continue;
      const node = messageNode(message);
      byClientId.set(message.client_id, node);
      list.insertBefore(node, first);
    }
    cursor = data.next_cursor;
    older.hidden = !cursor;
  };
  older.addEventListener("click", () => loadOlder().catch(reportError));
  await loadOlder();
  scrollDown();

  const markRead = () => {
    if (lastId) socket.send({ type: "read", room: roomId, message: lastId });
  };
  const socket = userSocket({
    lastSeen: () => lastId,
    onStatus: (state) => {
      status.textContent = state;
      body.dataset.socket = state;
    },
    onFrame: (frame) => {
      if (frame.room !== roomId) return;
      if (frame.type === "message.new") {
        place(frame);
        scrollDown();
        if (frame.sender.username !== viewer) {
          typingLine.textContent = "";
          markRead();
        }
      } else if (frame.type === "message.ack") {
        const node = byClientId.get(frame.client_id);
        if (node) {
          node.classList.remove("pending");
          node.dataset.messageId = frame.id;
        }
      } else if (frame.type === "typing" && frame.user.username !== viewer) {
        typingLine.textContent = `${frame.user.username} is typing…`;
        clearTimeout(typingTimer);
        typingTimer = setTimeout(() => {
          typingLine.textContent = "";
        }, 3000);
      } else if (frame.type === "error") {
        flash(frame.message);
      }
    },
  });

  const form = $("#message-form");
  const input = $("#message-text");
  let lastTyping = 0;
  input.addEventListener("input", () => {
    if (Date.now() - lastTyping > 3000) {
      lastTyping = Date.now();
      socket.send({ type: "typing", room: roomId });
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    const clientId = uuid4();
    const node = messageNode({ sender: { username: viewer }, kind: "text", text, client_id: clientId }, true);
    byClientId.set(clientId, node);
    list.append(node);
    scrollDown();
    input.value = "";
    const frame = { type: "message.send", room: roomId, client_id: clientId, text };
    if (socket.send(frame)) return;
    // No socket right now: the HTTP fallback delivers it the same way.
    try {
      place(await api(`/chat/rooms/${roomId}/messages`, { method: "POST", json: { client_id: clientId, text } }));
    } catch (error) {
      reportError(error);
    }
  });
};

// --- boot ---------------------------------------------------------------------------------

document.addEventListener("click", async (event) => {
  const target = event.target.closest('[data-action="logout"]');
  if (!target) return;
  try {
    await api("/auth/logout", { method: "POST" });
  } finally {
    location.assign("/login");
  }
});

async function boot() {
  const start = pages[body.dataset.page];
  try {
    if (start) await start();
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      flash("Sorry, this page isn't available.");
    } else {
      reportError(error);
    }
  } finally {
    body.dataset.ready = "true"; // browser tests wait for this
  }
}

boot();
