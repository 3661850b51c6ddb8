package aggregation

// The protobuf wire encoding needed for AggregatedRecord, written by hand so that the package has no
// protobuf dependency and the encoder can compute sizes exactly before it writes anything.

const (
	wireVarint = 0
	wire64     = 1
	wireBytes  = 2
	wire32     = 5
)

// Field keys (field number << 3 | wire type) of the KPL messages. All fit in one byte.
const (
	keyPartitionKeyTable  = 1<<3 | wireBytes  // AggregatedRecord.partition_key_table
	keyExplicitHashKeyTbl = 2<<3 | wireBytes  // AggregatedRecord.explicit_hash_key_table
	keyRecords            = 3<<3 | wireBytes  // AggregatedRecord.records
	keyPartitionKeyIndex  = 1<<3 | wireVarint // Record.partition_key_index
	keyExplicitHashKeyIdx = 2<<3 | wireVarint // Record.explicit_hash_key_index
	keyData               = 3<<3 | wireBytes  // Record.data
	keyTags               = 4<<3 | wireBytes  // Record.tags
	keyTagKey             = 1<<3 | wireBytes  // Tag.key
	keyTagValue           = 2<<3 | wireBytes  // Tag.value
	maxVarintLen          = 10
)

// varintLen returns the encoded length of v.
func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// bytesFieldLen returns the encoded length of a one-byte key plus a length-delimited value of n bytes.
func bytesFieldLen(n int) int {
	return 1 + varintLen(uint64(n)) + n
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// readVarint decodes a varint at b[i:], returning the value and the next offset, or ok=false when the
// varint is truncated or longer than 64 bits.
func readVarint(b []byte, i int) (v uint64, next int, ok bool) {
	var shift uint
	for n := 0; n < maxVarintLen; n++ {
		if i >= len(b) {
			return 0, i, false
		}
		c := b[i]
		i++
		if n == maxVarintLen-1 && c > 1 {
			return 0, i, false // more than 64 bits
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, i, true
		}
		shift += 7
	}
	return 0, i, false
}

// readLength is readVarint with the one- and two-byte cases (lengths below 2^14) inlined.
func readLength(b []byte, i int) (v uint64, next int, ok bool) {
	if i+1 < len(b) {
		if c := b[i]; c < 0x80 {
			return uint64(c), i + 1, true
		} else if d := b[i+1]; d < 0x80 {
			return uint64(c&0x7f) | uint64(d)<<7, i + 2, true
		}
	} else if i < len(b) && b[i] < 0x80 {
		return uint64(b[i]), i + 1, true
	}
	return readVarint(b, i)
}

// field is one decoded protobuf field: its number, wire type, and for varints the value, for
// length-delimited fields the byte span [start, end) of the value.
type field struct {
	num        uint64
	typ        int
	val        uint64
	start, end int
}

// readField decodes the field at b[i:]. It returns a *CorruptError (with offsets relative to b plus
// base) on any malformed input, and never reads past len(b).
func readField(b []byte, i, base int) (field, int, error) {
	key, j, ok := readVarint(b, i)
	if !ok {
		return field{}, 0, &CorruptError{Offset: base + i, Reason: "truncated or overlong field key"}
	}
	f := field{num: key >> 3, typ: int(key & 7)}
	if f.num == 0 {
		return field{}, 0, &CorruptError{Offset: base + i, Reason: "field number 0"}
	}
	switch f.typ {
	case wireVarint:
		v, k, ok := readVarint(b, j)
		if !ok {
			return field{}, 0, &CorruptError{Offset: base + j, Reason: "truncated or overlong varint"}
		}
		f.val = v
		return f, k, nil
	case wire64:
		if len(b)-j < 8 {
			return field{}, 0, &CorruptError{Offset: base + j, Reason: "truncated fixed64"}
		}
		return f, j + 8, nil
	case wire32:
		if len(b)-j < 4 {
			return field{}, 0, &CorruptError{Offset: base + j, Reason: "truncated fixed32"}
		}
		return f, j + 4, nil
	case wireBytes:
		n, k, ok := readVarint(b, j)
		if !ok {
			return field{}, 0, &CorruptError{Offset: base + j, Reason: "truncated or overlong length"}
		}
		if n > uint64(len(b)-k) {
			return field{}, 0, &CorruptError{Offset: base + j, Reason: "length runs past the end of the message"}
		}
		f.start, f.end = k, k+int(n)
		return f, f.end, nil
	default:
		return field{}, 0, &CorruptError{Offset: base + i, Reason: "unsupported wire type"}
	}
}
