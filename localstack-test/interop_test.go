package localstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/internal/testenv"
)

// The interop tests check the aggregated-record format against aws-kinesis-agg, an independent JavaScript
// implementation, run through interop/agg.js. They need node and localstack-test/node_modules (`make
// setup` or `localstack-test/engines.sh start` installs them) but no engine.
//
// Known aws-kinesis-agg defects the tests steer around:
//   - its aggregator builds its key tables with Object.keys, which lists integer-like keys ("5", and
//     explicit hash keys below 2^32 such as "42") first, so records with such keys point at the wrong
//     table entries: partition keys are never numeric, and aggregates it makes use explicit hash keys of
//     2^32 or more (its deaggregator indexes arrays and handles small ones, so ours carry them too);
//   - its deaggregator reads an absent explicit_hash_key_index as 0 and so reports the aggregate's first
//     explicit hash key for records that carry none: expectations account for that.

// jsRecord is a user record as agg.js exchanges it (data in base64 via []byte).
type jsRecord struct {
	PartitionKey      string  `json:"partitionKey"`
	ExplicitHashKey   *string `json:"explicitHashKey,omitempty"`
	SubSequenceNumber *int    `json:"subSequenceNumber,omitempty"`
	Data              []byte  `json:"data"`
}

// runAggJS runs interop/agg.js in mode with input as JSON and decodes its output into out.
func runAggJS(t *testing.T, mode string, input, out any) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skipf("interop test needs node (Node.js >= 20) on PATH: %v; %s", err, testenv.HowTo)
	}
	if _, err := os.Stat(filepath.Join("node_modules", "aws-kinesis-agg", "package.json")); err != nil {
		t.Skipf("interop test needs localstack-test/node_modules (run `make setup` or `cd localstack-test && npm ci`): %v", err)
	}
	in, err := json.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("interop", "agg.js"), mode)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node interop/agg.js %s: %v\n%s", mode, err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		t.Fatalf("decoding agg.js %s output: %v\n%.500s", mode, err, stdout.String())
	}
}

// interopGroups returns groups of user records, each small enough for one aggregate: distinct and repeated
// non-numeric keys, ASCII and non-ASCII, with and without explicit hash keys, empty and larger data. With
// smallEHKs false, no explicit hash key is below 2^32 (see the aws-kinesis-agg defects above).
func interopGroups(smallEHKs bool) [][]aggregation.Record {
	rnd := rand.New(rand.NewPCG(7, 11))
	data := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.UintN(256))
		}
		return b
	}
	var groups [][]aggregation.Record

	// Many distinct keys, no explicit hash keys.
	var g []aggregation.Record
	for i := range 120 {
		g = append(g, aggregation.Record{PartitionKey: fmt.Sprintf("user-%03d-%x", i, rnd.Uint32()), Data: data(1 + rnd.IntN(300))})
	}
	groups = append(groups, g)

	// Repeated keys (each once in the table), explicit hash keys on some records only, extreme values.
	ehks := []string{"0", "340282366920938463463374607431768211455", "170141183460469231731687303715884105728", "42"}
	if !smallEHKs {
		ehks[0], ehks[3] = "4294967296", "99999999999999999999"
	}
	g = nil
	for i := range 60 {
		r := aggregation.Record{PartitionKey: []string{"alpha", "beta", "gamma"}[i%3], Data: data(rnd.IntN(64))}
		if i%4 != 1 {
			r.ExplicitHashKey = ehks[i%len(ehks)]
		}
		g = append(g, r)
	}
	groups = append(groups, g)

	// First record without an explicit hash key, later ones with.
	groups = append(groups, []aggregation.Record{
		{PartitionKey: "no-ehk-first", Data: []byte("first")},
		{PartitionKey: "with-ehk", ExplicitHashKey: "12345678901234567890", Data: []byte("second")},
		{PartitionKey: "no-ehk-again", Data: []byte("third")},
	})

	// Unicode keys (up to 256 characters, counted as characters not bytes) and larger payloads.
	groups = append(groups, []aggregation.Record{
		{PartitionKey: "clé-ünïcode-日本語", Data: data(10_000)},
		{PartitionKey: "emoji-🙂-key", Data: data(20_000)},
		{PartitionKey: string(bytes.Repeat([]byte("é"), 256)), Data: data(5)},
		{PartitionKey: "x", Data: []byte{}},
	})

	// Two records, the smallest aggregate.
	groups = append(groups, []aggregation.Record{
		{PartitionKey: "pair-a", Data: []byte("a")},
		{PartitionKey: "pair-b", Data: []byte("b")},
	})
	return groups
}

// aggregateAll packs one group into one aggregate with our Aggregator.
func aggregateAll(t *testing.T, group []aggregation.Record) aggregation.Record {
	t.Helper()
	a := aggregation.NewAggregator(1 << 20)
	for _, r := range group {
		if err := a.Add(r); err != nil {
			t.Fatalf("Add(%q): %v", r.PartitionKey, err)
		}
	}
	rec, _, err := a.Flush()
	if err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if !aggregation.IsAggregated(rec.Data) {
		t.Fatalf("Flush of %d records did not produce an aggregate", len(group))
	}
	return rec
}

