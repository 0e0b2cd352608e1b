// The account pages: edit profile (name, bio, photo, privacy), follow requests, and the
// follower and following lists.
import { $, ApiError, api, body, el, loadWhileShown, loginUrl, pager, query, reportError, showFormError, viewer } from "../core.js";
import { avatar, userLink } from "../render.js";
import { followButton, followState, noun, userPath } from "./profile.js";

const chars = (text) => Array.from(text).length; // the API counts code points, not UTF-16 units

function confirm(form, message) {
  const box = $(".form-ok", form);
  box.textContent = message;
  box.hidden = !message;
}

export const account_edit = async () => {
  const form = $("#profile-form");
  const [me, limits] = await Promise.all([api("/me"), api("/me/limits")]);
  const { name, bio, is_private: privacy } = form.elements;
  const photo = $("#avatar-file");
  const remove = $('[data-action="remove-avatar"]');
  const counter = $("#bio-count");
  const showAvatar = (user) => {
    $(".avatar-row .avatar").replaceWith(avatar(user, "medium"));
    remove.hidden = !user.avatar_url;
  };
  const count = () => {
    const used = chars(bio.value);
    counter.textContent = `${used} / ${limits.bio_max}`;
    counter.classList.toggle("over", used > limits.bio_max);
  };
  name.value = me.name;
  bio.value = me.bio;
  privacy.checked = me.is_private;
  const megabytes = Math.floor(limits.avatar_max_bytes / 1048576);
  photo.accept = limits.avatar_types.join(",");
  $(".avatar-hint").textContent = `${limits.avatar_types.map((t) => t.split("/")[1].toUpperCase()).join(", ")}, up to ${megabytes} MB`;
  showAvatar(me);
  count();
  bio.addEventListener("input", count);

  // Every change reports in the form: a confirmation, or the API's reason in the alert line.
  const run = async (work, done) => {
    showFormError(form, "");
    confirm(form, "");
    try {
      await work();
      confirm(form, done);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return reportError(error);
      showFormError(form, error.message);
    }
  };
  photo.addEventListener("change", () => {
    const [file] = photo.files;
    photo.value = "";
    if (!file) return;
    if (file.size > limits.avatar_max_bytes) {
      return showFormError(form, `That photo is over ${megabytes} MB.`);
    }
    const data = new FormData();
    data.append("image", file);
    run(async () => showAvatar(await api("/me/avatar", { method: "POST", form: data })), "Profile photo updated.");
  });
  remove.addEventListener("click", () =>
    run(async () => showAvatar(await api("/me/avatar", { method: "DELETE" })), "Profile photo removed."),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (chars(name.value) > limits.name_max || chars(bio.value) > limits.bio_max) {
      return showFormError(form, `Names have at most ${limits.name_max} characters, bios ${limits.bio_max}.`);
    }
    const button = $("button[type=submit]", form);
    button.disabled = true;
    const json = { name: name.value, bio: bio.value, is_private: privacy.checked };
    run(() => api("/me", { method: "PATCH", json }), "Profile saved.").finally(() => {
      button.disabled = false;
    });
  });
};

// A person in a list: avatar, username and name, and what the viewer can do about them.
function personRow(user, ...actions) {
  return el(
    "li",
    { class: "person", "data-username": user.username },
    avatar(user),
    el("div", { class: "who" }, userLink(user, { class: "username" }), user.name ? el("span", { class: "muted" }, user.name) : null),
    el("div", { class: "row-actions" }, actions),
  );
}

function listPager(path, render, emptyText) {
  const list = $(".people");
  const empty = $(".empty");
  return pager({
    button: $('[data-action="more"]'),
    fetchPage: (cursor) => api(`${path}${query({ cursor })}`),
    render: (item) => list.append(render(item)),
    onEmpty: () => {
      empty.textContent = emptyText;
      empty.hidden = false;
    },
  });
}

export const follow_requests = async () => {
  const decide = (row, user, verdict, done) => async () => {
    const buttons = [...row.querySelectorAll("button")];
    buttons.forEach((b) => (b.disabled = true));
    try {
      await api(`/me/follow-requests/${encodeURIComponent(user.username)}/${verdict}`, { method: "POST" });
      $(".row-actions", row).replaceChildren(el("span", { class: "muted" }, done));
    } catch (error) {
      buttons.forEach((b) => (b.disabled = false));
      reportError(error);
    }
  };
  const render = ({ user }) => {
    const approve = el("button", { type: "button", class: "button small" }, "Approve");
    const decline = el("button", { type: "button", class: "button secondary small" }, "Decline");
    const row = personRow(user, approve, decline);
    approve.addEventListener("click", decide(row, user, "approve", "Approved: now follows you"));
    decline.addEventListener("click", decide(row, user, "decline", "Declined"));
    return row;
  };
  await listPager("/me/follow-requests", render, "No pending follow requests.")();
};

function showPrivate() {
  const empty = $(".empty");
  empty.textContent = "This account is private. Follow to see who they follow and who follows them.";
  empty.hidden = false;
}

export const follow_list = async () => {
  const { username, side } = body.dataset;
  const owner = await api(userPath(username));
  const count = side === "followers" ? owner.follower_count : owner.following_count;
  $(".list-count").textContent = side === "followers" ? `${count.toLocaleString()} ${noun(count, "follower")}` : `${count.toLocaleString()} following`;
  // Asked first rather than read from the lists' 404, which the browser would log as an error.
  if (owner.is_private && !owner.viewer_follows && username !== viewer) return showPrivate();
  const render = (user) => {
    if (user.username === viewer) return personRow(user);
    if (!viewer) return personRow(user, el("a", { class: "button small", href: loginUrl() }, "Follow"));
    return personRow(user, followButton(user.username, followState(user)));
  };
  const next = listPager(`${userPath(username)}/${side}`, render, side === "followers" ? "No followers yet." : "Not following anyone yet.");
  try {
    await next();
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
    return showPrivate(); // turned private (or unfollowed) since the header was read
  }
  loadWhileShown($('[data-action="more"]'), next);
};
