package aggregation

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

// wrap frames a protobuf body as an aggregated record: magic, body, MD5(body).
func wrap(body []byte) []byte {
	sum := md5.Sum(body)
	out := append([]byte{0xF3, 0x89, 0x9A, 0xC2}, body...)
	return append(out, sum[:]...)
}

func mustAdd(t *testing.T, a *Aggregator, r Record) {
	t.Helper()
	if err := a.Add(r); err != nil {
		t.Fatalf("Add(%q) = %v", r.PartitionKey, err)
	}
}

// TestGolden checks the encoder against bytes written out by hand from the protobuf spec and the KPL
// message definitions, not produced by any encoder.
func TestGolden(t *testing.T) {
	tests := []struct {
		name    string
		records []Record
		body    []byte
	}{
		{
			name: "two keys, one explicit hash key",
			records: []Record{
				{PartitionKey: "a1", Data: []byte("x")},
				{PartitionKey: "b", ExplicitHashKey: "5", Data: []byte("yz")},
			},
			body: []byte{
				0x0A, 0x02, 'a', '1', // partition_key_table[0] = "a1"
				0x0A, 0x01, 'b', // partition_key_table[1] = "b"
				0x12, 0x01, '5', // explicit_hash_key_table[0] = "5"
				0x1A, 0x05, 0x08, 0x00, 0x1A, 0x01, 'x', // records[0] {pk 0, data "x"}
				0x1A, 0x08, 0x08, 0x01, 0x10, 0x00, 0x1A, 0x02, 'y', 'z', // records[1] {pk 1, ehk 0, "yz"}
			},
		},
		{
			name: "repeated key stored once, empty data",
			records: []Record{
				{PartitionKey: "k", Data: []byte("1")},
				{PartitionKey: "k", Data: nil},
				{PartitionKey: "k", Data: []byte("33")},
			},
			body: []byte{
				0x0A, 0x01, 'k',
				0x1A, 0x05, 0x08, 0x00, 0x1A, 0x01, '1',
				0x1A, 0x04, 0x08, 0x00, 0x1A, 0x00,
				0x1A, 0x06, 0x08, 0x00, 0x1A, 0x02, '3', '3',
			},
		},
		{
			name: "explicit hash keys deduplicated, index only where present",
			records: []Record{
				{PartitionKey: "p", ExplicitHashKey: "99", Data: []byte("a")},
				{PartitionKey: "q", Data: []byte("b")},
				{PartitionKey: "p", ExplicitHashKey: "99", Data: []byte("c")},
				{PartitionKey: "q", ExplicitHashKey: "7", Data: []byte("d")},
			},
			body: []byte{
				0x0A, 0x01, 'p',
				0x0A, 0x01, 'q',
				0x12, 0x02, '9', '9',
				0x12, 0x01, '7',
				0x1A, 0x07, 0x08, 0x00, 0x10, 0x00, 0x1A, 0x01, 'a',
				0x1A, 0x05, 0x08, 0x01, 0x1A, 0x01, 'b',
				0x1A, 0x07, 0x08, 0x00, 0x10, 0x00, 0x1A, 0x01, 'c',
				0x1A, 0x07, 0x08, 0x01, 0x10, 0x01, 0x1A, 0x01, 'd',
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAggregator(DefaultMaxSize)
			for _, r := range tt.records {
				mustAdd(t, a, r)
			}
			want := wrap(tt.body)
			if a.Size() != len(want) {
				t.Errorf("Size() = %d, want %d", a.Size(), len(want))
			}
			got, users, err := a.Flush()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Data, want) {
				t.Errorf("payload\n got %x\nwant %x", got.Data, want)
			}
			if got.PartitionKey != "a" {
				t.Errorf("PartitionKey = %q, want \"a\"", got.PartitionKey)
			}
			// Expected routing key, computed independently with math/big.
			first := tt.records[0]
			wantEHK := first.ExplicitHashKey
			if wantEHK == "" {
				sum := md5.Sum([]byte(first.PartitionKey))
				wantEHK = new(big.Int).SetBytes(sum[:]).String()
			}
			if got.ExplicitHashKey != wantEHK {
				t.Errorf("ExplicitHashKey = %s, want %s", got.ExplicitHashKey, wantEHK)
			}
			if len(users) != len(tt.records) {
				t.Fatalf("Flush returned %d user records, want %d", len(users), len(tt.records))
			}
			back, err := Deaggregate(got.Data)
			if err != nil {
				t.Fatal(err)
			}
			checkSame(t, back, tt.records)
			if a.Len() != 0 || a.Size() != 0 {
				t.Errorf("after Flush Len, Size = %d, %d; want 0, 0", a.Len(), a.Size())
			}
		})
	}
}

