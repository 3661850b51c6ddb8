package kinesisjson

// On amd64 with AVX-512 VBMI, appendBase64 encodes 48 bytes at a time into 64 characters with three
// instructions (see base64_amd64.s): two byte permutations and a multishift. Base64 is what the
// producer spends most on in a PutRecords body after the hashes, and the body is encoded twice (for
// the SigV4 payload hash, then for the transport).

// useVBMI tells whether the CPU and the OS support AVX-512 F, BW and VBMI (ZMM state enabled).
// Tests switch it off to check the portable path.
var useVBMI = hasVBMI()

func hasVBMI() bool {
	if max, _, _, _ := cpuid(0, 0); max < 7 {
		return false
	}
	if _, _, ecx1, _ := cpuid(1, 0); ecx1&(1<<27) == 0 { // OSXSAVE: XGETBV may be used
		return false
	}
	// XCR0: SSE, AVX, opmask, upper halves of ZMM0-15, ZMM16-31 state saved by the OS.
	if xcr0 := xgetbv(); xcr0&0xe6 != 0xe6 {
		return false
	}
	_, ebx7, ecx7, _ := cpuid(7, 0)
	const avx512f, avx512bw, avx512vbmi = 1 << 16, 1 << 30, 1 << 1
	return ebx7&avx512f != 0 && ebx7&avx512bw != 0 && ecx7&avx512vbmi != 0
}

//go:noescape
func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

//go:noescape
func xgetbv() (eax uint32)

// encodeBlocksVBMI writes the base64 of n 48-byte blocks of src into 64n bytes of dst. It loads
// 64 bytes per block: 16 bytes past the last block must be readable.
//
//go:noescape
func encodeBlocksVBMI(dst, src *byte, n int)

// The constants of encodeBlocksVBMI (read only by the assembly, which the unused linter does not see).
var (
	// b64encShuf puts the three bytes b0 b1 b2 of group i into 32-bit lane i as b1 b0 b2 b1 (lowest
	// byte first): the lane then holds the four sextets at bit offsets 10, 4, 22 and 16.
	b64encShuf = func() (t [64]byte) { //nolint:unused
		for i := range 16 {
			t[4*i], t[4*i+1], t[4*i+2], t[4*i+3] = byte(3*i+1), byte(3*i), byte(3*i+2), byte(3*i+1)
		}
		return t
	}()
	// b64encShift: the bit offsets of the sextets in each 64-bit word (two lanes), one per output
	// byte, in output order.
	b64encShift = [64]byte{ //nolint:unused
		10, 4, 22, 16, 42, 36, 54, 48, 10, 4, 22, 16, 42, 36, 54, 48,
		10, 4, 22, 16, 42, 36, 54, 48, 10, 4, 22, 16, 42, 36, 54, 48,
		10, 4, 22, 16, 42, 36, 54, 48, 10, 4, 22, 16, 42, 36, 54, 48,
		10, 4, 22, 16, 42, 36, 54, 48, 10, 4, 22, 16, 42, 36, 54, 48,
	}
	// b64encAlphabet: the permutation's table (it reads the low six bits of each index).
	b64encAlphabet = [64]byte([]byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")) //nolint:unused
)
