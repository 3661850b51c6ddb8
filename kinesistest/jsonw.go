package kinesistest

import (
	"encoding/base64"
	"strconv"
	"sync"

	"github.com/shardwise/shardwise/internal/jsonscan"
)

// Hand-written JSON for the responses that carry many records (GetRecords, PutRecords,
// SubscribeToShard events): appending into one buffer avoids an allocation per record.

// appendString appends s as a JSON string, escaped as the AWS SDK escapes it.
func appendString(dst []byte, s string) []byte { return jsonscan.AppendString(dst, s) }

func appendBase64(dst, data []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, data)
	return append(dst, '"')
}

// appendRecords appends `"Records":[...]` for recs of shard sh.
func (st *stream) appendRecords(dst []byte, sh *shard, recs []record, encryption string) []byte {
	dst = append(dst, `"Records":[`...)
	for i := range recs {
		r := &recs[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"SequenceNumber":"`...)
		dst = appendSeqSuffix(dst, r.seq, &sh.seqSuffix)
		dst = append(dst, `","ApproximateArrivalTimestamp":`...)
		dst = appendEpoch(dst, r.arrivalMs)
		dst = append(dst, `,"Data":`...)
		dst = appendBase64(dst, r.data)
		if r.pk != "" { // records written without a partition key (AUTO distribution) have none
			dst = append(dst, `,"PartitionKey":`...)
			dst = appendString(dst, r.pk)
		}
		if encryption != encryptionNone {
			dst = append(dst, `,"EncryptionType":`...)
			dst = appendString(dst, encryption)
		}
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendChildShards appends `"ChildShards":[...]` for the children of sh.
func appendChildShards(dst []byte, sh *shard) []byte {
	dst = append(dst, `"ChildShards":[`...)
	for i, c := range sh.children {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"ShardId":`...)
		dst = appendString(dst, c.id)
		dst = append(dst, `,"ParentShards":[`...)
		dst = appendString(dst, c.parent)
		if c.adjacent != "" {
			dst = append(dst, ',')
			dst = appendString(dst, c.adjacent)
		}
		dst = append(dst, `],"HashKeyRange":{"StartingHashKey":"`...)
		dst = c.rng.Start.AppendDecimal(dst)
		dst = append(dst, `","EndingHashKey":"`...)
		dst = c.rng.End.AppendDecimal(dst)
		dst = append(dst, `"}}`...)
	}
	return append(dst, ']')
}

func appendIntField(dst []byte, name string, v int64) []byte {
	dst = append(dst, '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return strconv.AppendInt(dst, v, 10)
}

// Response buffers are recycled: a GetRecords answer can be megabytes, and allocating one per call
// keeps the garbage collector busy. ServeHTTP returns every handler's answer to the pool once written.
var bufPool sync.Pool // of *[]byte

// getBuf returns an empty buffer with room for n bytes.
func getBuf(n int) []byte {
	if p, ok := bufPool.Get().(*[]byte); ok && cap(*p) >= n {
		return (*p)[:0]
	}
	return make([]byte, 0, n)
}

// putBuf recycles b; the caller must not use it afterwards.
func putBuf(b []byte) {
	if cap(b) == 0 || cap(b) > 16<<20 {
		return
	}
	b = b[:0]
	bufPool.Put(&b)
}