// TestInteropOursReadByAwsKinesisAgg: aggregates made by our Aggregator are deaggregated by
// aws-kinesis-agg (with its checksum verification on) into the records we put in.
func TestInteropOursReadByAwsKinesisAgg(t *testing.T) {
	groups := interopGroups(true)
	type input struct {
		Records []jsRecord `json:"records"`
	}
	var in input
	for _, g := range groups {
		in.Records = append(in.Records, jsRecord{Data: aggregateAll(t, g).Data})
	}
	var out struct {
		Results []struct {
			Error   *string    `json:"error"`
			Records []jsRecord `json:"records"`
		} `json:"results"`
	}
	runAggJS(t, "deaggregate", in, &out)
	if len(out.Results) != len(groups) {
		t.Fatalf("aws-kinesis-agg returned %d results for %d aggregates", len(out.Results), len(groups))
	}
	for gi, g := range groups {
		res := out.Results[gi]
		if res.Error != nil {
			t.Errorf("group %d: aws-kinesis-agg: %s", gi, *res.Error)
			continue
		}
		if len(res.Records) != len(g) {
			t.Errorf("group %d: aws-kinesis-agg found %d user records, want %d", gi, len(res.Records), len(g))
			continue
		}
		firstEHK := ""
		for _, r := range g {
			if r.ExplicitHashKey != "" {
				firstEHK = r.ExplicitHashKey
				break
			}
		}
		for i, want := range g {
			got := res.Records[i]
			gotEHK := ""
			if got.ExplicitHashKey != nil {
				gotEHK = *got.ExplicitHashKey
			}
			// aws-kinesis-agg reports the table's first explicit hash key for records without one (a fixed
			// version would report none; both are accepted).
			wantEHK := want.ExplicitHashKey
			if wantEHK == "" && gotEHK == firstEHK {
				wantEHK = firstEHK
			}
			if got.PartitionKey != want.PartitionKey || gotEHK != wantEHK || !bytes.Equal(got.Data, want.Data) {
				t.Errorf("group %d record %d: aws-kinesis-agg read {%q %q %d bytes}, want {%q %q %d bytes}", gi, i,
					got.PartitionKey, gotEHK, len(got.Data), want.PartitionKey, wantEHK, len(want.Data))
			}
			if got.SubSequenceNumber == nil || *got.SubSequenceNumber != i {
				t.Errorf("group %d record %d: sub-sequence %v, want %d", gi, i, got.SubSequenceNumber, i)
			}
		}
	}
}

// TestInteropAwsKinesisAggReadByOurs: aggregates made by aws-kinesis-agg are decoded by our Deaggregate
// exactly, explicit hash keys included; for the same input both encoders produce the same bytes.
func TestInteropAwsKinesisAggReadByOurs(t *testing.T) {
	groups := interopGroups(false)
	type input struct {
		Groups [][]jsRecord `json:"groups"`
	}
	var in input
	for _, g := range groups {
		var jg []jsRecord
		for _, r := range g {
			jr := jsRecord{PartitionKey: r.PartitionKey, Data: r.Data}
			if r.ExplicitHashKey != "" {
				jr.ExplicitHashKey = &r.ExplicitHashKey
			}
			jg = append(jg, jr)
		}
		in.Groups = append(in.Groups, jg)
	}
	var out struct {
		Results []jsRecord `json:"results"`
	}
	runAggJS(t, "aggregate", in, &out)
	if len(out.Results) != len(groups) {
		t.Fatalf("aws-kinesis-agg returned %d aggregates for %d groups", len(out.Results), len(groups))
	}
	for gi, g := range groups {
		payload := out.Results[gi].Data
		if !aggregation.IsAggregated(payload) {
			t.Errorf("group %d: IsAggregated(aws-kinesis-agg payload) = false, want true", gi)
		}
		got, err := aggregation.Deaggregate(payload)
		if err != nil {
			t.Errorf("group %d: Deaggregate(aws-kinesis-agg payload): %v", gi, err)
			continue
		}
		if len(got) != len(g) {
			t.Errorf("group %d: Deaggregate found %d user records, want %d", gi, len(got), len(g))
			continue
		}
		for i, want := range g {
			u := got[i]
			if u.PartitionKey != want.PartitionKey || u.ExplicitHashKey != want.ExplicitHashKey ||
				!bytes.Equal(u.Data, want.Data) || u.SubSequenceNumber != i {
				t.Errorf("group %d record %d: Deaggregate = {%q %q %d bytes sub %d}, want {%q %q %d bytes sub %d}", gi, i,
					u.PartitionKey, u.ExplicitHashKey, len(u.Data), u.SubSequenceNumber,
					want.PartitionKey, want.ExplicitHashKey, len(want.Data), i)
			}
		}
		// Both follow the protobuf field order of the format and list each key once in order of first
		// use, so the same records must encode to the same bytes.
		if ours := aggregateAll(t, g).Data; !bytes.Equal(ours, payload) {
			t.Errorf("group %d: our aggregate (%d bytes) differs from aws-kinesis-agg's (%d bytes)", gi, len(ours), len(payload))
		}
	}
}

// TestInteropChecksumRejected: a payload whose MD5 trailer was damaged is rejected by both implementations.
func TestInteropChecksumRejected(t *testing.T) {
	data := bytes.Clone(aggregateAll(t, interopGroups(true)[4]).Data)
	data[len(data)-1] ^= 0xff
	if _, err := aggregation.Deaggregate(data); !errors.Is(err, aggregation.ErrChecksum) {
		t.Errorf("Deaggregate(damaged trailer) error = %v, want ErrChecksum", err)
	}
	var out struct {
		Results []struct {
			Error *string `json:"error"`
		} `json:"results"`
	}
	runAggJS(t, "deaggregate", map[string]any{"records": []jsRecord{{Data: data}}}, &out)
	if len(out.Results) != 1 || out.Results[0].Error == nil {
		t.Errorf("aws-kinesis-agg accepted a damaged checksum: %+v", out.Results)
	}
}
