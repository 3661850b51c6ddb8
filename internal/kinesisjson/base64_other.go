//go:build !amd64

package kinesisjson

var useVBMI = false

func encodeBlocksVBMI(dst, src *byte, n int) { panic("kinesisjson: no AVX-512 on this architecture") }
