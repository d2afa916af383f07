// The room page: joins the room over the WebSocket and wires the keyboard, the synthesiser,
// the member list, chat, the owner's controls and the notices together.
// Everything players wrote (names, chat, room names) is set with textContent, never as HTML.

import { loadProtocol } from "./wire.js";
import { Connection, clientNow, describeFailure } from "./connection.js";
import { Synth } from "./audio.js";
import { Piano, connectMidi, noteName } from "./piano.js";

// Notes go out in batches: the first note of a batch starts a timer; the batch leaves when it
// fires (or at 300 events), as docs/protocol.md (noteBatch) asks: "every <= 200 ms, <= 300 events".
const FLUSH_MS = 100;
const MAX_BATCH = 300;
const MAX_DELAY_MS = 1000;
// Others' notes sound this long after they were played, so batching and network jitter do
// not break their rhythm (docs/protocol.md, Time sync and playing in time: start_time + delay_ms + a fixed playback delay).
const PLAYBACK_DELAY_MS = 250;
const NOTICE_MS = 6000;
const SELF = "self";

const page = document.getElementById("room");
const elements = {
  title: document.getElementById("room-title"),
  swatch: document.getElementById("room-swatch"),
  lock: document.getElementById("room-lock"),
  status: document.getElementById("conn-status"),
  piano: document.getElementById("piano"),
  pianoScroll: document.getElementById("piano-scroll"),
  members: document.getElementById("member-list"),
  memberCount: document.getElementById("member-count"),
  chatLog: document.getElementById("chat-log"),
  chatForm: document.getElementById("chat-form"),
  chatInput: document.getElementById("chat-input"),
  notices: document.getElementById("notices"),
  settingsButton: document.getElementById("settings-button"),
  octaveLabel: document.getElementById("octave-label"),
  sustainButton: document.getElementById("sustain-button"),
  labelsButton: document.getElementById("labels-button"),
  midiButton: document.getElementById("midi-button"),
  volume: document.getElementById("volume"),
  passwordDialog: document.getElementById("password-dialog"),
  passwordForm: document.getElementById("password-form"),
  passwordInput: document.getElementById("password-input"),
  passwordError: document.getElementById("password-error"),
  blocker: document.getElementById("blocker-dialog"),
  blockerHeading: document.getElementById("blocker-heading"),
  blockerMessage: document.getElementById("blocker-message"),
  blockerRetry: document.getElementById("blocker-retry"),
  memberDialog: document.getElementById("member-dialog"),
  memberName: document.getElementById("member-name"),
  memberReason: document.getElementById("member-reason"),
  memberDuration: document.getElementById("member-duration"),
  settingsDialog: document.getElementById("settings-dialog"),
  youButton: document.getElementById("you-button"),
  youDialog: document.getElementById("you-dialog"),
  youForm: document.getElementById("you-form"),
  youSave: document.getElementById("you-save"),
  settingsForm: document.getElementById("settings-form"),
  settingsError: document.getElementById("settings-error"),
  settingsSave: document.getElementById("settings-save"),
  offlineBanner: document.getElementById("offline-banner"),
  offlineText: document.getElementById("offline-text"),
  retryNow: document.getElementById("retry-now"),
  membersStale: document.getElementById("members-stale"),
};

const state = {
  protocol: null,
  connection: null,
  me: null, // UserInfo
  sessionId: "",
  room: null, // RoomInfo
  members: new Map(), // session_id -> Member
  password: "",
  joined: false,
  removed: false, // kicked, banned, closed: no automatic rejoin
  sustain: false,
  target: null, // the Member the member dialog is about
  quota: null,
  notesReceived: 0,
  lastNotice: new Map(),
  online: false,
  outage: false, // the connection was lost and the page shows it (not the first connecting)
  offlineNoticed: false, // told, once an outage, that notes are not heard while offline
  sentChat: "", // the last chat line sent: back in the input if the server refuses it
  settingsRefused: false, // an error answered the settings being saved
  youRefused: false, // an error answered a change of one's own name or colour
  // A guest's name and colour last as long as its socket (docs/protocol.md, "updateProfile"):
  // what it chose on this page, sent again on every new connection.
  guestProfile: null,
};

const synth = new Synth();

// --- small DOM helpers ---------------------------------------------------------------------

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function safeColour(colour, fallback = "#8a8f98") {
  return /^#[0-9a-f]{6}$/i.test(colour || "") ? colour : fallback;
}

function openDialog(dialog) {
  if (!dialog.open) dialog.showModal();
}

