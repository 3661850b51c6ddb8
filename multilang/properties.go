package multilang

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// Properties is a parsed properties file: keys in file order (a later duplicate replaces the value but
// keeps the first position) and their values.
type Properties struct {
	Keys   []string          // each key once, in the order first seen
	Values map[string]string // the last value of each key
}

// Get returns the value of key and whether it is set.
func (p Properties) Get(key string) (string, bool) {
	v, ok := p.Values[key]
	return v, ok
}

// ErrMalformedProperties is wrapped by Load for input java.util.Properties.load rejects (a malformed
// \uXXXX escape).
var ErrMalformedProperties = errors.New("multilang: malformed properties")

// Load reads a properties file with the rules of java.util.Properties.load(InputStream), which the Java
// MultiLangDaemon uses: ISO-8859-1 bytes; "#" or "!" as the first non-blank character of a line starts a
// comment; a line ending in an odd number of backslashes continues on the next line, whose leading
// blanks are dropped; the key ends at the first unescaped "=", ":" or blank (space, tab, form feed),
// blanks and one "=" or ":" after it are skipped; escapes \t \n \r \f \uXXXX, and \X is X.
func Load(r io.Reader) (Properties, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return Properties{}, err
	}
	// ISO-8859-1: every byte is the code point of the same value (a UTF-16 code unit, as in Java).
	in := make([]uint16, len(raw))
	for i, b := range raw {
		in[i] = uint16(b)
	}
	p := Properties{Values: map[string]string{}}
	lr := lineReader{in: in}
	for {
		line, ok := lr.next()
		if !ok {
			return p, nil
		}
		key, value, err := splitProperty(line)
		if err != nil {
			return Properties{}, fmt.Errorf("%w: line %d: %w", ErrMalformedProperties, lr.lineNo, err)
		}
		if _, dup := p.Values[key]; !dup {
			p.Keys = append(p.Keys, key)
		}
		p.Values[key] = value
	}
}

// lineReader returns logical lines (continuations joined, comments and blank lines skipped) as
// java.util.Properties.LineReader does.
type lineReader struct {
	in     []uint16
	off    int
	lineNo int // the natural line the current logical line started on (1-based)
	nl     int // natural lines consumed
}

func isBlank(c uint16) bool { return c == ' ' || c == '\t' || c == '\f' }

func (lr *lineReader) next() ([]uint16, bool) {
	var buf []uint16
	skipBlank := true
	comment := false
	newLine := true
	appended := false // at the start of a continuation line
	backslash := false
	skipLF := false
	started := false
	for {
		if lr.off >= len(lr.in) {
			if len(buf) == 0 || comment {
				return nil, false
			}
			if backslash {
				buf = buf[:len(buf)-1]
			}
			return buf, true
		}
		c := lr.in[lr.off]
		lr.off++
		if skipLF {
			skipLF = false
			if c == '\n' {
				continue
			}
		}
		if skipBlank {
			if isBlank(c) {
				continue
			}
			if !appended && (c == '\r' || c == '\n') {
				lr.nl++
				continue
			}
			skipBlank, appended = false, false
		}
		if !started {
			started = true
			lr.lineNo = lr.nl + 1
		}
		if newLine {
			newLine = false
			if c == '#' || c == '!' {
				comment = true
				continue
			}
		}
		if c != '\n' && c != '\r' {
			buf = append(buf, c)
			if c == '\\' {
				backslash = !backslash
			} else {
				backslash = false
			}
			continue
		}
		// End of a natural line.
		lr.nl++
		if c == '\r' && lr.off < len(lr.in) && lr.in[lr.off] == '\n' {
			lr.off++ // \r\n is one line end (Java's skipLF, applied at once)
		}
		if comment || len(buf) == 0 {
			comment, newLine, skipBlank, started = false, true, true, false
			buf = buf[:0]
			continue
		}
		if lr.off >= len(lr.in) {
			if backslash {
				buf = buf[:len(buf)-1]
			}
			return buf, true
		}
		if !backslash {
			return buf, true
		}
		buf = buf[:len(buf)-1]
		skipBlank, appended, backslash = true, true, false
	}
}

