package kinesistest_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/shardwise/shardwise/kinesistest"
)

// wantRequestError fails unless err is an HTTP 400 answer with the code and a message containing each
// of parts.
func wantRequestError(t *testing.T, err error, code string, parts ...string) {
	t.Helper()
	wantCode(t, err, code)
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 400 {
		t.Errorf("error %v: want HTTP 400", err)
	}
	var ae smithy.APIError
	errors.As(err, &ae)
	for _, p := range parts {
		if !strings.Contains(ae.ErrorMessage(), p) {
			t.Errorf("message %q lacks %q", ae.ErrorMessage(), p)
		}
	}
}

// stored counts the records in every shard of the stream.
func stored(t *testing.T, c *kinesis.Client, stream string) int {
	t.Helper()
	n := 0
	for _, recs := range readAll(t, c, stream) {
		n += len(recs)
	}
	return n
}

func TestExplicitHashKeyValidation(t *testing.T) {
	_, c := start(t)
	ctx := ctxT(t)
	createStream(t, c, "ehk", 2)
	tests := []struct {
		ehk  string
		code string // "" when accepted
	}{
		{"0", ""},
		{"1", ""},
		{"340282366920938463463374607431768211455", ""},                              // 2^128-1
		{"340282366920938463463374607431768211456", kinesistest.CodeInvalidArgument}, // 2^128: matches the pattern, out of range
		{strings.Repeat("9", 39), kinesistest.CodeInvalidArgument},
		{"1" + strings.Repeat("0", 39), kinesistest.CodeValidation}, // 40 digits
		{"007", kinesistest.CodeValidation},                         // leading zeros break 0|([1-9]\d{0,38})
		{"00", kinesistest.CodeValidation},
		{"-1", kinesistest.CodeValidation},
		{"+1", kinesistest.CodeValidation},
		{" 1", kinesistest.CodeValidation},
		{"1e3", kinesistest.CodeValidation},
		{"0x10", kinesistest.CodeValidation}, // contains a match of the pattern, but not as a whole
		{"", kinesistest.CodeValidation},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.ehk), func(t *testing.T) {
			before := stored(t, c, "ehk")
			_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("ehk"), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String(tt.ehk), Data: []byte("d")})
			// In PutRecords the bad key is the second of three entries: the whole call fails.
			entries := []types.PutRecordsRequestEntry{
				{PartitionKey: aws.String("a"), Data: []byte("a")},
				{PartitionKey: aws.String("b"), ExplicitHashKey: aws.String(tt.ehk), Data: []byte("b")},
				{PartitionKey: aws.String("c"), Data: []byte("c")},
			}
			_, errs := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("ehk"), Records: entries})
			if tt.code == "" {
				if err != nil || errs != nil {
					t.Fatalf("PutRecord: %v; PutRecords: %v; want both accepted", err, errs)
				}
				if got := stored(t, c, "ehk"); got != before+4 {
					t.Errorf("%d records stored, want %d", got, before+4)
				}
				return
			}
			if tt.code == kinesistest.CodeValidation {
				wantRequestError(t, err, tt.code, "at 'explicitHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})")
				wantRequestError(t, errs, tt.code, "1 validation error detected: Value '"+tt.ehk+"' at 'records.2.member.explicitHashKey'")
			} else {
				wantRequestError(t, err, tt.code, "must be in the range: [0, 2^128-1]")
				wantRequestError(t, errs, tt.code, tt.ehk)
			}
			if got := stored(t, c, "ehk"); got != before {
				t.Errorf("%d records stored after refused calls, want %d: nothing may be written", got, before)
			}
		})
	}
}

func TestValidationPrecedesLookupAndListsAll(t *testing.T) {
	_, c := start(t)
	ctx := ctxT(t)
	// The model is checked before the stream is looked up: a missing stream is not reported.
	_, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("missing"), Records: []types.PutRecordsRequestEntry{
		{PartitionKey: aws.String("k"), ExplicitHashKey: aws.String("01"), Data: []byte("a")},
		{PartitionKey: aws.String("k"), Data: []byte("b")},
		{PartitionKey: aws.String(strings.Repeat("x", 257)), Data: []byte("c")},
	}})
	wantRequestError(t, err, kinesistest.CodeValidation, "2 validation errors detected: ",
		"Value '01' at 'records.1.member.explicitHashKey'",
		"; Value '"+strings.Repeat("x", 257)+"' at 'records.3.member.partitionKey' failed to satisfy constraint: Member must have length less than or equal to 256")
	// A semantic failure comes after the lookup.
	_, err = c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("missing"), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String(strings.Repeat("9", 39)), Data: []byte("a")})
	wantCode(t, err, kinesistest.CodeResourceNotFound)
}

