// Renderers shared by the pages: icons, avatars, post cards, grid tiles.
import { $, api, ago, el, loginUrl, pager, plural, reportError, viewer } from "./core.js";

// --- shared renderers ---------------------------------------------------------------------

// Inline SVG icons: no icon font, no emoji font needed on the reader's machine.
export const ICONS = {
  heart:
    "M12 20.5s-7.6-4.7-9.4-9.2C1.3 8 3.1 4.5 6.7 4.5c2.3 0 3.7 1.3 5.3 3.2 1.6-1.9 3-3.2 5.3-3.2 3.6 0 5.4 3.5 4.1 6.8-1.8 4.5-9.4 9.2-9.4 9.2z",
  comment: "M20.5 11.5a8.5 8.5 0 0 1-12.4 7.6L3.5 20.5l1.4-4.4A8.5 8.5 0 1 1 20.5 11.5z",
  bookmark: "M6 3.5h12v17l-6-5-6 5z",
  send: "M21.5 2.5 10.2 13.8M21.5 2.5l-7 19-4.3-7.7L2.5 9.5z",
  prev: "M14.5 5.5 8 12l6.5 6.5",
  next: "M9.5 5.5 16 12l-6.5 6.5",
  photos: "M8 3.5h12.5V16M3.5 8h12.5v12.5H3.5z",
};

