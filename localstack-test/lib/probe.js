'use strict';
// Small probes for engines.sh, so the script needs nothing but node.
//
//   node probe.js free PORT            exit 0 if 127.0.0.1:PORT can be bound, 1 if it is busy
//   node probe.js wait-kinesis PORT PID TIMEOUT_MS
//   node probe.js wait-dynamodb PORT PID TIMEOUT_MS
//                                      poll until the engine answers; exit 1 if PID dies or time runs out
//   node probe.js wait-port PORT PID TIMEOUT_MS
//                                      poll until 127.0.0.1:PORT accepts a TCP connection (the TLS port)
//   node probe.js ping-kinesis PORT / ping-dynamodb PORT
//                                      one attempt; exit 0 if it answers
const net = require('net');
const http = require('http');

const [, , cmd, portArg, pidArg, timeoutArg] = process.argv;
const port = Number(portArg);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`probe: bad port ${JSON.stringify(portArg)}`);
  process.exit(2);
}

function free() {
  const srv = net.createServer();
  srv.once('error', (err) => {
    console.error(err.code === 'EADDRINUSE' ? 'busy' : `error: ${err.message}`);
    process.exit(1);
  });
  srv.listen(port, '127.0.0.1', () => srv.close(() => process.exit(0)));
}

// Any request carrying an Authorization header gets an answer from kinesis-mock (an error document for a
// missing target is fine: the server is up). dynalite answers any POST.
function request(kind) {
  const headers = kind === 'kinesis'
    ? {
        'Content-Type': 'application/x-amz-json-1.1',
        'X-Amz-Target': 'Kinesis_20131202.ListStreams',
        Authorization: 'AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0',
      }
    : {
        'Content-Type': 'application/x-amz-json-1.0',
        'X-Amz-Target': 'DynamoDB_20120810.ListTables',
        Authorization: 'AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
      };
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode > 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end('{}');
  });
}

function connect() {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port, timeout: 2000 });
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('timeout', () => { sock.destroy(); resolve(false); });
    sock.once('error', () => resolve(false));
  });
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

async function wait(kind) {
  const pid = Number(pidArg);
  const deadline = Date.now() + Number(timeoutArg || 60000);
  for (;;) {
    if (await (kind === 'port' ? connect() : request(kind))) process.exit(0);
    if (!alive(pid)) {
      console.error(`${kind} engine (pid ${pid}) exited before answering`);
      process.exit(1);
    }
    if (Date.now() > deadline) {
      const what = kind === 'port' ? 'nothing accepted connections' : `${kind} engine did not answer`;
      console.error(`${what} on 127.0.0.1:${port} within ${timeoutArg} ms`);
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

switch (cmd) {
  case 'free': free(); break;
  case 'wait-kinesis': wait('kinesis'); break;
  case 'wait-dynamodb': wait('dynamodb'); break;
  case 'wait-port': wait('port'); break;
  case 'ping-kinesis': request('kinesis').then((ok) => process.exit(ok ? 0 : 1)); break;
  case 'ping-dynamodb': request('dynamodb').then((ok) => process.exit(ok ? 0 : 1)); break;
  default:
    console.error(`probe: unknown command ${JSON.stringify(cmd)}`);
    process.exit(2);
}
