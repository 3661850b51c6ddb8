// The record processor of BenchmarkMultilangChild, on the Node client aws-kcl: it decodes every record's
// data, counts the bytes, and checkpoints the last sequence number of each batch.
'use strict';

var kcl = require('aws-kcl');

var bytes = 0;

kcl({
  initialize: function (input, done) { done(); },
  processRecords: function (input, done) {
    var records = input.records || [];
    for (var i = 0; i < records.length; i++) {
      bytes += Buffer.from(records[i].data, 'base64').length;
    }
    if (records.length === 0) {
      done();
      return;
    }
    input.checkpointer.checkpoint(records[records.length - 1].sequenceNumber, function () { done(); });
  },
  leaseLost: function (input, done) { done(); },
  shardEnded: function (input, done) { input.checkpointer.checkpoint(function () { done(); }); },
  shutdownRequested: function (input, done) { input.checkpointer.checkpoint(function () { done(); }); }
}).run();
