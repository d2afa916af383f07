// Home page: the live room list (room_list subscription) and the create-room form.
// User text (room names) is only ever set with textContent.

import { loadProtocol } from "./wire.js";
import { Connection, describeFailure } from "./connection.js";

const root = document.getElementById("lobby");
const listElement = document.getElementById("room-list");
const emptyElement = document.getElementById("room-list-empty");
const statusElement = document.getElementById("lobby-status");
const moreElement = document.getElementById("room-list-more");
const searchElement = document.getElementById("room-search");
const rooms = new Map(); // id -> RoomSummary
// The server's bound on the list: the main lobby and the busiest rooms. Deltas are about
// every listed room, so the page keeps to the bound and to its search itself.
const limit = Number(root.dataset.roomListLimit) || 100;
let query = "";
let connection = null;

function roomUrl(name) {
  return root.dataset.roomUrl.replace(/lobby$/, encodeURIComponent(name));
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function byBusiest(a, b) {
  return (
    Number(b.name === "lobby") - Number(a.name === "lobby") ||
    b.member_count - a.member_count ||
    a.name.localeCompare(b.name)
  );
}

function matches(room) {
  return !query || room.name.toLowerCase().includes(query.toLowerCase());
}

function renderRooms() {
  const sorted = [...rooms.values()].sort(byBusiest);
  listElement.replaceChildren(
    ...sorted.map((room) => {
      const item = element("li", "room-item");
      item.dataset.roomId = room.id;
      item.dataset.roomName = room.name;
      const link = element("a", "room-link");
      link.href = roomUrl(room.name);
      const swatch = element("span", "swatch");
      swatch.setAttribute("aria-hidden", "true");
      if (/^#[0-9a-f]{6}$/i.test(room.color)) swatch.style.setProperty("--swatch", room.color);
      const name = element("span", "room-name", room.name);
      link.append(swatch, name);
      if (room.is_lobby) link.append(element("span", "badge", "lobby"));
      if (room.has_password) {
        const lock = element("span", "lock");
        lock.title = "Password protected";
        lock.append(element("span", "visually-hidden", "password"));
        link.append(lock);
      }
      const full = room.max_members && room.member_count >= room.max_members;
      const count = element(
        "span",
        full ? "room-count full" : "room-count",
        `${room.member_count} / ${room.max_members}`,
      );
      count.title = full ? "Full" : "Players";
      link.append(count);
      item.append(link);
      return item;
    }),
  );
  emptyElement.hidden = rooms.size > 0;
  listElement.dataset.count = String(rooms.size);
}

function applyRoomList(list) {
  if (list.full) {
    rooms.clear();
    moreElement.hidden = !list.truncated;
  }
  for (const room of list.rooms) {
    if (list.full || rooms.has(room.id) || matches(room)) rooms.set(room.id, room);
  }
  for (const id of list.removed_room_ids) rooms.delete(id);
  if (rooms.size > limit) {
    // Keep the busiest: the quietest rooms fall off the end, as on the server.
    const kept = [...rooms.values()].sort(byBusiest).slice(0, limit);
    rooms.clear();
    for (const room of kept) rooms.set(room.id, room);
    moreElement.hidden = false;
  }
  renderRooms();
}

function subscribe() {
  if (connection) connection.send({ room_list: { subscribe: true, query } });
}

let searchTimer = 0;
if (searchElement) {
  searchElement.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      query = searchElement.value.trim();
      subscribe();
    }, 250);
  });
}

async function startLiveList() {
  let protocol;
  try {
    protocol = await loadProtocol(root.dataset.protoUrl);
  } catch (error) {
    statusElement.textContent = describeFailure(error);
    return;
  }
  connection = new Connection(protocol, {
    status: (state, text) => {
      statusElement.textContent = state === "online" ? "Live" : text;
      statusElement.dataset.state = state;
    },
    welcome: subscribe,
    message: (kind, body) => {
      if (kind === "room_list") applyRoomList(body);
    },
    final: (text) => {
      statusElement.textContent = text;
    },
  });
  connection.open();
}

// --- Create a room (REST API, session auth + CSRF) -----------------------------------------

const form = document.getElementById("create-room");

function showFormErrors(body) {
  const errorBox = document.getElementById("create-error");
  for (const node of form.querySelectorAll("[data-error-for]")) {
    node.hidden = true;
    node.textContent = "";
  }
  const fields = { ...((body && body.fields) || {}) };
  // Errors of the settings arrive nested: {"settings": {"max_members": [...]}}.
  if (fields.settings && !Array.isArray(fields.settings)) {
    Object.assign(fields, fields.settings);
    delete fields.settings;
  }
  let placed = false;
  for (const [key, messages] of Object.entries(fields)) {
    const node = form.querySelector(`[data-error-for="${CSS.escape(key)}"]`);
    if (node) {
      node.textContent = [].concat(messages).join(" ");
      node.hidden = false;
      placed = true;
    }
  }
  const message = (body && body.message) || "The room could not be created.";
  errorBox.textContent = placed ? "Please fix the marked fields." : message;
  errorBox.hidden = false;
}

async function createRoom(event) {
  event.preventDefault();
  const data = new FormData(form);
  const settings = {
    max_members: Number(data.get("max_members")) || 20,
    is_public: data.has("is_public"),
    allow_guests: data.has("allow_guests"),
    chat_enabled: data.has("chat_enabled"),
    only_owner_can_play: data.has("only_owner_can_play"),
    unlimited_notes: data.has("unlimited_notes"),
  };
  if (data.get("password")) settings.password = data.get("password");
  const name = String(data.get("name") || "").trim();
  if (!name) {
    showFormErrors({ fields: { name: ["Give the room a name."] } });
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const response = await fetch("/api/v1/rooms/", {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": data.get("csrfmiddlewaretoken"),
      },
      body: JSON.stringify({ name, settings }),
    });
    const body = await response.json().catch(() => null);
    if (response.status === 201) {
      location.assign(roomUrl(body.name));
      return;
    }
    showFormErrors(body);
  } catch (error) {
    showFormErrors({ message: "The server could not be reached. Try again." });
  } finally {
    button.disabled = false;
  }
}

if (form) form.addEventListener("submit", createRoom);
startLiveList();