// splitProperty splits a logical line into its key and value and unescapes both.
func splitProperty(line []uint16) (string, string, error) {
	keyLen, valueStart := 0, len(line)
	hasSep, backslash := false, false
	for keyLen < len(line) {
		c := line[keyLen]
		if (c == '=' || c == ':') && !backslash {
			valueStart, hasSep = keyLen+1, true
			break
		}
		if isBlank(c) && !backslash {
			valueStart = keyLen + 1
			break
		}
		if c == '\\' {
			backslash = !backslash
		} else {
			backslash = false
		}
		keyLen++
	}
	for valueStart < len(line) {
		c := line[valueStart]
		if !isBlank(c) {
			if !hasSep && (c == '=' || c == ':') {
				hasSep = true
			} else {
				break
			}
		}
		valueStart++
	}
	key, err := unescape(line[:keyLen])
	if err != nil {
		return "", "", err
	}
	value, err := unescape(line[valueStart:])
	if err != nil {
		return "", "", err
	}
	return key, value, nil
}

// unescape applies Java's loadConvert and returns the UTF-16 text as a Go string (a lone surrogate
// becomes U+FFFD).
func unescape(s []uint16) (string, error) {
	out := make([]uint16, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		i++
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i >= len(s) { // a trailing backslash: Java keeps nothing for it
			break
		}
		c = s[i]
		i++
		switch c {
		case 'u':
			if i+4 > len(s) {
				return "", errors.New(`malformed \uxxxx encoding`)
			}
			var v uint16
			for _, d := range s[i : i+4] {
				switch {
				case d >= '0' && d <= '9':
					v = v<<4 + d - '0'
				case d >= 'a' && d <= 'f':
					v = v<<4 + d - 'a' + 10
				case d >= 'A' && d <= 'F':
					v = v<<4 + d - 'A' + 10
				default:
					return "", errors.New(`malformed \uxxxx encoding`)
				}
			}
			i += 4
			out = append(out, v)
		case 't':
			out = append(out, '\t')
		case 'r':
			out = append(out, '\r')
		case 'n':
			out = append(out, '\n')
		case 'f':
			out = append(out, '\f')
		default:
			out = append(out, c)
		}
	}
	return string(utf16.Decode(out)), nil
}

// String writes p back in properties syntax (keys in order), escaped so Load reads the same values.
func (p Properties) String() string {
	var b strings.Builder
	for _, k := range p.Keys {
		b.WriteString(escapeProperty(k, true))
		b.WriteByte('=')
		b.WriteString(escapeProperty(p.Values[k], false))
		b.WriteByte('\n')
	}
	return b.String()
}

// escapeProperty escapes s like java.util.Properties.store (non-Latin-1 and control characters as
// \uXXXX; every space of a key and a value's leading space escaped).
func escapeProperty(s string, key bool) string {
	var b strings.Builder
	for i, u := range utf16.Encode([]rune(s)) {
		switch {
		case u == ' ':
			if i == 0 || key {
				b.WriteByte('\\')
			}
			b.WriteByte(' ')
		case u == '\t':
			b.WriteString(`\t`)
		case u == '\n':
			b.WriteString(`\n`)
		case u == '\r':
			b.WriteString(`\r`)
		case u == '\f':
			b.WriteString(`\f`)
		case u == '=' || u == ':' || u == '#' || u == '!' || u == '\\':
			b.WriteByte('\\')
			b.WriteByte(byte(u))
		case u < 0x20 || u > 0x7e:
			fmt.Fprintf(&b, `\u%04X`, u)
		default:
			b.WriteByte(byte(u))
		}
	}
	return b.String()
}
