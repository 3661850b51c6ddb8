package aggregation

import (
	"bytes"
	"crypto/md5"
	"unsafe"
)

// IsAggregated reports whether data is a KPL aggregated record: it starts with Magic, is longer than
// the magic and trailer alone, and its MD5 trailer matches the body. It does not parse the body.
func IsAggregated(data []byte) bool {
	if len(data) <= overhead || !bytes.Equal(data[:len(Magic)], Magic[:]) {
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
// change if data is changed. Partition keys and explicit hash keys are copied once into a single
// buffer, so the only allocations are that buffer, the key tables and the result slice.
func Deaggregate(data []byte) ([]UserRecord, error) {
	if len(data) <= overhead || !bytes.Equal(data[:len(Magic)], Magic[:]) {
		return []UserRecord{{Record: Record{Data: data}}}, nil
	}
	body := data[len(Magic) : len(data)-md5.Size]
	sum := md5.Sum(body)
	if !bytes.Equal(sum[:], data[len(data)-md5.Size:]) {
		return nil, ErrChecksum
	}
	return parseAggregate(body)
}

// parseAggregate decodes an AggregatedRecord body. Offsets in errors are relative to body.
func parseAggregate(body []byte) ([]UserRecord, error) {
	// Pass 1: validate the top-level structure and count, so every allocation is exact and bounded by
	// the input size. Fields may come in any order, so the tables are filled before records are read.
	var nPK, nEHK, nRec, keyBytes int
	for i := 0; i < len(body); {
		f, next, err := readField(body, i, 0)
		if err != nil {
			return nil, err
		}
		switch f.num {
		case 1, 2, 3:
			if f.typ != wireBytes {
				return nil, &CorruptError{Offset: i, Reason: "wrong wire type for AggregatedRecord field"}
			}
			switch f.num {
			case 1:
				nPK++
				keyBytes += f.end - f.start
			case 2:
				nEHK++
				keyBytes += f.end - f.start
			case 3:
				nRec++
			}
		}
		i = next
	}

	// Pass 2: the key tables, as substrings of one private copy.
	keys := make([]byte, 0, keyBytes)
	pkTable := make([]string, 0, nPK)
	ehkTable := make([]string, 0, nEHK)
	for i := 0; i < len(body); {
		f, next, _ := readField(body, i, 0) // validated in pass 1
		if f.num == 1 || f.num == 2 {
			keys = append(keys, body[f.start:f.end]...)
		}
		i = next
	}
	off := 0
	for i := 0; i < len(body); {
		f, next, _ := readField(body, i, 0)
		if f.num == 1 || f.num == 2 {
			n := f.end - f.start
			s := unsafe.String(unsafe.SliceData(keys[off:]), n) // keys is never written again
			if n == 0 {
				s = ""
			}
			off += n
			if f.num == 1 {
				pkTable = append(pkTable, s)
			} else {
				ehkTable = append(ehkTable, s)
			}
		}
		i = next
	}

	// Pass 3: the records.
	out := make([]UserRecord, 0, nRec)
	for i := 0; i < len(body); {
		f, next, _ := readField(body, i, 0)
		if f.num == 3 {
			r, err := parseRecord(body[f.start:f.end], f.start, pkTable, ehkTable)
			if err != nil {
				return nil, err
			}
			r.SubSequenceNumber = len(out)
			out = append(out, r)
		}
		i = next
	}
	return out, nil
}

// parseRecord decodes one Record message; base is its offset in the body, for error messages.
func parseRecord(b []byte, base int, pkTable, ehkTable []string) (UserRecord, error) {
	var r UserRecord
	var havePK, haveData bool
	for i := 0; i < len(b); {
		f, next, err := readField(b, i, base)
		if err != nil {
			return r, err
		}
		switch f.num {
		case 1:
			if f.typ != wireVarint {
				return r, &CorruptError{Offset: base + i, Reason: "partition_key_index has the wrong wire type"}
			}
			if f.val >= uint64(len(pkTable)) {
				return r, &CorruptError{Offset: base + i, Reason: "partition_key_index out of range"}
			}
			r.PartitionKey = pkTable[f.val]
			havePK = true
		case 2:
			if f.typ != wireVarint {
				return r, &CorruptError{Offset: base + i, Reason: "explicit_hash_key_index has the wrong wire type"}
			}
			if f.val >= uint64(len(ehkTable)) {
				return r, &CorruptError{Offset: base + i, Reason: "explicit_hash_key_index out of range"}
			}
			r.ExplicitHashKey = ehkTable[f.val]
		case 3:
			if f.typ != wireBytes {
				return r, &CorruptError{Offset: base + i, Reason: "data has the wrong wire type"}
			}
			r.Data = b[f.start:f.end:f.end]
			haveData = true
		case 4:
			if f.typ != wireBytes {
				return r, &CorruptError{Offset: base + i, Reason: "tags has the wrong wire type"}
			}
			if err := checkTag(b[f.start:f.end], base+f.start); err != nil {
				return r, err
			}
		}
		i = next
	}
	if !havePK {
		return r, &CorruptError{Offset: base, Reason: "record lacks the required partition_key_index"}
	}
	if !haveData {
		return r, &CorruptError{Offset: base, Reason: "record lacks the required data"}
	}
	return r, nil
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
