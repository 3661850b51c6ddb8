package promtext

import (
	"math"
	"strings"
	"testing"
)

func TestWriter(t *testing.T) {
	var b strings.Builder
	w := NewWriter(&b)
	w.Family("x_total", "counter", "a\\b\nc")
	w.Sample("x_total", 3, "stream", `a"b\c`+"\n")
	w.Sample("x_total", math.Inf(1))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "# HELP x_total a\\\\b\\nc\n# TYPE x_total counter\nx_total{stream=\"a\\\"b\\\\c\\n\"} 3\nx_total +Inf\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}