function closeDialog(dialog) {
  if (dialog.open) dialog.close();
}

function notice(text, kind = "info", key = text) {
  // One notice per kind of trouble: none while one with its key is still shown, and none
  // for a few seconds after, however often the server repeats it.
  const shown = [...elements.notices.children].find((node) => node.dataset.key === key);
  if (shown) {
    shown.firstElementChild.textContent = text;
    return;
  }
  const now = Date.now();
  if (now - (state.lastNotice.get(key) || 0) < 3000) return;
  state.lastNotice.set(key, now);
  const node = element("div", `notice notice-${kind}`);
  node.dataset.key = key;
  node.setAttribute("role", kind === "error" ? "alert" : "status");
  node.append(element("span", null, text));
  const close = element("button", "icon-button", "×");
  close.type = "button";
  close.setAttribute("aria-label", "Dismiss");
  close.addEventListener("click", () => node.remove());
  node.append(close);
  elements.notices.append(node);
  setTimeout(() => node.remove(), NOTICE_MS);
}

function block(heading, message, { retry = true } = {}) {
  elements.blockerHeading.textContent = heading;
  elements.blockerMessage.textContent = message;
  elements.blockerRetry.hidden = !retry;
  closeDialog(elements.passwordDialog);
  closeDialog(elements.memberDialog);
  closeDialog(elements.settingsDialog);
  openDialog(elements.blocker);
}

// --- who may do what (the server decides; this only shapes the page) ------------------------

function roleName(user) {
  return user ? state.protocol.enumName("Role", user.role) : "";
}

function isSiteModerator() {
  return ["MODERATOR", "ADMIN"].includes(roleName(state.me));
}

// The crown (room.owner_user_id) gives the owner's powers over players; the room itself
// (its settings) is its owner's (room.room_owner_user_id), or the crown holder's when it has
// no owner.
function isOwner() {
  return Boolean(state.room && state.me && state.room.owner_user_id === state.me.id);
}

function isRoomOwner() {
  return Boolean(state.room && state.me && state.room.room_owner_user_id === state.me.id);
}

function canModerate() {
  return isOwner() || isRoomOwner() || isSiteModerator();
}

function canChangeRoom() {
  if (isSiteModerator() || isRoomOwner()) return true;
  return isOwner() && !(state.room && state.room.room_owner_user_id);
}

function myMember() {
  return state.members.get(state.sessionId);
}

function playRefusal() {
  if (!state.joined) return "Not in a room.";
  const me = myMember();
  if (me && me.muted) return "You are muted in this room.";
  const settings = (state.room && state.room.settings) || {};
  if (settings.only_owner_can_play && !canModerate()) return "Only the owner plays in this room.";
  return "";
}

// --- sending notes --------------------------------------------------------------------------

const outgoing = { events: [], start: 0, timer: null };

// The client side of the server's token bucket: what would be dropped there is not sent.
function spendQuota() {
  const quota = state.quota;
  if (!quota || !quota.allowance) return true;
  const now = clientNow();
  const refill = ((now - quota.at) / quota.interval_ms) * quota.allowance;
  quota.tokens = Math.min(quota.max, quota.tokens + refill);
  quota.at = now;
  if (quota.tokens < 1) return false;
  quota.tokens -= 1;
  return true;
}

function flushNotes() {
  clearTimeout(outgoing.timer);
  outgoing.timer = null;
  if (!outgoing.events.length) return;
  state.connection.send({ note_batch: { start_time: outgoing.start, notes: outgoing.events } });
  outgoing.events = [];
}

function queueNote(typeName, key, velocity = 0) {
  if (!state.connection || !state.connection.isOpen || playRefusal()) return;
  if (typeName === "NOTE_ON" && !spendQuota()) {
    notice("You are playing too many notes; some are not heard by others.", "warn", "quota");
    return;
  }
  const now = state.connection.serverNow();
  if (outgoing.events.length && now - outgoing.start > MAX_DELAY_MS) flushNotes();
  if (!outgoing.events.length) {
    outgoing.start = now;
    outgoing.timer = setTimeout(flushNotes, FLUSH_MS);
  }
  outgoing.events.push({
    type: state.protocol.enumValue("NoteEventType", typeName),
    key,
    velocity,
    delay_ms: Math.max(0, Math.round(now - outgoing.start)),
  });
  if (outgoing.events.length >= MAX_BATCH) flushNotes();
}

// --- playing locally --------------------------------------------------------------------------

