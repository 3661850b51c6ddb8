package agent

// writesJSON reports whether a processing option writes JSON, and so reads "jsonFormat".
func writesJSON(optionName string) bool {
	switch optionName {
	case OptionCSVToJSON, OptionLogToJSON, OptionAddMetadata, OptionAddEC2Metadata:
		return true
	}
	return false
}

// prettyOption reads a processing option's jsonFormat: false for COMPACT (or unset), true for
// PRETTYPRINT, a *ConfigError for anything else.
func prettyOption(o ProcessingOption, prefix string) (bool, error) {
	switch o.JSONFormat {
	case "", JSONFormatCompact:
		return false, nil
	case JSONFormatPrettyPrint:
		return true, nil
	}
	return false, configErr(prefix+"jsonFormat", "%q is not %s or %s", o.JSONFormat, JSONFormatCompact, JSONFormatPrettyPrint)
}

// jsonLayout gives a processor's output its layout: out is one compact JSON value followed by a
// newline; with pretty it is rewritten as appendPrettyJSON lays it out, newline kept.
func jsonLayout(out []byte, pretty bool) []byte {
	if !pretty {
		return out
	}
	body := out
	if n := len(body); n > 0 && body[n-1] == '\n' {
		body = body[:n-1]
	}
	return append(appendPrettyJSON(make([]byte, 0, len(out)*3/2+16), body), '\n')
}

// appendPrettyJSON appends the JSON value src laid out as the Kinesis Agent's PRETTYPRINT lays it
// out (Jackson's default pretty printer, line feeds as on Linux): an object's members one per line,
// indented by two spaces per object level, as "key" : value; arrays stay on their line, as
// [ a, b ] (an object inside one opens on that line: [ {); empty ones are { } and [ ]. Blanks of
// src outside strings are dropped; strings are copied as written. src must be valid JSON.
func appendPrettyJSON(dst, src []byte) []byte {
	var open []byte // the containers we are in, '{' or '['
	depth := 0      // objects among them: the indentation level
	newline := func() {
		dst = append(dst, '\n')
		for range depth {
			dst = append(dst, ' ', ' ')
		}
	}
	// next returns the index of the next byte of src after i that is not a blank.
	next := func(i int) int {
		for i++; i < len(src); i++ {
			switch src[i] {
			case ' ', '\t', '\n', '\r':
			default:
				return i
			}
		}
		return i
	}
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case ' ', '\t', '\n', '\r':
		case '"':
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(src))
			dst = append(dst, src[i:j]...)
			i = j - 1
		case '{', '[':
			closer := byte('}')
			if c == '[' {
				closer = ']'
			}
			if j := next(i); j < len(src) && src[j] == closer {
				dst = append(dst, c, ' ', closer)
				i = j
				continue
			}
			open = append(open, c)
			if c == '{' {
				depth++
				dst = append(dst, '{')
				newline()
			} else {
				dst = append(dst, '[', ' ')
			}
		case '}':
			if len(open) > 0 { // src is valid JSON; invalid input must not panic
				open = open[:len(open)-1]
			}
			depth = max(depth-1, 0)
			newline()
			dst = append(dst, '}')
		case ']':
			if len(open) > 0 {
				open = open[:len(open)-1]
			}
			dst = append(dst, ' ', ']')
		case ',':
			if len(open) > 0 && open[len(open)-1] == '{' {
				dst = append(dst, ',')
				newline()
			} else {
				dst = append(dst, ',', ' ')
			}
		case ':':
			dst = append(dst, ' ', ':', ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
