package aggregation

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math/bits"
	"unicode/utf8"
	"unsafe"
)

// MaxPartitionKeyLength is the longest partition key Kinesis accepts, in Unicode characters.
const MaxPartitionKeyLength = 256

// HashKey is a Kinesis 128-bit hash key as an unsigned big-endian number. The zero value is 0.
// HashKeys are comparable with == and ordered by [HashKey.Compare]; no math/big is involved.
type HashKey [16]byte

// MaxHashKey is 2^128-1, the largest hash key.
var MaxHashKey = HashKey{
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
}

// HashKeyFromUint64s builds a key from its high and low 64-bit halves.
func HashKeyFromUint64s(hi, lo uint64) HashKey {
	var k HashKey
	binary.BigEndian.PutUint64(k[:8], hi)
	binary.BigEndian.PutUint64(k[8:], lo)
	return k
}

// Uint64s returns the high and low 64-bit halves of k.
func (k HashKey) Uint64s() (hi, lo uint64) {
	return binary.BigEndian.Uint64(k[:8]), binary.BigEndian.Uint64(k[8:])
}

// Compare returns -1, 0 or +1 as k is less than, equal to or greater than o.
func (k HashKey) Compare(o HashKey) int {
	kh, kl := k.Uint64s()
	oh, ol := o.Uint64s()
	switch {
	case kh < oh:
		return -1
	case kh > oh:
		return 1
	case kl < ol:
		return -1
	case kl > ol:
		return 1
	}
	return 0
}

// String returns k in decimal, the form Kinesis uses for hash keys.
func (k HashKey) String() string {
	var buf [40]byte
	return string(k.AppendDecimal(buf[:0]))
}

// AppendDecimal appends the decimal form of k to dst.
func (k HashKey) AppendDecimal(dst []byte) []byte {
	hi, lo := k.Uint64s()
	if hi == 0 && lo == 0 {
		return append(dst, '0')
	}
	var digits [39]byte // 2^128-1 has 39 digits
	i := len(digits)
	for hi != 0 || lo != 0 {
		// Divide the 128-bit value by 10^19 in two steps, then emit the 19-digit remainder.
		const chunk = 10_000_000_000_000_000_000
		var rem uint64
		hi, rem = bits.Div64(0, hi, chunk)
		lo, rem = bits.Div64(rem, lo, chunk)
		n := 0
		for (rem != 0 || hi != 0 || lo != 0) && n < 19 {
			i--
			digits[i] = byte('0' + rem%10)
			rem /= 10
			n++
		}
	}
	return append(dst, digits[i:]...)
}

// ParseHashKey parses a decimal hash key in [0, 2^128-1]. Signs, spaces and leading '+' are rejected;
// leading zeros are allowed, as Kinesis allows them.
func ParseHashKey(s string) (HashKey, error) {
	if s == "" {
		return HashKey{}, &HashKeyError{Value: s, Reason: "empty"}
	}
	if len(s) > 64 {
		return HashKey{}, &HashKeyError{Value: s[:64] + "...", Reason: "too long"}
	}
	var hi, lo uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return HashKey{}, &HashKeyError{Value: s, Reason: "not a decimal number"}
		}
		// (hi,lo) = (hi,lo)*10 + digit, detecting overflow past 2^128-1.
		h1, l1 := bits.Mul64(lo, 10)
		h2, h2lo := bits.Mul64(hi, 10)
		if h2 != 0 {
			return HashKey{}, &HashKeyError{Value: s, Reason: "greater than 2^128-1"}
		}
		var carry uint64
		h, c1 := bits.Add64(h2lo, h1, 0)
		if c1 != 0 {
			return HashKey{}, &HashKeyError{Value: s, Reason: "greater than 2^128-1"}
		}
		l, c2 := bits.Add64(l1, uint64(c-'0'), 0)
		h, carry = bits.Add64(h, 0, c2)
		if carry != 0 {
			return HashKey{}, &HashKeyError{Value: s, Reason: "greater than 2^128-1"}
		}
		hi, lo = h, l
	}
	return HashKeyFromUint64s(hi, lo), nil
}

// PartitionKeyHash returns the hash key Kinesis derives from a partition key: the MD5 of its UTF-8
// bytes read as an unsigned 128-bit big-endian number. It does not validate the key.
func PartitionKeyHash(partitionKey string) HashKey {
	// md5.Sum only reads its argument, so the string's bytes are passed without a copy (a []byte
	// conversion would copy, and allocate for keys over 32 bytes).
	return HashKey(md5.Sum(unsafe.Slice(unsafe.StringData(partitionKey), len(partitionKey))))
}

// ValidatePartitionKey reports whether pk is a partition key Kinesis accepts: valid UTF-8 of
// 1 to 256 Unicode characters. The error is a *PartitionKeyError wrapping ErrInvalidPartitionKey.
func ValidatePartitionKey(pk string) error {
	if pk == "" {
		return &PartitionKeyError{Reason: "empty"}
	}
	if len(pk) <= MaxPartitionKeyLength {
		// Fast path: 256 bytes are at most 256 characters; only validity needs checking, and
		// short ASCII keys (the common case) need no more than a byte loop.
		var or byte
		for i := 0; i < len(pk); i++ {
			or |= pk[i]
		}
		if or < utf8.RuneSelf {
			return nil
		}
		if !utf8.ValidString(pk) {
			return &PartitionKeyError{Reason: "not valid UTF-8"}
		}
		return nil
	}
	if !utf8.ValidString(pk) {
		return &PartitionKeyError{Reason: "not valid UTF-8"}
	}
	if n := utf8.RuneCountInString(pk); n > MaxPartitionKeyLength {
		return &PartitionKeyError{Reason: fmt.Sprintf("%d characters, more than %d", n, MaxPartitionKeyLength)}
	}
	return nil
}

// EffectiveHashKey returns the hash key that routes a record: the explicit hash key when it is set,
// otherwise the MD5 of the partition key. The partition key is validated in both cases (Kinesis
// requires one even with an explicit hash key).
func EffectiveHashKey(partitionKey, explicitHashKey string) (HashKey, error) {
	if err := ValidatePartitionKey(partitionKey); err != nil {
		return HashKey{}, err
	}
	if explicitHashKey != "" {
		return ParseHashKey(explicitHashKey)
	}
	return PartitionKeyHash(partitionKey), nil
}
