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

export const room = async () => {
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
