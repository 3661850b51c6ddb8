// A KCL record processor for the Node client aws-kcl (lib/kcl from the npm registry), used by
// TestMultilangNodeClient when the upstream sample consumer is not available (see that test). It does
// what a typical consumer does: it writes each record to a log file, checkpoints the last sequence number
// of every batch (the Node client's checkpoint(seq): no sub-sequence number), and checkpoints at shard end
// and on a shutdown request. Log lines use the upstream sample's line shapes, so the test reads both the
// same way.
'use strict';

var fs = require('fs');
var path = require('path');
var kcl = require('aws-kcl');

var logFile = path.join(process.env.NODE_LOG_DIR || '.', 'application.log');

function log(msg) {
  // Synchronous, so a line is on disk before the status that follows it.
  fs.appendFileSync(logFile, new Date().toISOString() + ' (PID: ' + process.pid + ') INFO recordProcessor - ' + msg + '\n');
}

function processor() {
  var shardId;
  return {
    initialize: function (input, done) {
      shardId = input.shardId;
      done();
    },
    processRecords: function (input, done) {
      var records = input.records || [];
      var last;
      records.forEach(function (r) {
        var data = Buffer.from(r.data, 'base64').toString();
        last = r.sequenceNumber;
        log('ShardID: ' + shardId + ', Record: ' + data + ', SeqenceNumber: ' + r.sequenceNumber + ', PartitionKey:' + r.partitionKey);
      });
      if (!last) {
        done();
        return;
      }
      input.checkpointer.checkpoint(last, function (err, seq) {
        if (err) {
          log('Checkpoint failed. ShardID: ' + shardId + ', Error: ' + err);
        } else {
          log('Checkpoint successful. ShardID: ' + shardId + ', SeqenceNumber: ' + seq);
        }
        done();
      });
    },
    leaseLost: function (input, done) {
      log('Lease was lost for ShardId: ' + shardId);
      done();
    },
    shardEnded: function (input, done) {
      log('ShardId: ' + shardId + ' has ended. Will checkpoint now.');
      input.checkpointer.checkpoint(function () { done(); });
    },
    shutdownRequested: function (input, done) {
      input.checkpointer.checkpoint(function () { done(); });
    }
  };
}

kcl(processor()).run();
