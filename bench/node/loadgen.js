// The second load generator of `make bench` (README, Benchmark), in Node.js with `ws`.
//
// The same measurement as bench/loadgen.py, written apart so the two can check each other:
// R rooms x C clients, the first S clients of each room send one note batch each at a fixed
// rate whatever the replies (open loop), every client receives, and a delivery's latency is
// its receive time minus the send time in the batch (one machine, one clock). Batches carry a
// per-sender sequence number and the step, so receivers count duplicates and the main
// process counts losses (expected deliveries minus unique ones).
//
// Wires, as bench/loadgen.py frames them:
// - `proto`: the project. ws://host:port/ws/ with subprotocol pianorhythm.v1.proto, each
//   client a guest (no token) from its own address (X-Forwarded-For 10.x.y.z, the project
//   trusts one proxy in the benchmark) and the page's origin; it waits for Welcome, sends
//   JoinRoom{room_name} and waits for RoomState. Frames are encoded and decoded with
//   protobuf.js from realtime/proto/pianorhythm/v1/protocol.proto, loaded at start. The send
//   time is NoteBatch.start_time. Batches of 4+ notes: the sequence number is in the first
//   three notes' keys (7 bits each), the step in the fourth note's key and the sender's
//   server instance in its channel, all NOTE_ON at velocity 64. 1-note batches: the
//   sequence number is key | delay_ms << 7, the step is velocity - 64, the instance the
//   channel.
// - `simple`: one JSON text frame {"s", "q", "k", "i", "t", "notes"} on /ws/<room>/, for the
//   bare peers (bench/ceiling.py, bench/node/peer.js) and the textbook baseline, which relay
//   it unchanged (the baseline also echoes it to its sender, which ignores its own).
//
// With --http (proto wire) it first creates the rooms as bench/loadgen.py's
// create_project_rooms does: registers an account and POSTs each room (100 members,
// unlimited notes, persistent).
//
// A long-lived process: one JSON command per line on stdin, one JSON reply per line on
// stdout (the sockets stay open across steps):
//   {"cmd": "connect"}
//   {"cmd": "step", "step": 1, "deliveries": 5000, "duration": 4, "drain": 1, "start_at": <epoch s>}
//   {"cmd": "quiet", "idle_for": 0.5, "limit": 10}
//   {"cmd": "quit"}
// A reply is {"ok": true, ...} or {"ok": false, "error": "..."}. A step's reply has the
// fields of bench/loadgen.py's StepResult: sent, expected, delivered (unique), duplicates,
// lost, latency {count, p50_ms, p90_ms, p99_ms, max_ms} (nearest rank), generator_cpu (one
// figure per process, share of one core while sending), generator_saturated (any >= 0.90)...
//
// --workers N > 1 spreads the clients over N child processes (client i in worker i % N).
//
//   node bench/node/loadgen.js --wire simple --base ws://127.0.0.1:9000 --rooms r1,r2 \
//       --clients 20 --senders 4 --notes 4 --workers 1 [--steps 5000,10000 --duration 4]
// With --steps it runs connect and those steps (deliveries/s) itself, one JSON line each.
"use strict";

const childProcess = require("node:child_process");
const path = require("node:path");
const readline = require("node:readline");
const { performance } = require("node:perf_hooks");
const WebSocket = require("ws");

const SATURATED_CPU = 0.9;
const CONNECT_CONCURRENCY = 64;
const PROTO_SUBPROTOCOL = "pianorhythm.v1.proto";
const PROTO_FILE = path.resolve(__dirname, "../../realtime/proto/pianorhythm/v1/protocol.proto");
const NOTE_ON = 1;
const VELOCITY = 64;

// Wall-clock ms since the epoch with sub-ms resolution (like Python's time.time() * 1000).
const ORIGIN = performance.timeOrigin;
const nowMs = () => ORIGIN + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(ms, 0)));

// ------------------------------------------------------------------------------------------
// Options
// ------------------------------------------------------------------------------------------

