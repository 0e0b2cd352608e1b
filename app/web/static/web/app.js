// instalab's browser app: the server renders page shells, and this module fills them from the
// JSON API. Each page's code is its own ES module under js/pages/, loaded only on that page;
// js/core.js (API client, DOM helpers) and js/socket.js (the per-user WebSocket) are shared.
// No dependencies, no build step.
import { ApiError, api, body, flash, reportError } from "./js/core.js";

// <body data-page> → the module that starts it (each exports one function per page name).
const PAGES = {
  login: "auth",
  signup: "auth",
  home: "home",
  post: "post",
  profile: "profile",
  upload: "upload",
  search: "search",
  hashtag: "tags",
  place: "tags",
  inbox: "chat",
  room: "chat",
  explore: "explore",
  notifications: "notifications",
  account_edit: "account",
  follow_requests: "account",
  follow_list: "account",
};

// What every page has around it: the top-bar typeahead, and for a signed-in user the live
// badges on Messages and Notifications. Each part is its own module; one failing to start
// costs that part only.
const SHELL = ["./js/topbar.js", "./js/unread.js", "./js/notify.js"];

async function shell() {
  for (const path of SHELL) {
    try {
      const module = await import(path);
      await module.start();
    } catch (error) {
      console.warn(`${path} did not start`, error);
    }
  }
}

document.addEventListener("click", async (event) => {
  const target = event.target.closest('[data-action="logout"]');
  if (!target) return;
  // Signing out closes the user's socket (4401) and fails background requests (401): those
  // must not send the page to "log in and come back here" while it is leaving for /login.
  body.dataset.leaving = "true";
  try {
    await api("/auth/logout", { method: "POST" });
  } finally {
    location.assign("/login");
  }
});

async function boot() {
  const name = body.dataset.page;
  try {
    if (PAGES[name]) {
      const module = await import(`./js/pages/${PAGES[name]}.js`);
      await module[name]();
    }
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      flash("Sorry, this page isn't available.");
    } else {
      reportError(error);
    }
  } finally {
    await shell();
    body.dataset.ready = "true"; // browser tests wait for this
  }
}

boot();
