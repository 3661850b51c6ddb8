// Package compression frames Kinesis record payloads compressed with zstd so that a Shardwise
// consumer recognises them without configuration and passes every other payload through untouched.
//
// The producer (kpl, opt-in) compresses the whole Kinesis record payload, which is usually a KPL
// aggregate, and keeps the result only when it is smaller than the input. Consumers (kcl, the CLI)
// call [Decoder.Decode] on each Kinesis record's data before deaggregating it.
//
// # Frame
//
// A compressed payload is, byte for byte:
//
//	offset  size  value
//	0       4     magic F3 53 57 5A (0xF3 then ASCII "SWZ")
//	4       1     format: 0x01 = zstd; other values are reserved and never decoded
//	5       1-10  decompressed length n as an unsigned LEB128 varint (protobuf varint), 1 <= n
//	5+k     rest  exactly one zstd frame (RFC 8878) holding n bytes, with the frame content size
//	              field set and a content checksum (XXH64, low 4 bytes) present
//
// The first magic byte 0xF3 matches the KPL aggregation magic (F3 89 9A C2) on purpose: it marks
// binary framing that text payloads never start with. In UTF-8, 0xF3 can only begin a four-byte
// sequence whose second byte is in 80..BF; the second magic byte 0x53 is not, so no valid UTF-8 text
// (JSON, CSV, log lines) begins with the magic. The two magics differ from the second byte on, so
// aggregates and compressed frames are never confused.
//
// # Detection
//
// A payload is treated as compressed only if all of these hold: it starts with the magic and format
// 0x01, the varint is well formed and n is at most the decoder's bound, the rest begins with the zstd
// magic 28 B5 2F FD, decoding succeeds with a valid checksum and yields exactly n bytes. Anything else
// is returned unchanged (with an error describing why when the magic matched, so callers can log or
// count it): a plain record that happens to begin with the magic is never lost or altered.
//
// # Safety
//
// Decoding never allocates more than the bound (default [DefaultMaxDecodedSize], the largest Kinesis
// record) plus a small constant, whatever the input claims, and never panics on corrupt input
// (fuzzed by FuzzDecode).
//
// Encoders and Decoders are safe for concurrent use.
package compression
