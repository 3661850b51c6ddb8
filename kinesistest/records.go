package kinesistest

import (
	"fmt"
	"sort"
	"time"

	"github.com/shardwise/shardwise/aggregation"
)

// The data plane: PutRecord, PutRecords, GetShardIterator, GetRecords.

// entry is a validated record on its way in.
type entry struct {
	pk   string
	data []byte
	key  aggregation.HashKey
}

// checkEntry makes the checks Kinesis makes once a record has passed model validation: the explicit
// hash key's range, a partition key where the stream's distribution needs one, and (under
// EnforceLimits) the stream's maximum record size. dist is the stream's distribution strategy.
func (s *Server) checkEntry(pk string, hasPK bool, ehk string, hasEHK bool, data []byte, maxBytes int, dist, streamName string) (entry, *Error) {
	e := entry{pk: pk, data: data}
	if hasEHK {
		k, err := aggregation.ParseHashKey(ehk)
		if err != nil {
			return entry{}, errInvalid("Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was %s", ehk)
		}
		e.key = k
	} else if hasPK {
		e.key = aggregation.PartitionKeyHash(pk)
	}
	if !hasPK && dist != RecordDistributionAuto {
		return entry{}, errInvalid("A partition key is required: stream %s uses the %s record distribution strategy.", streamName, dist)
	}
	if s.cfg.limits && len(pk)+len(data) > maxBytes {
		return entry{}, errInvalid("Record size %d bytes (data and partition key) exceeds the stream's maximum record size of %d bytes.", len(pk)+len(data), maxBytes)
	}
	return e, nil
}

func throttleMessage(sh *shard, st *stream, account string) string {
	return fmt.Sprintf("Rate exceeded for shard %s in stream %s under account %s.", sh.id, st.name, account)
}

func (s *Server) putRecord(c *call) ([]byte, *Error) {
	var in putRecordInput
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	var v violations
	checkRecordModel(&v, "", deref(in.PartitionKey), in.PartitionKey != nil, deref(in.ExplicitHashKey), in.ExplicitHashKey != nil, in.Data)
	if err := v.err(); err != nil {
		return nil, err
	}
	st, err := s.lookup(in.streamRef)
	if err != nil {
		return nil, err
	}
	st.mu.RLock()
	maxBytes := st.maxRecordKiB << 10
	dist := st.distribution
	st.mu.RUnlock()
	if dist == RecordDistributionAuto && in.SequenceNumberForOrdering != nil {
		return nil, errInvalid("SequenceNumberForOrdering is not supported on stream %s: it uses the AUTO record distribution strategy.", st.name)
	}
	e, err := s.checkEntry(deref(in.PartitionKey), in.PartitionKey != nil, deref(in.ExplicitHashKey), in.ExplicitHashKey != nil, in.Data, maxBytes, dist, st.name)
	if err != nil {
		return nil, err
	}
	if code := c.failEntries[0]; code != "" {
		return nil, &Error{Code: code, Message: "failed by a control function"}
	}
	if s.faults.entryFault("PutRecord") {
		return nil, &Error{Code: CodeInternalFailure, Message: "injected fault: internal failure"}
	}
	st.mu.Lock()
	sh := st.place(e.key)
	if sh == nil {
		st.mu.Unlock()
		return nil, errorf(CodeInternalFailure, "no open shard owns hash key %s", e.key)
	}
	if s.cfg.limits && !sh.lim.admitWrite(len(e.pk)+len(e.data), c.now) {
		st.mu.Unlock()
		return nil, errorf(CodeThroughputExceeded, "%s", throttleMessage(sh, st, s.cfg.account))
	}
	st.trim(sh, c.now)
	st.counter++
	sh.records = append(sh.records, record{seq: st.counter, arrivalMs: c.now.UnixMilli(), pk: e.pk, data: e.data})
	seq := st.seqString(st.counter, sh)
	enc := st.encryption
	sh.wake()
	st.mu.Unlock()
	return encode(putRecordOutput{ShardId: sh.id, SequenceNumber: seq, EncryptionType: enc})
}

