// A profile: header with counts and buttons, the grid.
import { $, ApiError, api, body, el, loginUrl, openRoom, query, reportError, viewer } from "../core.js";
import { gridPager } from "../render.js";

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

export const profile = async () => {
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
  const profile = await refreshHeader();
  const hidden = profile.is_private && !profile.viewer_follows && profile.username !== viewer;
  if (hidden) {
    const empty = $(".empty");
    empty.textContent = "This account is private. Follow to see their photos.";
    empty.hidden = false;
    $('[data-action="more"]').hidden = true;
    return;
  }
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
