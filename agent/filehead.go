package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
)

// fileHead is a new file's first bytes (at most fingerprintMax), read once and compared with any
// number of fingerprints: finding a new file's checkpoint entry, or the tracked file it is a copy
// of, costs one read however many files are tracked.
type fileHead struct {
	b    []byte
	sums map[int]string // hex SHA-256 of b[:n], by n
}

func readHead(fh *os.File, size int64) (*fileHead, error) {
	b := make([]byte, min(size, fingerprintMax))
	n, err := fh.ReadAt(b, 0)
	if err != nil && err != io.EOF {
		return nil, err
	}
	return &fileHead{b: b[:n]}, nil
}

// sum returns the hex SHA-256 of the first n bytes (n <= len(h.b)).
func (h *fileHead) sum(n int) string {
	if s, ok := h.sums[n]; ok {
		return s
	}
	sum := sha256.Sum256(h.b[:n])
	s := hex.EncodeToString(sum[:])
	if h.sums == nil {
		h.sums = map[int]string{}
	}
	h.sums[n] = s
	return s
}

// matches reports whether the file starts with the fingerprinted bytes, as fingerprint.matches
// does.
func (h *fileHead) matches(fp fingerprint) bool {
	if fp.N == 0 {
		return true
	}
	return len(h.b) >= fp.N && h.sum(fp.N) == fp.Sum
}

// fingerprint is the fingerprint of the bytes read (readFingerprint's).
func (h *fileHead) fingerprint() fingerprint {
	if len(h.b) == 0 {
		return fingerprint{}
	}
	return fingerprint{N: len(h.b), Sum: h.sum(len(h.b))}
}
