package kcl

import (
	"crypto/md5"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/compression"
)

type corruptCounter struct{ n int }

func (c *corruptCounter) OnCorruptRecord(CorruptEvent) { c.n++ }

// TestConvertAggregateLookalikes: data carrying the aggregation magic is deaggregated only when it
// is an aggregate. Too short for a body and trailer, or a wrong MD5 trailer: one plain record, no
// corruption reported. A right trailer over a body that does not parse: one plain record, reported.
func TestConvertAggregateLookalikes(t *testing.T) {
	magic := aggregation.Magic
	body := "\x0a\x01" // a partition key table entry whose length runs past the end
	sum := md5.Sum([]byte(body))
	for _, tc := range []struct {
		name, data string
		corrupt    int
	}{
		{"magic only", magic, 0},
		{"too short", magic + strings.Repeat("x", 16), 0},
		{"wrong trailer", magic + strings.Repeat("x", 40), 0},
		{"corrupt body", magic + body + string(sum[:]), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dec, _ := compression.NewDecoder(0)
			cc := &corruptCounter{}
			c := &converter{shardID: "s", rng: aggregation.FullHashRange, hasRange: true, dec: dec,
				hooks: &hooks{corrupt: []HookCorruptRecord{cc}}, log: slog.New(slog.DiscardHandler)}
			in := []types.Record{{SequenceNumber: aws.String("49600000000000000000000000000000000000000000000000000001"),
				PartitionKey: aws.String("pk"), Data: []byte(tc.data)}}
			res := c.convert(in, nil)
			if len(res.records) != 1 || string(res.records[0].Data) != tc.data || res.records[0].PartitionKey != "pk" || res.records[0].Aggregated {
				t.Fatalf("got %+v, want the data as one plain record", res.records)
			}
			if cc.n != tc.corrupt {
				t.Errorf("%d corruption reports, want %d", cc.n, tc.corrupt)
			}
		})
	}
}

// TestConvertSizesResultOnce: a batch of similar aggregates grows the result slice once, from the
// first aggregate's density, and every user record is delivered in order.
func TestConvertSizesResultOnce(t *testing.T) {
	var in []types.Record
	for a := range 20 {
		agg := aggregation.NewAggregator(1 << 20)
		for u := range 100 {
			if err := agg.Add(aggregation.Record{PartitionKey: "k" + strings.Repeat("x", u%7), Data: []byte{byte(a), byte(u)}}); err != nil {
				t.Fatal(err)
			}
		}
		r, _, err := agg.Flush()
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, types.Record{SequenceNumber: aws.String(fmt.Sprintf("4960%052d", a)),
			PartitionKey: aws.String("a"), Data: r.Data})
	}
	dec, _ := compression.NewDecoder(0)
	c := &converter{shardID: "s", rng: aggregation.FullHashRange, hasRange: true, dec: dec, hooks: &hooks{},
		log: slog.New(slog.DiscardHandler)}
	res := c.convert(in, nil)
	if len(res.records) != 2000 {
		t.Fatalf("%d records, want 2000", len(res.records))
	}
	// 100 from the first aggregate, then 19 more of the same size plus 5 %: 2095 (rounded up to the
	// allocation's size class). Growing by appending would end elsewhere (2048, 2560, ...).
	if c := cap(res.records); c < 2095 || c > 2160 {
		t.Errorf("result capacity %d: want one growth to 2095 (the first aggregate's density, +5 %%)", c)
	}
	for i, r := range res.records {
		if r.Data[0] != byte(i/100) || r.Data[1] != byte(i%100) || r.Position.SubSequenceNumber != i%100 {
			t.Fatalf("record %d: data %v sub %d", i, r.Data, r.Position.SubSequenceNumber)
		}
	}
}

// TestDroppedSubRecordLogHasNoKeyOrData: a sub-record dropped for lying outside the shard's range is
// logged with its sequence and sub-sequence numbers and where its hash key falls, never with its
// partition key, explicit hash key or data (the log may go anywhere; keys and data may be personal).
func TestDroppedSubRecordLogHasNoKeyOrData(t *testing.T) {
	var low, high []string
	for i := 0; len(low) < 1 || len(high) < 2; i++ {
		k := fmt.Sprintf("secret-key-%d", i)
		if aggregation.PartitionKeyHash(k)[0] < 0x80 {
			low = append(low, k)
		} else {
			high = append(high, k)
		}
	}
	// The second high record carries an explicit hash key in the upper half.
	ehk := aggregation.HashKeyFromUint64s(0xc000000000000000, 7).String()
	a := aggregation.NewAggregator(1 << 20)
	for i, r := range []aggregation.Record{
		{PartitionKey: low[0], Data: []byte("payload-low")},
		{PartitionKey: high[0], Data: []byte("payload-high")},
		{PartitionKey: high[1], ExplicitHashKey: ehk, Data: []byte("payload-ehk")},
	} {
		if err := a.Add(r); err != nil {
			t.Fatal(i, err)
		}
	}
	agg, _, err := a.Flush()
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	dec, _ := compression.NewDecoder(0)
	lower := aggregation.HashRange{Start: aggregation.HashKey{}, End: aggregation.HashKeyFromUint64s(0x7fffffffffffffff, ^uint64(0))}
	c := &converter{shardID: "s", rng: lower, hasRange: true, dec: dec, hooks: &hooks{},
		log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	seq := "49600000000000000000000000000000000000000000000000000001"
	res := c.convert([]types.Record{{SequenceNumber: aws.String(seq), PartitionKey: aws.String("outer-key"), Data: agg.Data}}, nil)
	if len(res.records) != 1 || res.filtered != 2 {
		t.Fatalf("%d delivered, %d filtered; want 1 and 2", len(res.records), res.filtered)
	}
	out := buf.String()
	for _, secret := range []string{high[0], high[1], low[0], ehk, "payload", "outer-key"} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"sub_seq=1", "sub_seq=2", "seq=" + seq, `hash_key="above the range"`, "explicit_hash_key=true", "explicit_hash_key=false"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}
