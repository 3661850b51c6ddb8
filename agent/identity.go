package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
)

// fileID identifies a file across renames: its device and inode numbers (see idOf).
type fileID struct {
	Dev uint64
	Ino uint64
}

// fingerprintMax is how many leading bytes identify a file's content. Inode numbers are reused
// once a file is deleted; a file whose first bytes differ from the ones recorded is a new file
// (or the old one truncated and rewritten, as copytruncate does).
const fingerprintMax = 256

// fingerprint is a hash of a file's first N bytes (N <= fingerprintMax; it grows with the file
// until it reaches fingerprintMax).
type fingerprint struct {
	N   int
	Sum string // hex SHA-256 of the first N bytes
}

func readFingerprint(f *os.File, size int64) (fingerprint, error) {
	n := int(min(size, fingerprintMax))
	if n == 0 {
		return fingerprint{}, nil
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, 0); err != nil && err != io.EOF {
		return fingerprint{}, err
	}
	sum := sha256.Sum256(buf)
	return fingerprint{N: n, Sum: hex.EncodeToString(sum[:])}, nil
}

// matches reports whether the file of the given size starts with the fingerprinted bytes.
func (fp fingerprint) matches(f *os.File, size int64) (bool, error) {
	if fp.N == 0 {
		return true, nil
	}
	if size < int64(fp.N) || fp.N > fingerprintMax {
		return false, nil
	}
	// Checked at every change of a tailed file: no allocation (the buffers stay on the stack).
	var buf [fingerprintMax]byte
	if _, err := f.ReadAt(buf[:fp.N], 0); err != nil && err != io.EOF {
		return false, err
	}
	sum := sha256.Sum256(buf[:fp.N])
	var hx [2 * sha256.Size]byte
	hex.Encode(hx[:], sum[:])
	return string(hx[:]) == fp.Sum, nil
}
