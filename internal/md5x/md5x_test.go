package md5x

import (
	"crypto/md5"
	"math/rand/v2"
	"testing"
)

// Every digest equals crypto/md5's, whatever the mix of lengths (shorter than a block, equal,
// very different), the number of messages (fewer than minLanes, more than eight lanes) and the
// alignment; with the vector code and without.
func TestSumMatchesCryptoMD5(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	pool := make([]byte, 1<<16)
	for i := range pool {
		pool[i] = byte(rng.Uint32())
	}
	modes := []bool{false}
	if useAVX512 {
		modes = append(modes, true)
	} else {
		t.Log("no AVX-512 here: crypto/md5 path only")
	}
	defer func(v bool) { useAVX512 = v }(useAVX512)
	for _, vec := range modes {
		useAVX512 = vec
		for round := range 300 {
			n := rng.IntN(20)
			msgs := make([][]byte, n)
			for i := range msgs {
				var l int
				switch rng.IntN(4) {
				case 0:
					l = rng.IntN(130) // around one or two blocks
				case 1:
					l = 64 * rng.IntN(40) // whole blocks
				default:
					l = rng.IntN(len(pool) / 2)
				}
				off := rng.IntN(len(pool) - l + 1)
				msgs[i] = pool[off : off+l]
			}
			sums := make([][md5.Size]byte, n)
			Sum(msgs, sums)
			for i, m := range msgs {
				if want := md5.Sum(m); sums[i] != want {
					t.Fatalf("vector=%v round %d: message %d of %d (%d bytes): %x, want %x", vec, round, i, n, len(m), sums[i], want)
				}
			}
		}
	}
}

func BenchmarkSum(b *testing.B) {
	msgs := make([][]byte, 10)
	for i := range msgs {
		msgs[i] = make([]byte, 50_000+i*100) // a call's aggregates
	}
	sums := make([][md5.Size]byte, len(msgs))
	defer func(v bool) { useAVX512 = v }(useAVX512)
	have := useAVX512
	for _, vec := range []bool{false, true} {
		if vec && !have {
			continue
		}
		name := "crypto-md5"
		if vec {
			name = "avx512x8"
		}
		b.Run(name, func(b *testing.B) {
			useAVX512 = vec
			b.SetBytes(10 * 50_000)
			for b.Loop() {
				Sum(msgs, sums)
			}
		})
	}
}
