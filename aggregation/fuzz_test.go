package aggregation

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDeaggregate checks that no input panics, that errors are the typed ones, and that whatever
// decodes re-encodes to records that decode the same. With asBody set the input is framed as an
// aggregate with a valid checksum, so the fuzzer explores the protobuf parser rather than MD5.
// Seeds live in testdata/fuzz/FuzzDeaggregate.
func FuzzDeaggregate(f *testing.F) {
	f.Add([]byte("plain"), false)
	f.Add([]byte{0x0A, 0x01, 'k', 0x1A, 0x05, 0x08, 0x00, 0x1A, 0x01, 'x'}, true)
	f.Add([]byte{0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F}, true)
	f.Fuzz(func(t *testing.T, data []byte, asBody bool) {
		if asBody {
			data = wrap(data)
		}
		got, err := Deaggregate(data)
		if err != nil {
			if !errors.Is(err, ErrChecksum) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !IsAggregated(data) {
			if len(got) != 1 || !bytes.Equal(got[0].Data, data) {
				t.Fatalf("plain input gave %d records", len(got))
			}
			return
		}
		if len(got) > len(data) {
			t.Fatalf("%d records from %d bytes", len(got), len(data))
		}
		var want []Record
		a := NewAggregator(1 << 30)
		for _, u := range got {
			if ValidatePartitionKey(u.PartitionKey) != nil {
				return // the fuzzer may write keys our encoder refuses; nothing to compare
			}
			if u.ExplicitHashKey != "" {
				if _, err := ParseHashKey(u.ExplicitHashKey); err != nil {
					return
				}
			}
			want = append(want, u.Record)
			if err := a.Add(u.Record); err != nil {
				t.Fatalf("Add(%+v) = %v", u.Record, err)
			}
		}
		if len(want) < 2 {
			return
		}
		rec, _, err := a.Flush()
		if err != nil {
			t.Fatal(err)
		}
		again, err := Deaggregate(rec.Data)
		if err != nil {
			t.Fatal(err)
		}
		checkSame(t, again, want)
	})
}

// FuzzRoundTrip builds records from fuzz input, aggregates them under a size limit and checks that
// every payload respects the limit and decodes to exactly what was added.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("k1\x00data\x00k2\x00\x00k1\x00more"), uint16(200), "")
	f.Add([]byte("a\x00b\x00c\x00d"), uint16(60), "12345")
	f.Fuzz(func(t *testing.T, input []byte, maxSize uint16, ehk string) {
		parts := bytes.Split(input, []byte{0})
		a := NewAggregator(int(maxSize))
		var pending []Record
		flush := func() {
			size := a.Size()
			rec, users, err := a.Flush()
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.Data) != size {
				t.Fatalf("Size() = %d, Flush returned %d bytes", size, len(rec.Data))
			}
			if len(users) != len(pending) {
				t.Fatalf("Flush returned %d records, want %d", len(users), len(pending))
			}
			if len(users) > 1 {
				if len(rec.Data) > a.MaxSize() {
					t.Fatalf("payload %d bytes > max %d", len(rec.Data), a.MaxSize())
				}
				got, err := Deaggregate(rec.Data)
				if err != nil {
					t.Fatal(err)
				}
				checkSame(t, got, pending)
			}
			pending = pending[:0]
		}
		for i := 0; i+1 < len(parts); i += 2 {
			r := Record{PartitionKey: string(parts[i]), Data: parts[i+1]}
			if i%4 == 2 {
				r.ExplicitHashKey = ehk
			}
			err := a.Add(r)
			if errors.Is(err, ErrFull) {
				flush()
				err = a.Add(r)
			}
			switch {
			case err == nil:
				pending = append(pending, r)
			case errors.Is(err, ErrTooLarge), errors.Is(err, ErrInvalidPartitionKey), errors.Is(err, ErrInvalidHashKey):
			default:
				t.Fatalf("Add = %v", err)
			}
		}
		flush()
	})
}