func (s *Server) putRecords(c *call) ([]byte, *Error) {
	in, ok := fastPutRecords(c.body)
	if !ok {
		in = putRecordsInput{}
		if err := decode(c.body, &in); err != nil {
			return nil, err
		}
	}
	n := len(in.Records)
	if n == 0 {
		return nil, errorf(CodeValidation, "1 validation error detected: Value '[]' at 'records' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if s.cfg.limits && n > maxPutRecordsEntries {
		return nil, errorf(CodeValidation, "1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length less than or equal to %d", maxPutRecordsEntries)
	}
	var v violations
	for i := range in.Records {
		r := &in.Records[i]
		checkRecordModel(&v, recordPath(i), r.PartitionKey, r.hasPK, r.ExplicitHashKey, r.hasEHK, r.Data)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	st, err := s.lookup(in.streamRef)
	if err != nil {
		return nil, err
	}
	st.mu.RLock()
	maxBytes := st.maxRecordKiB << 10
	dist := st.distribution
	st.mu.RUnlock()
	entries := make([]entry, n)
	total := 0
	for i := range in.Records {
		r := &in.Records[i]
		e, err := s.checkEntry(r.PartitionKey, r.hasPK, r.ExplicitHashKey, r.hasEHK, r.Data, maxBytes, dist, st.name)
		if err != nil {
			return nil, err
		}
		entries[i] = e
		total += len(e.pk) + len(e.data)
	}
	if s.cfg.limits && total > s.cfg.maxRequestBytes {
		return nil, errInvalid("Records size exceeds %d MB limit", s.cfg.maxRequestBytes>>20)
	}

	// results[i] is the shard of entry i, or nil with codes[i] set when it failed.
	results := make([]*shard, n)
	seqs := make([]uint64, n)
	codes := make([]string, n)
	for i := range entries {
		if code := c.failEntries[i]; code != "" {
			codes[i] = code
		} else if s.faults.entryFault("PutRecords") {
			codes[i] = codeInternalFailureEntry
		}
	}
	now := c.now
	nowMs := now.UnixMilli()
	st.mu.Lock()
	failed := 0
	var touched []*shard
	for i := range entries {
		e := &entries[i]
		if codes[i] != "" {
			failed++
			continue
		}
		sh := st.place(e.key)
		if sh == nil {
			codes[i] = codeInternalFailureEntry
			failed++
			continue
		}
		if s.cfg.limits && !sh.lim.admitWrite(len(e.pk)+len(e.data), now) {
			codes[i] = CodeThroughputExceeded
			results[i] = sh // for the message
			failed++
			continue
		}
		if len(touched) == 0 || touched[len(touched)-1] != sh {
			st.trim(sh, now)
			touched = appendUnique(touched, sh)
		}
		st.counter++
		sh.records = append(sh.records, record{seq: st.counter, arrivalMs: nowMs, pk: e.pk, data: e.data})
		results[i] = sh
		seqs[i] = st.counter
	}
	for _, sh := range touched {
		sh.wake()
	}
	enc := st.encryption
	st.mu.Unlock()

	out := getBuf(64 + n*110)
	out = appendIntField(append(out, '{'), "FailedRecordCount", int64(failed))
	out = append(out, `,"Records":[`...)
	for i := range entries {
		if i > 0 {
			out = append(out, ',')
		}
		switch code := codes[i]; {
		case code == "":
			out = append(out, `{"SequenceNumber":"`...)
			out = appendSeqSuffix(out, seqs[i], &results[i].seqSuffix)
			out = append(out, `","ShardId":"`...)
			out = append(out, results[i].id...)
			out = append(out, `"}`...)
		case code == CodeThroughputExceeded && results[i] != nil:
			out = append(out, `{"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":`...)
			out = appendString(out, throttleMessage(results[i], st, s.cfg.account))
			out = append(out, '}')
		default:
			out = append(out, `{"ErrorCode":`...)
			out = appendString(out, code)
			out = append(out, `,"ErrorMessage":`...)
			if code == codeInternalFailureEntry {
				out = appendString(out, "Internal service failure.")
			} else {
				out = appendString(out, "failed by a control function")
			}
			out = append(out, '}')
		}
	}
	out = append(out, `],"EncryptionType":`...)
	out = appendString(out, enc)
	return append(out, '}'), nil
}

func appendUnique(list []*shard, sh *shard) []*shard {
	for _, x := range list {
		if x == sh {
			return list
		}
	}
	return append(list, sh)
}

const (
	iterAtSequence    = "AT_SEQUENCE_NUMBER"
	iterAfterSequence = "AFTER_SEQUENCE_NUMBER"
	iterTrimHorizon   = "TRIM_HORIZON"
	iterLatest        = "LATEST"
	iterAtTimestamp   = "AT_TIMESTAMP"
)

// position resolves a starting position in sh to the first counter to read. Caller holds st.mu.
func (st *stream) position(sh *shard, typ, seq string, ts *epoch, now time.Time) (uint64, *Error) {
	first := sh.startSeq + 1
	var pos uint64
	switch typ {
	case iterTrimHorizon:
		pos = first
	case iterLatest:
		if sh.isOpen() {
			pos = st.counter + 1
		} else {
			pos = sh.endSeq
		}
	case iterAtSequence, iterAfterSequence:
		if seq == "" {
			return 0, errInvalid("StartingSequenceNumber is required for %s.", typ)
		}
		c, err := st.parseSeq(seq, sh)
		if err != nil {
			return 0, err
		}
		pos = c
		if typ == iterAfterSequence {
			pos++
		}
	case iterAtTimestamp:
		if ts == nil {
			return 0, errInvalid("Timestamp is required for AT_TIMESTAMP.")
		}
		ms := time.Time(*ts).UnixMilli()
		if nowMs := now.UnixMilli(); ms > nowMs {
			return 0, errInvalid("The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: %d, currentTimestampInMillis: %d", ms, nowMs)
		}
		recs := st.retained(sh, first, now)
		// Arrival times do not decrease along a shard: the first record at or after ms starts the read.
		pos = 0
		if i := sort.Search(len(recs), func(i int) bool { return recs[i].arrivalMs >= ms }); i < len(recs) {
			pos = recs[i].seq
		}
		if pos == 0 { // nothing at or after the time yet: read what arrives from now on
			if sh.isOpen() {
				pos = st.counter + 1
			} else {
				pos = sh.endSeq
			}
		}
	default:
		return 0, errorf(CodeValidation, "1 validation error detected: Value '%s' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, AT_SEQUENCE_NUMBER, AT_TIMESTAMP, TRIM_HORIZON, LATEST]", typ)
	}
	if pos < first {
		pos = first
	}
	return pos, nil
}

func (s *Server) getShardIterator(c *call) ([]byte, *Error) {
	var in getShardIteratorInput
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	st, err := s.lookup(in.streamRef)
	if err != nil {
		return nil, err
	}
	st.mu.RLock()
	sh := st.shardByID(in.ShardId)
	if sh == nil || !st.visible(sh, c.now) {
		st.mu.RUnlock()
		return nil, errNotFound("Shard %s in stream %s under account %s does not exist", in.ShardId, st.name, s.cfg.account)
	}
	pos, err := st.position(sh, in.ShardIteratorType, in.StartingSequenceNumber, in.Timestamp, c.now)
	st.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	return encode(getShardIteratorOutput{ShardIterator: encodeIterator(iterator{stream: st.id, shard: sh.index, pos: pos, issued: c.now})})
}

func (s *Server) getRecords(c *call) ([]byte, *Error) {
	var in getRecordsInput
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	limit := maxGetRecordsCount
	if in.Limit != nil {
		limit = *in.Limit
		if limit < 1 || limit > maxGetRecordsCount {
			return nil, errorf(CodeValidation, "1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and 10000", limit)
		}
	}
	it, ok := decodeIterator(in.ShardIterator)
	if !ok {
		return nil, errInvalid("Invalid ShardIterator.")
	}
	if age := c.now.Sub(it.issued); age > s.cfg.iteratorTTL {
		return nil, errorf(CodeExpiredIterator, "Iterator expired. The iterator was created at time %s while right now it is %s which is further in the future than the tolerated delay of %d milliseconds.",
			it.issued.UTC().Format(time.RFC1123), c.now.UTC().Format(time.RFC1123), s.cfg.iteratorTTL.Milliseconds())
	}
	s.mu.RLock()
	st := s.byID[it.stream]
	s.mu.RUnlock()
	if st == nil {
		return nil, errNotFound("The stream of the shard iterator does not exist.")
	}

	st.mu.RLock()
	if it.shard >= len(st.shards) {
		st.mu.RUnlock()
		return nil, errInvalid("Invalid ShardIterator.")
	}
	sh := st.shards[it.shard]
	if s.cfg.limits {
		sh.lim.getMu.Lock()
		ok := sh.lim.admitGet(c.now)
		sh.lim.getMu.Unlock()
		if !ok {
			st.mu.RUnlock()
			return nil, errorf(CodeThroughputExceeded, "%s", throttleMessage(sh, st, s.cfg.account))
		}
	}
	all := st.retained(sh, it.pos, c.now)
	recs := all
	if len(recs) > limit {
		recs = recs[:limit]
	}
	bytes := 0
	for i := range recs {
		if b := recs[i].size(); bytes+b > maxGetRecordsBytes && i > 0 {
			recs = recs[:i]
			break
		} else {
			bytes += b
		}
	}
	if s.cfg.limits {
		sh.lim.getMu.Lock()
		sh.lim.chargeGet(bytes)
		sh.lim.getMu.Unlock()
	}
	next := it.pos
	if len(recs) > 0 {
		next = recs[len(recs)-1].seq + 1
	}
	var behind int64
	if len(recs) < len(all) {
		behind = c.now.UnixMilli() - all[len(recs)].arrivalMs
		if behind < 0 {
			behind = 0
		}
	}
	atEnd := !sh.isOpen() && len(recs) == len(all)
	enc := st.encryption
	st.mu.RUnlock()

	size := 128
	for i := range recs {
		size += 140 + len(recs[i].pk) + len(recs[i].data)*4/3
	}
	out := getBuf(size)
	out = append(out, '{')
	out = st.appendRecords(out, sh, recs, enc)
	if !atEnd {
		out = append(out, `,"NextShardIterator":"`...)
		out = appendIterator(out, iterator{stream: st.id, shard: sh.index, pos: next, issued: c.now})
		out = append(out, '"')
	}
	out = append(out, ',')
	out = appendIntField(out, "MillisBehindLatest", behind)
	if atEnd {
		out = append(out, ',')
		out = appendChildShards(out, sh)
	}
	return append(out, '}'), nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
