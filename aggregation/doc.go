// Package aggregation implements the KPL aggregated-record format, byte-compatible with the Kinesis
// Producer Library, so records it packs are read by the Java KCL, AWS Lambda and aws-kinesis-agg, and
// records they pack are read by Deaggregate. It also holds the hash-key arithmetic that routes records
// to shards, shared by the producer (kpl) and the consumer (kcl). It imports nothing from AWS.
//
// # Format
//
// An aggregated record is the 4 bytes [Magic] (F3 89 9A C2), a protobuf AggregatedRecord, and the
// 16-byte MD5 of the protobuf bytes:
//
//	message AggregatedRecord {
//	  repeated string partition_key_table     = 1;
//	  repeated string explicit_hash_key_table = 2;
//	  repeated Record records                 = 3;
//	}
//	message Record {
//	  required uint64 partition_key_index     = 1;
//	  optional uint64 explicit_hash_key_index = 2;
//	  required bytes  data                    = 3;
//	  repeated Tag    tags                    = 4;
//	}
//	message Tag { required string key = 1; optional string value = 2; }
//
// Each distinct key appears once in its table. The Kinesis record carrying an aggregate has partition
// key "a" and, as explicit hash key, the hash key of its first user record; every user record in one
// aggregate must belong to the same shard. User records get sub-sequence numbers 0..n-1.
//
// # Usage
//
//	agg := aggregation.NewAggregator(aggregation.DefaultMaxSize)
//	for _, r := range records {
//		if err := agg.Add(r); errors.Is(err, aggregation.ErrFull) {
//			send(agg.Flush())
//			err = agg.Add(r)
//		}
//	}
//	send(agg.Flush())
//
//	users, err := aggregation.Deaggregate(kinesisRecord.Data)
//
// # Hash keys
//
// A record's hash key is its explicit hash key (decimal, 0 to 2^128-1) when set, otherwise the MD5 of
// its UTF-8 partition key read as an unsigned 128-bit big-endian number ([EffectiveHashKey]). A shard
// owns the keys in [StartingHashKey, EndingHashKey]; [ShardMap] finds the owner of a key.
// [ParseHashKey], [HashKey.String] and [ParseHashRange] read and write the decimal form, and a
// [HashRange] does the arithmetic of resharding exactly over [0, 2^128-1]: [HashRange.Contains],
// [HashRange.Split] (n equal parts, as CreateStream and UpdateShardCount divide the key space),
// [HashRange.Midpoint], [HashRange.SplitAt] (as SplitShard divides a shard) and [HashRange.Adjacent]
// (the condition of MergeShards).
//
// # Concurrency and errors
//
// An [Aggregator] is not safe for concurrent use; everything else is. Errors are sentinels ([ErrFull],
// [ErrTooLarge], [ErrChecksum], [ErrCorrupt], [ErrInvalidPartitionKey], [ErrInvalidHashKey]) or detail
// types wrapping them; decoding never panics on any input and allocates at most in proportion to it.
package aggregation
