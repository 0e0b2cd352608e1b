// The unread count on the Notifications link of every signed-in page (GET
// /api/notifications/unread), asked again when a notification arrives or is read, on this
// tab or another (the socket sends notification.new and notification.read).
import { api } from "./core.js";
import { liveBadge } from "./badge.js";

export async function start() {
  // The first count failing leaves the badge hidden, not the page broken.
  await liveBadge({
    name: "notifications",
    // The server counts up to 100.
    fetchCount: async () => (await api("/notifications/unread")).count,
    frames: ["notification.new", "notification.read"],
    // Only new ones are announced.
    announce: (count, shown) => (count > shown ? `Notifications, ${count} unread` : ""),
  }).catch((error) => console.warn("notification count", error));
}
