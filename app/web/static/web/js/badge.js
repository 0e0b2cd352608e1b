// An unread count on a top-bar link, live: the Messages badge (unread.js) and the
// Notifications badge (notify.js). The link reads "Messages, 2 unread": its name comes from
// its text, the badge's number with hidden words around it (99+ past 99). The count is asked
// again when one of `frames` arrives, on this tab or another, and after a reconnect, since
// frames sent while the socket was down are not replayed.
import { $, el, viewer } from "./core.js";
import { userSocket } from "./socket.js";

// A burst of frames (a message, then this tab's read mark for it) costs one request.
const SETTLE_MS = 300;

// `name`: the badge's data-badge; `fetchCount()`: the count from the API; `announce(count,
// shown)`: what a change tells screen readers, politely (nothing when it returns ""). The
// count a page opens with is not announced.
export async function liveBadge({ name, fetchCount, frames, announce }) {
  const badge = $(`[data-badge="${name}"]`);
  if (!viewer || !badge) return;
  const news = el("span", { class: "visually-hidden", role: "status" });
  badge.closest("a").after(news);
  let shown = null;
  const show = (count) => {
    const hide = (text) => el("span", { class: "visually-hidden" }, text);
    badge.replaceChildren(hide(", "), count > 99 ? "99+" : String(count), hide(" unread"));
    badge.hidden = !count;
    const said = shown === null ? "" : announce(count, shown);
    if (said) news.textContent = said;
    shown = count;
  };
  const refresh = async () => show(await fetchCount());
  let pending = null;
  const soon = () => {
    clearTimeout(pending);
    pending = setTimeout(() => refresh().catch((error) => console.warn(`${name} count`, error)), SETTLE_MS);
  };
  userSocket({
    onFrame: (frame) => {
      if (frames.includes(frame.type)) soon();
    },
    onReconnect: soon,
  });
  await refresh();
}
