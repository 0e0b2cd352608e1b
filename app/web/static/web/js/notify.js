// The unread count on the Notifications link of every signed-in page (GET
// /api/notifications/unread), asked again when a notification arrives or is read, on this
// tab or another (the socket sends notification.new and notification.read), and after a
// reconnect, since frames sent while the socket was down are not replayed.
import { $, api, el, viewer } from "./core.js";
import { userSocket } from "./socket.js";

// A burst of frames (a notification, then the open notifications page marking it read)
// costs one request.
const SETTLE_MS = 300;

export async function start() {
  const badge = $('[data-badge="notifications"]');
  if (!viewer || !badge) return;
  const news = el("span", { class: "visually-hidden", role: "status" });
  badge.closest("a").after(news);
  let shown = null;
  const show = (count) => {
    // The link reads "Notifications, 3 unread"; the server counts up to 100.
    const hide = (text) => el("span", { class: "visually-hidden" }, text);
    badge.replaceChildren(hide(", "), count > 99 ? "99+" : String(count), hide(" unread"));
    badge.hidden = !count;
    if (shown !== null && count > shown) news.textContent = `Notifications, ${count} unread`;
    shown = count;
  };
  const refresh = () =>
    api("/notifications/unread")
      .then((body) => show(body.count))
      .catch((error) => console.warn("notification count", error));
  let pending = null;
  const soon = () => {
    clearTimeout(pending);
    pending = setTimeout(refresh, SETTLE_MS);
  };
  let dropped = false;
  userSocket({
    onFrame: (frame) => {
      if (frame.type === "notification.new" || frame.type === "notification.read") soon();
    },
    onStatus: (status) => {
      if (status === "offline") dropped = true;
      if (status === "live" && dropped) {
        dropped = false;
        soon();
      }
    },
  });
  await refresh();
}