function myColour() {
  return safeColour(state.me && state.me.color, "#6ea8ff");
}

const local = {
  press(key, velocity) {
    if (key < 0 || key > 127) return;
    synth.noteOn(SELF, key, velocity);
    piano.light(key, myColour(), SELF);
    queueNote("NOTE_ON", key, Math.max(1, Math.min(127, velocity)));
    if (state.outage && !state.offlineNoticed) {
      state.offlineNoticed = true;
      const text = "You are offline: others do not hear your notes until the page reconnects.";
      notice(text, "warn", "offline");
    }
    const refusal = playRefusal();
    if (refusal && state.joined) notice(`${refusal} Others do not hear you.`, "warn", "refusal");
  },
  release(key) {
    synth.noteOff(SELF, key);
    piano.unlight(key, SELF);
    queueNote("NOTE_OFF", key);
  },
  sustain(down) {
    if (down === state.sustain) return;
    state.sustain = down;
    synth.setSustain(SELF, down);
    elements.sustainButton.setAttribute("aria-pressed", String(down));
    queueNote(down ? "SUSTAIN_ON" : "SUSTAIN_OFF", 0);
  },
  octave(base) {
    elements.octaveLabel.textContent = noteName(base);
    piano.reveal(elements.pianoScroll);
  },
};

const piano = new Piano(elements.piano, local);

// --- others' notes ----------------------------------------------------------------------------

function playRelayed(batch) {
  const member = state.members.get(batch.session_id);
  const colour = safeColour(member && member.user && member.user.color);
  const source = batch.session_id;
  const types = {
    on: state.protocol.enumValue("NoteEventType", "NOTE_ON"),
    off: state.protocol.enumValue("NoteEventType", "NOTE_OFF"),
    sustainOn: state.protocol.enumValue("NoteEventType", "SUSTAIN_ON"),
    sustainOff: state.protocol.enumValue("NoteEventType", "SUSTAIN_OFF"),
  };
  if (synth.context === null || synth.context.state !== "running") {
    notice("Click anywhere or press a key to hear the others.", "info", "sound");
  }
  for (const note of batch.notes) {
    // Server clock -> this page's clock, then -> the audio clock.
    const at = batch.start_time + note.delay_ms + PLAYBACK_DELAY_MS - state.connection.offset;
    const wait = Math.max(0, at - clientNow());
    const when = synth.context ? synth.timeAt(at) : 0;
    if (note.type === types.on) {
      state.notesReceived += 1;
      elements.piano.dataset.notesReceived = String(state.notesReceived);
      elements.piano.dataset.lastNote = String(note.key);
      if (synth.context) synth.noteOn(source, note.key, note.velocity || 64, when);
      setTimeout(() => piano.light(note.key, colour, source), wait);
    } else if (note.type === types.off) {
      if (synth.context) synth.noteOff(source, note.key, when);
      setTimeout(() => piano.unlight(note.key, source), wait);
    } else if (note.type === types.sustainOn || note.type === types.sustainOff) {
      const down = note.type === types.sustainOn;
      setTimeout(() => synth.setSustain(source, down, 0), wait);
    }
  }
}

// --- members ----------------------------------------------------------------------------------

function memberLabel(member) {
  const user = member.user || {};
  return user.display_name || user.username || "Someone";
}

function renderMembers() {
  const members = [...state.members.values()].sort(
    (a, b) => Number(b.is_owner) - Number(a.is_owner) || a.joined_at - b.joined_at,
  );
  const moderator = canModerate();
  elements.members.replaceChildren(
    ...members.map((member) => {
      const user = member.user || {};
      const item = element("li", "member");
      item.dataset.sessionId = member.session_id;
      item.dataset.userId = user.id || "";
      const swatch = element("span", "swatch");
      swatch.setAttribute("aria-hidden", "true");
      swatch.style.setProperty("--swatch", safeColour(user.color));
      const name = element("span", "member-name", memberLabel(member));
      name.title = user.username || "";
      item.append(swatch, name);
      const tags = element("span", "member-tags");
      if (member.session_id === state.sessionId) tags.append(element("span", "tag", "you"));
      if (member.is_owner) {
        const owns = state.room && user.id === state.room.room_owner_user_id;
        const crown = element("span", "tag tag-owner", owns ? "owner" : "crown");
        crown.title = owns ? "Owns this room" : "Holds the crown while the owner is away";
        tags.append(crown);
      }
      const role = roleName(user);
      if (role === "MODERATOR" || role === "ADMIN") {
        tags.append(element("span", "tag", role === "ADMIN" ? "admin" : "mod"));
      }
      if (user.is_guest) tags.append(element("span", "tag tag-quiet", "guest"));
      if (member.muted) {
        const muted = element("span", "tag tag-muted", "muted");
        muted.title = "Muted: cannot play or chat";
        tags.append(muted);
      }
      item.append(tags);
      if (moderator && state.me && user.id !== state.me.id) {
        const manage = element("button", "icon-button manage", "⋯");
        manage.type = "button";
        manage.setAttribute("aria-label", `Manage ${memberLabel(member)}`);
        manage.addEventListener("click", () => openMemberDialog(member.session_id));
        item.append(manage);
      }
      return item;
    }),
  );
  elements.memberCount.textContent = `(${state.members.size})`;
}