function parseArgs(argv) {
  const opts = {
    wire: "proto",
    bases: [],
    rooms: [],
    clients: 20,
    senders: 4,
    notes: 4,
    workers: 1,
    http: "",
    steps: [],
    duration: 4,
    drain: 1,
    proto: PROTO_FILE,
    worker: -1,
  };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    const value = argv[i + 1];
    i++;
    switch (name) {
      case "--wire": opts.wire = value; break;
      case "--base": opts.bases.push(value); break;
      case "--rooms": opts.rooms = value.split(",").filter(Boolean); break;
      case "--clients": opts.clients = Number(value); break;
      case "--senders": opts.senders = Number(value); break;
      case "--notes": opts.notes = Number(value); break;
      case "--workers": opts.workers = Number(value); break;
      case "--http": opts.http = value; break;
      case "--steps": opts.steps = value.split(",").filter(Boolean).map(Number); break;
      case "--duration": opts.duration = Number(value); break;
      case "--drain": opts.drain = Number(value); break;
      case "--proto": opts.proto = value; break;
      case "--worker": opts.worker = Number(value); break;
      default: throw new Error(`unknown option ${name}`);
    }
  }
  if (!["proto", "simple"].includes(opts.wire)) throw new Error(`--wire must be proto or simple`);
  if (!opts.bases.length || !opts.rooms.length) throw new Error("--base and --rooms are needed");
  if (opts.clients < 2) throw new Error("a room needs at least 2 clients");
  if (!(opts.senders >= 1 && opts.senders <= opts.clients)) throw new Error("bad --senders");
  if (!(opts.notes === 1 || (opts.notes >= 4 && opts.notes <= 300))) {
    throw new Error("notes per batch must be 1 or between 4 and 300");
  }
  if (!(opts.workers >= 1)) throw new Error("bad --workers");
  return opts;
}

// ------------------------------------------------------------------------------------------
// Frames
// ------------------------------------------------------------------------------------------

/** The (key, delay_ms, channel) of each note and the velocity of a batch. */
function noteFields(seq, step, instance, count) {
  if (count === 1) {
    if (seq >= 128 * 1001) throw new Error("sequence number out of range");
    return { fields: [[seq & 127, seq >> 7, instance & 15]], velocity: VELOCITY + (step & 63) };
  }
  if (seq >= 1 << 21) throw new Error("sequence number out of range");
  const fields = [
    [seq & 127, 0, 0],
    [(seq >> 7) & 127, 0, 0],
    [(seq >> 14) & 127, 0, 0],
    [step & 127, 0, instance & 15],
  ];
  for (let i = 0; i < count - 4; i++) fields.push([60 + (i % 24), (i * 3) % 1000, 0]);
  return { fields, velocity: VELOCITY };
}

/** (seq, step, instance) of a batch's notes ({key, velocity, delayMs, channel}), or null. */
function readNotes(notes) {
  if (notes.length === 1) {
    const n = notes[0];
    return [n.key | (n.delayMs << 7), n.velocity - VELOCITY, n.channel];
  }
  if (notes.length < 4) return null;
  return [notes[0].key | (notes[1].key << 7) | (notes[2].key << 14), notes[3].key, notes[3].channel];
}

function loadProto(file) {
  const protobuf = require("protobufjs");
  const root = protobuf.loadSync(file);
  return {
    ClientMessage: root.lookupType("pianorhythm.v1.ClientMessage"),
    ServerFrame: root.lookupType("pianorhythm.v1.ServerFrame"),
  };
}

// ------------------------------------------------------------------------------------------
// One client
// ------------------------------------------------------------------------------------------

function originOf(url) {
  const parsed = new URL(url);
  return `${parsed.protocol === "wss:" ? "https" : "http"}://${parsed.host}`;
}

function playerAddress(index) {
  return `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`;
}

class Client {
  constructor(index, room, instance, sender, gen) {
    this.index = index;
    this.room = room;
    this.instance = instance;
    this.sender = sender;
    this.gen = gen;
    this.name = `c${index}`;
    this.sessionId = "";
    this.ws = null;
    this.closeCode = null;
    this.errors = new Map();
    this.frames = 0;
    this.lastFrame = 0;
    this.onWelcome = null;
    this.onJoined = null;
    this.beginStep(-1);
  }

  beginStep(step) {
    this.step = step;
    this.seen = new Map();
    this.received = 0;
    this.duplicates = 0;
    this.stale = 0;
    this.latLocal = [];
    this.latCross = [];
  }

  get open() {
    return this.ws !== null && this.closeCode === null;
  }

  error(kind) {
    this.errors.set(kind, (this.errors.get(kind) || 0) + 1);
  }

