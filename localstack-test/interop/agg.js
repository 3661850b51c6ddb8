'use strict';
// Interop driver for localstack-test/interop_test.go: runs aws-kinesis-agg (an independent JavaScript
// implementation of the KPL aggregated-record format) on JSON from stdin and writes JSON to stdout.
//
//   node agg.js deaggregate   stdin:  {"records": [{"data": b64}, ...]}
//                             stdout: {"results": [{"error": string|null, "records": [{"partitionKey",
//                                     "explicitHashKey" (string|null), "subSequenceNumber", "data": b64}]}]}
//   node agg.js aggregate     stdin:  {"groups": [[{"partitionKey", "explicitHashKey"?, "data": b64}, ...]]}
//                             stdout: {"results": [{"partitionKey", "explicitHashKey" (string|null), "data": b64}]}
//
// Data travels as base64 both ways. Each group is packed into exactly one aggregated record.
const path = require('path');

const agg = require(path.join(__dirname, '..', 'node_modules', 'aws-kinesis-agg'));

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

function deaggregate(input) {
  return input.records.map((rec, i) => {
    const kinesisRecord = {
      partitionKey: 'a',
      sequenceNumber: String(i),
      data: rec.data,
    };
    let result = { error: null, records: [] };
    agg.deaggregateSync(kinesisRecord, true, (err, userRecords) => {
      if (err) {
        result = { error: String(err && err.message ? err.message : err), records: [] };
        return;
      }
      result.records = userRecords.map((u) => ({
        partitionKey: u.partitionKey,
        explicitHashKey: u.explicitPartitionKey === undefined ? null : String(u.explicitPartitionKey),
        subSequenceNumber: u.subSequenceNumber === undefined ? null : u.subSequenceNumber,
        data: u.data,
      }));
    });
    return result;
  });
}

function aggregate(input) {
  return input.groups.map((group) => {
    const aggregator = new agg.RecordAggregator();
    for (const r of group) {
      const rec = { partitionKey: r.partitionKey, data: Buffer.from(r.data, 'base64') };
      if (r.explicitHashKey) rec.explicitHashKey = r.explicitHashKey;
      aggregator.addUserRecord(rec);
    }
    const encoded = aggregator.build();
    return {
      partitionKey: encoded.partitionKey,
      explicitHashKey: encoded.ExplicitHashKey === undefined ? null : encoded.ExplicitHashKey,
      data: encoded.data.toString('base64'),
    };
  });
}

async function main() {
  const mode = process.argv[2];
  const input = JSON.parse(await readStdin());
  let results;
  switch (mode) {
    case 'deaggregate': results = deaggregate(input); break;
    case 'aggregate': results = aggregate(input); break;
    default: throw new Error(`unknown mode ${JSON.stringify(mode)}`);
  }
  process.stdout.write(JSON.stringify({ results }));
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