function isRoomOwnerMember(member) {
  return Boolean(state.room && member.user.id === state.room.room_owner_user_id);
}

function openMemberDialog(sessionId) {
  const member = state.members.get(sessionId);
  if (!member) return;
  state.target = member;
  elements.memberName.textContent = memberLabel(member);
  elements.memberReason.value = "";
  const form = elements.memberDialog;
  form.querySelector('[data-action="MUTE"]').hidden = member.muted;
  form.querySelector('[data-action="UNMUTE"]').hidden = !member.muted;
  form.querySelector('[data-action="GIVE_OWNERSHIP"]').hidden =
    member.user.is_guest || isRoomOwnerMember(member) || !canChangeRoom();
  openDialog(elements.memberDialog);
}

function moderate(actionName) {
  const target = state.target;
  if (!target) return;
  const timed = actionName === "BAN" || actionName === "MUTE";
  state.connection.send({
    moderate: {
      action: state.protocol.enumValue("ModerationAction", actionName),
      target_user_id: target.user.id,
      duration_seconds: timed ? Number(elements.memberDuration.value) : 0,
      reason: elements.memberReason.value.trim(),
    },
  });
  closeDialog(elements.memberDialog);
}

for (const button of elements.memberDialog.querySelectorAll("[data-action]")) {
  button.addEventListener("click", () => moderate(button.dataset.action));
}

// --- chat -------------------------------------------------------------------------------------

function colourOfUser(userId) {
  for (const member of state.members.values()) {
    if (member.user && member.user.id === userId) return safeColour(member.user.color);
  }
  return "";
}

function timeOf(ms) {
  const date = new Date(ms);
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function chatLine(message) {
  const item = element("li", "chat-line");
  item.dataset.messageId = message.id;
  const time = element("time", "chat-time", timeOf(message.sent_at));
  time.dateTime = new Date(message.sent_at).toISOString();
  const name = element("span", "chat-name", message.display_name || "Someone");
  const colour = colourOfUser(message.user_id);
  if (colour) name.style.setProperty("--name", colour);
  const text = element("span", "chat-text", message.text);
  item.append(time);
  // Who wrote it, by the name: nobody passes for staff, or for someone with an account.
  const role = state.protocol.enumName("Role", message.role || 0);
  if (role === "GUEST") item.append(element("span", "tag tag-quiet chat-tag", "guest"));
  if (role === "MODERATOR" || role === "ADMIN") {
    item.append(element("span", "tag chat-tag", role === "ADMIN" ? "admin" : "mod"));
  }
  item.append(name, text);
  return item;
}

function systemLine(text) {
  const item = element("li", "chat-line chat-system");
  item.append(element("span", "chat-text", text));
  return item;
}

// The room's welcome message, as a line of the chat (on entering, and when it changes).
function welcomeLine(text) {
  const item = systemLine(text);
  item.classList.add("chat-welcome");
  return item;
}

function appendChat(node) {
  const log = elements.chatLog;
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(node);
  while (log.children.length > 200) log.firstElementChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
}

elements.chatForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = elements.chatInput.value.trim();
  if (!text) return;
  if (state.connection.send({ chat: { text } })) {
    state.sentChat = text;
    elements.chatInput.value = "";
  } else {
    notice("Not connected; the message was not sent.", "error");
  }
});

// --- the room ---------------------------------------------------------------------------------

