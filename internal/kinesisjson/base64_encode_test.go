package kinesisjson

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"testing"
)

// Both encoders (AVX-512 VBMI where the CPU has it, and the portable one) write what the standard
// library writes, for every length around their block sizes, and nothing past the encoding.
func TestEncodeBase64Paths(t *testing.T) {
	paths := []bool{false}
	if hasVBMIForTest() {
		paths = append(paths, true)
	} else {
		t.Log("no AVX-512 VBMI here: portable encoder only")
	}
	defer func(v bool) { useVBMI = v }(useVBMI)
	rng := rand.New(rand.NewPCG(5, 6))
	src := make([]byte, 1000)
	for i := range src {
		src[i] = byte(rng.Uint32())
	}
	for _, vbmi := range paths {
		useVBMI = vbmi
		for n := 0; n <= len(src); n++ {
			for _, off := range []int{0, 1, 7} { // unaligned sources too
				if off+n > len(src) {
					continue
				}
				in := src[off : off+n : off+n] // nothing readable past the input as far as slices go
				want := base64.StdEncoding.EncodeToString(in)
				buf := make([]byte, 3, 3+len(want)+8)
				copy(buf, "pre")
				guard := buf[:cap(buf)]
				copy(guard[len(guard)-8:], "!!!!!!!!")
				got := appendBase64(buf, in)
				if string(got[:3]) != "pre" || string(got[3:]) != want {
					t.Fatalf("vbmi=%v n=%d off=%d: got %q, want %q", vbmi, n, off, got[3:], want)
				}
				if string(guard[len(guard)-8:]) != "!!!!!!!!" {
					t.Fatalf("vbmi=%v n=%d off=%d: wrote past the encoding", vbmi, n, off)
				}
			}
		}
	}
}

// hasVBMIForTest reports whether the AVX-512 path can run here.
func hasVBMIForTest() bool { return useVBMI }

func BenchmarkEncodeBase64Paths(b *testing.B) {
	src := bytes.Repeat([]byte("0123456789abcdef\x00\xff"), 2800) // an aggregate's size
	dst := make([]byte, 0, base64.StdEncoding.EncodedLen(len(src)))
	have := hasVBMIForTest()
	defer func(v bool) { useVBMI = v }(useVBMI)
	for _, vbmi := range []bool{false, true} {
		if vbmi && !have {
			continue
		}
		name := "pairs"
		if vbmi {
			name = "vbmi"
		}
		b.Run(name, func(b *testing.B) {
			useVBMI = vbmi
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				dst = appendBase64(dst[:0], src)
			}
		})
	}
}
