package aggregation

import (
	"crypto/md5"

	"github.com/shardwise/shardwise/internal/md5x"
)

// An Aggregator packs user records bound for one shard into a KPL aggregated record. Add encodes
// each record at once (copying its Data), so the caller may reuse a record's Data after Add returns;
// the user records Flush returns still refer to the caller's values. An Aggregator is not safe for
// concurrent use.
//
// The zero value is not usable; call NewAggregator.
type Aggregator struct {
	maxSize int

	records []Record // user records in Add order, returned by Flush
	recBuf  []byte   // their encoded Record messages (field 3 of AggregatedRecord), in order

	pks  keyTable // partition_key_table
	ehks keyTable // explicit_hash_key_table
	// The tables' encoded entries (fields 1 and 2), written by Add while the key is in the cache:
	// encode would otherwise read every distinct key again, long after the caller last touched it.
	pkBuf, ehkBuf []byte

	noSum    bool // AppendFlushUnsummed: leave the MD5 trailer zero
	bodySize int  // exact protobuf body size of what was added
	stale    bool // flushed: records' backing array and the key tables still hold the last aggregate
}

const noEHK = ^uint64(0)

// NewAggregator returns an Aggregator whose flushed payloads are at most maxSize bytes (magic, protobuf
// and MD5 trailer included). A maxSize below 21 bytes is raised to 21, the smallest aggregate; a value
// of 0 or less selects DefaultMaxSize.
func NewAggregator(maxSize int) *Aggregator {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if maxSize < overhead+1 {
		maxSize = overhead + 1
	}
	a := &Aggregator{
		maxSize: maxSize,
		pks:     newKeyTable(),
		ehks:    newKeyTable(),
	}
	a.recBuf = make([]byte, 0, min(maxSize, 64<<10))
	return a
}

// MaxSize returns the configured maximum payload size.
func (a *Aggregator) MaxSize() int { return a.maxSize }

// Len returns the number of user records added since the last Flush.
func (a *Aggregator) Len() int { return len(a.records) }

// Size returns the exact length of the Data that Flush would return now: 0 when empty, the record's
// own data length when it holds one record (Flush sends a single record unaggregated), otherwise the
// length of the aggregated payload.
func (a *Aggregator) Size() int {
	switch len(a.records) {
	case 0:
		return 0
	case 1:
		return len(a.records[0].Data)
	}
	return overhead + a.bodySize
}

// AggregatedSize returns the length the aggregated payload would have now, even for zero or one record.
func (a *Aggregator) AggregatedSize() int { return overhead + a.bodySize }

// Add appends r to the aggregate. It validates the partition key and explicit hash key (returning an
// error wrapping ErrInvalidPartitionKey or ErrInvalidHashKey), returns ErrTooLarge when r cannot fit in
// an aggregate of MaxSize even alone, and ErrFull when it does not fit beside the records already
// held: Flush, then Add it again. On error nothing is added.
func (a *Aggregator) Add(r Record) error {
	if err := ValidatePartitionKey(r.PartitionKey); err != nil {
		return err
	}
	if r.ExplicitHashKey != "" {
		if _, err := ParseHashKey(r.ExplicitHashKey); err != nil {
			return err
		}
	}

	if a.stale {
		a.clean()
	}
	// What r costs on its own: table entries for keys the aggregate lacks, plus its Record message.
	pkIdx, pkSlot, pkHash, pkKnown := a.pks.find(r.PartitionKey)
	ehkIdx, ehkSlot, ehkHash, ehkKnown := noEHK, 0, uint64(0), true
	if r.ExplicitHashKey != "" {
		ehkIdx, ehkSlot, ehkHash, ehkKnown = a.ehks.find(r.ExplicitHashKey)
	}
	recSize := 1 + varintLen(pkIdx) + bytesFieldLen(len(r.Data))
	if ehkIdx != noEHK {
		recSize += 1 + varintLen(ehkIdx)
	}
	added := bytesFieldLen(recSize)
	if !pkKnown {
		added += bytesFieldLen(len(r.PartitionKey))
	}
	if !ehkKnown {
		added += bytesFieldLen(len(r.ExplicitHashKey))
	}

	if overhead+a.bodySize+added > a.maxSize {
		// Would it fit in an empty aggregate? There every index is 0 and every key is new.
		alone := 1 + 1 + bytesFieldLen(len(r.Data))
		if r.ExplicitHashKey != "" {
			alone += 2
		}
		aloneTotal := overhead + bytesFieldLen(alone) + bytesFieldLen(len(r.PartitionKey))
		if r.ExplicitHashKey != "" {
			aloneTotal += bytesFieldLen(len(r.ExplicitHashKey))
		}
		if aloneTotal > a.maxSize {
			return ErrTooLarge
		}
		return ErrFull
	}

	if !pkKnown {
		a.pks.insert(r.PartitionKey, pkSlot, pkHash)
		a.pkBuf = appendVarint(append(a.pkBuf, keyPartitionKeyTable), uint64(len(r.PartitionKey)))
		a.pkBuf = append(a.pkBuf, r.PartitionKey...)
	}
	if !ehkKnown {
		a.ehks.insert(r.ExplicitHashKey, ehkSlot, ehkHash)
		a.ehkBuf = appendVarint(append(a.ehkBuf, keyExplicitHashKeyTbl), uint64(len(r.ExplicitHashKey)))
		a.ehkBuf = append(a.ehkBuf, r.ExplicitHashKey...)
	}
	a.records = append(a.records, r)
	// Encode the record now, while its data is likely still in the caller's cache; Flush then copies
	// one contiguous block.
	b := append(a.recBuf, keyRecords)
	b = appendVarint(b, uint64(recSize))
	b = append(b, keyPartitionKeyIndex)
	b = appendVarint(b, pkIdx)
	if ehkIdx != noEHK {
		b = append(b, keyExplicitHashKeyIdx)
		b = appendVarint(b, ehkIdx)
	}
	b = append(b, keyData)
	b = appendVarint(b, uint64(len(r.Data)))
	a.recBuf = append(b, r.Data...)
	a.bodySize += added
	return nil
}

