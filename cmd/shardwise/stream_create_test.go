package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestStreamCreateIfNotExists: creating a stream that exists fails (ResourceInUseException), unless
// --if-not-exists, which waits for it to be ACTIVE and says it was there.
func TestStreamCreateIfNotExists(t *testing.T) {
	kc := newTestKinesis(t)
	ctx := testCtx(t)
	mustStream(t, ctx, kc, "create", "again", "--shards", "2")
	err := streamCommand(ctx, kc, []string{"create", "again", "--shards", "2"}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "ResourceInUseException") {
		t.Errorf("create of an existing stream = %v, want ResourceInUseException", err)
	}
	var out bytes.Buffer
	if err := streamCommand(ctx, kc, []string{"create", "again", "--shards", "2", "--if-not-exists"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("create --if-not-exists of an existing stream: %v", err)
	}
	if out.String() != "stream again already exists and is ACTIVE\n" {
		t.Errorf("output = %q", out.String())
	}
	out.Reset()
	if err := streamCommand(ctx, kc, []string{"create", "fresh", "--if-not-exists", "--shards", "1"}, &out, &bytes.Buffer{}); err != nil || out.String() != "stream fresh is ACTIVE\n" {
		t.Errorf("create --if-not-exists of a new stream = %v, %q", err, out.String())
	}
}
