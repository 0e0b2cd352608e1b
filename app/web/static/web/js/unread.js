// The unread count on the Messages link of every signed-in page: how many rooms have unread
// messages (GET /api/chat/unread, no SQL when cached), asked again after a message arrives or
// a room is read, on this tab or another (the socket sends both).
import { api } from "./core.js";
import { liveBadge } from "./badge.js";

export function start() {
  return liveBadge({
    name: "messages",
    fetchCount: async () => (await api("/chat/unread")).rooms,
    frames: ["message.new", "read"],
    // Any change is announced, down to none.
    announce: (count, shown) => (count === shown ? "" : count ? `Messages, ${count} unread` : "No unread messages"),
  });
}