function showRoom(room) {
  state.room = room;
  elements.title.textContent = room.name;
  document.title = `${room.name} · PianoRhythm`;
  elements.lock.hidden = !room.has_password;
  elements.swatch.style.setProperty("--swatch", safeColour(room.settings && room.settings.color));
  elements.settingsButton.hidden = !canChangeRoom() || (room.is_lobby && !isSiteModerator());
  const settings = room.settings || {};
  const chatOn = settings.chat_enabled !== false;
  elements.chatInput.disabled = !chatOn;
  elements.chatInput.placeholder = chatOn ? "Say something…" : "Chat is off in this room.";
  // Reconnects rejoin this very room (a full "lobby" may have sent us to "lobby-2").
  page.dataset.roomName = room.name;
  const path = `/r/${encodeURIComponent(room.name)}`;
  if (location.pathname !== path) history.replaceState(null, "", path);
}

function enterRoom(roomState) {
  state.joined = true;
  state.removed = false;
  closeDialog(elements.passwordDialog);
  closeDialog(elements.blocker);
  state.members = new Map(roomState.members.map((m) => [m.session_id, m]));
  showRoom(roomState.room);
  renderMembers();
  elements.chatLog.replaceChildren(...roomState.recent_chat.map(chatLine));
  const welcome = roomState.room.settings && roomState.room.settings.welcome_message;
  if (welcome) elements.chatLog.append(welcomeLine(welcome));
  elements.members.dataset.stale = "false";
  elements.membersStale.hidden = true;
  elements.chatLog.scrollTop = elements.chatLog.scrollHeight;
  page.dataset.joined = "true";
}

function leaveState() {
  state.joined = false;
  page.dataset.joined = "false";
  for (const member of state.members.values()) {
    if (member.session_id !== state.sessionId) {
      synth.silence(member.session_id);
      piano.unlightSource(member.session_id);
    }
  }
}

function join() {
  state.connection.send({ join_room: { room_name: page.dataset.roomName, password: state.password } });
}

const REMOVAL_TEXT = {
  KICKED: ["You were kicked", "The room's owner removed you from the room."],
  BANNED: ["You are banned from this room", "The room's owner banned you."],
  ROOM_CLOSED: ["The room was closed", "This room no longer exists."],
  SITE_BANNED: ["You are banned", "You are banned from the site."],
};

function removed(body) {
  const reason = state.protocol.enumName("RemovalReason", body.reason);
  const [heading, fallback] = REMOVAL_TEXT[reason] || ["Out of the room", "You left the room."];
  let text = body.message && body.message !== fallback ? body.message : fallback;
  if (reason === "BANNED") {
    text += body.until ? ` The ban ends ${new Date(body.until).toLocaleString()}.` : " The ban does not end.";
  }
  state.removed = true;
  leaveState();
  // A closed room is gone: rejoining it would only find ROOM_NOT_FOUND.
  block(heading, text, { retry: reason === "KICKED" });
}

const JOIN_FAILURES = {
  ROOM_NOT_FOUND: "There is no room with this name.",
  ROOM_FULL: "The room is full. Try again in a while.",
  BANNED: "You are banned from this room.",
  GUESTS_NOT_ALLOWED: "This room is for players with an account. Log in to enter.",
};

function joinFailed(code, message) {
  if (code === "WRONG_PASSWORD" || (code === "RATE_LIMITED" && state.password)) {
    elements.passwordError.textContent =
      code === "RATE_LIMITED"
        ? "Too many wrong guesses. Wait a minute and try again."
        : state.password
          ? "Wrong password. Try again."
          : "";
    elements.passwordError.hidden = !elements.passwordError.textContent;
    openDialog(elements.passwordDialog);
    elements.passwordInput.select();
    return;
  }
  // Trying again cannot make a missing room appear: the way on is the lobby.
  block("Could not enter the room", JOIN_FAILURES[code] || message || "You cannot enter this room.", {
    retry: code !== "ROOM_NOT_FOUND",
  });
}

function serverError(body) {
  const code = state.protocol.enumName("ErrorCode", body.code);
  if (body.request === "join_room") {
    joinFailed(code, body.message);
    return;
  }
  if (body.request === "update_room" && elements.settingsDialog.open) {
    state.settingsRefused = true;
    showSettingsErrors(body);
    return;
  }
  if (body.request === "update_profile" && elements.youDialog.open) {
    state.youRefused = true;
    const field = body.fields && body.fields.length ? body.fields[0].field : "";
    showYouError(body.message || "Not changed.", field);
    return;
  }
  if (body.request === "chat" && state.sentChat) {
    // Refused (muted, too fast, chat off...): the line goes back to be sent again or kept.
    if (!elements.chatInput.value) elements.chatInput.value = state.sentChat;
    state.sentChat = "";
  }
  notice(body.message || "Something went wrong.", "error", `${code}:${body.request}`);
}

