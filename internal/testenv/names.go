package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
)

// MaxNameLen bounds names from UniqueName: Kinesis stream and consumer names allow 128 characters
// (DynamoDB tables 255).
const MaxNameLen = 128

// UniqueName returns prefix + "-" + a form of t.Name() + "-" + 8 random hex digits, using only the
// characters Kinesis streams, consumers and DynamoDB tables all accept ([A-Za-z0-9_.-]) and at most
// MaxNameLen characters. An empty prefix is allowed.
func UniqueName(t testing.TB, prefix string) string {
	t.Helper()
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatalf("random name suffix: %v", err)
	}
	suffix := "-" + hex.EncodeToString(rnd[:])
	head := sanitize(prefix)
	if head != "" {
		head += "-"
	}
	head += sanitize(t.Name())
	if room := MaxNameLen - len(suffix); len(head) > room {
		head = head[:room]
	}
	head = strings.TrimRight(head, "-")
	if len(head) < 2 { // DynamoDB needs three characters in all
		head = "sw" + head
	}
	return head + suffix
}

func sanitize(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.'
		if ok {
			b.WriteRune(r)
			dash = false
			continue
		}
		if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimRight(b.String(), "-")
}
