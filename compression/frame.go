package compression

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// Magic is the 4-byte prefix of a compressed payload. It is a constant so that no importer can
// change the wire format.
const Magic = "\xF3\x53\x57\x5A"

// FormatZstd is the format byte following the magic for zstd.
const FormatZstd byte = 0x01

// DefaultMaxDecodedSize bounds decompressed payloads by default: 10 MiB, the largest record a
// Kinesis stream accepts.
const DefaultMaxDecodedSize = 10 << 20

// headerMin is magic + format + a one-byte varint.
const headerMin = len(Magic) + 2

var zstdMagic = [4]byte{0x28, 0xB5, 0x2F, 0xFD}

var (
	// ErrCorrupt means a payload carries the frame header but does not decode. The payload is
	// returned unchanged alongside it.
	ErrCorrupt = errors.New("compression: corrupt compressed payload")
	// ErrTooLarge means a framed payload declares a decompressed size above the decoder's bound.
	ErrTooLarge = errors.New("compression: decompressed size exceeds bound")
)

// IsFramed reports whether data begins with the frame magic and the zstd format byte. It is a cheap
// header test; only [Decoder.Decode] tells whether the payload really is a valid frame.
func IsFramed(data []byte) bool {
	return len(data) >= headerMin && string(data[:len(Magic)]) == Magic && data[4] == FormatZstd
}

// Level selects the speed/ratio trade-off of an Encoder.
type Level int

// Encoder levels, mapped onto zstd's.
const (
	LevelFastest Level = iota + 1
	LevelDefault
	LevelBetter
)

// An Encoder compresses payloads into frames. It is safe for concurrent use.
type Encoder struct {
	enc *zstd.Encoder
}

// NewEncoder returns an Encoder at the given level (0 selects LevelFastest).
func NewEncoder(level Level) (*Encoder, error) {
	var zl zstd.EncoderLevel
	switch level {
	case 0, LevelFastest:
		zl = zstd.SpeedFastest
	case LevelDefault:
		zl = zstd.SpeedDefault
	case LevelBetter:
		zl = zstd.SpeedBetterCompression
	default:
		return nil, fmt.Errorf("compression: unknown level %d", level)
	}
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zl),
		zstd.WithEncoderCRC(true),
		// Default concurrency (GOMAXPROCS): concurrent Compress calls each get an encoder.
		zstd.WithLowerEncoderMem(true),
		zstd.WithZeroFrames(true),
	)
	if err != nil {
		return nil, fmt.Errorf("compression: %w", err)
	}
	return &Encoder{enc: enc}, nil
}

// Compress returns the framed, compressed form of src and true when it is shorter than src;
// otherwise it returns src itself and false. Empty input is never compressed.
func (e *Encoder) Compress(src []byte) ([]byte, bool) {
	if len(src) == 0 {
		return src, false
	}
	// Worst useful output is len(src)-1 bytes; reserve the header and let zstd append.
	dst := make([]byte, 0, len(src))
	dst = append(dst, Magic...)
	dst = append(dst, FormatZstd)
	dst = binary.AppendUvarint(dst, uint64(len(src)))
	dst = e.enc.EncodeAll(src, dst)
	if len(dst) >= len(src) {
		return src, false
	}
	return dst, true
}

// A Decoder recognises and decompresses frames. It is safe for concurrent use.
type Decoder struct {
	dec *zstd.Decoder
	max int
}

// NewDecoder returns a Decoder that refuses frames declaring more than maxSize decompressed bytes
// (0 or less selects DefaultMaxDecodedSize).
func NewDecoder(maxSize int) (*Decoder, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxDecodedSize
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(uint64(maxSize)),
		zstd.WithDecoderMaxWindow(uint64(max(maxSize, 1<<10))),
		zstd.WithDecodeAllCapLimit(true),
		zstd.WithDecoderLowmem(true),
	)
	if err != nil {
		return nil, fmt.Errorf("compression: %w", err)
	}
	return &Decoder{dec: dec, max: maxSize}, nil
}

// Decode returns the decompressed payload and true when data is a valid frame. Otherwise it returns
// data unchanged and false; the error is nil for payloads without the frame header and wraps
// ErrCorrupt or ErrTooLarge for payloads that carry the header but are not a valid frame (callers
// should pass such data through as a plain record, and may log or count the error).
func (d *Decoder) Decode(data []byte) ([]byte, bool, error) {
	if !IsFramed(data) {
		return data, false, nil
	}
	n, k := binary.Uvarint(data[len(Magic)+1:])
	if k <= 0 || n == 0 {
		return data, false, fmt.Errorf("%w: bad length varint", ErrCorrupt)
	}
	if n > uint64(d.max) {
		return data, false, fmt.Errorf("%w: declares %d bytes, bound %d", ErrTooLarge, n, d.max)
	}
	body := data[len(Magic)+1+k:]
	if len(body) < len(zstdMagic) || [4]byte(body[:4]) != zstdMagic {
		return data, false, fmt.Errorf("%w: no zstd frame", ErrCorrupt)
	}
	out, err := d.dec.DecodeAll(body, make([]byte, 0, int(n)))
	if err != nil {
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
			return data, false, fmt.Errorf("%w: %w", ErrTooLarge, err)
		}
		return data, false, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if uint64(len(out)) != n {
		return data, false, fmt.Errorf("%w: decoded %d bytes, header says %d", ErrCorrupt, len(out), n)
	}
	return out, true, nil
}

// defaultDecoder serves Decode. It is made at package initialisation on purpose: a zstd Decoder
// owns channels, and one made lazily inside a testing/synctest bubble could not be used outside it
// (or from the next bubble).
var defaultDecoder = func() *Decoder {
	d, err := NewDecoder(0)
	if err != nil { // only invalid options fail, and these are fixed
		panic(err)
	}
	return d
}()

// Decode decodes data with a shared Decoder bounded by DefaultMaxDecodedSize. See [Decoder.Decode].
func Decode(data []byte) ([]byte, bool, error) {
	return defaultDecoder.Decode(data)
}
