package kinesisrecord_test

import (
	"crypto/md5"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/compression"
	"github.com/shardwise/shardwise/kinesisrecord"
)

const seq = "49600000000000000000000000000000000000000000000000000001"

func all(t *testing.T, d *kinesisrecord.Decoder, data []byte, rng *aggregation.HashRange) ([]kinesisrecord.UserRecord, error) {
	t.Helper()
	var out []kinesisrecord.UserRecord
	err := d.Each(kinesisrecord.Record{Data: data, PartitionKey: "pk", SequenceNumber: seq}, rng, func(u kinesisrecord.UserRecord) bool {
		out = append(out, u)
		return true
	})
	return out, err
}

// keyIn returns a partition key whose MD5 lies in the lower (upper false) or upper half of the key space.
func keyIn(upper bool, i int) string {
	for n := i; ; n++ {
		k := fmt.Sprint("key-", n)
		if (aggregation.PartitionKeyHash(k)[0] >= 0x80) == upper {
			return k
		}
	}
}

func aggregate(t *testing.T, recs ...aggregation.Record) []byte {
	t.Helper()
	a := aggregation.NewAggregator(aggregation.DefaultMaxSize)
	for _, r := range recs {
		if err := a.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	r, _, err := a.Flush()
	if err != nil {
		t.Fatal(err)
	}
	return r.Data
}

// TestPlainAndLookalikes: data with the aggregation magic is deaggregated only when it is an
// aggregate. Too short for a body and trailer, or a wrong trailer: one plain record, no error. A
// right trailer over a body that does not parse: one plain record with ErrCorrupt.
func TestPlainAndLookalikes(t *testing.T) {
	magic := aggregation.Magic
	body := "\x0a\x01" // a partition key table entry whose length runs past the end
	sum := md5.Sum([]byte(body))
	for _, tc := range []struct {
		name, data string
		err        error
	}{
		{"plain", "hello", nil},
		{"empty", "", nil},
		{"magic only", magic, nil},
		{"too short", magic + strings.Repeat("x", 16), nil},
		{"wrong trailer", magic + strings.Repeat("x", 40), nil},
		{"corrupt body", magic + body + string(sum[:]), aggregation.ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			full := aggregation.FullHashRange
			got, err := all(t, new(kinesisrecord.Decoder), []byte(tc.data), &full)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Errorf("error %v, want %v", err, tc.err)
			}
			want := kinesisrecord.UserRecord{PartitionKey: "pk", Data: []byte(tc.data), SequenceNumber: seq}
			if len(got) != 1 || fmt.Sprint(got[0]) != fmt.Sprint(want) {
				t.Fatalf("got %+v, want one plain record %+v", got, want)
			}
		})
	}
}

// TestCompressedFrames: a frame is decompressed (and what it holds deaggregated); a frame that does
// not decode is delivered as it came, with ErrCorrupt.
func TestCompressedFrames(t *testing.T) {
	enc, err := compression.NewEncoder(compression.LevelFastest)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte(strings.Repeat("compressible ", 100))
	framed, ok := enc.Compress(plain)
	if !ok {
		t.Fatal("not compressed")
	}
	got, err := all(t, new(kinesisrecord.Decoder), framed, nil)
	if err != nil || len(got) != 1 || string(got[0].Data) != string(plain) || got[0].Aggregated {
		t.Fatalf("framed plain record: %+v, %v", got, err)
	}

	agg := aggregate(t, aggregation.Record{PartitionKey: "a", Data: []byte(strings.Repeat("1", 300))},
		aggregation.Record{PartitionKey: "b", Data: []byte(strings.Repeat("2", 300))})
	framedAgg, ok := enc.Compress(agg)
	if !ok {
		t.Fatal("aggregate not compressed")
	}
	dec, _ := compression.NewDecoder(0)
	got, err = all(t, &kinesisrecord.Decoder{Decompressor: dec}, framedAgg, nil)
	if err != nil || len(got) != 2 || got[1].PartitionKey != "b" || got[1].SubSequenceNumber != 1 || !got[1].Aggregated {
		t.Fatalf("framed aggregate: %+v, %v", got, err)
	}

	corrupt := append([]byte(nil), framed[:len(framed)/2]...)
	got, err = all(t, new(kinesisrecord.Decoder), corrupt, nil)
	if !errors.Is(err, compression.ErrCorrupt) || len(got) != 1 || string(got[0].Data) != string(corrupt) {
		t.Fatalf("corrupt frame: %+v, %v; want it as it came with ErrCorrupt", got, err)
	}
}

