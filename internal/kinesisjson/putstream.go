package kinesisjson

import (
	"encoding/base64"
	"errors"
	"io"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/internal/jsonscan"
)

// putStream is a PutRecords body (the bytes AppendPutRecords writes) produced a piece at a time
// as it is read, instead of into one buffer the size of the request. Each request body is read
// twice: once for the SigV4 payload hash, once by the HTTP transport. A buffer holding the whole
// body (megabytes) is written once and read twice from memory far outside the caches, and, being
// fresh memory more often than not, faults its pages in; on the virtual machines the producer
// benchmarks run on that costs more than encoding the data twice in a small buffer that stays in
// the first-level caches. The stream's length is known before anything is written (the SDK sets
// Content-Length from Len), and it seeks, which the SDK needs to rewind for the hash and for
// retries.
//
// The stream reads the input's records while it is read: they must stay unchanged until the
// operation has returned (the producer keeps them until then, and the SDK closes the body before
// the operation returns, so a transport still reading it then sees io.EOF).
type putStream struct {
	in   *kinesis.PutRecordsInput
	size int64 // the whole body's length
	pos  int64 // bytes handed out

	// Where writing stands: the next piece is record rec's (len(in.Records): the closing
	// members), at stage, with its Data written up to off.
	rec   int
	stage int
	off   int

	pend []byte // written, not yet handed out (a window of buf)
	buf  []byte
}

// Stages of writing.
const (
	stageOpen  = iota // "{", DryRun, `"Records":[`
	stageHead         // a record's "{" and `"Data":"`
	stageData         // its Data in base64
	stageTail         // the closing quote, ExplicitHashKey, PartitionKey, "}"
	stageClose        // "]", the stream members, "}"
	stageDone
)

// chunk is how much a piece of the body holds: small enough to stay in the first-level cache
// between its writing and its reading, large enough that the per-piece work does not matter.
const chunk = 16 << 10

// reset makes s the body of in, from its start.
func (s *putStream) reset(in *kinesis.PutRecordsInput) {
	if cap(s.buf) < chunk {
		s.buf = make([]byte, 0, chunk+chunk/4)
	}
	s.in = in
	n, buf := putBodyLen(in, s.buf)
	s.size, s.buf = int64(n), buf
	s.rewind()
}

// release drops s's references to the input.
func (s *putStream) release() {
	s.in = nil
	s.pend = nil
	s.size, s.pos = 0, 0
}

func (s *putStream) rewind() {
	s.pos, s.rec, s.stage, s.off = 0, 0, stageOpen, 0
	s.pend = nil
}

// Len returns the bytes not yet read (as bytes.Reader does); the SDK takes the Content-Length from
// it while the stream is at its start.
func (s *putStream) Len() int { return int(s.size - s.pos) }

// Read fills p as far as the body goes (a transport writes each read to the socket: fewer, larger
// writes).
func (s *putStream) Read(p []byte) (int, error) {
	if s.in == nil || (len(s.pend) == 0 && s.pos >= s.size) {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && (len(s.pend) > 0 || s.pos < s.size) {
		if len(s.pend) == 0 {
			s.fill()
		}
		k := copy(p[n:], s.pend)
		s.pend = s.pend[k:]
		s.pos += int64(k)
		n += k
	}
	return n, nil
}

// WriteTo writes the rest of the body to w (the SDK's payload hash reads the body this way).
func (s *putStream) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for s.in != nil && s.pos < s.size {
		if len(s.pend) == 0 {
			s.fill()
		}
		n, err := w.Write(s.pend)
		s.pend = s.pend[n:]
		s.pos += int64(n)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

var errSeek = errors.New("kinesisjson: seek outside the PutRecords body")

// Seek moves to an offset of the body. The SDK asks for the current offset and rewinds to the
// start; other offsets are reached by writing the body up to them.
func (s *putStream) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += s.pos
	case io.SeekEnd:
		offset += s.size
	}
	if offset < 0 || offset > s.size {
		return s.pos, errSeek
	}
	if offset == s.pos {
		return s.pos, nil
	}
	if offset < s.pos {
		s.rewind()
	}
	for s.pos < offset {
		if len(s.pend) == 0 {
			s.fill()
		}
		n := int(min(int64(len(s.pend)), offset-s.pos))
		s.pend = s.pend[n:]
		s.pos += int64(n)
	}
	return s.pos, nil
}

