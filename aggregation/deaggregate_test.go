package aggregation

import (
	"bytes"
	"errors"
	"testing"
	"unsafe"
)

func TestDeaggregatePlain(t *testing.T) {
	for _, data := range [][]byte{
		nil,
		[]byte("hello"),
		{0xF3, 0x89, 0x9A, 0xC2}, // magic alone
		append([]byte{0xF3, 0x89, 0x9A, 0xC2}, make([]byte, 16)...), // magic + trailer, nothing more: 20 bytes
		bytes.Repeat([]byte{0xF3}, 100),                             // wrong magic
	} {
		got, err := Deaggregate(data)
		if err != nil || len(got) != 1 || !bytes.Equal(got[0].Data, data) || got[0].SubSequenceNumber != 0 {
			t.Errorf("Deaggregate(%x) = %+v, %v; want one plain record", data, got, err)
		}
		if IsAggregated(data) {
			t.Errorf("IsAggregated(%x) = true", data)
		}
	}
}

func TestDeaggregateChecksum(t *testing.T) {
	good := wrap([]byte{0x0A, 0x01, 'k', 0x1A, 0x05, 0x08, 0x00, 0x1A, 0x01, 'x'})
	for i := len(Magic); i < len(good); i++ {
		bad := append([]byte(nil), good...)
		bad[i] ^= 0x01
		if _, err := Deaggregate(bad); !errors.Is(err, ErrChecksum) {
			t.Errorf("flipped byte %d: Deaggregate error = %v, want ErrChecksum", i, err)
		}
		if IsAggregated(bad) {
			t.Errorf("flipped byte %d: IsAggregated = true", i)
		}
	}
}

// TestDeaggregateCorrupt feeds bodies with valid checksums but malformed protobuf.
func TestDeaggregateCorrupt(t *testing.T) {
	tests := []struct {
		name string
		body []byte
	}{
		{"pk index out of range", []byte{0x0A, 0x01, 'k', 0x1A, 0x05, 0x08, 0x01, 0x1A, 0x01, 'x'}},
		{"ehk index out of range", []byte{0x0A, 0x01, 'k', 0x1A, 0x07, 0x08, 0x00, 0x10, 0x00, 0x1A, 0x01, 'x'}},
		{"no partition key index", []byte{0x0A, 0x01, 'k', 0x1A, 0x03, 0x1A, 0x01, 'x'}},
		{"no data", []byte{0x0A, 0x01, 'k', 0x1A, 0x02, 0x08, 0x00}},
		{"truncated record", []byte{0x0A, 0x01, 'k', 0x1A, 0x09, 0x08, 0x00, 0x1A, 0x01, 'x'}},
		{"truncated table entry", []byte{0x0A, 0x05, 'k'}},
		{"absurd length", []byte{0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 'k'}},
		{"overlong varint", []byte{0x1A, 0x0B, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}},
		{"varint past 64 bits", []byte{0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02}},
		{"truncated key", []byte{0x0A, 0x01, 'k', 0x80}},
		{"table with varint wire type", []byte{0x08, 0x01}},
		{"records with varint wire type", []byte{0x18, 0x01}},
		{"pk index as bytes", []byte{0x0A, 0x01, 'k', 0x1A, 0x05, 0x0A, 0x00, 0x1A, 0x01, 'x'}},
		{"data as varint", []byte{0x0A, 0x01, 'k', 0x1A, 0x04, 0x08, 0x00, 0x18, 0x01}},
		{"group wire type", []byte{0x0B, 0x0C}},
		{"field number zero", []byte{0x02, 0x00}},
		{"truncated fixed64", []byte{0x21, 0x00, 0x00}},
		{"truncated fixed32", []byte{0x25, 0x00}},
		{"tag without key", []byte{0x0A, 0x01, 'k', 0x1A, 0x09, 0x08, 0x00, 0x1A, 0x01, 'x', 0x22, 0x02, 0x12, 0x00}},
		{"tag key as varint", []byte{0x0A, 0x01, 'k', 0x1A, 0x09, 0x08, 0x00, 0x1A, 0x01, 'x', 0x22, 0x02, 0x08, 0x00}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := wrap(tt.body)
			if !IsAggregated(data) {
				t.Fatalf("IsAggregated = false for a body with a valid checksum")
			}
			got, err := Deaggregate(data)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Deaggregate = %+v, %v; want ErrCorrupt", got, err)
			}
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Reason == "" {
				t.Fatalf("error %v is not a *CorruptError with a reason", err)
			}
		})
	}
}