function handle(kind, body) {
  switch (kind) {
    case "room_state":
      enterRoom(body);
      break;
    case "member_joined":
      state.members.set(body.member.session_id, body.member);
      renderMembers();
      break;
    case "member_left": {
      state.members.delete(body.session_id);
      synth.silence(body.session_id);
      piano.unlightSource(body.session_id);
      renderMembers();
      break;
    }
    case "member_updated":
      state.members.set(body.member.session_id, body.member);
      if (body.member.session_id === state.sessionId) state.me = body.member.user;
      renderMembers();
      break;
    case "note_batch":
      playRelayed(body);
      break;
    case "chat":
      appendChat(chatLine(body));
      break;
    case "chat_deleted":
      if (body.all) elements.chatLog.replaceChildren();
      for (const id of body.message_ids) {
        const node = elements.chatLog.querySelector(`[data-message-id="${CSS.escape(id)}"]`);
        if (node) node.remove();
      }
      break;
    case "room_updated": {
      const settings = (state.room && state.room.settings) || {};
      const before = settings.welcome_message || "";
      showRoom(body.room);
      renderMembers();
      // Those already here see a new welcome message as newcomers do.
      const welcome = (body.room.settings && body.room.settings.welcome_message) || "";
      if (welcome && welcome !== before) appendChat(welcomeLine(welcome));
      break;
    }
    case "removed":
      removed(body);
      break;
    case "error":
      serverError(body);
      break;
    case "note_quota":
      setQuota(body);
      break;
    default:
      break;
  }
}

function setQuota(quota) {
  state.quota = quota.allowance ? { ...quota, tokens: quota.max, at: clientNow() } : null;
}

// --- dialogs and tools --------------------------------------------------------------------------

elements.passwordForm.addEventListener("submit", (event) => {
  event.preventDefault();
  state.password = elements.passwordInput.value;
  elements.passwordError.hidden = true;
  join();
});

elements.blockerRetry.addEventListener("click", () => {
  state.removed = false;
  closeDialog(elements.blocker);
  if (state.connection.isOpen) join();
  else state.connection.retryNow();
});

// The on/off room settings: the page renders one checkbox for each (rooms/room_settings.py).
const SETTING_CHECKS = Array.from(
  elements.settingsForm.querySelectorAll("input[type=checkbox][data-setting]"),
  (box) => box.name,
);

elements.settingsButton.addEventListener("click", () => {
  const settings = (state.room && state.room.settings) || {};
  const form = elements.settingsForm;
  form.elements.max_members.value = settings.max_members || 20;
  form.elements.color.value = safeColour(settings.color, "#6ea8ff");
  form.elements.welcome_message.value = settings.welcome_message || "";
  form.elements.password.value = "";
  form.elements.clear_password.checked = false;
  form.elements.clear_password.disabled = !(state.room && state.room.has_password);
  for (const name of SETTING_CHECKS) form.elements[name].checked = Boolean(settings[name]);
  clearSettingsErrors();
  openDialog(elements.settingsDialog);
});

function clearSettingsErrors() {
  elements.settingsError.hidden = true;
  elements.settingsError.textContent = "";
  for (const slot of elements.settingsForm.querySelectorAll("[data-error-for]")) {
    slot.hidden = true;
    slot.textContent = "";
    slot.parentElement.classList.remove("field-invalid");
    const input = elements.settingsForm.elements[slot.dataset.errorFor];
    if (input) input.removeAttribute("aria-invalid");
  }
}

// What is wrong with which setting: the server's Error.fields (docs/protocol.md, Error);
// from a server that does not send them, the "field: message; ..." of its message.
function fieldErrors(body) {
  if (body.fields && body.fields.length) return body.fields;
  const parsed = [];
  for (const part of (body.message || "").split("; ")) {
    const match = /^([a-z_]+): (.+)$/.exec(part);
    if (!match || !elements.settingsForm.querySelector(`[data-error-for="${match[1]}"]`)) return [];
    parsed.push({ field: match[1], message: match[2] });
  }
  return parsed;
}

