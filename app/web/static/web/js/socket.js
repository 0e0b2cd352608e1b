// The one per-user WebSocket at <body data-ws>, shared by every part of the page: chat, the
// unread badges, notifications and the live feed each subscribe to the frames they want.
// It reconnects with backoff (1 s doubling to 15 s) and asks for what it missed with `sync`.
import { body, loginUrl } from "./core.js";

// The heartbeat that keeps this user "online" for others (the server's presence TTL is 60 s).
const PING_MS = 25000;

const listeners = new Set();
let socket = null;
let lastSeenOf = () => 0;
let opened = false;

function announce(kind, value) {
  for (const listener of listeners) {
    const handler = listener[kind];
    if (handler) handler(value);
  }
}

function connect() {
  let delay = 1000;
  let heartbeat = null;
  const open = () => {
    const current = new WebSocket(body.dataset.ws);
    socket = current;
    announce("onStatus", "connecting");
    current.addEventListener("open", () => {
      delay = 1000;
      announce("onStatus", "live");
      // Frames sent while it was down are not replayed (chat asks with `sync`, below): each
      // listener catches up on its own.
      if (opened) announce("onReconnect");
      opened = true;
      const since = lastSeenOf();
      if (since) current.send(JSON.stringify({ type: "sync", since }));
      heartbeat = setInterval(() => current.send(JSON.stringify({ type: "ping" })), PING_MS);
    });
    current.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (error) {
        console.warn("a socket frame that is not JSON was dropped", error);
        return;
      }
      if (frame.type !== "pong") announce("onFrame", frame);
    });
    current.addEventListener("close", (event) => {
      clearInterval(heartbeat);
      if (event.code === 4401) {
        if (!body.dataset.leaving) location.assign(loginUrl());
        return;
      }
      announce("onStatus", "offline");
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 15000);
    });
  };
  open();
}

// Subscribe to the user's socket, opening it on first use. `onReconnect` is called when it is
// open again after a drop; `lastSeen` (the chat room gives one) is the message id a reconnect
// syncs from.
export function userSocket({ onFrame, onStatus, onReconnect, lastSeen } = {}) {
  listeners.add({ onFrame, onStatus, onReconnect });
  if (lastSeen) lastSeenOf = lastSeen;
  if (!socket && body.dataset.ws) connect();
  else if (onStatus && socket) onStatus(socket.readyState === WebSocket.OPEN ? "live" : "connecting");
  return {
    send(frame) {
      if (socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify(frame));
        return true;
      }
      return false;
    },
  };
}