// fill writes the next piece of the body (at least one byte, about chunk bytes) into buf and makes
// it pending. It must not be called at the end of the body.
func (s *putStream) fill() {
	b := s.buf[:0]
	in := s.in
	for len(b) < chunk && s.stage != stageDone {
		switch s.stage {
		case stageOpen:
			b = appendPutOpen(b, in)
			s.stage = stageClose
			if in.Records != nil {
				s.stage = stageHead
				if len(in.Records) == 0 {
					s.stage = stageClose
				}
			}
		case stageHead:
			b = appendPutHead(b, in, s.rec)
			s.stage, s.off = stageTail, 0
			if in.Records[s.rec].Data != nil {
				s.stage = stageData
			}
		case stageData:
			data := in.Records[s.rec].Data[s.off:]
			// Whole groups of three bytes, as many as fit (at least one group), except the last
			// piece of the data, whose padding base64 writes.
			room := max((chunk-len(b))/4*3, 3)
			if len(data) > room {
				data = data[:room]
			}
			b = appendBase64(b, data)
			s.off += len(data)
			if s.off == len(in.Records[s.rec].Data) {
				s.stage = stageTail
			}
		case stageTail:
			b = appendPutTail(b, in, s.rec)
			s.rec++
			s.stage = stageHead
			if s.rec == len(in.Records) {
				s.stage = stageClose
			}
		case stageClose:
			b = appendPutClose(b, in)
			s.stage = stageDone
		}
	}
	s.buf = b[:0]
	s.pend = b
}

// The pieces of AppendPutRecords' body, for the stream; putBodyLen adds up their lengths.

func appendPutOpen(dst []byte, in *kinesis.PutRecordsInput) []byte {
	dst = append(dst, '{')
	if in.DryRun != nil {
		dst = append(dst, `"DryRun":`...)
		dst = strconv.AppendBool(dst, *in.DryRun)
	}
	if in.Records != nil {
		if in.DryRun != nil {
			dst = append(dst, ',')
		}
		dst = append(dst, `"Records":[`...)
	}
	return dst
}

func appendPutHead(dst []byte, in *kinesis.PutRecordsInput, i int) []byte {
	if i > 0 {
		dst = append(dst, ',')
	}
	dst = append(dst, '{')
	if in.Records[i].Data != nil {
		dst = append(dst, `"Data":"`...)
	}
	return dst
}

func appendPutTail(dst []byte, in *kinesis.PutRecordsInput, i int) []byte {
	e := &in.Records[i]
	sep := ""
	if e.Data != nil {
		dst = append(dst, '"')
		sep = ","
	}
	if e.ExplicitHashKey != nil {
		dst = append(dst, sep...)
		dst = append(dst, `"ExplicitHashKey":`...)
		dst = jsonscan.AppendString(dst, *e.ExplicitHashKey)
		sep = ","
	}
	if e.PartitionKey != nil {
		dst = append(dst, sep...)
		dst = append(dst, `"PartitionKey":`...)
		dst = jsonscan.AppendString(dst, *e.PartitionKey)
	}
	return append(dst, '}')
}

func appendPutClose(dst []byte, in *kinesis.PutRecordsInput) []byte {
	if in.Records != nil {
		dst = append(dst, ']')
	}
	comma := in.DryRun != nil || in.Records != nil
	for _, m := range [...]struct {
		name string
		v    *string
	}{{"StreamARN", in.StreamARN}, {"StreamId", in.StreamId}, {"StreamName", in.StreamName}} {
		if m.v == nil {
			continue
		}
		if comma {
			dst = append(dst, ',')
		}
		comma = true
		dst = append(dst, '"')
		dst = append(dst, m.name...)
		dst = append(dst, `":`...)
		dst = jsonscan.AppendString(dst, *m.v)
	}
	return append(dst, '}')
}

// putBodyLen returns the length of in's body, measuring the pieces with strings in scratch, which
// it returns (grown if it had to be).
func putBodyLen(in *kinesis.PutRecordsInput, scratch []byte) (int, []byte) {
	scratch = appendPutOpen(scratch[:0], in)
	n := len(scratch)
	scratch = appendPutClose(scratch[:0], in)
	n += len(scratch)
	for i := range in.Records {
		scratch = appendPutHead(scratch[:0], in, i)
		n += len(scratch)
		scratch = appendPutTail(scratch[:0], in, i)
		n += len(scratch)
		if d := in.Records[i].Data; d != nil {
			n += base64.StdEncoding.EncodedLen(len(d))
		}
	}
	return n, scratch[:0]
}
