// The inbox and a chat room, live over the user socket.
import { $, api, ago, body, el, flash, openRoom, pager, query, reportError, showFormError, uuid4, viewer } from "../core.js";
import { avatar, excerpt } from "../render.js";
import { userSocket } from "../socket.js";

function roomTitle(room) {
  if (room.title) return room.title;
  const others = room.members.filter((m) => m.username !== viewer).map((m) => m.username);
  return others.join(", ") || "Just you";
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

export const inbox = () => {
  const rooms = $("#rooms");
  const roomItem = (room) => {
    const others = room.members.filter((m) => m.username !== viewer);
    const other = others[0] || room.members[0] || { username: "?" };
    const online = others.some((m) => m.online);
    const presence = presenceLine(room, others);
    const last = room.last_message;
    // The members listed are the others: a last message from none of them is mine.
    const mine = last && !others.some((m) => m.id === last.sender_id);
    const said = last && last.kind === "post" ? `Shared a post${last.text ? `: ${last.text}` : ""}` : last && last.text;
    const preview = last ? `${mine ? "You: " : ""}${said}` : "No messages yet";
    return el(
      "li",
      { "data-room-id": room.id, class: room.unread ? "unread-room" : null },
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
      // A new message, or a room read on another tab: order and unread counts change.
      if (frame.type !== "message.new" && frame.type !== "read") return;
      clearTimeout(pending);
      pending = setTimeout(() => reload().catch(reportError), 300);
    },
    onStatus: () => {},
    lastSeen: () => 0,
  });
  return reload();
};

// A time divider goes between messages further apart than this, as in Instagram.
const GAP_MS = 15 * 60 * 1000;
const CLOCK = { hour: "numeric", minute: "2-digit" };

// "14:05" today, "Yesterday 14:05", "Mon 14:05" this week, else "Nov 3, 14:05".
function stamp(date) {
  const now = new Date();
  const days = Math.round((new Date(now.toDateString()) - new Date(date.toDateString())) / 864e5);
  if (days < 1) return date.toLocaleTimeString([], CLOCK);
  if (days < 2) return `Yesterday ${date.toLocaleTimeString([], CLOCK)}`;
  if (days < 7) return date.toLocaleString([], { weekday: "short", ...CLOCK });
  const year = date.getFullYear() === now.getFullYear() ? undefined : "numeric";
  return date.toLocaleString([], { month: "short", day: "numeric", year, ...CLOCK });
}

// A shared post as its recipient may see it: author, square thumbnail, caption excerpt.
function sharedPost(post) {
  if (!post || !post.available) return el("p", { class: "shared unavailable" }, "This post is unavailable");
  const author = post.author.username;
  return el(
    "a",
    { class: "shared", href: `/p/${post.id}` },
    el("span", { class: "shared-head" }, avatar(post.author), el("span", { class: "shared-author" }, author)),
    post.thumb_url
      ? el("img", { src: post.thumb_url, alt: `Post by @${author}`, width: "320", height: "320", loading: "lazy" })
      : null,
    post.caption ? el("span", { class: "shared-caption" }, el("b", {}, author), " ", excerpt(post.caption, 90)) : null,
  );
}

export const room = async () => {
  const roomId = Number(body.dataset.room);
  const list = $("#messages");
  const status = $('[data-role="status"]');
  const typingLine = $(".typing");
  const byClientId = new Map();
  // Read marks (user id → message id) from the history and `read` frames; the viewer's own
  // (their other tabs') are left out when "Seen" is drawn.
  const marks = new Map();
  const names = new Map(); // the other members' usernames, for "Seen by" in a group
  const seen = el("span", { class: "seen" });
  let me = 0; // the viewer's id, learnt from their own messages
  let group = false;
  let lastId = 0;
  let typingTimer = null;

  const messageNode = (message, pending = false) => {
    const mine = message.sender.username === viewer;
    if (mine && message.sender.id) me = message.sender.id;
    const at = message.created_at ? new Date(message.created_at) : new Date();
    return el(
      "li",
      {
        class: `message${mine ? " mine" : ""}${pending ? " pending" : ""}`,
        "data-message-id": message.id || "",
        "data-at": at.getTime(),
        title: at.toLocaleString(),
      },
      mine ? null : el("span", { class: "who" }, message.sender.username),
      message.kind === "post" ? sharedPost(message.post) : null,
      message.text ? el("span", { class: "bubble" }, message.text) : null,
    );
  };

  // Dividers where messages are more than GAP_MS apart (and above the first), changed only
  // where needed: the list is a live region.
  const dividers = () => {
    let previous = 0;
    for (const node of list.querySelectorAll(".message")) {
      const at = Number(node.dataset.at);
      const before = node.previousElementSibling;
      const has = before && before.classList.contains("divider");
      if (at - previous > GAP_MS && !has) {
        node.before(el("li", { class: "divider" }, el("time", { datetime: new Date(at).toISOString() }, stamp(new Date(at)))));
      } else if (at - previous <= GAP_MS && has) {
        before.remove();
      }
      previous = at;
    }
  };

  // "Seen" under the last of my messages another member has read (in a group: by whom).
  const showSeen = () => {
    const others = [...marks].filter(([user]) => user !== me);
    const furthest = Math.max(0, ...others.map(([, message]) => message));
    let target = null;
    for (const node of list.querySelectorAll(".message.mine")) {
      const id = Number(node.dataset.messageId);
      if (id && id <= furthest) target = node;
    }
    if (!target) return seen.remove();
    const readers = others.filter(([, message]) => message >= Number(target.dataset.messageId));
    const who = readers.map(([user]) => names.get(user)).filter(Boolean);
    seen.textContent = group && who.length ? `Seen by ${who.join(", ")}` : "Seen";
    if (seen.parentNode !== target) target.append(seen);
  };
  const relayout = () => {
    dividers();
    showSeen();
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
    relayout();
    return node;
  };

  // Title and members from the inbox (the room is nearly always on its first page).
  api("/chat/rooms?limit=50")
    .then((data) => {
      const room = data.items.find((r) => r.id === roomId);
      if (room) {
        $('[data-role="title"]').textContent = roomTitle(room);
        document.title = `${roomTitle(room)} · instalab`;
        group = room.kind === "group";
        room.members.forEach((m) => names.set(m.id, m.username));
        showSeen();
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
    for (const read of data.reads) marks.set(read.user, Math.max(marks.get(read.user) || 0, read.message));
    cursor = data.next_cursor;
    older.hidden = !cursor;
    relayout();
  };
  older.addEventListener("click", () => loadOlder().catch(reportError));
  await loadOlder();
  scrollDown();

  let socket = null;
  const markRead = () => {
    if (lastId && socket) socket.send({ type: "read", room: roomId, message: lastId });
  };
  socket = userSocket({
    lastSeen: () => lastId,
    onStatus: (state) => {
      status.textContent = state;
      body.dataset.socket = state;
      if (state === "live") markRead();
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
          node.dataset.at = new Date(frame.created_at).getTime();
          node.title = new Date(frame.created_at).toLocaleString();
          relayout();
        }
      } else if (frame.type === "read") {
        marks.set(frame.user, Math.max(marks.get(frame.user) || 0, frame.message));
        showSeen();
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

  markRead(); // when the socket is already open; else once it is ("live")

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
    relayout();
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
