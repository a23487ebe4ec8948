// The Phoenix socket every page uses: phoenix.js from npm, unchanged.
//
//   ?transport=longpoll   use LongPoll only (proxies that refuse WebSocket; also how the tests
//                         prove the fallback transport); otherwise WebSocket, falling back to
//                         LongPoll by itself when WebSocket fails for longPollFallbackMs
//   ?token=JWT            sent as the `token` connect param when the server requires one
//
// Reconnects start fast (a server restart or a blip is back in ~100 ms) and back off to 5 s.
// The browser knows that the network went away long before a heartbeat would time out (30 s),
// so the socket is closed on `offline` and opened again on `online`: the page says "offline" at
// once and local edits are merged on reconnect.
import { LongPoll, Socket } from 'phoenix';

const RECONNECT_MS = [100, 250, 500, 1000, 2000];

export function connectSocket(extraParams = {}) {
  const query = new URLSearchParams(location.search);
  const params = { ...extraParams };
  if (query.get('token')) params.token = query.get('token');
  const opts = {
    params,
    reconnectAfterMs: (tries) => RECONNECT_MS[tries - 1] ?? 5000,
    rejoinAfterMs: (tries) => RECONNECT_MS[tries - 1] ?? 5000,
  };
  if (query.get('transport') === 'longpoll') opts.transport = LongPoll;
  else opts.longPollFallbackMs = 3000;
  const socket = new Socket('/socket', opts);
  addEventListener('offline', () => socket.disconnect());
  addEventListener('online', () => socket.connect());
  socket.connect();
  return socket;
}

// The transport in use, for the page to show ("WebSocket" or "LongPoll").
export function transportName(socket) {
  return socket.transport === LongPoll ? 'LongPoll' : 'WebSocket';
}