// Each message beside its field; the summary above names the fields by their labels.
function showSettingsErrors(body) {
  clearSettingsErrors();
  const lines = [];
  for (const { field, message } of fieldErrors(body)) {
    const slot = elements.settingsForm.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
    if (!slot) {
      lines.push(message);
      continue;
    }
    slot.textContent = message;
    slot.hidden = false;
    slot.parentElement.classList.add("field-invalid");
    const input = elements.settingsForm.elements[field];
    if (input) input.setAttribute("aria-invalid", "true");
    lines.push(`${slot.dataset.label}: ${message}`);
  }
  const summary = lines.length ? lines.join(" ") : body.message;
  elements.settingsError.textContent = summary || "The settings were not saved.";
  elements.settingsError.hidden = false;
}

elements.settingsSave.addEventListener("click", async () => {
  const form = elements.settingsForm;
  const current = (state.room && state.room.settings) || {};
  const changes = {};
  const capacity = Number(form.elements.max_members.value);
  if (capacity !== current.max_members) changes.max_members = capacity;
  if (form.elements.color.value.toLowerCase() !== (current.color || "").toLowerCase()) {
    changes.color = form.elements.color.value;
  }
  if (form.elements.welcome_message.value !== (current.welcome_message || "")) {
    changes.welcome_message = form.elements.welcome_message.value;
  }
  for (const name of SETTING_CHECKS) {
    if (form.elements[name].checked !== Boolean(current[name])) {
      changes[name] = form.elements[name].checked;
    }
  }
  if (form.elements.clear_password.checked) changes.password = "";
  else if (form.elements.password.value) changes.password = form.elements.password.value;
  if (!Object.keys(changes).length) {
    closeDialog(elements.settingsDialog);
    return;
  }
  // The dialog stays open, with the edits, until the server has taken the change: an error
  // about it comes back before the answer to a later time_sync (docs/protocol.md, updateRoom).
  clearSettingsErrors();
  state.settingsRefused = false;
  if (!state.connection.send({ update_room: { settings: changes } })) {
    showSettingsErrors({ message: "Not connected; the settings were not saved." });
    return;
  }
  elements.settingsSave.disabled = true;
  form.dataset.pending = "true";
  const answered = await state.connection.roundTrip();
  elements.settingsSave.disabled = false;
  form.dataset.pending = "false";
  if (state.settingsRefused) return;
  if (!answered) {
    const message = "The connection was lost; the settings may not have been saved.";
    showSettingsErrors({ message });
    return;
  }
  closeDialog(elements.settingsDialog);
});

// "You": one's own display name and colour in the room (docs/protocol.md, "updateProfile").
let youChanging = "display_name"; // the field a refusal is shown beside

function clearYouErrors() {
  for (const slot of elements.youForm.querySelectorAll("[data-error-for]")) {
    slot.hidden = true;
    slot.textContent = "";
    const input = elements.youForm.elements[slot.dataset.errorFor];
    if (input) input.removeAttribute("aria-invalid");
  }
}

function showYouError(message, named = "") {
  // Beside the field the server names; else (its refusals of a name or colour name the field
  // in words) the colour's if the message is about a colour, else the field being changed.
  let field = /colou?r/i.test(message) ? "color" : youChanging;
  if (named && elements.youForm.elements[named]) field = named;
  const slot = elements.youForm.querySelector(`[data-error-for="${field}"]`);
  slot.textContent = message;
  slot.hidden = false;
  elements.youForm.elements[field].setAttribute("aria-invalid", "true");
}

elements.youButton.addEventListener("click", () => {
  const me = state.me || {};
  elements.youForm.elements.display_name.value = me.display_name || me.username || "";
  elements.youForm.elements.color.value = myColour();
  clearYouErrors();
  openDialog(elements.youDialog);
});

elements.youSave.addEventListener("click", async () => {
  const form = elements.youForm;
  const me = state.me || {};
  const changes = {};
  const name = form.elements.display_name.value.trim();
  if (name !== (me.display_name || me.username || "")) changes.display_name = name;
  if (form.elements.color.value.toLowerCase() !== (me.color || "").toLowerCase()) {
    changes.color = form.elements.color.value.toLowerCase();
  }
  if (!Object.keys(changes).length) {
    closeDialog(elements.youDialog);
    return;
  }
  youChanging = "display_name" in changes ? "display_name" : "color";
  clearYouErrors();
  state.youRefused = false;
  if (!state.connection.send({ update_profile: changes })) {
    showYouError("Not connected; nothing was changed.");
    return;
  }
  elements.youSave.disabled = true;
  form.dataset.pending = "true";
  const answered = await state.connection.roundTrip();
  elements.youSave.disabled = false;
  form.dataset.pending = "false";
  if (state.youRefused) return;
  if (!answered) {
    showYouError("The connection was lost; the change may not have been made.");
    return;
  }
  if (state.me && state.me.is_guest) state.guestProfile = { ...state.guestProfile, ...changes };
  closeDialog(elements.youDialog);
});

