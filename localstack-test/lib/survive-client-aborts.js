'use strict';
// Preloaded (NODE_OPTIONS=--require) into dynalite only. dynalite's request handler rethrows a
// request stream's 'error' event (req.on('error', err => { throw err })), so a client that resets
// its connection in the middle of a request body (an SDK call cancelled by its deadline, a worker
// killed with SIGKILL, the chaos suite's fault proxy) kills the whole engine with an uncaught
// ECONNRESET / "aborted" error. Real DynamoDB outlives its clients: this keeps the process alive for
// exactly those errors, logs them, and keeps Node's behaviour (report, exit 1) for every other one.
const clientAbort = (err) =>
  err !== null && typeof err === 'object' &&
  (err.code === 'ECONNRESET' || err.code === 'ECONNABORTED' || err.code === 'EPIPE' || err.message === 'aborted');

process.on('uncaughtException', (err, origin) => {
  if (clientAbort(err)) {
    console.error(`dynalite: a client aborted its request (${err.code || err.message}); serving on`);
    return;
  }
  console.error(`${origin}:`, err);
  process.exit(1);
});
