package kinesistest

import (
	"encoding/base64"
	"encoding/binary"
	"time"
)

// iterator is what a shard iterator string carries: the stream incarnation, the shard, the next
// sequence counter to read and when the iterator was issued (for expiry).
type iterator struct {
	stream uint64
	shard  int
	pos    uint64
	issued time.Time
}

const iteratorBytes = 1 + 8 + 4 + 8 + 8

func appendIterator(dst []byte, it iterator) []byte {
	var raw [iteratorBytes]byte
	raw[0] = 1
	binary.BigEndian.PutUint64(raw[1:], it.stream)
	binary.BigEndian.PutUint32(raw[9:], uint32(it.shard))
	binary.BigEndian.PutUint64(raw[13:], it.pos)
	binary.BigEndian.PutUint64(raw[21:], uint64(it.issued.UnixNano()))
	return base64.RawURLEncoding.AppendEncode(dst, raw[:])
}

func encodeIterator(it iterator) string { return string(appendIterator(nil, it)) }

func decodeIterator(s string) (iterator, bool) {
	var raw [iteratorBytes]byte
	if base64.RawURLEncoding.DecodedLen(len(s)) != iteratorBytes {
		return iterator{}, false
	}
	n, err := base64.RawURLEncoding.Decode(raw[:], []byte(s))
	if err != nil || n != iteratorBytes || raw[0] != 1 {
		return iterator{}, false
	}
	return iterator{
		stream: binary.BigEndian.Uint64(raw[1:]),
		shard:  int(binary.BigEndian.Uint32(raw[9:])),
		pos:    binary.BigEndian.Uint64(raw[13:]),
		issued: time.Unix(0, int64(binary.BigEndian.Uint64(raw[21:]))),
	}, true
}