func checkSame(t *testing.T, got []UserRecord, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		g := got[i]
		if g.SubSequenceNumber != i || g.PartitionKey != want[i].PartitionKey ||
			g.ExplicitHashKey != want[i].ExplicitHashKey || !bytes.Equal(g.Data, want[i].Data) {
			t.Fatalf("record %d = {%d %q %q %q}, want {%d %q %q %q}", i,
				g.SubSequenceNumber, g.PartitionKey, g.ExplicitHashKey, g.Data,
				i, want[i].PartitionKey, want[i].ExplicitHashKey, want[i].Data)
		}
	}
}

func TestFlushSingleRecordUnaggregated(t *testing.T) {
	a := NewAggregator(DefaultMaxSize)
	r := Record{PartitionKey: "only", ExplicitHashKey: "42", Data: []byte("payload")}
	mustAdd(t, a, r)
	if a.Size() != len(r.Data) {
		t.Errorf("Size() = %d, want %d", a.Size(), len(r.Data))
	}
	got, users, err := a.Flush()
	if err != nil {
		t.Fatal(err)
	}
	if got.PartitionKey != r.PartitionKey || got.ExplicitHashKey != r.ExplicitHashKey || !bytes.Equal(got.Data, r.Data) {
		t.Errorf("Flush() = %+v, want %+v", got, r)
	}
	if len(users) != 1 {
		t.Errorf("Flush returned %d user records, want 1", len(users))
	}
	if got, users, err := a.Flush(); err != nil || got.Data != nil || users != nil {
		t.Errorf("Flush of empty = %+v, %v, %v; want zero", got, users, err)
	}
}

func randKey(r *rand.Rand, minLen, maxLen int) string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
	n := minLen + r.IntN(maxLen-minLen+1)
	var sb strings.Builder
	for i := 0; i < n; i++ {
		sb.WriteByte(chars[r.IntN(len(chars))])
	}
	return sb.String()
}

// TestSizeExactAndBounded adds random records to aggregators of many sizes and checks that Size()
// always equals what Flush returns and that no payload exceeds the maximum.
func TestSizeExactAndBounded(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, maxSize := range []int{21, 40, 64, 127, 128, 129, 300, 1000, 16384, DefaultMaxSize} {
		a := NewAggregator(maxSize)
		keys := []string{randKey(r, 1, 5), randKey(r, 1, 5), randKey(r, 100, 256)}
		var sent, flushed int
		check := func() {
			t.Helper()
			size, n := a.Size(), a.Len()
			rec, users, err := a.Flush()
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.Data) != size {
				t.Fatalf("maxSize %d: Size() = %d but Flush returned %d bytes", maxSize, size, len(rec.Data))
			}
			if n > 1 && len(rec.Data) > maxSize {
				t.Fatalf("maxSize %d: payload of %d bytes", maxSize, len(rec.Data))
			}
			flushed += len(users)
		}
		for i := 0; i < 3000; i++ {
			rec := Record{Data: make([]byte, r.IntN(200))}
			if r.IntN(3) == 0 {
				rec.PartitionKey = keys[r.IntN(len(keys))]
			} else {
				rec.PartitionKey = randKey(r, 1, 40)
			}
			if r.IntN(4) == 0 {
				rec.ExplicitHashKey = HashKeyFromUint64s(r.Uint64()>>r.IntN(64), r.Uint64()).String()
			}
			if a.Len() > 1 && a.Size() != a.AggregatedSize() {
				t.Fatalf("Size() = %d, AggregatedSize() = %d", a.Size(), a.AggregatedSize())
			}
			err := a.Add(rec)
			if errors.Is(err, ErrFull) {
				check()
				err = a.Add(rec)
			}
			switch {
			case errors.Is(err, ErrTooLarge):
				// Must truly not fit alone: an aggregate of just this record is too big.
				one := NewAggregator(1 << 30)
				mustAdd(t, one, rec)
				if one.AggregatedSize() <= maxSize {
					t.Fatalf("maxSize %d: ErrTooLarge for a record whose aggregate is %d bytes", maxSize, one.AggregatedSize())
				}
				continue
			case err != nil:
				t.Fatal(err)
			}
			sent++
		}
		check()
		if flushed != sent {
			t.Fatalf("maxSize %d: flushed %d user records, added %d", maxSize, flushed, sent)
		}
	}
}

// TestFullBoundary checks that a record filling the aggregate to exactly maxSize is accepted and one
// byte more is refused with ErrFull.
func TestFullBoundary(t *testing.T) {
	probe := NewAggregator(1 << 20)
	mustAdd(t, probe, Record{PartitionKey: "k", Data: []byte("first")})
	base := probe.AggregatedSize()
	mustAdd(t, probe, Record{PartitionKey: "k", Data: make([]byte, 10)})
	withTen := probe.AggregatedSize()

	a := NewAggregator(withTen)
	mustAdd(t, a, Record{PartitionKey: "k", Data: []byte("first")})
	if err := a.Add(Record{PartitionKey: "k", Data: make([]byte, 11)}); !errors.Is(err, ErrFull) {
		t.Fatalf("Add past maxSize = %v, want ErrFull", err)
	}
	if a.AggregatedSize() != base || a.Len() != 1 {
		t.Fatalf("failed Add changed the aggregate")
	}
	mustAdd(t, a, Record{PartitionKey: "k", Data: make([]byte, 10)})
	if a.Size() != withTen {
		t.Fatalf("Size() = %d, want %d", a.Size(), withTen)
	}
}

