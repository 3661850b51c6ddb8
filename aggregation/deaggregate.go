package aggregation

import (
	"bytes"
	"crypto/md5"
	"slices"
)

// IsAggregated reports whether data is a KPL aggregated record: it starts with Magic, is longer than
// the magic and trailer alone, and its MD5 trailer matches the body. It does not parse the body.
func IsAggregated(data []byte) bool {
	if len(data) <= overhead || string(data[:len(Magic)]) != Magic {
		return false
	}
	body := data[len(Magic) : len(data)-md5.Size]
	sum := md5.Sum(body)
	return bytes.Equal(sum[:], data[len(data)-md5.Size:])
}

// Deaggregate returns the user records in data.
//
// Data that does not start with Magic, or is not longer than 20 bytes, is a plain record: the result
// is one UserRecord with that Data, sub-sequence number 0 and an empty PartitionKey (the caller knows
// the Kinesis record's key). Data with the magic but a wrong MD5 trailer returns ErrChecksum; a body
// that fails to parse returns a *CorruptError wrapping ErrCorrupt. A consumer that wants the Java KCL's
// behaviour treats either error as "deliver data as one plain record".
//
// The user records' Data are sub-slices of data (no copy): they stay valid as long as data does, and
// change if data is changed. Partition keys and explicit hash keys are substrings of one private copy
// of the key tables, so the only allocations are that copy, the two tables and the result slice.
func Deaggregate(data []byte) ([]UserRecord, error) {
	return AppendDeaggregate(nil, data)
}

// AppendDeaggregate is Deaggregate appending the user records to dst, so a consumer decoding many
// aggregates can reuse one slice instead of allocating a result per aggregate. On error dst is
// returned unchanged (its length; spare capacity may have been written).
func AppendDeaggregate(dst []UserRecord, data []byte) ([]UserRecord, error) {
	if len(data) <= overhead || string(data[:len(Magic)]) != Magic {
		return append(dst, UserRecord{Record: Record{Data: data}}), nil
	}
	body := data[len(Magic) : len(data)-md5.Size]
	sum := md5.Sum(body)
	if !bytes.Equal(sum[:], data[len(data)-md5.Size:]) {
		return dst, ErrChecksum
	}
	return parseAggregate(dst, body)
}

// parseAggregate decodes an AggregatedRecord body. Offsets in errors are relative to body.
func parseAggregate(dst []UserRecord, body []byte) ([]UserRecord, error) {
	// Pass 1: validate the top-level structure and count, so every allocation is exact and bounded by
	// the input size, and find where the key tables end.
	var nPK, nEHK, nRec, tablesEnd int
	ordered := true // every table entry precedes every record, as the KPL writes them
	for i := 0; i < len(body); {
		var f field
		var next int
		if k := body[i]; k < 0x80 && k&7 == wireBytes && k>>3 != 0 {
			// Fast path: a one-byte key of a length-delimited field, the only kind KPL writes here.
			n, j, ok := readLength(body, i+1)
			if !ok || n > uint64(len(body)-j) {
				return dst, &CorruptError{Offset: i + 1, Reason: "bad or overlong length"}
			}
			f, next = field{num: uint64(k >> 3), typ: wireBytes}, j+int(n)
		} else {
			var err error
			if f, next, err = readField(body, i, 0); err != nil {
				return dst, err
			}
		}
		switch f.num {
		case 1, 2, 3:
			if f.typ != wireBytes {
				return dst, &CorruptError{Offset: i, Reason: "wrong wire type for AggregatedRecord field"}
			}
			switch f.num {
			case 1:
				nPK++
				tablesEnd = next
				ordered = ordered && nRec == 0
			case 2:
				nEHK++
				tablesEnd = next
				ordered = ordered && nRec == 0
			case 3:
				nRec++
			}
		}
		i = next
	}

	// Keys are substrings of one private copy of the body up to the last table entry, so they are
	// immutable and cost one allocation however many there are.
	var keys string
	if tablesEnd > 0 {
		keys = string(body[:tablesEnd])
	}
	p := parser{
		body:     body,
		keys:     keys,
		pkTable:  make([]string, 0, nPK),
		ehkTable: make([]string, 0, nEHK),
		out:      slices.Grow(dst, nRec),
		base:     len(dst),
	}
	if ordered {
		if err := p.fields(true, true); err != nil {
			return dst, err
		}
	} else {
		_ = p.fields(true, false) // cannot fail: tables only, validated above
		if err := p.fields(false, true); err != nil {
			return dst, err
		}
	}
	return p.out, nil
}

type parser struct {
	body              []byte
	keys              string // string(body[:tablesEnd])
	pkTable, ehkTable []string
	out               []UserRecord
	base              int // len(out) before this aggregate: sub-sequence numbers count from here
}

