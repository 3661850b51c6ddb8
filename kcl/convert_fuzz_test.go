package kcl

import (
	"bytes"
	"crypto/md5"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/compression"
)

// Damage applied by FuzzConvert to the Kinesis record it builds.
const (
	damageNone     = iota
	damageChecksum // one byte of the MD5 trailer changed
	damageTruncate // cut at a position
	damageByte     // one byte anywhere changed
	damageRaw      // the fuzz bytes themselves are the record's data
	damageKinds
)

// FuzzConvert: what a consumer makes of one Kinesis record. Intact, an aggregate (compressed or not)
// gives back exactly the user records put into it, with sub-sequence numbers 0..n-1; damaged (bad MD5,
// truncated, a changed byte, or arbitrary bytes), it is delivered as one plain record of its
// (decompressed when the frame decodes) payload, or as user records whose data all lie in that
// payload: never more than it was given, never a panic.
func FuzzConvert(f *testing.F) {
	f.Add([]byte("a\x00bb\x00ccc"), "k", true, false, uint8(damageNone), uint16(0))
	f.Add([]byte("one record"), "k", true, true, uint8(damageNone), uint16(0))
	f.Add([]byte(strings.Repeat("compressible\x00", 40)), "key", true, true, uint8(damageChecksum), uint16(3))
	f.Add([]byte("x\x00y\x00z"), "p", true, false, uint8(damageTruncate), uint16(30))
	f.Add([]byte("x\x00y\x00z"), "p", true, true, uint8(damageByte), uint16(12))
	f.Add([]byte("\xf3\x89\x9a\xc2\x0a\x01"), "", false, false, uint8(damageRaw), uint16(0))
	f.Add([]byte("\xf3SWZ\x01\x80\x80\x04\x28\xb5\x2f\xfd"), "", false, false, uint8(damageRaw), uint16(0))
	dec, err := compression.NewDecoder(1 << 20)
	if err != nil {
		f.Fatal(err)
	}
	enc, err := compression.NewEncoder(0)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte, key string, aggregate, compress bool, damage uint8, at uint16) {
		damage %= damageKinds
		var users [][]byte
		var data []byte
		if damage == damageRaw {
			data = bytes.Clone(in)
		} else {
			users = bytes.Split(in, []byte{0})
			if !aggregate {
				users = users[:1]
			}
			agg := aggregation.NewAggregator(64 << 10)
			for i, u := range users {
				pk := key + strings.Repeat("x", i%3)
				if pk == "" {
					pk = "k"
				}
				if err := agg.Add(aggregation.Record{PartitionKey: pk, Data: u}); err != nil {
					t.Skip() // a key Kinesis would refuse: nothing to consume
				}
			}
			r, _, err := agg.Flush()
			if err != nil {
				t.Fatal(err)
			}
			data = r.Data
			if compress {
				data, _ = enc.Compress(data)
			}
			if len(data) > 0 {
				switch i := int(at) % len(data); damage {
				case damageChecksum:
					if len(data) >= md5.Size {
						data[len(data)-1-i%md5.Size] ^= 0x55
					}
				case damageTruncate:
					data = data[:i]
				case damageByte:
					data[i] ^= 0xa5
				}
			}
		}
		given := bytes.Clone(data)
		// What the consumer may deliver from: the payload, or what its frame decodes to.
		payload := given
		if out, ok, _ := dec.Decode(given); ok {
			payload = out
		}
		c := &converter{shardID: "s", rng: aggregation.FullHashRange, hasRange: true, dec: dec, hooks: &hooks{},
			log: slog.New(slog.DiscardHandler)}
		seq := "49600000000000000000000000000000000000000000000000000001"
		res := c.convert([]types.Record{{SequenceNumber: aws.String(seq), PartitionKey: aws.String("a"), Data: data}}, nil)
		if !bytes.Equal(data, given) {
			t.Fatal("convert changed the Kinesis record's data")
		}
		if len(res.records) == 0 || res.filtered+res.skipped != 0 {
			t.Fatalf("%d records, %d filtered, %d skipped: a record over the full hash range was lost", len(res.records), res.filtered, res.skipped)
		}
		total := 0
		for i, r := range res.records {
			total += len(r.Data)
			if r.Position.SequenceNumber != seq || r.Position.SubSequenceNumber != i && r.Aggregated {
				t.Fatalf("record %d at %+v", i, r.Position)
			}
			if !r.Aggregated && len(res.records) != 1 {
				t.Fatalf("a plain record among %d", len(res.records))
			}
			if r.Aggregated && !bytes.Contains(payload, r.Data) {
				t.Fatalf("user record %d's data %q is not in the payload", i, r.Data)
			}
		}
		if total > len(payload) {
			t.Fatalf("delivered %d bytes from a payload of %d", total, len(payload))
		}
		if !res.records[0].Aggregated && !bytes.Equal(res.records[0].Data, payload) {
			t.Fatalf("plain record %q, want the payload %q", res.records[0].Data, payload)
		}
		if damage != damageNone {
			return
		}
		if len(res.records) != len(users) {
			t.Fatalf("%d records from an intact aggregate of %d", len(res.records), len(users))
		}
		for i, r := range res.records {
			if !bytes.Equal(r.Data, users[i]) {
				t.Fatalf("record %d = %q, want %q", i, r.Data, users[i])
			}
		}
	})
}
