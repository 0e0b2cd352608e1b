// The unread count on the Messages link of every signed-in page: how many rooms have unread
// messages (GET /api/chat/unread, no SQL when cached), asked again after a message arrives or
// a room is read, on this tab or another (the socket sends both).
import { $, api, el, viewer } from "./core.js";
import { userSocket } from "./socket.js";

// A burst of frames (a message, then this tab's read mark for it) costs one request.
const SETTLE_MS = 300;

export async function start() {
  const badge = $('[data-badge="messages"]');
  if (!viewer || !badge) return;
  const news = el("span", { class: "visually-hidden", role: "status" });
  badge.closest("a").after(news);
  let shown = null;
  const show = (count) => {
    // The link reads "Messages, 2 unread": its name comes from its text, the badge's number
    // with hidden words around it.
    const hide = (text) => el("span", { class: "visually-hidden" }, text);
    badge.replaceChildren(hide(", "), count > 99 ? "99+" : String(count), hide(" unread"));
    badge.hidden = !count;
    // Changes are announced politely; the count a page opens with is not.
    if (shown !== null && count !== shown) news.textContent = count ? `Messages, ${count} unread` : "No unread messages";
    shown = count;
  };
  const refresh = async () => show((await api("/chat/unread")).rooms);
  let pending = null;
  userSocket({
    onFrame: (frame) => {
      if (frame.type !== "message.new" && frame.type !== "read") return;
      clearTimeout(pending);
      pending = setTimeout(() => refresh().catch((error) => console.warn("unread count", error)), SETTLE_MS);
    },
  });
  await refresh();
}
