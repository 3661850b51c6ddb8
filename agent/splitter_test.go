package agent

import (
	"regexp"
	"slices"
	"testing"
)

// collect feeds the parts to s and returns the chunks, rendered as "data@end", "skip@end" and
// "data@end!" for truncated ones.
func collect(s *splitter, finish bool, parts ...string) []string {
	var out []string
	emit := func(c chunk) {
		switch {
		case c.skipped:
			out = append(out, "skip@"+itoa(c.end))
		case c.truncated:
			out = append(out, string(c.data)+"@"+itoa(c.end)+"!")
		default:
			out = append(out, string(c.data)+"@"+itoa(c.end))
		}
	}
	for _, p := range parts {
		s.feed([]byte(p), emit)
	}
	if finish {
		s.finish(emit)
	}
	return out
}

func itoa(n int64) string { return string(appendInt(nil, n)) }

func appendInt(b []byte, n int64) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

func TestSplitter(t *testing.T) {
	start := regexp.MustCompile(`^(?:\d{4}-)`)
	tests := []struct {
		name   string
		s      *splitter
		parts  []string
		finish bool
		want   []string
	}{
		{"lines", newSplitter(nil, 100, 0, 0), []string{"a\nbb\n"}, false, []string{"a\n@2", "bb\n@5"}},
		{"split across reads", newSplitter(nil, 100, 0, 0), []string{"ab", "c\nd", "e\n"}, false, []string{"abc\n@4", "de\n@7"}},
		{"partial line waits", newSplitter(nil, 100, 0, 0), []string{"a\npart"}, false, []string{"a\n@2"}},
		{"partial line at finish", newSplitter(nil, 100, 0, 0), []string{"a\npart"}, true, []string{"a\n@2", "part@6"}},
		{"offset start", newSplitter(nil, 100, 0, 1000), []string{"x\n"}, false, []string{"x\n@1002"}},
		{"empty lines", newSplitter(nil, 100, 0, 0), []string{"\n\n"}, false, []string{"\n@1", "\n@2"}},
		{"header", newSplitter(nil, 100, 2, 0), []string{"h1\nh2\nrow\n"}, false, []string{"skip@3", "skip@6", "row\n@10"}},
		{"truncated", newSplitter(nil, 4, 0, 0), []string{"abcdefgh\nxy\n"}, false, []string{"abcd@9!", "xy\n@12"}},
		{"truncated across reads", newSplitter(nil, 4, 0, 0), []string{"abc", "defgh", "ij\n"}, false, []string{"abcd@11!"}},
		{"multiline", newSplitter(start, 100, 0, 0),
			[]string{"2024-1 start\n  at x\n  at y\n2024-2 next\n"}, false,
			[]string{"2024-1 start\n  at x\n  at y\n@27"}},
		{"multiline finish", newSplitter(start, 100, 0, 0),
			[]string{"2024-1 a\n cont\n2024-2 b\n more"}, true,
			[]string{"2024-1 a\n cont\n@15", "2024-2 b\n more@29"}},
		{"multiline finish new start", newSplitter(start, 100, 0, 0),
			[]string{"2024-1 a\n2024-2"}, true,
			[]string{"2024-1 a\n@9", "2024-2@15"}},
		{"multiline leading lines kept", newSplitter(start, 100, 0, 0),
			[]string{"orphan\n2024-1 a\n2024-2 b\n"}, false,
			[]string{"orphan\n@7", "2024-1 a\n@16"}},
		{"multiline truncated", newSplitter(start, 10, 0, 0),
			[]string{"2024-1 aaaa\n bbbb\n2024-2\n"}, false,
			[]string{"2024-1 aaa@18!"}},
		{"multiline header", newSplitter(start, 100, 1, 0),
			[]string{"2024 header\n2024-1 a\n2024-2\n"}, false,
			[]string{"skip@12", "2024-1 a\n@21"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := collect(tt.s, tt.finish, tt.parts...); !slices.Equal(got, tt.want) {
				t.Errorf("chunks = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSplitterFlushRecord(t *testing.T) {
	s := newSplitter(regexp.MustCompile(`^(?:START)`), 100, 0, 0)
	got := collect(s, false, "START a\n b\n")
	if len(got) != 0 || !s.hasOpenRecord() {
		t.Fatalf("before flush: chunks %q, open %v", got, s.hasOpenRecord())
	}
	var out []string
	s.flushRecord(func(c chunk) { out = append(out, string(c.data)+"@"+itoa(c.end)) })
	if want := []string{"START a\n b\n@11"}; !slices.Equal(out, want) {
		t.Errorf("flushRecord = %q, want %q", out, want)
	}
	if s.hasOpenRecord() || s.hasPartialLine() {
		t.Errorf("after flush: open %v partial %v", s.hasOpenRecord(), s.hasPartialLine())
	}
	// A continuation after the flush becomes its own record.
	if got, want := collect(s, true, " late\n"), []string{" late\n@17"}; !slices.Equal(got, want) {
		t.Errorf("after flush: %q, want %q", got, want)
	}
}