export function icon(name, filled = false) {
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

export function avatar(user, size = "") {
  const initial = (user.username || "?").slice(0, 1).toUpperCase();
  const node = el("span", { class: `avatar ${size}`.trim(), "data-initial": initial });
  if (user.avatar_url) node.append(el("img", { src: user.avatar_url, alt: "" }));
  return node;
}

export function userLink(user, extra = {}) {
  return el("a", { href: `/u/${encodeURIComponent(user.username)}`, ...extra }, user.username);
}

// Hashtags and mentions become links; entity offsets count Unicode code points.
export function captionNodes(text, entities) {
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

export function commentItem(comment) {
  return el(
    "li",
    { class: "comment", "data-comment-id": comment.id },
    userLink(comment.author, { class: "author" }),
    comment.text,
  );
}

export function excerpt(text, size = 80) {
  const chars = Array.from(text || "");
  return chars.length > size ? `${chars.slice(0, size).join("")}…` : chars.join("");
}

export function imageAlt(post, index, total) {
  const which = total > 1 ? ` ${index + 1} of ${total}` : "";
  const caption = excerpt(post.caption);
  return `Photo${which} by @${post.author.username}${caption ? `: ${caption}` : ""}`;
}

export function likeButton(post, countNode) {
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

export function saveButton(post) {
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

// Follow from a card or a suggestion list: Follow, then Following (or Requested for a
// private account); a second press takes it back.
export function followButton(username) {
  const labels = { following: "Following", requested: "Requested" };
  let status = "not_following";
  const button = el("button", { type: "button", class: "link-button follow" }, "Follow");
  button.addEventListener("click", async () => {
    if (!viewer) return location.assign(loginUrl());
    button.disabled = true;
    try {
      const method = status === "not_following" ? "POST" : "DELETE";
      ({ status } = await api(`/users/${encodeURIComponent(username)}/follow`, { method }));
      button.textContent = labels[status] || "Follow";
      button.classList.toggle("done", status !== "not_following");
    } catch (error) {
      reportError(error);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

export function commentForm(post, list) {
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

// Instagram's rule for a post's photo box: the first photo's shape, kept between 4:5
// (portrait) and 1.91:1 (landscape). A photo within those bounds shows whole, uncropped; one
// beyond them is cropped to fill the box. The box's ratio is set before any photo loads, so
// nothing below it moves.
const RATIO_MIN = 4 / 5;
const RATIO_MAX = 1.91;
const ratioOf = (image) => image.width / image.height;

function postMedia(post, likeButton) {
  const { images } = post;
  const box = el("div", { class: "post-media" });
  box.style.aspectRatio = String(Math.min(RATIO_MAX, Math.max(RATIO_MIN, ratioOf(images[0]))));
  const slides = el(
    "div",
    { class: "slides" },
    images.map((image, index) => {
      const ratio = ratioOf(image);
      return el("img", {
        src: image.url,
        alt: image.alt_text || imageAlt(post, index, images.length),
        width: String(image.width),
        height: String(image.height),
        class: ratio < RATIO_MIN || ratio > RATIO_MAX ? "cover" : null,
        loading: "lazy",
        decoding: "async",
      });
    }),
  );
  box.append(slides);
  if (images.length > 1) carousel(box, slides, images.length);
  // Double-tap likes (never unlikes), through the like button itself.
  box.addEventListener("dblclick", (event) => {
    if (event.target.closest("button")) return;
    const heart = el("span", { class: "burst", "aria-hidden": "true" }, icon("heart", true));
    heart.addEventListener("animationend", () => heart.remove());
    box.append(heart);
    if (likeButton.getAttribute("aria-pressed") !== "true") likeButton.click();
  });
  return box;
}

// Swipe is the browser's own scroll-snap; arrows, dots and the keyboard move the same scroller.
function carousel(box, slides, count) {
  let index = 0;
  const arrow = (name, label) =>
    el("button", { type: "button", class: `slide-arrow ${name}`, "aria-label": label }, icon(name));
  const prev = arrow("prev", "Previous photo");
  const next = arrow("next", "Next photo");
  const dots = el("div", { class: "dots", "aria-hidden": "true" }, Array.from({ length: count }, () => el("span")));
  const show = (to) => {
    const target = Math.min(count - 1, Math.max(0, to));
    const behavior = matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth";
    slides.scrollTo({ left: target * slides.clientWidth, behavior });
  };
  const update = () => {
    index = slides.clientWidth ? Math.round(slides.scrollLeft / slides.clientWidth) : 0;
    prev.hidden = index === 0;
    next.hidden = index === count - 1;
    [...dots.children].forEach((dot, i) => dot.classList.toggle("on", i === index));
    slides.setAttribute("aria-label", `Photo ${index + 1} of ${count}`);
  };
  slides.tabIndex = 0;
  slides.setAttribute("role", "group");
  slides.setAttribute("aria-roledescription", "carousel");
  slides.addEventListener("scroll", update, { passive: true });
  slides.addEventListener("keydown", (event) => {
    const step = { ArrowLeft: -1, ArrowRight: 1 }[event.key];
    if (!step) return;
    event.preventDefault();
    show(index + step);
  });
  prev.addEventListener("click", () => show(index - 1));
  next.addEventListener("click", () => show(index + 1));
  box.append(prev, next, dots);
  update();
}

function postHead(post) {
  const recommended = post.reason === "recommended" && post.author.username !== viewer;
  const place = post.place
    ? el("a", { class: "place", href: `/places/${post.place.id}` }, post.place.name)
    : null;
  return el(
    "header",
    { class: "post-head" },
    avatar(post.author),
    el("div", {}, userLink(post.author), recommended ? el("span", { class: "reason" }, "Suggested for you") : place),
    recommended && viewer ? followButton(post.author.username) : null,
  );
}

// "Send" opens the DM share dialog, loaded only when asked for.
async function share(post) {
  try {
    await (await import("./share.js")).openShare(post);
  } catch (error) {
    reportError(error);
  }
}

export function postCard(post, { full = false } = {}) {
  const likeCount = el("span", { "data-role": "like-count" }, plural(post.like_count, "like"));
  const comments = el("ul", { class: "comments" });
  const postUrl = `/p/${post.id}`;
  const like = likeButton(post, likeCount);
  const card = el(
    "article",
    { class: "post-card", "data-post-id": post.id, "aria-label": `Post by @${post.author.username}` },
    postHead(post),
    post.images.length ? postMedia(post, like) : null,
  );
  const actions = el(
    "div",
    { class: "post-actions" },
    like,
    el("a", { class: "icon-button", href: postUrl, "aria-label": "Comments" }, icon("comment")),
    viewer ? el("button", { type: "button", class: "icon-button", "aria-label": "Send", onclick: () => share(post) }, icon("send")) : null,
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

export function tile(post) {
  const thumb = post.thumb_url ?? (post.images && post.images[0] && post.images[0].thumb_url);
  const count = post.images ? post.images.length : 1;
  const photos = count > 1 ? ` (${count} photos)` : "";
  const label = `Post by @${post.author.username}${photos}${post.caption ? `: ${excerpt(post.caption)}` : ""}`;
  return el(
    "a",
    { class: "tile", href: `/p/${post.id}`, "data-post-id": post.id },
    thumb ? el("img", { src: thumb, alt: label, loading: "lazy" }) : el("span", { class: "visually-hidden" }, label),
    count > 1 ? el("span", { class: "multi", "aria-hidden": "true" }, icon("photos")) : null,
    el(
      "span",
      { class: "stats", "aria-hidden": "true" },
      el("span", {}, icon("heart", true), ` ${post.like_count}`),
      el("span", {}, icon("comment", true), ` ${post.comment_count}`),
    ),
  );
}

// Infinite scroll over a pager's "Load more" button (which stays, for keyboards): the next
// page loads once a sentinel before the button comes within a screen of view, and again while
// it still is. The pager disables the button while a page loads and hides it after the last.
export function autoLoad(next, button) {
  const sentinel = el("div", { class: "sentinel", "aria-hidden": "true" });
  button.before(sentinel);
  const near = () => sentinel.getBoundingClientRect().top < innerHeight * 2;
  const load = async () => {
    while (!button.hidden && !button.disabled && near()) await next();
  };
  new IntersectionObserver(
    (entries) => entries[0].isIntersecting && load().catch(reportError),
    { rootMargin: "100% 0px" },
  ).observe(sentinel);
}

// A grid of tiles with "Load more" and an empty message.
export function gridPager(fetchPage, emptyText) {
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
