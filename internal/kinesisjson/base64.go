package kinesisjson

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
)

// b64tab[k][c] is the 6-bit value of the standard base64 character c placed at quad position k, or
// badQuad for any other byte ('=', '\r', '\n' and invalid ones alike).
var b64tab = func() (t [4][256]uint32) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for k := range t {
		for c := range t[k] {
			t[k][c] = badQuad
		}
		for v, c := range []byte(alphabet) {
			t[k][c] = uint32(v) << (18 - 6*k)
		}
	}
	return t
}()

const badQuad = 1 << 31

// errLineBreak: base64.StdEncoding skips line breaks, but they cannot stand raw in a JSON string.
var errLineBreak = errors.New("kinesisjson: line break in base64 data")

// decodeBase64 decodes standard, padded base64 like base64.StdEncoding.Decode, with the same result
// and errors, except that a line break is an error. It is faster: whole quads of alphabet characters
// go through four table look-ups, and the rest (the padded last quad, invalid input) through the
// standard library from the first quad it does not take.
func decodeBase64(dst, src []byte) (int, error) {
	n := 0
	si := 0
	// Two quads (six bytes) a round, stored as one 8-byte word while the destination has room for
	// the two bytes of slack; the next round overwrites them.
	for ; si+8 <= len(src) && n+8 <= len(dst); si += 8 {
		s := src[si : si+8 : si+8]
		a := b64tab[0][s[0]] | b64tab[1][s[1]] | b64tab[2][s[2]] | b64tab[3][s[3]]
		b := b64tab[0][s[4]] | b64tab[1][s[5]] | b64tab[2][s[6]] | b64tab[3][s[7]]
		if (a|b)&badQuad != 0 {
			break
		}
		binary.BigEndian.PutUint64(dst[n:], uint64(a)<<40|uint64(b)<<16)
		n += 6
	}
	if bytes.ContainsAny(src[si:], "\r\n") {
		return n, errLineBreak
	}
	m, err := base64.StdEncoding.Decode(dst[n:], src[si:])
	if err != nil {
		if ce, ok := err.(base64.CorruptInputError); ok {
			err = ce + base64.CorruptInputError(si)
		}
	}
	return n + m, err
}

// b64pairs[v] is the two standard base64 characters of the 12-bit value v, first one in the low
// byte.
var b64pairs = func() (t [1 << 12]uint16) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for v := range t {
		t[v] = uint16(alphabet[v>>6]) | uint16(alphabet[v&63])<<8
	}
	return t
}()

// appendBase64 appends the standard, padded base64 encoding of src to dst, as
// base64.StdEncoding.AppendEncode does, faster: with AVX-512 VBMI 48 bytes at a time (see
// base64_amd64.go), then (or else) six bytes a round become eight characters through four look-ups
// of character pairs.
func appendBase64(dst, src []byte) []byte {
	n := base64.StdEncoding.EncodedLen(len(src))
	if cap(dst)-len(dst) < n {
		dst = append(make([]byte, 0, len(dst)+n), dst...)
	}
	out := dst[len(dst) : len(dst)+n]
	di, si := 0, 0
	if useVBMI && len(src) >= 64 {
		// Blocks of 48 bytes, each read as 64: the last one must end 16 bytes before src does.
		k := (len(src) - 16) / 48
		encodeBlocksVBMI(&out[0], &src[0], k)
		si, di = 48*k, 64*k
	}
	// A round loads eight bytes and uses six, so it needs two to spare.
	for ; si+8 <= len(src); si += 6 {
		x := binary.BigEndian.Uint64(src[si:]) >> 16
		binary.LittleEndian.PutUint64(out[di:], uint64(b64pairs[x>>36&0xfff])|uint64(b64pairs[x>>24&0xfff])<<16|
			uint64(b64pairs[x>>12&0xfff])<<32|uint64(b64pairs[x&0xfff])<<48)
		di += 8
	}
	base64.StdEncoding.Encode(out[di:], src[si:])
	return dst[:len(dst)+n]
}
