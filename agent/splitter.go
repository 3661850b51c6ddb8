package agent

import (
	"bytes"
	"regexp"
)

// A chunk is what the splitter cuts from a file: a record, or a header line to skip.
type chunk struct {
	data      []byte // the record (owned by the chunk); nil when skipped
	end       int64  // file offset just past the chunk: the checkpoint once it is delivered
	skipped   bool   // a header line (skipHeaderLines): nothing to send
	truncated bool   // the raw record was longer than the splitter keeps
}

// A splitter cuts a file's bytes into records: one per line, or, with a start pattern, one per
// group of lines beginning with a line that matches it. It keeps at most max bytes of a record
// (the rest is counted, not stored, and the chunk is marked truncated), so a huge line never
// takes more memory than a record may have. Bytes after the last newline wait for the rest of
// their line. A splitter is used by one goroutine.
type splitter struct {
	start *regexp.Regexp // multi-line start pattern; nil: one record per line
	max   int
	skip  int   // header lines still to skip
	pos   int64 // file offset of the next byte fed

	line    []byte // the partial line: its first max bytes
	lineLen int64  // its full length

	rec    []byte // multi-line: the complete lines of the open record (first max bytes)
	recLen int64
	recEnd int64 // offset just past the open record's last complete line
	open   bool

	// footer: a record matched the flow's fileFooterPattern; the rest of this content is not
	// sent (set by the flow, kept with the content when a copy takes it over).
	footer bool
}

func newSplitter(start *regexp.Regexp, max, skipHeader int, pos int64) *splitter {
	return &splitter{start: start, max: max, skip: skipHeader, pos: pos}
}

// feed consumes p, the file's bytes at offset s.pos, and calls emit for each chunk completed.
func (s *splitter) feed(p []byte, emit func(chunk)) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i+1]
		}
		p = p[len(seg):]
		s.pos += int64(len(seg))
		s.lineLen += int64(len(seg))
		if room := s.max - len(s.line); room > 0 {
			s.line = append(s.line, seg[:min(room, len(seg))]...)
		}
		if i >= 0 {
			s.completeLine(emit)
		}
	}
}

func (s *splitter) completeLine(emit func(chunk)) {
	line, n := s.line, s.lineLen
	s.line, s.lineLen = s.line[:0], 0
	if s.skip > 0 {
		s.skip--
		emit(chunk{end: s.pos, skipped: true})
		return
	}
	if s.start == nil {
		emit(chunk{data: bytes.Clone(line), end: s.pos, truncated: n > int64(len(line))})
		return
	}
	if s.open && s.start.Match(bytes.TrimSuffix(line, []byte{'\n'})) {
		s.emitRecord(emit)
	}
	s.addToRecord(line, n)
	s.recEnd = s.pos
}

func (s *splitter) addToRecord(line []byte, n int64) {
	if room := s.max - len(s.rec); room > 0 {
		s.rec = append(s.rec, line[:min(room, len(line))]...)
	}
	s.recLen += n
	s.open = true
}

func (s *splitter) emitRecord(emit func(chunk)) {
	emit(chunk{data: bytes.Clone(s.rec), end: s.recEnd, truncated: s.recLen > int64(len(s.rec))})
	s.rec, s.recLen, s.open = s.rec[:0], 0, false
}

// hasPartialLine reports bytes waiting for their newline.
func (s *splitter) hasPartialLine() bool { return s.lineLen > 0 }

// hasOpenRecord reports a multi-line record waiting for the next start line.
func (s *splitter) hasOpenRecord() bool { return s.open }

// flushRecord emits the open multi-line record (complete lines only): the writer has been idle
// long enough that no continuation line is expected.
func (s *splitter) flushRecord(emit func(chunk)) {
	if s.open {
		s.emitRecord(emit)
	}
}

// finish emits everything held, the partial last line included: the file was rotated away and
// will not grow any more.
func (s *splitter) finish(emit func(chunk)) {
	if s.lineLen > 0 {
		line, n := s.line, s.lineLen
		s.line, s.lineLen = s.line[:0], 0
		switch {
		case s.skip > 0:
			s.skip--
			s.flushRecord(emit)
			emit(chunk{end: s.pos, skipped: true})
			return
		case s.start == nil:
			emit(chunk{data: bytes.Clone(line), end: s.pos, truncated: n > int64(len(line))})
			return
		case s.open && s.start.Match(line):
			s.emitRecord(emit)
		}
		s.addToRecord(line, n)
		s.recEnd = s.pos
	}
	s.flushRecord(emit)
}
