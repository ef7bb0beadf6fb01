// Baseline for benchmarks: the smallest idiomatic WebSocket echo and broadcast server on
// Node.js and the `ws` package, with the package's default settings.
//
//   node server.js --mode echo|broadcast [--port 9003]
//
// It listens on 127.0.0.1 only. `echo` sends every message back to its sender. `broadcast`
// sends every message to every open connection, the sender included, as the broadcast
// example of the `ws` README does. Text stays text and binary stays binary.
//
// NOTE: like that example, it does not bound what it buffers for a slow client: `ws` keeps
// every unsent message (see `bufferedAmount`), where switchboard closes the connection
// with 4001.
'use strict';

const { parseArgs } = require('node:util');
const { WebSocketServer, WebSocket } = require('ws');

const HOST = '127.0.0.1';
const MODES = ['echo', 'broadcast'];

function parseOptions() {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string' },
      port: { type: 'string', default: '9003' },
    },
  });
  if (!MODES.includes(values.mode)) {
    throw new Error(`invalid --mode ${values.mode}; use echo or broadcast`);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`invalid --port ${values.port}; use a port number from 0 to 65535`);
  }
  return { mode: values.mode, port };
}

function main() {
  let options;
  try {
    options = parseOptions();
  } catch (error) {
    console.error(`${error.message}\nusage: node server.js --mode echo|broadcast [--port 9003]`);
    process.exit(2);
  }

  const wss = new WebSocketServer({ host: HOST, port: options.port });

  wss.on('connection', (ws) => {
    ws.on('error', (error) => console.error(`connection failed: ${error.message}`));
    ws.on('message', (data, isBinary) => {
      if (options.mode === 'echo') {
        ws.send(data, { binary: isBinary });
        return;
      }
      for (const client of wss.clients) {
        if (client.readyState === WebSocket.OPEN) {
          client.send(data, { binary: isBinary });
        }
      }
    });
  });

  wss.on('listening', () => {
    console.log(`baseline-node-ws listening ws://${HOST}:${wss.address().port}/`);
  });

  wss.on('error', (error) => {
    console.error(`server failed: ${error.message}`);
    process.exit(1);
  });

  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      for (const client of wss.clients) {
        client.terminate();
      }
      wss.close(() => process.exit(0));
    });
  }
}

main();
