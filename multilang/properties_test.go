package multilang

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

// propertiesGolden are inputs with the key/value pairs java.util.Properties.load(InputStream) reads
// from them.
var propertiesGolden = []struct {
	name string
	in   string
	want [][2]string
}{
	{"equals", "a=b\n", [][2]string{{"a", "b"}}},
	{"colon", "a:b", [][2]string{{"a", "b"}}},
	{"space separator", "a b", [][2]string{{"a", "b"}}},
	{"tab and form feed", "a\t\fb", [][2]string{{"a", "b"}}},
	{"blanks around equals", "  a  =  b  ", [][2]string{{"a", "b  "}}},
	{"blank then colon", "a : b", [][2]string{{"a", "b"}}},
	{"only one separator skipped", "a==b", [][2]string{{"a", "=b"}}},
	{"blank, separator, separator", "a = :b", [][2]string{{"a", ":b"}}},
	{"key only", "key", [][2]string{{"key", ""}}},
	{"key and equals", "key=", [][2]string{{"key", ""}}},
	{"empty key", "=value", [][2]string{{"", "value"}}},
	{"quotes are literal", `workerId = "workerId"`, [][2]string{{"workerId", `"workerId"`}}},
	{"hash comment", "# a=b\nc=d", [][2]string{{"c", "d"}}},
	{"bang comment", "  ! a=b\nc=d", [][2]string{{"c", "d"}}},
	{"hash inside value", "a=b#c", [][2]string{{"a", "b#c"}}},
	{"comment does not continue", "# x \\\na=b", [][2]string{{"a", "b"}}},
	{"continuation", "a=b\\\n    c", [][2]string{{"a", "bc"}}},
	{"continuation keeps hash", "a=b\\\n  #c", [][2]string{{"a", "b#c"}}},
	{"continuation CRLF", "a=b\\\r\n  c\r\nd=e", [][2]string{{"a", "bc"}, {"d", "e"}}},
	{"continuation CR", "a=b\\\r  c\rd=e", [][2]string{{"a", "bc"}, {"d", "e"}}},
	{"even backslashes do not continue", "a=b\\\\\nc=d", [][2]string{{"a", `b\`}, {"c", "d"}}},
	{"continuation then blank line", "a=b\\\n\nc=d", [][2]string{{"a", "b"}, {"c", "d"}}},
	{"continuation at EOF", "a=b\\", [][2]string{{"a", "b"}}},
	{"key continued", "ke\\\n  y=v", [][2]string{{"key", "v"}}},
	{"escapes", `a=\t\n\r\f\q\\\=`, [][2]string{{"a", "\t\n\r\f" + `q\=`}}},
	{"escaped separators in key", `a\=b\:c\ d=e`, [][2]string{{"a=b:c d", "e"}}},
	{"unicode escape", `a=\u0041\u00e9\u20AC`, [][2]string{{"a", "Aé€"}}},
	{"surrogate pair", `a=\uD83D\uDE00`, [][2]string{{"a", "😀"}}},
	{"latin-1 bytes", "a=caf\xe9", [][2]string{{"a", "café"}}},
	{"utf-8 read as latin-1", "a=é", [][2]string{{"a", "Ã©"}}},
	{"duplicate: last wins", "a=1\nb=2\na=3", [][2]string{{"a", "3"}, {"b", "2"}}},
	{"blank lines", "\n\n   \n\t\na=b\n\n", [][2]string{{"a", "b"}}},
	{"CR line ends", "a=b\rc=d\r", [][2]string{{"a", "b"}, {"c", "d"}}},
	{"trailing blanks kept", "a=b \t", [][2]string{{"a", "b \t"}}},
	{"executableName", "executableName = node sample_kcl_app.js", [][2]string{{"executableName", "node sample_kcl_app.js"}}},
}

func TestLoadGolden(t *testing.T) {
	for _, tc := range propertiesGolden {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Load(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			var keys []string
			for _, kv := range tc.want {
				want[kv[0]] = kv[1]
				keys = append(keys, kv[0])
			}
			if !maps.Equal(p.Values, want) {
				t.Errorf("Load(%q) = %q, want %q", tc.in, p.Values, want)
			}
			if strings.Join(p.Keys, "\x00") != strings.Join(keys, "\x00") {
				t.Errorf("keys %q, want %q", p.Keys, keys)
			}
		})
	}
}

func TestLoadMalformedUnicode(t *testing.T) {
	for _, in := range []string{`a=\u12`, `a=\u12G4`, `\uZZZZ=b`} {
		if _, err := Load(strings.NewReader(in)); !errors.Is(err, ErrMalformedProperties) {
			t.Errorf("Load(%q): %v, want ErrMalformedProperties", in, err)
		}
	}
}

// FuzzLoad checks the golden cases, that Load never panics, and that what String writes Load reads back
// unchanged.
func FuzzLoad(f *testing.F) {
	for _, tc := range propertiesGolden {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := Load(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrMalformedProperties) {
				t.Fatalf("Load(%q): unexpected error type %v", in, err)
			}
			return
		}
		if len(p.Keys) != len(p.Values) {
			t.Fatalf("Load(%q): %d keys, %d values", in, len(p.Keys), len(p.Values))
		}
		out := p.String()
		q, err := Load(strings.NewReader(out))
		if err != nil {
			t.Fatalf("Load(String()) of %q: %v (written %q)", in, err, out)
		}
		if !maps.Equal(p.Values, q.Values) || strings.Join(p.Keys, "\x00") != strings.Join(q.Keys, "\x00") {
			t.Fatalf("round trip of %q: %q, then %q (written %q)", in, p.Values, q.Values, out)
		}
	})
}
