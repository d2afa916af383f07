// One WebSocket to /ws/ speaking the binary protocol: decoding, clock sync with the server,
// and reconnecting with exponential backoff (the page rejoins on each new `welcome`).

import { SUBPROTOCOL } from "./wire.js";

// A time_sync every 20 s keeps the offset fresh and the socket from idling out (120 s).
const SYNC_INTERVAL_MS = 20000;
const FIRST_PROBES = 4;
const FIRST_PROBE_SPACING_MS = 400;
const SYNC_SAMPLES = 8;
const BACKOFF_FIRST_MS = 500;
// The longest wait between tries, jitter included: a player waits for the room, not the room
// for the player, and a retry costs the server one refused connection.
const BACKOFF_MAX_MS = 5000;

// Closes after which trying again cannot help.
const FINAL_CLOSES = {
  4403: "You are banned from the site.",
  4401: "Your sign-in ended. Reload the page to continue.",
};

/** The page's clock in ms since the epoch, monotonic (unlike Date.now()). */
export function clientNow() {
  return performance.timeOrigin + performance.now();
}

export class Connection {
  /**
   * @param protocol a wire.Protocol
   * @param handlers {message(kind, body), status(state, text), welcome(body), final(text)}
   */
  constructor(protocol, handlers) {
    this.protocol = protocol;
    this.handlers = handlers;
    this.socket = null;
    this.attempt = 0;
    this.stopped = false;
    this.samples = [];
    this.offset = 0; // server clock minus client clock, ms
    this.syncTimer = null;
    this.retryTimer = null;
    this.retryAt = 0;
    this.countdownTimer = null;
    this.acks = new Map(); // client_time of a time_sync -> its resolve()
    window.addEventListener("online", () => this.retryNow());
  }

  get url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}/ws/`;
  }

  get isOpen() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  open() {
    this.stopped = false;
    clearTimeout(this.retryTimer);
    clearTimeout(this.countdownTimer);
    this.retryTimer = null;
    this.handlers.status("connecting", this.attempt ? "Reconnecting…" : "Connecting…");
    const socket = new WebSocket(this.url, [SUBPROTOCOL]);
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    socket.addEventListener("open", () => this.startSync());
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", (event) => this.closed(socket, event.code));
  }

  /** Close for good (no reconnect). */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.countdownTimer);
    clearInterval(this.syncTimer);
    if (this.socket) this.socket.close(1000);
  }

  retryNow() {
    if (!this.stopped && !this.isOpen && this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
      this.open();
    }
  }

  /** Send a ClientMessage object; false when the socket is not open. */
  send(message) {
    if (!this.isOpen) return false;
    this.socket.send(this.protocol.encodeClient(message));
    return true;
  }

  /** The server's clock now, estimated from time_sync (ms since the epoch). */
  serverNow() {
    return clientNow() + this.offset;
  }

  startSync() {
    this.samples = [];
    for (let i = 0; i < FIRST_PROBES; i += 1) {
      setTimeout(() => this.probe(), i * FIRST_PROBE_SPACING_MS);
    }
    clearInterval(this.syncTimer);
    this.syncTimer = setInterval(() => this.probe(), SYNC_INTERVAL_MS);
  }

  probe() {
    this.send({ time_sync: { client_time: clientNow() } });
  }

  /**
   * Resolves true once the server has answered everything sent before it (it answers a
   * socket's requests in order, errors included: docs/protocol.md, updateRoom), false if
   * the socket closes first or is not open.
   */
  roundTrip() {
    const clientTime = clientNow();
    if (!this.send({ time_sync: { client_time: clientTime } })) return Promise.resolve(false);
    return new Promise((resolve) => this.acks.set(clientTime, resolve));
  }

  // NTP style: the server read its clock about halfway through the round trip. The sample
  // with the shortest round trip is the most trustworthy.
  synced(reply) {
    const ack = this.acks.get(reply.client_time);
    if (ack) {
      this.acks.delete(reply.client_time);
      ack(true);
    }
    const now = clientNow();
    const rtt = now - reply.client_time;
    if (!(rtt >= 0 && rtt < 60000)) return;
    this.samples.push({ rtt, offset: reply.server_time - (reply.client_time + now) / 2 });
    if (this.samples.length > SYNC_SAMPLES) this.samples.shift();
    const best = this.samples.reduce((a, b) => (b.rtt < a.rtt ? b : a));
    this.offset = best.offset;
    this.rtt = best.rtt;
  }

  receive(data) {
    if (!(data instanceof ArrayBuffer)) return; // the binary protocol sends binary frames only
    let messages;
    try {
      messages = this.protocol.decodeFrame(new Uint8Array(data));
    } catch (error) {
      console.error("undecodable frame", error);
      return;
    }
    for (const message of messages) {
      const kind = message.kind;
      if (!kind) continue;
      const body = message[kind];
      if (kind === "time_sync") {
        this.synced(body);
        continue;
      }
      if (kind === "welcome") {
        this.attempt = 0;
        if (!this.samples.length) this.offset = body.server_time - clientNow();
        this.handlers.status("online", "Connected");
        this.handlers.welcome(body);
        continue;
      }
      try {
        this.handlers.message(kind, body);
      } catch (error) {
        console.error(`handling ${kind} failed`, error);
      }
    }
  }

  closed(socket, code) {
    if (socket !== this.socket) return;
    clearInterval(this.syncTimer);
    for (const ack of this.acks.values()) ack(false);
    this.acks.clear();
    if (this.stopped) return;
    if (FINAL_CLOSES[code]) {
      this.stopped = true;
      this.handlers.status("offline", "Disconnected");
      this.handlers.final(FINAL_CLOSES[code]);
      return;
    }
    this.attempt += 1;
    // 1012: the server is restarting (a deploy); come back quickly but not all at once. Under
    // Daphne it arrives as 4012 (an application may not send the standard codes there).
    const restarting = code === 1012 || code === 4012;
    const base = restarting ? BACKOFF_FIRST_MS : BACKOFF_FIRST_MS * 2 ** (this.attempt - 1);
    // Jitter downwards only, so that BACKOFF_MAX_MS is the longest wait.
    const delay = Math.min(BACKOFF_MAX_MS, base) * (0.5 + Math.random() * 0.5);
    this.retryAt = clientNow() + delay;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.open();
    }, delay);
    this.countdown();
  }

  // "Reconnecting in 3 s…", told again each time the whole seconds left change. The third
  // argument of status() says how long is left and that retryNow() would do something.
  countdown() {
    clearTimeout(this.countdownTimer);
    if (this.retryTimer === null) return;
    const left = Math.max(0, this.retryAt - clientNow());
    const seconds = Math.max(1, Math.ceil(left / 1000));
    this.handlers.status("offline", `Reconnecting in ${seconds} s…`, {
      retryInMs: left,
      attempt: this.attempt,
    });
    const untilNextSecond = left - (seconds - 1) * 1000;
    if (seconds > 1) this.countdownTimer = setTimeout(() => this.countdown(), untilNextSecond);
  }
}

/** Load the protocol, or show why not in `statusElement`. */
export function describeFailure(error) {
  return `Could not start: ${error && error.message ? error.message : error}`;
}
