// The Node.js peer of the WebSocket fan-out benchmark (benches/ws/fanout.sh):
// the chat room of PROTOCOLS.md §2 over WebSocket (§7), on the `ws` package.
//
//   GET /    the chat page (crates/apps/src/chat/page.html, or --page FILE)
//   GET /ws  the room: each text message from a client is one §2 client
//            message (JSON), each §2 event goes out as one text message.
//
// Semantics as sansnet's room, in the parts a benchmark or the page touches:
// `{"username":N}` joins (1 to 32 characters, no control characters;
// `name_taken` keeps the connection for another try), `joined` goes to every
// member (the newcomer included), `{"content":C}` to every member but the
// sender, `{"content":C,"to":[..]}` to the named members (`unknown_user` for
// the others), `{"list":true}` answers `users` (sorted), `left` goes to those
// remaining. A member with more than 1 MiB unsent is disconnected.
//
// Usage: node server.js [--port 0] [--host 127.0.0.1] [--page FILE]
// Prints `listening on HOST:PORT` on stdout once it listens.
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');
const { WebSocketServer } = require('ws');

const opts = { port: '0', host: '127.0.0.1',
  page: path.join(__dirname, '..', '..', 'crates', 'apps', 'src', 'chat', 'page.html') };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  if (!(key in opts) || i + 1 >= process.argv.length) {
    console.error('usage: node server.js [--port 0] [--host 127.0.0.1] [--page FILE]');
    process.exit(2);
  }
  opts[key] = process.argv[i + 1];
}
const page = fs.readFileSync(opts.page);
const MAX_NAME = 32;
const MAX_UNSENT = 1 << 20;
const members = new Map(); // name -> socket, in join order

function send(sock, event) {
  if (sock.readyState !== sock.OPEN) return;
  if (sock.bufferedAmount > MAX_UNSENT) { sock.terminate(); return; }
  sock.send(JSON.stringify(event));
}

function fanout(event, except) {
  // Serialised and encoded once for every member, sent as text.
  const data = Buffer.from(JSON.stringify(event));
  for (const sock of members.values()) {
    if (sock === except || sock.readyState !== sock.OPEN) continue;
    if (sock.bufferedAmount > MAX_UNSENT) sock.terminate();
    else sock.send(data, { binary: false });
  }
}

function error(sock, code, message) {
  send(sock, { type: 'error', code, message });
}

function validName(name) {
  const chars = [...name];
  return chars.length >= 1 && chars.length <= MAX_NAME && !/[\u0000-\u001f\u007f-\u009f]/.test(name);
}

function handle(sock, text) {
  let msg;
  try { msg = JSON.parse(text); } catch (_) { return error(sock, 'bad_json', 'not JSON'); }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
    return error(sock, 'bad_message', 'not a message');
  }
  if (typeof msg.username === 'string') {
    if (sock.username !== undefined) return error(sock, 'bad_message', 'already joined');
    if (!validName(msg.username)) return error(sock, 'bad_message', 'bad name');
    if (members.has(msg.username)) return error(sock, 'name_taken', `${msg.username} is taken`);
    sock.username = msg.username;
    members.set(sock.username, sock);
    return fanout({ type: 'joined', username: sock.username });
  }
  if (sock.username === undefined) return error(sock, 'bad_message', 'join first');
  if (msg.list === true) {
    return send(sock, { type: 'users', users: [...members.keys()].sort() });
  }
  if (typeof msg.content !== 'string') return error(sock, 'bad_message', 'not a message');
  if (msg.to === undefined) {
    return fanout({ type: 'message', from: sock.username, content: msg.content }, sock);
  }
  if (!Array.isArray(msg.to) || msg.to.length === 0) return error(sock, 'bad_message', 'bad to');
  const to = [...new Set(msg.to)];
  const known = to.filter((n) => members.has(n));
  const unknown = to.filter((n) => !members.has(n));
  const event = { type: 'message', from: sock.username, content: msg.content, to: known };
  for (const name of known) send(members.get(name), event);
  if (unknown.length) error(sock, 'unknown_user', `not here: ${unknown.join(', ')}`);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (req.method === 'GET' && url.pathname === '/') {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': page.length });
    res.end(page);
  } else {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found\n');
  }
});
const wss = new WebSocketServer({ server, path: '/ws', maxPayload: 64 * 1024 });
wss.on('connection', (sock) => {
  sock.on('message', (data, isBinary) => {
    if (isBinary) return sock.close(1003, 'text only');
    handle(sock, data.toString('utf8'));
  });
  sock.on('close', () => {
    if (sock.username !== undefined && members.get(sock.username) === sock) {
      members.delete(sock.username);
      fanout({ type: 'left', username: sock.username });
    }
  });
  sock.on('error', () => {});
});
server.listen(Number(opts.port), opts.host, () => {
  const a = server.address();
  process.stdout.write(`listening on ${a.address}:${a.port}\n`);
});
