package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// A processor reshapes one record (dataProcessingOptions). It returns the new data, or ok false
// when the record is filtered out (LOGTOJSON input that does not match the log format).
// Processors are immutable after construction and safe for concurrent use.
type processor interface {
	process(data []byte) (out []byte, ok bool)
}

func newProcessor(o ProcessingOption, prefix string) (processor, error) {
	pretty := false
	if writesJSON(o.OptionName) {
		var err error
		if pretty, err = prettyOption(o, prefix); err != nil {
			return nil, err
		}
	}
	switch o.OptionName {
	case OptionSingleLine:
		return singleLine{noTrim: slices.Contains(o.ParseOptions, ParseNoTrim), escapeNewLine: slices.Contains(o.ParseOptions, ParseEscapeNewLine)}, nil
	case OptionCSVToJSON:
		if len(o.CustomFieldNames) == 0 {
			return nil, configErr(prefix+"customFieldNames", "is required for CSVTOJSON")
		}
		re, err := javaDelimiter(o.Delimiter)
		if err != nil {
			return nil, configErr(prefix+"delimiter", "%v", err)
		}
		c := csvToJSON{fields: o.CustomFieldNames, re: re, pretty: pretty}
		if lit, complete := re.LiteralPrefix(); complete && lit != "" {
			c.literal = lit
		}
		return c, nil
	case OptionLogToJSON:
		return newLogToJSON(o, prefix, pretty)
	case OptionAddBrackets:
		return addBrackets{}, nil
	case OptionAddMetadata:
		return newAddMetadata(o, prefix, pretty)
	case OptionAddEC2Metadata:
		p := newAddEC2Metadata(o)
		p.pretty = pretty
		return p, nil
	case "":
		return nil, configErr(prefix+"optionName", "is required")
	default:
		return nil, &ConfigError{Field: prefix + "optionName",
			Reason: fmt.Sprintf("%q is not supported (SINGLELINE, CSVTOJSON, LOGTOJSON, ADDMETADATA, ADDEC2METADATA, ADDBRACKETS are)", o.OptionName), Err: ErrUnsupported}
	}
}

// singleLine joins the lines of a record after trimming each, and ends it with one newline, as
// the Kinesis Agent's SINGLELINE does: lines are joined without a separator, or with the three
// bytes \\n with ESCAPE_NEW_LINE (what the Kinesis Agent writes); NO_TRIM keeps their blanks.
// The lines are split as Java's String.split does: empty lines at the end are dropped.
type singleLine struct {
	noTrim        bool
	escapeNewLine bool
}

func (s singleLine) process(data []byte) ([]byte, bool) {
	lines := bytes.Split(data, []byte{'\n'})
	for len(lines) > 1 && len(lines[len(lines)-1]) == 0 { // String.split drops trailing empty strings
		lines = lines[:len(lines)-1]
	}
	out := make([]byte, 0, len(data)+3*len(lines))
	for i, line := range lines {
		if i > 0 && s.escapeNewLine {
			out = append(out, '\\', '\\', 'n')
		}
		if !s.noTrim {
			line = trimJava(line)
		}
		out = append(out, line...)
	}
	return append(out, '\n'), true
}

// trimJava removes leading and trailing bytes <= ' ' (control characters and spaces), as Java's
// String.trim does.
func trimJava(b []byte) []byte {
	return bytes.TrimFunc(b, func(r rune) bool { return r <= ' ' })
}

// csvToJSON maps delimiter-separated columns to the configured field names; missing columns
// become null, extra columns are dropped. The delimiter is a regular expression, as in the
// Kinesis Agent (Java's String.split): "\\|" is a literal |, "\\t" a tab, "," a comma.
type csvToJSON struct {
	fields  []string
	re      *regexp.Regexp
	literal string // the delimiter when the expression is a plain string (strings.Split is faster)
	pretty  bool   // jsonFormat PRETTYPRINT
}

// javaDelimiter compiles a CSVTOJSON delimiter, a Java regular expression, with Go's regexp
// package, whose syntax (RE2) covers what delimiters use: literals, escapes (\\| \\t \\s),
// classes, alternation, repetition. Java constructs RE2 lacks (look-around, back-references,
// possessive quantifiers, atomic groups) are rejected with an error naming the problem.
func javaDelimiter(d string) (*regexp.Regexp, error) {
	if d == "" {
		d = ","
	}
	re, err := regexp.Compile(d)
	if err != nil {
		return nil, fmt.Errorf("%q is a Java regular expression Shardwise cannot translate (%v); write a literal delimiter with its special characters escaped (\\\\| for |)", d, err)
	}
	return re, nil
}

// javaSplit splits s as Java's String.split(regex) does: no match gives s alone, a zero-width
// match at the start gives no leading empty column, and trailing empty columns are removed.
func (c csvToJSON) split(s string) []string {
	var cols []string
	if c.literal != "" {
		if !strings.Contains(s, c.literal) {
			return []string{s}
		}
		cols = strings.Split(s, c.literal)
	} else {
		locs := c.re.FindAllStringIndex(s, -1)
		if len(locs) == 0 {
			return []string{s}
		}
		from := 0
		for _, l := range locs {
			if l[1] == 0 { // a zero-width match at the start: no leading empty column
				continue
			}
			if l[0] == l[1] && l[0] == len(s) {
				break
			}
			cols = append(cols, s[from:l[0]])
			from = l[1]
		}
		cols = append(cols, s[from:])
	}
	for len(cols) > 0 && cols[len(cols)-1] == "" {
		cols = cols[:len(cols)-1]
	}
	return cols
}

