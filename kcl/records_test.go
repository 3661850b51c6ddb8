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

func (c *corruptCounter) OnCorruptRecord(string, string, error) { c.n++ }

// TestConvertAggregateLookalikes: data carrying the aggregation magic is deaggregated only when it
// is an aggregate. Too short for a body and trailer, or a wrong MD5 trailer: one plain record, no
// corruption reported. A right trailer over a body that does not parse: one plain record, reported.
func TestConvertAggregateLookalikes(t *testing.T) {
	magic := string(aggregation.Magic[:])
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