document.getElementById("octave-down").addEventListener("click", () => piano.shiftOctave(-1));
document.getElementById("octave-up").addEventListener("click", () => piano.shiftOctave(1));
elements.sustainButton.addEventListener("click", () => local.sustain(!state.sustain));

const LABELS_KEY = "pianorhythm.labels";
function setLabels(on) {
  elements.piano.classList.toggle("no-labels", !on);
  elements.labelsButton.setAttribute("aria-pressed", String(on));
  localStorage.setItem(LABELS_KEY, on ? "1" : "0");
}
setLabels(localStorage.getItem(LABELS_KEY) !== "0");
elements.labelsButton.addEventListener("click", () =>
  setLabels(elements.labelsButton.getAttribute("aria-pressed") !== "true"),
);

elements.volume.value = String(Math.round(synth.volume * 100));
elements.volume.addEventListener("input", () => synth.setVolume(Number(elements.volume.value) / 100));

if (!navigator.requestMIDIAccess) {
  elements.midiButton.disabled = true;
  elements.midiButton.title = "This browser has no Web MIDI";
}
elements.midiButton.addEventListener("click", async () => {
  try {
    const count = await connectMidi(local);
    elements.midiButton.setAttribute("aria-pressed", "true");
    notice(count ? `MIDI: ${count} input device(s) connected.` : "MIDI on: plug in a keyboard.");
  } catch (error) {
    notice(`MIDI is not available: ${error.message || error}`, "error");
  }
});

// The browser lets sound start only after the player has interacted with the page.
for (const type of ["pointerdown", "keydown"]) {
  window.addEventListener(
    type,
    () => {
      const context = synth.ensure();
      if (!context) return;
      const resumed = () => {
        for (const node of elements.notices.querySelectorAll('[data-key="sound"]')) node.remove();
      };
      if (context.state === "running") resumed();
      else context.resume().then(resumed, () => {});
    },
    { capture: true },
  );
}

// --- offline ----------------------------------------------------------------------------------

// Once the page has been online, losing the connection is shown plainly: a banner with the
// countdown to the next try and "Retry now", and the players' list marked as out of date.
function showConnection(status, text, detail = {}) {
  page.dataset.connection = status;
  if (status === "online") {
    state.online = true;
    state.outage = false;
    state.offlineNoticed = false;
    elements.offlineBanner.hidden = true;
    return;
  }
  const wasOnline = state.online || state.outage;
  state.online = false;
  if (status === "connecting" && !wasOnline) return; // the first connection: not an outage
  state.outage = true;
  elements.offlineText.textContent = text;
  const waiting = detail.retryInMs !== undefined;
  elements.offlineBanner.dataset.retryInMs = waiting ? String(Math.round(detail.retryInMs)) : "";
  if (detail.attempt !== undefined) elements.offlineBanner.dataset.attempt = String(detail.attempt);
  elements.retryNow.hidden = !waiting && status !== "connecting";
  elements.retryNow.disabled = !waiting;
  elements.offlineBanner.hidden = false;
  elements.members.dataset.stale = "true";
  elements.membersStale.hidden = false;
}

elements.retryNow.addEventListener("click", () => state.connection.retryNow());

// --- start ------------------------------------------------------------------------------------

async function start() {
  try {
    state.protocol = await loadProtocol(page.dataset.protoUrl);
  } catch (error) {
    elements.status.textContent = describeFailure(error);
    return;
  }
  state.connection = new Connection(state.protocol, {
    status: (status, text, detail) => {
      elements.status.textContent = text;
      elements.status.dataset.state = status;
      showConnection(status, text, detail);
      if (status !== "online" && state.joined) leaveState();
    },
    welcome: (welcome) => {
      state.me = welcome.user;
      state.sessionId = welcome.session_id;
      page.dataset.sessionId = welcome.session_id;
      if (welcome.note_quota) setQuota(welcome.note_quota);
      // Before joining, so the room meets the guest by the name it chose.
      if (welcome.user.is_guest && state.guestProfile) {
        state.connection.send({ update_profile: state.guestProfile });
      }
      if (!state.removed) join();
    },
    message: handle,
    final: (text) => block("Disconnected", text, { retry: false }),
  });
  state.connection.open();
  local.octave(piano.base);
}

start();