func (c csvToJSON) process(data []byte) ([]byte, bool) {
	line := string(bytes.TrimSuffix(data, []byte{'\n'}))
	cols := c.split(line)
	vals := make([]*string, len(c.fields))
	for i := range c.fields {
		if i < len(cols) {
			vals[i] = &cols[i]
		}
	}
	return jsonLayout(appendJSONObject(nil, c.fields, vals), c.pretty), true
}

// logToJSON parses a log line with a format's expression and writes its fields as a JSON object.
type logToJSON struct {
	re       *regexp.Regexp
	fields   []string
	dashNull bool // Apache formats: a "-" field means absent (null)
	pretty   bool // jsonFormat PRETTYPRINT
}

// Default fields and expressions of the log formats. The expressions are anchored at both ends
// by newLogToJSON; the Apache access formats accept anything after their last field.
var logFormats = map[string]struct {
	expr     string
	fields   []string
	dashNull bool
}{
	LogFormatCommonApache: {
		expr:     apacheCommonExpr + `.*`,
		fields:   []string{"host", "ident", "authuser", "datetime", "request", "response", "bytes"},
		dashNull: true,
	},
	LogFormatCombinedApache: {
		expr:     apacheCommonExpr + ` "([^"]*)" "([^"]*)".*`,
		fields:   []string{"host", "ident", "authuser", "datetime", "request", "response", "bytes", "referer", "agent"},
		dashNull: true,
	},
	LogFormatApacheError: {
		expr:     `\[([^\]]+)\] \[(?:(\w+):)?(\w+)\] \[pid (\d+)(?::tid (\d+))?\] \[client ([^\]]+)\] (.*)`,
		fields:   []string{"timestamp", "module", "severity", "processid", "threadid", "client", "message"},
		dashNull: true,
	},
	LogFormatSyslog: {
		expr:   `([A-Z][a-z]{2,8} +\d{1,2} \d{1,2}:\d{2}:\d{2}(?:[.,:]\d+)?) ` + syslogTail,
		fields: syslogFields,
	},
	LogFormatRFC3339Syslog: {
		expr:   `(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})) ` + syslogTail,
		fields: syslogFields,
	},
}

const (
	// host ident authuser [datetime] "request" status bytes
	apacheCommonExpr = `(\S+) (\S+) (\S+) \[([^\]]+)\] "([^"]*)" (\d+|-) (\d+|-)`
	// optional <facility.priority>, host, program[pid]: message
	syslogTail = `(?:<\d+\.\d+> )?([\w.-]+) ([\w./%-]+)(?:\[(\d+)\])?: (.*)`
)

var syslogFields = []string{"timestamp", "hostname", "program", "processid", "message"}

func newLogToJSON(o ProcessingOption, prefix string, pretty bool) (processor, error) {
	if o.LogFormat == "" {
		return nil, configErr(prefix+"logFormat", "is required for LOGTOJSON")
	}
	def, ok := logFormats[o.LogFormat]
	if !ok {
		return nil, configErr(prefix+"logFormat", "%q is not one of COMMONAPACHELOG, COMBINEDAPACHELOG, APACHEERRORLOG, SYSLOG, RFC3339SYSLOG", o.LogFormat)
	}
	p := logToJSON{fields: def.fields, dashNull: def.dashNull, pretty: pretty}
	expr := def.expr
	if o.MatchPattern != "" {
		if len(o.CustomFieldNames) == 0 {
			return nil, configErr(prefix+"customFieldNames", "is required with matchPattern")
		}
		expr = o.MatchPattern
		p.fields = o.CustomFieldNames
	} else if o.CustomFieldNames != nil {
		if len(o.CustomFieldNames) != len(def.fields) {
			return nil, configErr(prefix+"customFieldNames", "%s has %d fields, got %d names (give matchPattern to change the fields)",
				o.LogFormat, len(def.fields), len(o.CustomFieldNames))
		}
		p.fields = o.CustomFieldNames
	}
	re, err := regexp.Compile(`^(?:` + expr + `)$`)
	if err != nil {
		return nil, configErr(prefix+"matchPattern", "bad regular expression: %v", err)
	}
	if re.NumSubexp() != len(p.fields) {
		return nil, configErr(prefix+"customFieldNames", "matchPattern has %d groups but %d field names are given", re.NumSubexp(), len(p.fields))
	}
	p.re = re
	return p, nil
}

func (p logToJSON) process(data []byte) ([]byte, bool) {
	line := bytes.TrimSuffix(data, []byte{'\n'})
	m := p.re.FindSubmatchIndex(line)
	if m == nil {
		return nil, false
	}
	vals := make([]*string, len(p.fields))
	for i := range p.fields {
		lo, hi := m[2*i+2], m[2*i+3]
		if lo < 0 {
			continue
		}
		v := string(line[lo:hi])
		if p.dashNull && v == "-" {
			continue
		}
		vals[i] = &v
	}
	return jsonLayout(appendJSONObject(nil, p.fields, vals), p.pretty), true
}

// appendJSONObject appends {"k1":"v1",...} and a newline; nil values are null. Keys keep their
// order; HTML characters are not escaped.
func appendJSONObject(dst []byte, keys []string, vals []*string) []byte {
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		if vals[i] == nil {
			dst = append(dst, "null"...)
		} else {
			dst = appendJSONString(dst, *vals[i])
		}
	}
	return append(dst, '}', '\n')
}

func appendJSONString(dst []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes (invalid UTF-8 becomes U+FFFD)
	return append(dst, bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})...)
}
