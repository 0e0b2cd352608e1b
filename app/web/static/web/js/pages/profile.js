// A profile: header with counts and buttons, and the grid of the Posts or (own) Saved tab.
import { $, ApiError, api, body, el, loginUrl, openRoom, query, reportError, viewer } from "../core.js";
import { gridPager } from "../render.js";

export const userPath = (username) => `/users/${encodeURIComponent(username)}`;
export const noun = (count, word) => (count === 1 ? word : `${word}s`);

// The viewer's relation to an account as POST/DELETE .../follow name it.
export const followState = (user) =>
  user.viewer_follows ? "following" : user.viewer_requested ? "requested" : "not_following";

// Follow / Following / Requested: a click follows (or asks to) or undoes it.
export function followButton(username, state, { followsViewer = false, onChange } = {}) {
  const button = el("button", { type: "button", "data-action": "follow" });
  const show = (now) => {
    state = now;
    const labels = { following: "Following", requested: "Requested" };
    button.textContent = labels[now] || (followsViewer ? "Follow back" : "Follow");
    button.className = now === "not_following" ? "button small" : "button secondary small";
  };
  show(state);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const method = state === "not_following" ? "POST" : "DELETE";
      show((await api(`${userPath(username)}/follow`, { method })).status);
      if (onChange) await onChange();
    } catch (error) {
      reportError(error);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

// Counts with their singular or plural word; the lists link only when the viewer may open them.
function showCounts(profile, listsVisible) {
  for (const node of document.querySelectorAll("[data-count]")) {
    const count = profile[node.dataset.count];
    node.textContent = count.toLocaleString();
    const word = $("[data-noun]", node.parentElement);
    if (word) word.textContent = noun(count, word.dataset.noun);
  }
  for (const link of document.querySelectorAll("[data-list]")) {
    if (listsVisible) link.href = `/u/${encodeURIComponent(profile.username)}/${link.dataset.list}`;
    else link.removeAttribute("href");
  }
}

async function ownActions(profile) {
  const actions = [el("a", { class: "button secondary small", href: "/accounts/edit" }, "Edit profile")];
  if (profile.is_private) {
    const pending = await api(`/me/follow-requests${query({ limit: 50 })}`);
    const count = pending.next_cursor ? "50+" : pending.items.length;
    if (count) actions.push(el("a", { class: "button small", href: "/accounts/requests" }, `Follow requests (${count})`));
  }
  return actions;
}

function showPrivate() {
  const empty = $(".empty");
  empty.textContent = "This account is private. Follow to see their photos.";
  empty.hidden = false;
  $('[data-action="more"]').hidden = true;
}

export const profile = async () => {
  const username = body.dataset.username;
  const own = username === viewer;
  const actions = $(".profile-actions");
  const refreshHeader = async () => {
    const profile = await api(userPath(username));
    const visible = !profile.is_private || own || profile.viewer_follows;
    showCounts(profile, visible);
    if (own) {
      actions.replaceChildren(...(await ownActions(profile)));
    } else if (viewer) {
      const follow = followButton(username, followState(profile), {
        followsViewer: profile.follows_viewer,
        onChange: refreshHeader,
      });
      const message = el("button", { type: "button", class: "button secondary small" }, "Message");
      message.addEventListener("click", () => openRoom([username]).catch(reportError));
      actions.replaceChildren(follow, message);
    } else {
      actions.replaceChildren(el("a", { class: "button small", href: loginUrl() }, "Follow"));
    }
    return visible;
  };
  if (!(await refreshHeader())) return showPrivate();
  const saved = body.dataset.tab === "saved";
  const more = gridPager(
    (cursor) => api(`${saved ? "/me/saved" : `${userPath(username)}/posts`}${query({ cursor, limit: 12 })}`),
    saved ? "Save photos you want to see again: tap the bookmark under a post." : "No posts yet.",
  );
  try {
    await more();
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
    showPrivate();
  }
};
