#include "textflag.h"

// func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL eaxArg+0(FP), AX
	MOVL ecxArg+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv() (eax uint32)
TEXT ·xgetbv(SB), NOSPLIT, $0-4
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	RET

// func encodeBlocksVBMI(dst, src *byte, n int)
// Per block: load 64 bytes (48 used), spread each 3-byte group over a 32-bit lane (VPERMB), pick
// the four sextets of each lane into its bytes (VPMULTISHIFTQB; the top two bits of each byte are
// left over and ignored by the next step), map them to the alphabet (VPERMB), store 64 bytes.
TEXT ·encodeBlocksVBMI(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VMOVDQU64 ·b64encShuf(SB), Z1
	VMOVDQU64 ·b64encShift(SB), Z2
	VMOVDQU64 ·b64encAlphabet(SB), Z3
	TESTQ CX, CX
	JZ done

loop:
	VMOVDQU64 (SI), Z0
	VPERMB Z0, Z1, Z0
	VPMULTISHIFTQB Z0, Z2, Z0
	VPERMB Z3, Z0, Z0
	VMOVDQU64 Z0, (DI)
	ADDQ $48, SI
	ADDQ $64, DI
	DECQ CX
	JNZ loop

done:
	VZEROUPPER
	RET