// fields walks the top-level fields (validated by pass 1), collecting table entries, records, or both.
func (p *parser) fields(tables, records bool) error {
	b := p.body
	for i := 0; i < len(b); {
		// Fast path for the one-byte keys and lengths below 2^14 that KPL aggregates use.
		var num, typ int
		var start, end int
		if k := b[i]; k < 0x80 && k&7 == wireBytes {
			num, typ = int(k>>3), wireBytes
			n, j, _ := readLength(b, i+1)
			start, end = j, j+int(n)
		} else {
			f, next, _ := readField(b, i, 0)
			num, typ, start, end = int(f.num), f.typ, f.start, f.end
			if typ != wireBytes {
				i = next
				continue
			}
		}
		switch {
		case num == 1 && tables:
			p.pkTable = append(p.pkTable, p.keys[start:end])
		case num == 2 && tables:
			p.ehkTable = append(p.ehkTable, p.keys[start:end])
		case num == 3 && records:
			n := len(p.out)
			p.out = p.out[:n+1] // capacity counted in pass 1
			r := &p.out[n]
			if err := parseRecord(r, b[start:end], start, p.pkTable, p.ehkTable); err != nil {
				return err
			}
			r.SubSequenceNumber = n - p.base
		}
		i = end
	}
	return nil
}

// parseRecord decodes one Record message; base is its offset in the body, for error messages.
func parseRecord(r *UserRecord, b []byte, base int, pkTable, ehkTable []string) error {
	// Fast path: the exact layout the KPL writes, 08 <pk index> [10 <ehk index>] 1A <len> <data>,
	// with one-byte indexes and lengths below 2^14. Anything else takes the general path below.
	if len(b) >= 4 && b[0] == keyPartitionKeyIndex && b[1] < 0x80 && int(b[1]) < len(pkTable) {
		i, ehk := 2, ""
		if b[i] == keyExplicitHashKeyIdx {
			if len(b) < 6 || b[3] >= 0x80 || int(b[3]) >= len(ehkTable) {
				goto general
			}
			ehk, i = ehkTable[b[3]], 4
		}
		if b[i] == keyData {
			if n, j, ok := readLength(b, i+1); ok && uint64(len(b)-j) == n {
				r.PartitionKey, r.ExplicitHashKey, r.Data = pkTable[b[1]], ehk, b[j:len(b):len(b)]
				return nil
			}
		}
	}
general:
	*r = UserRecord{}
	var havePK, haveData bool
	for i := 0; i < len(b); {
		f, next, err := readField(b, i, base)
		if err != nil {
			return err
		}
		switch f.num {
		case 1:
			if f.typ != wireVarint {
				return &CorruptError{Offset: base + i, Reason: "partition_key_index has the wrong wire type"}
			}
			if f.val >= uint64(len(pkTable)) {
				return &CorruptError{Offset: base + i, Reason: "partition_key_index out of range"}
			}
			r.PartitionKey = pkTable[f.val]
			havePK = true
		case 2:
			if f.typ != wireVarint {
				return &CorruptError{Offset: base + i, Reason: "explicit_hash_key_index has the wrong wire type"}
			}
			if f.val >= uint64(len(ehkTable)) {
				return &CorruptError{Offset: base + i, Reason: "explicit_hash_key_index out of range"}
			}
			r.ExplicitHashKey = ehkTable[f.val]
		case 3:
			if f.typ != wireBytes {
				return &CorruptError{Offset: base + i, Reason: "data has the wrong wire type"}
			}
			r.Data = b[f.start:f.end:f.end]
			haveData = true
		case 4:
			if f.typ != wireBytes {
				return &CorruptError{Offset: base + i, Reason: "tags has the wrong wire type"}
			}
			if err := checkTag(b[f.start:f.end], base+f.start); err != nil {
				return err
			}
		}
		i = next
	}
	if !havePK {
		return &CorruptError{Offset: base, Reason: "record lacks the required partition_key_index"}
	}
	if !haveData {
		return &CorruptError{Offset: base, Reason: "record lacks the required data"}
	}
	return nil
}

// checkTag validates a Tag message's structure (tags are not returned).
func checkTag(b []byte, base int) error {
	haveKey := false
	for i := 0; i < len(b); {
		f, next, err := readField(b, i, base)
		if err != nil {
			return err
		}
		if (f.num == 1 || f.num == 2) && f.typ != wireBytes {
			return &CorruptError{Offset: base + i, Reason: "tag field has the wrong wire type"}
		}
		if f.num == 1 {
			haveKey = true
		}
		i = next
	}
	if !haveKey {
		return &CorruptError{Offset: base, Reason: "tag lacks the required key"}
	}
	return nil
}
