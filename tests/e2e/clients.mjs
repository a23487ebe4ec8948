// The real phoenix.js client on Node: `ws` as its transport (Node 20 has no global WebSocket),
// plus promise helpers so tests await replies and events instead of sleeping.
import { Socket } from 'phoenix';
import WebSocket from 'ws';

// A ws transport that remembers which worker served the upgrade (X-Cinder-Worker).
export class TracedWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols);
    this.cinderWorker = null;
    this.on('upgrade', (res) => { this.cinderWorker = res.headers['x-cinder-worker']; });
  }
}

export function connectSocket(url, opts = {}) {
  const socket = new Socket(url, { transport: TracedWebSocket, reconnectAfterMs: () => 50, ...opts });
  const opened = new Promise((res, rej) => {
    const r1 = socket.onOpen(() => { socket.off([r1, r2]); res(socket); });
    const r2 = socket.onError((e) => { socket.off([r1, r2]); rej(new Error(`socket error: ${e?.message || e}`)); });
  });
  socket.connect();
  return opened;
}

export function workerOf(socket) {
  return socket.conn?.cinderWorker ?? null;
}

// Resolves with the reply of a push (or join), keyed by status: {status, response}.
export function receive(push, timeoutMs = 5000) {
  return new Promise((res) => {
    push.receive('ok', (r) => res({ status: 'ok', response: r }))
      .receive('error', (r) => res({ status: 'error', response: r }))
      .receive('timeout', () => res({ status: 'timeout' }));
  });
}

export async function join(socket, topic, params = {}) {
  const channel = socket.channel(topic, params);
  const reply = await receive(channel.join());
  return { channel, reply };
}

// Resolves with the next payload of `event` on the channel.
export function next(channel, event) {
  return new Promise((res) => {
    const ref = channel.on(event, (payload) => { channel.off(event, ref); res(payload); });
  });
}

// Collects every payload of `event` on the channel into an array.
export function collect(channel, event) {
  const got = [];
  channel.on(event, (p) => got.push(p));
  return got;
}

export function bytes(...values) {
  return new Uint8Array(values).buffer;
}

// A push that expects no reply (a broadcast-from): cancel phoenix.js's reply timer, which would
// otherwise keep the process alive for its 10 s default.
export function cast(channel, event, payload) {
  const push = channel.push(event, payload);
  push.cancelTimeout();
  return push;
}
