// The notifications page: newest first with infinite scroll; opening it marks them read, and
// new ones arrive live at the top (the socket's notification.new names one; the page reads
// the newest page again, so what it shows is what the API lets this user see).
import { $, ago, api, el, loadWhileShown, pager, query, reportError } from "../core.js";
import { avatar, excerpt, userLink } from "../render.js";
import { userSocket } from "../socket.js";

const SAID = {
  like: () => "liked your post.",
  comment: (n) => `commented: ${excerpt(n.text, 80)}`,
  mention: (n) => `mentioned you: ${excerpt(n.text, 80)}`,
  follow: () => "started following you.",
  follow_request: () => "requested to follow you.",
  share: () => "sent you a post.",
};

function decision(n) {
  const box = el("div", { class: "decide" });
  const decide = (verdict, done) => async () => {
    const buttons = [...box.querySelectorAll("button")];
    buttons.forEach((b) => (b.disabled = true));
    try {
      await api(`/me/follow-requests/${encodeURIComponent(n.actor.username)}/${verdict}`, { method: "POST" });
      box.replaceChildren(el("span", { class: "muted" }, done));
    } catch (error) {
      buttons.forEach((b) => (b.disabled = false));
      reportError(error);
    }
  };
  box.append(
    el("button", { type: "button", class: "button small", onclick: decide("approve", "Approved") }, "Approve"),
    el("button", { type: "button", class: "button secondary small", onclick: decide("decline", "Declined") }, "Decline"),
  );
  return box;
}

function item(n) {
  const post = n.post
    ? el(
        "a",
        { class: "thumb", href: `/p/${n.post.id}`, "aria-label": "View post" },
        n.post.thumb_url ? el("img", { src: n.post.thumb_url, alt: "", loading: "lazy" }) : null,
      )
    : null;
  return el(
    "li",
    { class: `notification${n.read ? "" : " unread"}`, "data-id": n.id, "data-verb": n.verb },
    el("a", { href: `/u/${encodeURIComponent(n.actor.username)}`, tabindex: "-1", "aria-hidden": "true" }, avatar(n.actor)),
    el(
      "p",
      { class: "what" },
      userLink(n.actor, { class: "actor" }),
      " ",
      (SAID[n.verb] || (() => ""))(n),
      " ",
      el("time", { datetime: n.created_at }, ago(n.created_at)),
    ),
    n.request_pending ? decision(n) : post,
  );
}

export async function notifications() {
  const list = $("#notifications");
  const empty = $(".empty");
  const button = $('[data-action="more"]');
  const newest = () => Number(list.firstElementChild?.dataset.id || 0);
  const markRead = () => newest() && api("/notifications/read", { method: "POST", json: { up_to: newest() } });
  const next = pager({
    button,
    fetchPage: (cursor) => api(`/notifications${query({ cursor })}`),
    render: (n) => list.append(item(n)),
    onEmpty: () => {
      empty.hidden = false;
    },
  });
  // One refresh at a time: a burst of frames must not add the same notification twice.
  let chain = Promise.resolve();
  const fresh = () => {
    chain = chain
      .then(async () => {
        const top = newest();
        const page = await api("/notifications");
        const added = page.items.filter((n) => n.id > top);
        if (!added.length) return;
        empty.hidden = true;
        list.prepend(...added.map(item));
        await markRead();
      })
      .catch(reportError);
  };
  userSocket({
    onFrame: (frame) => frame.type === "notification.new" && fresh(),
    onReconnect: fresh,
  });
  await next();
  await markRead();
  loadWhileShown(button, next);
}
