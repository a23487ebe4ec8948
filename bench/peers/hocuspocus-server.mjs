// Hocuspocus 2 with its defaults (no extensions, no persistence), for bench/fanout.mjs.
// PORT and HOST from the environment; prints "listening <port>" once it accepts connections.
import { Server } from '@hocuspocus/server';

const server = Server.configure({
  port: Number(process.env.PORT || 0),
  address: process.env.HOST || '127.0.0.1',
  quiet: true,
});
await server.listen();
console.log(`listening ${server.address.port}`);