// Flush returns the Kinesis record to send for everything added, and the user records it carries in
// order (their index is their sub-sequence number), then resets the Aggregator. With no records it
// returns a zero Record and nil. With one record it returns that record unaggregated, as the KPL does.
// With more it returns Record{PartitionKey: "a", ExplicitHashKey: the decimal hash key of the first
// user record, Data: the aggregated payload}.
//
// The returned Record's Data is the caller's. The returned slice of user records is only valid until
// the next call to Add: the Aggregator reuses its backing array (copy it to keep it).
func (a *Aggregator) Flush() (Record, []Record, error) {
	return a.AppendFlush(nil)
}

// AppendFlush is Flush writing an aggregated payload into dst's spare capacity (appending to
// dst[:0]) instead of a new buffer, so a caller that recycles payload buffers after sending them
// avoids an allocation and its zeroing per aggregate. A single record is returned unaggregated and
// dst is not used.
func (a *Aggregator) AppendFlush(dst []byte) (Record, []Record, error) {
	recs := a.records
	switch len(recs) {
	case 0:
		return Record{}, nil, nil
	case 1:
		a.reset()
		return recs[0], recs, nil
	}
	first, err := EffectiveHashKey(recs[0].PartitionKey, recs[0].ExplicitHashKey)
	if err != nil { // validated in Add; kept for safety
		return Record{}, nil, err
	}
	payload := a.encode(dst[:0])
	a.reset()
	return Record{PartitionKey: AggregatePartitionKey, ExplicitHashKey: first.String(), Data: payload}, recs, nil
}

// AppendFlushUnsummed is AppendFlush leaving the 16-byte MD5 trailer of an aggregated payload
// zero, for a caller that checksums several payloads at once with SealAggregates before using them.
// A single record is returned unaggregated, as by AppendFlush.
func (a *Aggregator) AppendFlushUnsummed(dst []byte) (Record, []Record, error) {
	a.noSum = true
	defer func() { a.noSum = false }()
	return a.AppendFlush(dst)
}

// SealAggregates writes the MD5 trailer of each aggregated payload that AppendFlushUnsummed
// returned (several at once where the CPU allows: see internal/md5x).
func SealAggregates(payloads [][]byte) {
	var msgs [16][]byte
	var sums [16][md5.Size]byte
	for len(payloads) > 0 {
		n := min(len(payloads), len(msgs))
		for i, p := range payloads[:n] {
			msgs[i] = p[len(Magic) : len(p)-md5.Size]
		}
		md5x.Sum(msgs[:n], sums[:n])
		for i, p := range payloads[:n] {
			copy(p[len(p)-md5.Size:], sums[i][:])
		}
		payloads = payloads[n:]
	}
}

// encode writes magic | AggregatedRecord | MD5 in field-number order, as the KPL's protobuf
// serializer does: the partition key table, the explicit hash key table, then the records.
func (a *Aggregator) encode(b []byte) []byte {
	if total := overhead + a.bodySize; cap(b) < total {
		b = make([]byte, 0, total)
	}
	b = append(b, Magic...)
	b = append(b, a.pkBuf...)
	b = append(b, a.ehkBuf...)
	b = append(b, a.recBuf...)
	if a.noSum {
		var zero [md5.Size]byte
		return append(b, zero[:]...)
	}
	sum := md5.Sum(b[len(Magic):])
	return append(b, sum[:]...)
}

func (a *Aggregator) reset() {
	// The records' backing array is reused; Flush's caller may read it until the next Add, which
	// clears it (dropping references to user data) before writing. The key tables are cleared
	// then too: an aggregator is often flushed by one goroutine and filled by another, and the
	// filling one clears the tables' memory in one sweep instead of fetching it line by line from
	// the other's cache as its look-ups land there.
	a.records = a.records[:0]
	a.stale = true
	a.recBuf = a.recBuf[:0]
	a.pkBuf, a.ehkBuf = a.pkBuf[:0], a.ehkBuf[:0]
	a.pks.reset()
	a.ehks.reset()
	a.bodySize = 0
}

// clean clears what reset left for the next Add.
func (a *Aggregator) clean() {
	clear(a.records[:cap(a.records)])
	a.pks.clean()
	a.ehks.clean()
	a.stale = false
}
