// The Node.js reference of `make bench` (README, Benchmark): a bare `ws` broadcast peer.
//
// The same relay as bench/ceiling.py: each frame received on /ws/<room>/ is sent unchanged
// (text stays text, binary stays binary) to every other open socket of that room in this
// process. An HTTP GET on / answers 204 (the readiness probe); other paths 404, other
// WebSocket paths are refused with close code 1008. No compression; frames and messages are
// limited to 65536 bytes like the project's servers.
//
//   node bench/node/peer.js [port]       (or PORT=...; HOST=127.0.0.1 by default)
"use strict";

const http = require("node:http");
const { WebSocketServer, WebSocket } = require("ws");

const MAX_PAYLOAD = 65536;
const host = process.env.HOST || "127.0.0.1";
const port = Number(process.argv[2] || process.env.PORT || 8000);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`peer.js: bad port ${process.argv[2] || process.env.PORT}`);
  process.exit(2);
}

/** @type {Map<string, Set<WebSocket>>} */
const rooms = new Map();

const server = http.createServer((request, response) => {
  const status = request.method === "GET" && request.url === "/" ? 204 : 404;
  response.writeHead(status);
  response.end();
});

const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD, perMessageDeflate: false });

function roomOf(url) {
  const parts = (url || "").split("?")[0].split("/").filter(Boolean);
  return parts.length === 2 && parts[0] === "ws" ? parts[1] : null;
}

server.on("upgrade", (request, socket, head) => {
  const room = roomOf(request.url);
  wss.handleUpgrade(request, socket, head, (ws) => {
    if (room === null) {
      ws.close(1008);
      return;
    }
    let members = rooms.get(room);
    if (members === undefined) {
      members = new Set();
      rooms.set(room, members);
    }
    members.add(ws);
    ws.on("message", (data, isBinary) => {
      for (const other of members) {
        if (other !== ws && other.readyState === WebSocket.OPEN) {
          other.send(data, { binary: isBinary });
        }
      }
    });
    ws.on("close", () => {
      members.delete(ws);
      if (members.size === 0 && rooms.get(room) === members) {
        rooms.delete(room);
      }
    });
    ws.on("error", () => {});
  });
});

server.listen(port, host, () => {
  console.log(`peer.js: ws broadcast on ${host}:${port} (ws ${require("ws/package.json").version})`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    for (const client of wss.clients) {
      client.terminate();
    }
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 500).unref();
  });
}
