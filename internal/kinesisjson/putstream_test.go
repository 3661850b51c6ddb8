package kinesisjson

import (
	"bytes"
	"crypto/sha256"
	"io"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// streamSeeds are putSeeds plus a request of many records spanning many pieces, with data sizes
// that are and are not multiples of three.
func streamSeeds() []*kinesis.PutRecordsInput {
	big := &kinesis.PutRecordsInput{StreamName: aws.String("s")}
	for i := range 40 {
		data := bytes.Repeat([]byte{byte(i), 0xff, 'x'}, 1000*i)
		data = append(data, make([]byte, i%3)...)
		big.Records = append(big.Records, types.PutRecordsRequestEntry{PartitionKey: aws.String("k" + strconv.Itoa(i)),
			ExplicitHashKey: aws.String(strconv.Itoa(i * 1000)), Data: data})
	}
	return append(putSeeds(), big)
}

// readAllBy reads r to its end n bytes at a time.
func readAllBy(t *testing.T, r io.Reader, n int) []byte {
	t.Helper()
	var out []byte
	p := make([]byte, n)
	for {
		k, err := r.Read(p)
		out = append(out, p[:k]...)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			t.Fatal("Read returned nothing and no error")
		}
	}
}

// The stream writes AppendPutRecords' bytes whatever the reads' sizes, its Len counts down, and
// WriteTo (the SDK's payload hash) writes the same bytes.
func TestPutStreamMatchesAppendPutRecords(t *testing.T) {
	for i, in := range streamSeeds() {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			want := AppendPutRecords(nil, in)
			var s putStream
			for _, n := range []int{1, 7, 4096, chunk + 1, 1 << 20} {
				s.reset(in)
				if s.Len() != len(want) {
					t.Fatalf("Len %d, body %d bytes", s.Len(), len(want))
				}
				if got := readAllBy(t, &s, n); !bytes.Equal(got, want) {
					t.Fatalf("read by %d: %d bytes, want %d (%q...)", n, len(got), len(want), got[:min(len(got), 80)])
				}
				if s.Len() != 0 {
					t.Fatalf("Len %d at the end", s.Len())
				}
			}
			s.reset(in)
			h := sha256.New()
			if n, err := s.WriteTo(h); err != nil || n != int64(len(want)) {
				t.Fatalf("WriteTo: %d, %v; want %d", n, err, len(want))
			}
			if got, w := h.Sum(nil), sha256.Sum256(want); !bytes.Equal(got, w[:]) {
				t.Fatal("WriteTo wrote other bytes")
			}
		})
	}
}

// Seeks the SDK makes (current offset, rewind to the start) and any other offset land where a
// bytes.Reader over the body would.
func TestPutStreamSeek(t *testing.T) {
	in := streamSeeds()[len(streamSeeds())-1]
	want := AppendPutRecords(nil, in)
	var s putStream
	s.reset(in)
	if off, err := s.Seek(0, io.SeekCurrent); off != 0 || err != nil {
		t.Fatalf("Seek(0, current) at the start = %d, %v", off, err)
	}
	half := make([]byte, len(want)/2)
	if _, err := io.ReadFull(&s, half); err != nil {
		t.Fatal(err)
	}
	if off, err := s.Seek(0, io.SeekCurrent); off != int64(len(half)) || err != nil {
		t.Fatalf("Seek(0, current) after %d bytes = %d, %v", len(half), off, err)
	}
	for _, to := range []int64{0, 1, int64(len(want)) / 3, chunk - 1, chunk, chunk + 5, int64(len(want)) - 1, int64(len(want))} {
		for _, from := range []int64{0, int64(len(want)) / 2} {
			if _, err := s.Seek(from, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			if off, err := s.Seek(to, io.SeekStart); off != to || err != nil {
				t.Fatalf("Seek(%d) from %d = %d, %v", to, from, off, err)
			}
			if got := readAllBy(t, &s, 5000); !bytes.Equal(got, want[to:]) {
				t.Fatalf("after Seek(%d) from %d: %d bytes, want %d", to, from, len(got), len(want)-int(to))
			}
		}
	}
	if off, err := s.Seek(-10, io.SeekEnd); off != int64(len(want))-10 || err != nil {
		t.Fatalf("Seek(-10, end) = %d, %v", off, err)
	}
	if got := readAllBy(t, &s, 3); !bytes.Equal(got, want[len(want)-10:]) {
		t.Fatalf("last 10 bytes %q, want %q", got, want[len(want)-10:])
	}
	for _, bad := range []int64{-1, int64(len(want)) + 1} {
		if _, err := s.Seek(bad, io.SeekStart); err == nil {
			t.Fatalf("Seek(%d) outside the body: no error", bad)
		}
	}
	s.release()
	if n, err := s.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("Read after release: %d, %v; want io.EOF", n, err)
	}
}