  count(sender, seq, step, instance, sent, now) {
    if (step !== this.step) {
      this.stale++;
      return;
    }
    this.received++;
    let numbers = this.seen.get(sender);
    if (numbers === undefined) {
      numbers = new Set();
      this.seen.set(sender, numbers);
    }
    if (numbers.has(seq)) {
      this.duplicates++;
      return;
    }
    numbers.add(seq);
    (instance === this.instance ? this.latLocal : this.latCross).push(now - sent);
  }

  onMessage(data, isBinary) {
    const now = nowMs();
    this.frames++;
    this.lastFrame = now;
    if (this.gen.wire === "simple") {
      const frame = JSON.parse(isBinary ? Buffer.from(data).toString() : data.toString());
      if (frame.s !== this.name) this.count(frame.s, frame.q, frame.k, frame.i, frame.t, now);
      return;
    }
    const frame = this.gen.proto.ServerFrame.decode(data);
    for (const message of frame.messages) {
      const batch = message.noteBatch;
      if (batch) {
        const read = readNotes(batch.notes);
        if (read === null) this.error("short batch");
        else this.count(batch.sessionId, read[0], read[1], read[2], batch.startTime, now);
      } else if (message.welcome) {
        if (this.onWelcome) this.onWelcome.resolve(message.welcome.sessionId);
      } else if (message.roomState) {
        if (this.onJoined) this.onJoined.resolve();
      } else if (message.error) {
        this.error(String(message.error.code));
        if (this.onJoined) this.onJoined.reject(new Error(`join refused: ${message.error.message}`));
      }
    }
  }

  onClose(code) {
    this.closeCode = code || -1;
    for (const waiter of [this.onWelcome, this.onJoined]) {
      if (waiter) waiter.reject(new Error(`closed with ${code}`));
    }
  }

  sendBatch(seq, step) {
    const gen = this.gen;
    const { fields, velocity } = noteFields(seq, step, this.instance, gen.notes);
    const now = nowMs();
    if (gen.wire === "simple") {
      this.ws.send(JSON.stringify({ s: this.name, q: seq, k: step, i: this.instance, t: now, notes: fields }));
      return;
    }
    const notes = fields.map(([key, delayMs, channel]) => ({ type: NOTE_ON, key, velocity, delayMs, channel }));
    this.ws.send(gen.proto.ClientMessage.encode({ noteBatch: { startTime: now, notes } }).finish());
  }
}