// TestPartitionKeyLengthCountsCodePoints pins how the server counts the 256-character limit: in
// Unicode code points (the Smithy length trait on strings counts Unicode scalar values), not UTF-16
// code units as Java's String.length() - which the Java KPL's own check uses - or bytes. U+1F600 is
// one code point, two UTF-16 units and four UTF-8 bytes.
func TestPartitionKeyLengthCountsCodePoints(t *testing.T) {
	_, c := start(t)
	ctx := ctxT(t)
	createStream(t, c, "pk", 1)
	tests := []struct {
		name string
		pk   string
		ok   bool
	}{
		{"256 ASCII", strings.Repeat("a", 256), true},
		{"257 ASCII", strings.Repeat("a", 257), false},
		{"129 U+1F600 (258 UTF-16 units)", strings.Repeat("\U0001F600", 129), true},
		{"256 U+1F600 (512 UTF-16 units, 1024 bytes)", strings.Repeat("\U0001F600", 256), true},
		{"257 U+1F600", strings.Repeat("\U0001F600", 257), false},
		{"255 ASCII and one U+1F600", strings.Repeat("a", 255) + "\U0001F600", true},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("pk"), PartitionKey: aws.String(tt.pk), Data: []byte("d")})
			_, errs := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("pk"), Records: []types.PutRecordsRequestEntry{
				{PartitionKey: aws.String("fine"), Data: []byte("d")},
				{PartitionKey: aws.String(tt.pk), Data: []byte("d")},
			}})
			if tt.ok {
				if err != nil || errs != nil {
					t.Fatalf("PutRecord: %v; PutRecords: %v; want the key accepted", err, errs)
				}
				return
			}
			constraint := "Member must have length less than or equal to 256"
			if tt.pk == "" {
				constraint = "Member must have length greater than or equal to 1"
			}
			wantRequestError(t, err, kinesistest.CodeValidation, "at 'partitionKey' failed to satisfy constraint: "+constraint)
			wantRequestError(t, errs, kinesistest.CodeValidation, "at 'records.2.member.partitionKey' failed to satisfy constraint: "+constraint)
		})
	}
}

func TestRejectEntriesForcesBisection(t *testing.T) {
	srv, c := start(t)
	ctx := ctxT(t)
	createStream(t, c, "bis", 2)
	var mu sync.Mutex
	var seen [][]kinesistest.PutEntry
	srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
		if req.Op == "PutRecords" {
			mu.Lock()
			seen = append(seen, req.Entries())
			mu.Unlock()
		}
		return kinesistest.Action{}, false
	})
	srv.Control(kinesistest.RejectEntries(func(e kinesistest.PutEntry) bool { return string(e.Data) == "poison" }))

	batch := func(data ...string) error {
		entries := make([]types.PutRecordsRequestEntry, len(data))
		for i, d := range data {
			entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String("k" + d), Data: []byte(d)}
		}
		_, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("bis"), Records: entries})
		return err
	}
	err := batch("a", "b", "poison", "c")
	wantRequestError(t, err, kinesistest.CodeValidation, "1 validation error detected: Value at 'records.3.member.data' failed to satisfy constraint")
	if n := stored(t, c, "bis"); n != 0 {
		t.Fatalf("%d records stored after the refused batch, want none", n)
	}
	// Splitting isolates it: the halves without it succeed, the poisoned record alone still fails.
	if err := batch("a", "b"); err != nil {
		t.Errorf("clean half: %v", err)
	}
	wantRequestError(t, batch("poison", "c"), kinesistest.CodeValidation, "'records.1.member.data'")
	wantRequestError(t, batch("poison"), kinesistest.CodeValidation, "'records.1.member.data'")
	if err := batch("c"); err != nil {
		t.Errorf("clean record: %v", err)
	}
	_, err = c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("bis"), PartitionKey: aws.String("k"), Data: []byte("poison")})
	wantRequestError(t, err, kinesistest.CodeValidation, "Value at 'data' failed")
	if n := stored(t, c, "bis"); n != 3 {
		t.Errorf("%d records stored, want the 3 clean ones", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 || len(seen[0]) != 4 || string(seen[0][2].Data) != "poison" || seen[0][2].PartitionKey != "kpoison" {
		t.Errorf("Request.Entries of the first call = %+v", seen)
	}
}