// TestDeaggregateLenient accepts what protobuf parsers accept: fields out of order, unknown fields of
// every wire type, tags, and an aggregate of zero records.
func TestDeaggregateLenient(t *testing.T) {
	body := []byte{
		0x1A, 0x0D, 0x08, 0x00, 0x1A, 0x01, 'x', 0x22, 0x06, 0x0A, 0x01, 't', 0x12, 0x01, 'v', // record before tables, with a tag
		0x28, 0x07, // unknown varint field 5
		0x31, 1, 2, 3, 4, 5, 6, 7, 8, // unknown fixed64 field 6
		0x3D, 1, 2, 3, 4, // unknown fixed32 field 7
		0x42, 0x02, 'z', 'z', // unknown bytes field 8
		0x0A, 0x01, 'k',
		0x1A, 0x07, 0x08, 0x00, 0x1A, 0x01, 'y', 0x48, 0x01, // unknown field inside a record
	}
	got, err := Deaggregate(wrap(body))
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, got, []Record{{PartitionKey: "k", Data: []byte("x")}, {PartitionKey: "k", Data: []byte("y")}})

	got, err = Deaggregate(wrap([]byte{0x0A, 0x01, 'k'}))
	if err != nil || len(got) != 0 {
		t.Errorf("aggregate of zero records = %+v, %v; want none", got, err)
	}
}

func TestDeaggregateZeroCopy(t *testing.T) {
	a := NewAggregator(DefaultMaxSize)
	mustAdd(t, a, Record{PartitionKey: "p1", Data: []byte("first")})
	mustAdd(t, a, Record{PartitionKey: "p2", Data: []byte("second")})
	rec, _, _ := a.Flush()
	got, err := Deaggregate(rec.Data)
	if err != nil {
		t.Fatal(err)
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(rec.Data)))
	hi := lo + uintptr(len(rec.Data))
	for _, u := range got {
		p := uintptr(unsafe.Pointer(unsafe.SliceData(u.Data)))
		if p < lo || p >= hi {
			t.Errorf("record %d Data is not a sub-slice of the input", u.SubSequenceNumber)
		}
		if cap(u.Data) != len(u.Data) {
			t.Errorf("record %d Data has spare capacity %d: appends would overwrite the input", u.SubSequenceNumber, cap(u.Data)-len(u.Data))
		}
	}
	// Keys must not alias the input: changing it must not change them.
	for i := range rec.Data {
		rec.Data[i] = 0
	}
	if got[0].PartitionKey != "p1" || got[1].PartitionKey != "p2" {
		t.Errorf("partition keys changed with the input: %q %q", got[0].PartitionKey, got[1].PartitionKey)
	}
}

func TestDeaggregateAllocations(t *testing.T) {
	a := NewAggregator(1 << 20)
	for i := 0; i < 500; i++ {
		mustAdd(t, a, Record{PartitionKey: randKey(testRand(), 16, 36), Data: make([]byte, 100)})
	}
	rec, _, _ := a.Flush()
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := Deaggregate(rec.Data); err != nil {
			t.Fatal(err)
		}
	})
	// The key buffer, the two key tables and the result slice: nothing per user record.
	if allocs > 4 {
		t.Errorf("Deaggregate of 500 records made %.0f allocations, want at most 4", allocs)
	}
}

func TestAppendDeaggregate(t *testing.T) {
	a := NewAggregator(DefaultMaxSize)
	mustAdd(t, a, Record{PartitionKey: "p1", Data: []byte("one")})
	mustAdd(t, a, Record{PartitionKey: "p2", Data: []byte("two")})
	rec, _, _ := a.Flush()
	dst := []UserRecord{{Record: Record{PartitionKey: "earlier"}, SubSequenceNumber: 7}}
	dst, err := AppendDeaggregate(dst, rec.Data)
	if err != nil {
		t.Fatal(err)
	}
	if len(dst) != 3 || dst[0].PartitionKey != "earlier" || dst[1].SubSequenceNumber != 0 || dst[2].SubSequenceNumber != 1 ||
		string(dst[2].Data) != "two" {
		t.Fatalf("AppendDeaggregate = %+v", dst)
	}
	dst, err = AppendDeaggregate(dst, []byte("plain"))
	if err != nil || len(dst) != 4 || string(dst[3].Data) != "plain" || dst[3].SubSequenceNumber != 0 {
		t.Fatalf("AppendDeaggregate(plain) = %+v, %v", dst, err)
	}
	bad := append([]byte(nil), rec.Data...)
	bad[len(bad)-1] ^= 1
	if got, err := AppendDeaggregate(dst, bad); !errors.Is(err, ErrChecksum) || len(got) != 4 {
		t.Fatalf("AppendDeaggregate(bad checksum) = %d records, %v", len(got), err)
	}
	corrupt := wrap([]byte{0x0A, 0x01, 'k', 0x1A, 0x05, 0x08, 0x01, 0x1A, 0x01, 'x'})
	if got, err := AppendDeaggregate(dst, corrupt); !errors.Is(err, ErrCorrupt) || len(got) != 4 {
		t.Fatalf("AppendDeaggregate(corrupt) = %d records, %v", len(got), err)
	}
}
