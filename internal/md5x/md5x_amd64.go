package md5x

import (
	"math"
	"runtime"
	"unsafe"
)

// useAVX512 tells whether the CPU and the OS support AVX-512 F and VL (ZMM state enabled).
var useAVX512 = hasAVX512()

func hasAVX512() bool {
	if max, _, _, _ := cpuid(0, 0); max < 7 {
		return false
	}
	if _, _, ecx1, _ := cpuid(1, 0); ecx1&(1<<27) == 0 { // OSXSAVE
		return false
	}
	if xcr0 := xgetbv(); xcr0&0xe6 != 0xe6 { // SSE, AVX, opmask, ZMM state
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	const avx512f, avx512vl = 1 << 16, 1 << 31
	return ebx7&avx512f != 0 && ebx7&avx512vl != 0
}

//go:noescape
func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

//go:noescape
func xgetbv() (eax uint32)

// blocks8 hashes n 64-byte blocks from each of the eight pointers into the eight states
// (st[w][lane] is word w of a lane's state) and advances the pointers past them.
//
//go:noescape
func blocks8(state *[4][lanes]uint32, ptrs *[lanes]uintptr, n int)

// The constants blocks8 reads: MD5's sine table, and the block size (added to every pointer). Only the
// assembly reads them, which the unused linter does not see.
var (
	k = func() (t [64]uint32) { //nolint:unused
		for i := range t {
			t[i] = uint32(math.Floor(math.Abs(math.Sin(float64(i+1))) * (1 << 32)))
		}
		return t
	}()
	blockSize uint64 = 64 //nolint:unused
)

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// keep keeps msgs (and the arrays they point into) reachable until here.
func keep(msgs [][]byte) { runtime.KeepAlive(msgs) }
