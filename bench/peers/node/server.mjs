// Peer: a hub written on Node's `ws` (the most used WebSocket server library), for `make bench`.
// `node bench/peers/node/server.mjs --port N`
//
// The same subset of the hub's JSON protocol as bench/peers/naive.py: `hello` (any token) -> `welcome`,
// `subscribe` -> `subscribed`, `publish` -> an `event` frame of the hub's shape to every subscriber (and
// `published` when the command has an `id`), `ping` -> `pong`, `gps` -> a `gps.position` event on `gps:fleet`.
// Written the way its documentation suggests: one JSON.stringify per event, `ws.send` to each subscriber, a
// ping interval that terminates sockets that did not answer the previous ping; no compression.
import http from "node:http";
import { WebSocketServer } from "ws";

const HEARTBEAT_MS = 20_000; // the hub's default HUB_HEARTBEAT_S
const EPOCH = "node";
const portFlag = process.argv.indexOf("--port");
const port = portFlag > 0 ? Number(process.argv[portFlag + 1]) : NaN;
if (!Number.isInteger(port)) {
  console.error("usage: node server.mjs --port N");
  process.exit(2);
}

const topics = new Map(); // topic -> Set of sockets
const seqs = new Map(); // topic -> last seq
let connections = 0;

function publish(topic, event, data) {
  const seq = (seqs.get(topic) ?? 0) + 1;
  seqs.set(topic, seq);
  const frame = JSON.stringify({ type: "event", topic, seq, epoch: EPOCH, event, data, ts: Date.now() / 1000 });
  for (const peer of topics.get(topic) ?? []) {
    if (peer.readyState === peer.OPEN) peer.send(frame);
  }
  return seq;
}

function onMessage(ws, raw, isBinary) {
  if (isBinary) return;
  let msg;
  try {
    msg = JSON.parse(raw.toString());
  } catch {
    ws.close(4400, "not JSON");
    return;
  }
  switch (msg.type) {
    case "hello":
      ws.send(JSON.stringify({ type: "welcome", conn_id: `node-${ws.number}`, heartbeat_s: HEARTBEAT_MS / 1000 }));
      break;
    case "subscribe": {
      const topic = msg.topic;
      if (!topics.has(topic)) topics.set(topic, new Set());
      topics.get(topic).add(ws);
      ws.joined.add(topic);
      const seq = seqs.get(topic) ?? 0;
      ws.send(JSON.stringify({ type: "subscribed", id: msg.id, topic, seq, epoch: EPOCH, recovered: false, conflated: false }));
      break;
    }
    case "publish": {
      const seq = publish(msg.topic, msg.event, msg.data ?? null);
      if (msg.id !== undefined && msg.id !== null) {
        ws.send(JSON.stringify({ type: "published", id: msg.id, topic: msg.topic, seq }));
      }
      break;
    }
    case "gps": {
      const data = { driver_id: ws.number };
      for (const k of ["lat", "lon", "ts", "accuracy", "speed", "heading"]) data[k] = msg[k] ?? null;
      publish("gps:fleet", "gps.position", data);
      break;
    }
    case "ping":
      ws.send(JSON.stringify({ type: "pong", id: msg.id ?? null, server_time: Date.now() / 1000 }));
      break;
    default:
      break;
  }
}

const server = http.createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok");
    return;
  }
  res.writeHead(404);
  res.end();
});
const wss = new WebSocketServer({ server, path: "/ws", maxPayload: 65536, perMessageDeflate: false });

wss.on("connection", (ws) => {
  ws.number = ++connections;
  ws.joined = new Set();
  ws.alive = true;
  ws.on("pong", () => {
    ws.alive = true;
  });
  ws.on("message", (raw, isBinary) => onMessage(ws, raw, isBinary));
  ws.on("close", () => {
    for (const topic of ws.joined) topics.get(topic)?.delete(ws);
  });
  ws.on("error", () => {});
});

const heartbeat = setInterval(() => {
  for (const ws of wss.clients) {
    if (!ws.alive) {
      ws.terminate();
      continue;
    }
    ws.alive = false;
    ws.ping();
  }
}, HEARTBEAT_MS);

function stop() {
  clearInterval(heartbeat);
  for (const ws of wss.clients) ws.close(1001, "server shutting down");
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

server.listen(port, "127.0.0.1");
