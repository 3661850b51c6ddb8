'use strict';
// Preloaded (NODE_OPTIONS=--require) into the local engines so that every listening socket binds
// 127.0.0.1 only. kinesis-mock always listens on 0.0.0.0 and has no setting for it; this rewrites the
// host argument of net.Server.prototype.listen before the original runs. Pipes/handles pass through.
const net = require('net');

const loopback = '127.0.0.1';
const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    if (first.path === undefined && first.handle === undefined && first._handle === undefined &&
        first.fd === undefined) {
      args[0] = Object.assign({}, first, { host: loopback });
    }
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, callback])
    if (typeof args[1] === 'string' || args[1] === null || args[1] === undefined) {
      args[1] = loopback;
    } else {
      args.splice(1, 0, loopback);
    }
  }
  return listen.apply(this, args);
};
