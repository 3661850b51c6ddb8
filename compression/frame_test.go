package compression

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	enc, err := NewEncoder(LevelFastest)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder(0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		in       []byte
		wantComp bool
	}{
		{"empty", nil, false},
		{"short", []byte("hi"), false},
		{"repetitive", bytes.Repeat([]byte(`{"k":"v","n":1}`), 1000), true},
		{"random", randBytes(4096), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, ok := enc.Compress(tt.in)
			if ok != tt.wantComp {
				t.Fatalf("Compress ok = %v, want %v", ok, tt.wantComp)
			}
			if !ok {
				if !bytes.Equal(out, tt.in) {
					t.Fatal("uncompressed output differs from input")
				}
				return
			}
			if len(out) >= len(tt.in) || !IsFramed(out) {
				t.Fatalf("framed output len %d (input %d), framed %v", len(out), len(tt.in), IsFramed(out))
			}
			got, framed, err := dec.Decode(out)
			if err != nil || !framed || !bytes.Equal(got, tt.in) {
				t.Fatalf("Decode = framed %v err %v equal %v", framed, err, bytes.Equal(got, tt.in))
			}
		})
	}
}

func TestFrameBytes(t *testing.T) {
	enc, _ := NewEncoder(0)
	in := bytes.Repeat([]byte("abc"), 100)
	out, ok := enc.Compress(in)
	if !ok {
		t.Fatal("not compressed")
	}
	want := []byte{0xF3, 0x53, 0x57, 0x5A, 0x01, 0xAC, 0x02, 0x28, 0xB5, 0x2F, 0xFD} // 300 = AC 02
	if !bytes.HasPrefix(out, want) {
		t.Fatalf("frame prefix = % x, want % x", out[:len(want)], want)
	}
}

func TestPassThrough(t *testing.T) {
	dec, _ := NewDecoder(1000)
	enc, _ := NewEncoder(0)
	big := bytes.Repeat([]byte("x"), 2000)
	bigFrame, _ := enc.Compress(big)
	good, _ := enc.Compress(bytes.Repeat([]byte("y"), 500))
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)-3] ^= 0xff
	wrongLen := append([]byte{}, good[:5]...)
	wrongLen = binary.AppendUvarint(wrongLen, 499)
	wrongLen = append(wrongLen, good[7:]...)
	tests := []struct {
		name    string
		in      []byte
		wantErr error
	}{
		{"plain", []byte("hello world"), nil},
		{"kpl aggregate magic", []byte{0xF3, 0x89, 0x9A, 0xC2, 1, 2, 3}, nil},
		{"magic only", []byte(Magic), nil},
		{"other format", append([]byte(Magic), 0x02, 5, 0, 0, 0, 0), nil},
		{"bad varint", append([]byte(Magic), 0x01, 0x80, 0x80), ErrCorrupt},
		{"zero length", append([]byte(Magic), 0x01, 0x00, 0x28, 0xB5, 0x2F, 0xFD), ErrCorrupt},
		{"no zstd magic", append([]byte(Magic), 0x01, 0x05, 1, 2, 3, 4, 5), ErrCorrupt},
		{"over bound", bigFrame, ErrTooLarge},
		{"checksum", corrupt, ErrCorrupt},
		{"length mismatch", wrongLen, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, framed, err := dec.Decode(tt.in)
			if framed {
				t.Fatal("Decode reported a frame")
			}
			if !bytes.Equal(out, tt.in) {
				t.Fatal("payload altered")
			}
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Decode err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	enc, _ := NewEncoder(0)
	good, _ := enc.Compress(bytes.Repeat([]byte("fuzz"), 64))
	f.Add(good)
	f.Add([]byte("plain"))
	f.Add(append([]byte(Magic), 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x28, 0xB5, 0x2F, 0xFD))
	dec, _ := NewDecoder(1 << 16)
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		out, framed, err := dec.Decode(data)
		if !bytes.Equal(data, in) {
			t.Fatal("input modified")
		}
		if !framed {
			if !bytes.Equal(out, data) {
				t.Fatal("unframed output differs from input")
			}
			return
		}
		if err != nil || len(out) > 1<<16 {
			t.Fatalf("framed with err %v, len %d", err, len(out))
		}
		// Round trip whatever decoded.
		re, ok := enc.Compress(out)
		if ok {
			back, framed, err := dec.Decode(re)
			if !framed || err != nil || !bytes.Equal(back, out) {
				t.Fatal("re-encode round trip failed")
			}
		}
	})
}

func randBytes(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
