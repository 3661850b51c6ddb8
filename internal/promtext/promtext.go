// Package promtext writes the Prometheus text exposition format (version 0.0.4) by hand, for the
// binaries of the root module (shardwise put/consume --metrics-addr), which must not require
// client_golang: the library packages' users would then download it too. The metrics/prometheus
// module is the client_golang adapter for applications.
package promtext

import (
	"bufio"
	"io"
	"math"
	"strconv"
	"strings"
)

// ContentType is the Content-Type of the format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Writer writes metric families: Family, then its samples. Call Flush at the end.
type Writer struct{ w *bufio.Writer }

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) Writer { return Writer{bufio.NewWriter(w)} }

// Family starts a metric family; typ is "counter" or "gauge".
func (p Writer) Family(name, typ, help string) {
	p.w.WriteString("# HELP " + name + " " + helpEscaper.Replace(help) + "\n")
	p.w.WriteString("# TYPE " + name + " " + typ + "\n")
}

// Sample writes one sample; labels are name, value pairs.
func (p Writer) Sample(name string, v float64, labels ...string) {
	p.w.WriteString(name)
	if len(labels) > 0 {
		p.w.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				p.w.WriteByte(',')
			}
			p.w.WriteString(labels[i] + `="` + labelEscaper.Replace(labels[i+1]) + `"`)
		}
		p.w.WriteByte('}')
	}
	p.w.WriteByte(' ')
	p.w.WriteString(FormatValue(v))
	p.w.WriteByte('\n')
}

// Flush writes what is buffered.
func (p Writer) Flush() error { return p.w.Flush() }

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// FormatValue formats a sample value (+Inf, -Inf, NaN as the format spells them).
func FormatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