func TestAddTooLargeAndInvalid(t *testing.T) {
	a := NewAggregator(100)
	if err := a.Add(Record{PartitionKey: "k", Data: make([]byte, 90)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Add of a 90-byte record to a 100-byte aggregator = %v, want ErrTooLarge", err)
	}
	mustAdd(t, a, Record{PartitionKey: "k", Data: make([]byte, 60)})
	if err := a.Add(Record{PartitionKey: "k", Data: make([]byte, 95)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Add of a never-fitting record to a non-empty aggregator = %v, want ErrTooLarge", err)
	}
	if err := a.Add(Record{PartitionKey: "", Data: []byte("x")}); !errors.Is(err, ErrInvalidPartitionKey) {
		t.Errorf("Add with empty key = %v, want ErrInvalidPartitionKey", err)
	}
	if err := a.Add(Record{PartitionKey: strings.Repeat("x", 257), Data: []byte("x")}); !errors.Is(err, ErrInvalidPartitionKey) {
		t.Errorf("Add with 257-char key = %v, want ErrInvalidPartitionKey", err)
	}
	if err := a.Add(Record{PartitionKey: "k", ExplicitHashKey: "340282366920938463463374607431768211456"}); !errors.Is(err, ErrInvalidHashKey) {
		t.Errorf("Add with 2^128 hash key = %v, want ErrInvalidHashKey", err)
	}
	if a.Len() != 1 {
		t.Errorf("Len() = %d after failed adds, want 1", a.Len())
	}
}

func TestRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for iter := 0; iter < 200; iter++ {
		a := NewAggregator(1 << 20)
		n := 2 + r.IntN(300)
		want := make([]Record, n)
		for i := range want {
			want[i] = Record{PartitionKey: randKey(r, 1, 30)}
			if r.IntN(5) == 0 {
				want[i].PartitionKey = "shared"
			}
			if r.IntN(3) == 0 {
				want[i].ExplicitHashKey = fmt.Sprint(r.Uint64())
			}
			want[i].Data = make([]byte, r.IntN(300))
			for j := range want[i].Data {
				want[i].Data[j] = byte(r.Uint32())
			}
			mustAdd(t, a, want[i])
		}
		rec, _, err := a.Flush()
		if err != nil {
			t.Fatal(err)
		}
		if !IsAggregated(rec.Data) {
			t.Fatalf("IsAggregated(flushed) = false")
		}
		got, err := Deaggregate(rec.Data)
		if err != nil {
			t.Fatal(err)
		}
		checkSame(t, got, want)
	}
}

var sharedRand = rand.New(rand.NewPCG(13, 14))

func testRand() *rand.Rand { return sharedRand }

func TestAppendFlushReusesBuffer(t *testing.T) {
	a := NewAggregator(DefaultMaxSize)
	buf := make([]byte, 7, 4096)
	mustAdd(t, a, Record{PartitionKey: "k1", Data: []byte("one")})
	mustAdd(t, a, Record{PartitionKey: "k2", Data: []byte("two")})
	want := a.Size()
	rec, users, err := a.AppendFlush(buf)
	if err != nil || len(rec.Data) != want || len(users) != 2 {
		t.Fatalf("AppendFlush = %d bytes, %d users, %v; want %d bytes, 2 users", len(rec.Data), len(users), err, want)
	}
	if &rec.Data[0] != &buf[:1][0] {
		t.Errorf("AppendFlush did not write into the given buffer")
	}
	got, err := Deaggregate(rec.Data)
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, got, []Record{{PartitionKey: "k1", Data: []byte("one")}, {PartitionKey: "k2", Data: []byte("two")}})
	// Too small a buffer: a new one is allocated, the old one untouched.
	small := make([]byte, 0, 4)
	mustAdd(t, a, Record{PartitionKey: "k1", Data: []byte("one")})
	mustAdd(t, a, Record{PartitionKey: "k2", Data: []byte("two")})
	rec, _, _ = a.AppendFlush(small)
	if cap(rec.Data) == cap(small) || len(rec.Data) != want {
		t.Errorf("AppendFlush with a small buffer: len %d cap %d", len(rec.Data), cap(rec.Data))
	}
}

func TestAddCopiesData(t *testing.T) {
	a := NewAggregator(DefaultMaxSize)
	buf := []byte("first")
	mustAdd(t, a, Record{PartitionKey: "k1", Data: buf})
	copy(buf, "XXXXX") // the caller reuses its buffer after Add
	mustAdd(t, a, Record{PartitionKey: "k2", Data: []byte("second")})
	rec, _, _ := a.Flush()
	got, err := Deaggregate(rec.Data)
	if err != nil {
		t.Fatal(err)
	}
	if string(got[0].Data) != "first" {
		t.Errorf("record 0 = %q, want the data as it was at Add", got[0].Data)
	}
}
