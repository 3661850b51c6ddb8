package aggregation

import (
	"crypto/md5"
	"errors"
	"math/rand/v2"
	"testing"
)

// benchWorkingSet is the bytes of record data a benchmark cycles through: 1 MiB, the same working set
// as the MD5 yardstick, like a producer whose records were just made.
const benchWorkingSet = 1 << 20

// benchRecords makes n records with random 16-36 character partition keys and size-byte payloads.
func benchRecords(n, size int) []Record {
	r := rand.New(rand.NewPCG(42, uint64(size)))
	recs := make([]Record, n)
	for i := range recs {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		recs[i] = Record{PartitionKey: randKey(r, 16, 36), Data: data}
	}
	return recs
}

// reportRecords reports user records per second, counting one record per b.N iteration.
func reportRecords(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkMD5 is the yardstick: plain crypto/md5 over 1 MiB buffers. The aggregation benchmarks
// report MB/s of user data in the same run, so their ratio to this figure is machine-independent.
func BenchmarkMD5(b *testing.B) {
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		md5.Sum(buf)
	}
}

// BenchmarkAggregate adds records to one aggregator of the default size, flushing (encoding and MD5)
// whenever it is full: the cost of aggregation per user record. The plain variants write payloads into
// a recycled buffer with AppendFlush, as the kpl producer does; the -alloc variants use Flush, which
// allocates (and the runtime zeroes) a new payload each time.
func BenchmarkAggregate(b *testing.B) {
	for _, size := range []struct {
		name  string
		n     int
		reuse bool
	}{{"100B", 100, true}, {"1KiB", 1024, true}, {"100B-alloc", 100, false}, {"1KiB-alloc", 1024, false}} {
		b.Run(size.name, func(b *testing.B) {
			var buf []byte // with reuse, payloads are written with AppendFlush into one recycled buffer
			recs := benchRecords(benchWorkingSet/size.n, size.n)
			a := NewAggregator(DefaultMaxSize)
			b.SetBytes(int64(size.n))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := recs[i]
				if i++; i == len(recs) {
					i = 0
				}
				if err := a.Add(r); errors.Is(err, ErrFull) {
					var out Record
					var err error
					if size.reuse {
						out, _, err = a.AppendFlush(buf)
						buf = out.Data
					} else {
						out, _, err = a.Flush()
					}
					if err != nil || len(out.Data) == 0 {
						b.Fatal(err)
					}
					if err := a.Add(r); err != nil {
						b.Fatal(err)
					}
				}
			}
			reportRecords(b)
		})
	}
}

// BenchmarkShardAwareAggregate routes each record to one of 16 shards (hash key from its partition
// key, shard-map lookup) and aggregates per shard into recycled payload buffers, as the producer does.
func BenchmarkShardAwareAggregate(b *testing.B) {
	const shards = 16
	recs := benchRecords(benchWorkingSet/100, 100)
	ranges := make([]ShardRange, shards)
	step := ^uint64(0)/shards + 1
	for i := range ranges {
		start := HashKeyFromUint64s(uint64(i)*step, 0)
		end := HashKeyFromUint64s(uint64(i+1)*step-1, ^uint64(0))
		ranges[i] = ShardRange{ShardID: "shard", Range: HashRange{Start: start, End: end}}
	}
	m, err := NewShardMap(ranges)
	if err != nil {
		b.Fatal(err)
	}
	aggs := make([]*Aggregator, shards)
	bufs := make([][]byte, shards)
	for i := range aggs {
		aggs[i] = NewAggregator(DefaultMaxSize)
	}
	b.SetBytes(100)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := recs[i]
		if i++; i == len(recs) {
			i = 0
		}
		k, err := EffectiveHashKey(r.PartitionKey, r.ExplicitHashKey)
		if err != nil {
			b.Fatal(err)
		}
		idx, _, ok := m.Lookup(k)
		if !ok {
			b.Fatal("no shard")
		}
		a := aggs[idx]
		if err := a.Add(r); errors.Is(err, ErrFull) {
			out, _, _ := a.AppendFlush(bufs[idx]) // recycled per-shard buffers, as kpl does
			bufs[idx] = out.Data
			if err := a.Add(r); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportRecords(b)
}

// BenchmarkDeaggregate decodes full default-size aggregates of 100-byte records, MD5 check included;
// one iteration is one user record.
func BenchmarkDeaggregate(b *testing.B) {
	recs := benchRecords(benchWorkingSet/100, 100)
	a := NewAggregator(DefaultMaxSize)
	var payloads [][]byte
	for _, r := range recs {
		if err := a.Add(r); errors.Is(err, ErrFull) {
			rec, _, _ := a.Flush()
			payloads = append(payloads, rec.Data)
			a.Add(r)
		}
	}
	perPayload := len(recs) / (len(payloads) + 1)
	b.SetBytes(100)
	b.ReportAllocs()
	b.ResetTimer()
	done := 0
	for i := 0; done < b.N; i++ {
		got, err := Deaggregate(payloads[i%len(payloads)])
		if err != nil {
			b.Fatal(err)
		}
		done += len(got)
	}
	b.ReportMetric(float64(perPayload), "records/aggregate")
	reportRecords(b)
}