// TestHashRangeMarks: with a range, sub-records whose effective hash key is outside it, or invalid,
// are marked; without one, or for plain records, nothing is. Append leaves the marked ones out.
func TestHashRangeMarks(t *testing.T) {
	lower, _, _ := aggregation.FullHashRange.SplitAt(aggregation.FullHashRange.Midpoint())
	upperEHK := aggregation.HashKeyFromUint64s(0xc000000000000000, 7).String()
	data := aggregate(t,
		aggregation.Record{PartitionKey: keyIn(false, 0), Data: []byte("in-1")},
		aggregation.Record{PartitionKey: keyIn(true, 0), Data: []byte("out-by-key")},
		aggregation.Record{PartitionKey: keyIn(false, 0), ExplicitHashKey: upperEHK, Data: []byte("out-by-ehk")},
		aggregation.Record{PartitionKey: keyIn(true, 0), ExplicitHashKey: "1", Data: []byte("in-by-ehk")},
		aggregation.Record{PartitionKey: keyIn(false, 5), Data: []byte("in-2")},
	)
	d := new(kinesisrecord.Decoder)
	got, err := all(t, d, data, &lower)
	if err != nil {
		t.Fatal(err)
	}
	var marks []string
	for i, u := range got {
		if u.SubSequenceNumber != i || u.SequenceNumber != seq || !u.Aggregated {
			t.Errorf("record %d: %+v", i, u)
		}
		marks = append(marks, fmt.Sprintf("%s:%v", u.Data, u.OutsideRange))
	}
	if want := "[in-1:false out-by-key:true out-by-ehk:true in-by-ehk:false in-2:false]"; fmt.Sprint(marks) != want {
		t.Errorf("marks %v, want %s", marks, want)
	}
	kept, err := d.Append(nil, kinesisrecord.Record{Data: data, PartitionKey: "pk", SequenceNumber: seq}, &lower)
	if err != nil || len(kept) != 3 || string(kept[2].Data) != "in-2" || kept[2].SubSequenceNumber != 4 {
		t.Errorf("Append kept %+v, %v; want in-1, in-by-ehk, in-2 with their sub-sequence numbers", kept, err)
	}
	unfiltered, _ := d.Append(nil, kinesisrecord.Record{Data: data, PartitionKey: "pk", SequenceNumber: seq}, nil)
	if len(unfiltered) != 5 {
		t.Errorf("without a range: %d records, want all 5", len(unfiltered))
	}
	// A plain record is never marked, wherever its key lies.
	upper := aggregation.HashRange{Start: aggregation.MaxHashKey, End: aggregation.MaxHashKey}
	plain, _ := all(t, d, []byte("plain"), &upper)
	if len(plain) != 1 || plain[0].OutsideRange {
		t.Errorf("plain record: %+v", plain)
	}
}

func TestEachStopsWhenYieldSaysSo(t *testing.T) {
	data := aggregate(t, aggregation.Record{PartitionKey: "a", Data: []byte("1")},
		aggregation.Record{PartitionKey: "b", Data: []byte("2")}, aggregation.Record{PartitionKey: "c", Data: []byte("3")})
	n := 0
	new(kinesisrecord.Decoder).Each(kinesisrecord.Record{Data: data}, nil, func(kinesisrecord.UserRecord) bool {
		n++
		return n < 2
	})
	if n != 2 {
		t.Errorf("yield called %d times after returning false at the second, want 2", n)
	}
}

// TestNoAllocations: a plain record costs no allocation; an aggregate only its key tables (a reused
// Decoder keeps its user record slice).
func TestNoAllocations(t *testing.T) {
	d := new(kinesisrecord.Decoder)
	full := aggregation.FullHashRange
	plain := kinesisrecord.Record{Data: []byte("plain"), PartitionKey: "pk", SequenceNumber: seq}
	count := 0
	yield := func(kinesisrecord.UserRecord) bool { count++; return true }
	if n := testing.AllocsPerRun(100, func() { d.Each(plain, &full, yield) }); n != 0 {
		t.Errorf("plain record: %v allocations, want 0", n)
	}
	var recs []aggregation.Record
	for i := range 100 {
		recs = append(recs, aggregation.Record{PartitionKey: "k", Data: []byte{byte(i)}})
	}
	agg := kinesisrecord.Record{Data: aggregate(t, recs...), SequenceNumber: seq}
	d.Each(agg, &full, yield) // sizes the reused slice
	allocs := testing.AllocsPerRun(100, func() { d.Each(agg, &full, yield) })
	direct := testing.AllocsPerRun(100, func() { aggregation.AppendDeaggregate(make([]aggregation.UserRecord, 0, 100), agg.Data) })
	if allocs > direct-1 { // direct also allocates its result slice
		t.Errorf("aggregate of 100: %v allocations, want those of the key tables only (%v - 1)", allocs, direct)
	}
}