function waiter(ms, what) {
  let resolve, reject;
  const promise = new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${what}: no answer in ${ms / 1000} s`)), ms);
    resolve = (value) => { clearTimeout(timer); res(value); };
    reject = (err) => { clearTimeout(timer); rej(err); };
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

// ------------------------------------------------------------------------------------------
// The clients of one process
// ------------------------------------------------------------------------------------------

class Worker {
  constructor(opts, worker, workers) {
    this.wire = opts.wire;
    this.notes = opts.notes;
    this.bases = opts.bases;
    this.proto = opts.wire === "proto" ? loadProto(opts.proto) : null;
    this.clients = [];
    let index = 0;
    for (const room of opts.rooms) {
      for (let k = 0; k < opts.clients; k++) {
        if (index % workers === worker) {
          this.clients.push(new Client(index, room, k % opts.bases.length, k < opts.senders, this));
        }
        index++;
      }
    }
  }

  url(client) {
    const base = this.bases[client.instance].replace(/\/+$/, "");
    return this.wire === "simple" ? `${base}/ws/${client.room}/` : `${base}/ws/`;
  }

  async connectOne(client) {
    const url = this.url(client);
    const proto = this.wire === "proto";
    if (proto) client.onWelcome = waiter(30000, "welcome");
    const ws = new WebSocket(url, proto ? [PROTO_SUBPROTOCOL] : [], {
      origin: originOf(url),
      headers: { "X-Forwarded-For": playerAddress(client.index) },
      perMessageDeflate: false,
      maxPayload: 16 * 1024 * 1024,
      handshakeTimeout: 30000,
    });
    ws.binaryType = "nodebuffer";
    client.ws = ws;
    // Listening from the start: the welcome may come in the handshake's own packet.
    ws.on("message", (data, isBinary) => client.onMessage(data, isBinary));
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`handshake refused: ${res.statusCode}`)));
    });
    ws.on("error", () => client.error("socket error"));
    ws.on("close", (code) => client.onClose(code));
    if (!proto) return;
    client.sessionId = await client.onWelcome.promise;
    client.onJoined = waiter(30000, "join");
    ws.send(this.proto.ClientMessage.encode({ joinRoom: { roomName: client.room, settings: {} } }).finish());
    await client.onJoined.promise;
  }

  async connect() {
    const started = performance.now();
    const failures = {};
    let next = 0;
    const lane = async () => {
      while (next < this.clients.length) {
        const client = this.clients[next++];
        try {
          await this.connectOne(client);
        } catch (err) {
          const kind = `${err.name}: ${String(err.message).slice(0, 120)}`;
          failures[kind] = (failures[kind] || 0) + 1;
          if (client.closeCode === null) client.closeCode = -2;
          if (client.ws) client.ws.terminate();
        }
      }
    };
    await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, lane));
    return {
      connected: this.clients.filter((c) => c.open).length,
      failures,
      seconds: Math.round(performance.now() - started) / 1000,
    };
  }

  async quiet({ idle_for: idleFor = 0.5, limit = 10 }) {
    const started = performance.now();
    while (performance.now() - started < limit * 1000) {
      const newest = Math.max(0, ...this.clients.map((c) => c.lastFrame));
      if (nowMs() - newest >= idleFor * 1000) break;
      await sleep(100);
    }
    return { waited: Math.round(performance.now() - started) / 1000 };
  }

  sendLoop(client, rate, start, end, step) {
    // Open loop: every batch due by now is sent now, however late; one timer per sender.
    const interval = 1000 / rate;
    let due = start + Math.random() * interval;
    let seq = 0;
    let lag = 0;
    return new Promise((resolve) => {
      const tick = () => {
        const now = performance.now();
        while (due <= now && due < end && client.open) {
          lag = Math.max(lag, now - due);
          client.sendBatch(seq, step);
          seq++;
          due += interval;
        }
        if (due < end && client.open) setTimeout(tick, due - performance.now());
        else resolve([seq, lag]);
      };
      setTimeout(tick, due - performance.now());
    });
  }

  async step(spec) {
    const step = spec.step & 63;
    const rate = spec.rate;
    for (const client of this.clients) {
      client.beginStep(step);
      client.errors.clear();
    }
    await sleep(spec.start_at * 1000 - Date.now());
    const start = performance.now();
    const end = start + spec.duration * 1000;
    const cpuBefore = process.cpuUsage();
    const senders = this.clients.filter((c) => c.sender && c.open);
    const results = await Promise.all(senders.map((c) => this.sendLoop(c, rate, start, end, step)));
    const sendWall = (performance.now() - start) / 1000;
    const used = process.cpuUsage(cpuBefore);
    const cpu = sendWall > 0 ? (used.user + used.system) / 1e6 / sendWall : 0;
    await sleep(spec.drain * 1000);
    for (const client of this.clients) client.step = -1;

    const sentByRoom = {};
    senders.forEach((client, i) => {
      sentByRoom[client.room] = (sentByRoom[client.room] || 0) + results[i][0];
    });
    const receiversByRoom = {};
    const closeCodes = {};
    const errors = {};
    let delivered = 0;
    let duplicates = 0;
    let stale = 0;
    let closed = 0;
    let localCount = 0;
    let crossCount = 0;
    for (const client of this.clients) {
      receiversByRoom[client.room] = (receiversByRoom[client.room] || 0) + 1;
      delivered += client.received - client.duplicates;
      duplicates += client.duplicates;
      stale += client.stale;
      localCount += client.latLocal.length;
      crossCount += client.latCross.length;
      if (client.closeCode !== null) {
        closed++;
        closeCodes[client.closeCode] = (closeCodes[client.closeCode] || 0) + 1;
      }
      for (const [kind, n] of client.errors) errors[kind] = (errors[kind] || 0) + n;
    }
    const local = new Float64Array(localCount);
    const cross = new Float64Array(crossCount);
    let li = 0;
    let ci = 0;
    for (const client of this.clients) {
      local.set(client.latLocal, li);
      li += client.latLocal.length;
      cross.set(client.latCross, ci);
      ci += client.latCross.length;
      client.latLocal = [];
      client.latCross = [];
    }
    return {
      sent_by_room: sentByRoom,
      receivers_by_room: receiversByRoom,
      delivered,
      duplicates,
      stale,
      closed,
      close_codes: closeCodes,
      errors,
      max_send_lag_ms: Math.round(Math.max(0, ...results.map((r) => r[1])) * 1000) / 1000,
      cpu: Math.round(cpu * 10000) / 10000,
      local,
      cross,
    };
  }

  close() {
    for (const client of this.clients) if (client.ws) client.ws.terminate();
    return {};
  }

  async handle(command) {
    switch (command.cmd) {
      case "connect": return this.connect();
      case "step": return this.step(command);
      case "quiet": return this.quiet(command);
      case "quit": return this.close();
      default: throw new Error(`unknown command ${command.cmd}`);
    }
  }
}

// ------------------------------------------------------------------------------------------
// Statistics (as bench/stats.py: nearest-rank percentiles)
// ------------------------------------------------------------------------------------------

function percentile(sorted, q) {
  if (!sorted.length) return NaN;
  const rank = Math.ceil((q / 100) * sorted.length);
  return sorted[Math.max(rank, 1) - 1];
}

function summary(values) {
  const sorted = Float64Array.from(values).sort();
  const r = (x) => (Number.isNaN(x) ? null : Math.round(x * 1000) / 1000);
  return {
    count: sorted.length,
    p50_ms: r(percentile(sorted, 50)),
    p90_ms: r(percentile(sorted, 90)),
    p99_ms: r(percentile(sorted, 99)),
    max_ms: r(sorted.length ? sorted[sorted.length - 1] : NaN),
  };
}

function concat(arrays) {
  const out = new Float64Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

/** One step's result (bench/loadgen.py's StepResult fields) from every worker's reply. */
function combine(replies, deliveries, rate, duration) {
  const add = (into, from) => {
    for (const [k, v] of Object.entries(from)) into[k] = (into[k] || 0) + v;
    return into;
  };
  const sentByRoom = {};
  const receivers = {};
  const closeCodes = {};
  const errors = {};
  let delivered = 0;
  let duplicates = 0;
  let stale = 0;
  let closed = 0;
  for (const reply of replies) {
    add(sentByRoom, reply.sent_by_room);
    add(receivers, reply.receivers_by_room);
    add(closeCodes, reply.close_codes);
    add(errors, reply.errors);
    delivered += reply.delivered;
    duplicates += reply.duplicates;
    stale += reply.stale;
    closed += reply.closed;
  }
  let expected = 0;
  for (const [room, sent] of Object.entries(sentByRoom)) {
    expected += sent * Math.max((receivers[room] || 0) - 1, 0);
  }
  const local = concat(replies.map((r) => r.local));
  const cross = concat(replies.map((r) => r.cross));
  const cpu = replies.map((r) => r.cpu);
  return {
    target_deliveries_per_s: Math.round(deliveries * 10) / 10,
    rate_per_sender: Math.round(rate * 1000) / 1000,
    duration_s: duration,
    sent: Object.values(sentByRoom).reduce((a, b) => a + b, 0),
    expected,
    delivered,
    duplicates,
    lost: Math.max(expected - delivered, 0),
    delivered_ratio: Math.round((expected ? delivered / expected : 1) * 1e6) / 1e6,
    deliveries_per_s: Math.round((delivered / duration) * 10) / 10,
    latency: summary(concat([local, cross])),
    latency_local: summary(local),
    latency_cross: summary(cross),
    stale,
    closed,
    close_codes: closeCodes,
    errors,
    generator_cpu: cpu,
    generator_saturated: cpu.some((c) => c >= SATURATED_CPU),
    max_send_lag_ms: Math.max(...replies.map((r) => r.max_send_lag_ms)),
    slow: [],
  };
}

// ------------------------------------------------------------------------------------------
// Rooms for the project (REST), as bench/loadgen.py's create_project_rooms
// ------------------------------------------------------------------------------------------

async function createProjectRooms(httpBase, names) {
  const base = httpBase.replace(/\/+$/, "");
  const post = async (url, body, token) => {
    const headers = { Accept: "application/json", "Content-Type": "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
    const text = await response.text();
    let data = text;
    try { data = JSON.parse(text); } catch { /* not JSON */ }
    return [response.status, data];
  };
  const random = (n) => require("node:crypto").randomBytes(n).toString("hex");
  const [status, body] = await post(`${base}/api/v1/auth/register`, {
    username: `benchjs${random(4)}`,
    password: random(16),
  });
  if (![200, 201].includes(status) || !body.access) {
    throw new Error(`register failed: ${status} ${JSON.stringify(body)}`);
  }
  for (const name of names) {
    const settings = { max_members: 100, unlimited_notes: true, persistent: true };
    const [code, reply] = await post(`${base}/api/v1/rooms/`, { name, settings }, body.access);
    if (code !== 201) throw new Error(`creating room ${name} failed: ${code} ${JSON.stringify(reply)}`);
  }
}

// ------------------------------------------------------------------------------------------
// Main process: the workers (here, or child processes), stdin commands, stdout replies
// ------------------------------------------------------------------------------------------

class ChildWorker {
  constructor(argv, worker) {
    this.child = childProcess.fork(__filename, [...argv, "--worker", String(worker)], {
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.pending = null;
    this.child.on("message", (reply) => {
      const pending = this.pending;
      this.pending = null;
      if (!pending) return;
      if (reply.ok) pending.resolve(reply.value);
      else pending.reject(new Error(reply.error));
    });
    this.child.on("exit", (code) => {
      if (this.pending) this.pending.reject(new Error(`worker exited with ${code}`));
      this.pending = null;
    });
  }

  handle(command) {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.child.send(command);
    });
  }
}

function workerMain(opts) {
  const worker = new Worker(opts, opts.worker, opts.workers);
  process.on("message", async (command) => {
    try {
      const value = await worker.handle(command);
      process.send({ ok: true, value });
      if (command.cmd === "quit") process.disconnect();
    } catch (err) {
      process.send({ ok: false, error: `${err.name}: ${err.message}` });
    }
  });
}

class Generator {
  constructor(opts, argv) {
    this.opts = opts;
    this.workers =
      opts.workers === 1
        ? [new Worker(opts, 0, 1)]
        : Array.from({ length: opts.workers }, (_, w) => new ChildWorker(argv, w));
  }

  all(command) {
    return Promise.all(this.workers.map((w) => w.handle(command)));
  }

  async handle(command) {
    const opts = this.opts;
    if (command.cmd === "connect") {
      const started = performance.now();
      if (opts.http && opts.wire === "proto") await createProjectRooms(opts.http, opts.rooms);
      const rooms = (performance.now() - started) / 1000;
      const replies = await this.all(command);
      const failures = {};
      for (const r of replies) for (const [k, v] of Object.entries(r.failures)) failures[k] = (failures[k] || 0) + v;
      return {
        connected: replies.reduce((n, r) => n + r.connected, 0),
        expected: opts.rooms.length * opts.clients,
        failures,
        seconds: Math.max(...replies.map((r) => r.seconds)),
        rooms_seconds: Math.round(rooms * 1000) / 1000,
        workers: this.workers.length,
      };
    }
    if (command.cmd === "step") {
      const rate = command.deliveries / (opts.rooms.length * opts.senders * (opts.clients - 1));
      const spec = {
        cmd: "step",
        step: command.step,
        rate,
        duration: command.duration ?? opts.duration,
        drain: command.drain ?? opts.drain,
        start_at: command.start_at ?? Date.now() / 1000 + 0.3,
      };
      const replies = await this.all(spec);
      return combine(replies, command.deliveries, rate, spec.duration);
    }
    if (command.cmd === "quiet") {
      const replies = await this.all(command);
      return { waited: Math.max(...replies.map((r) => r.waited)) };
    }
    await this.all(command);
    return {};
  }
}

function write(reply) {
  process.stdout.write(JSON.stringify(reply) + "\n");
}

async function main() {
  const argv = process.argv.slice(2);
  const opts = parseArgs(argv);
  if (opts.worker >= 0) {
    workerMain(opts);
    return;
  }
  const generator = new Generator(opts, argv);
  if (opts.steps.length) {
    write(await generator.handle({ cmd: "connect" }));
    for (const [index, deliveries] of opts.steps.entries()) {
      write(await generator.handle({ cmd: "step", step: index, deliveries }));
    }
    await generator.handle({ cmd: "quit" });
    process.exit(0);
  }
  const lines = readline.createInterface({ input: process.stdin, terminal: false });
  let queue = Promise.resolve();
  lines.on("line", (line) => {
    if (!line.trim()) return;
    queue = queue.then(async () => {
      let command;
      try {
        command = JSON.parse(line);
        write({ ok: true, ...(await generator.handle(command)) });
      } catch (err) {
        write({ ok: false, error: `${err.name}: ${err.message}` });
      }
      if (command && command.cmd === "quit") process.exit(0);
    });
  });
  lines.on("close", () => queue.then(() => generator.handle({ cmd: "quit" })).finally(() => process.exit(0)));
}

main().catch((err) => {
  console.error(err.stack || String(err));
  process.exit(1);
});
