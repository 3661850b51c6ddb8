package agent

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// A glob is a filePattern (or excludePattern) in the Kinesis Agent's syntax, which is Java's
// glob: besides * ? and [...] (filepath.Match), {a,b} alternatives (nesting allowed) and [!x] for
// a negated class. It is expanded into filepath.Match patterns.
type glob struct {
	text     string
	patterns []string // the alternatives, in Go's syntax ([^x])
}

// maxGlobAlternatives bounds the expansion of nested braces.
const maxGlobAlternatives = 1024

func compileGlob(text string) (glob, error) {
	alts, err := expandBraces(text)
	if err != nil {
		return glob{}, err
	}
	g := glob{text: text}
	seen := map[string]bool{}
	for _, a := range alts {
		a = strings.ReplaceAll(a, "[!", "[^")
		if _, err := filepath.Match(a, ""); err != nil {
			return glob{}, fmt.Errorf("bad glob %q: %v", text, err)
		}
		if !seen[a] {
			seen[a] = true
			g.patterns = append(g.patterns, a)
		}
	}
	return g, nil
}

// expandBraces returns the alternatives of the first {...} group of s (commas at its top level
// separate them), each followed by the expansion of the rest, recursively.
func expandBraces(s string) ([]string, error) {
	open := -1
	depth := 0
	var cuts []int // positions of the top-level commas of the first group
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++ // an escaped character is literal
		case '[':
			// A class is literal up to its ']': braces inside it are characters.
			if j := strings.IndexByte(s[i+1:], ']'); j >= 0 {
				i += j + 1
			}
		case '{':
			if depth == 0 && open < 0 {
				open = i
			}
			depth++
		case ',':
			if depth == 1 && open >= 0 {
				cuts = append(cuts, i)
			}
		case '}':
			if depth == 0 {
				return nil, fmt.Errorf("bad glob %q: unmatched }", s)
			}
			depth--
			if depth == 0 && open >= 0 {
				prefix, rest := s[:open], s[i+1:]
				var parts []string
				from := open + 1
				for _, c := range cuts {
					parts = append(parts, s[from:c])
					from = c + 1
				}
				parts = append(parts, s[from:i])
				restAlts, err := expandBraces(rest)
				if err != nil {
					return nil, err
				}
				var out []string
				for _, p := range parts {
					pAlts, err := expandBraces(p)
					if err != nil {
						return nil, err
					}
					for _, pa := range pAlts {
						for _, ra := range restAlts {
							out = append(out, prefix+pa+ra)
							if len(out) > maxGlobAlternatives {
								return nil, fmt.Errorf("bad glob %q: more than %d alternatives", s, maxGlobAlternatives)
							}
						}
					}
				}
				return out, nil
			}
		}
	}
	if depth > 0 {
		return nil, fmt.Errorf("bad glob %q: unmatched {", s)
	}
	return []string{s}, nil
}

// match reports whether path matches the glob. A glob without a slash is matched against the
// file's name only (an excludePattern such as "*.tmp").
func (g glob) match(path string) bool {
	name := path
	if !strings.Contains(g.text, "/") {
		name = filepath.Base(path)
	}
	for _, p := range g.patterns {
		if ok, _ := filepath.Match(p, name); ok {
			return true
		}
	}
	return false
}

// files returns the paths matching the glob (filepath.Glob of each alternative), without
// duplicates.
func (g glob) files() []string {
	if len(g.patterns) == 1 {
		paths, _ := filepath.Glob(g.patterns[0]) // checked by compileGlob
		return paths
	}
	var out []string
	seen := map[string]bool{}
	for _, p := range g.patterns {
		paths, _ := filepath.Glob(p)
		for _, x := range paths {
			if !seen[x] {
				seen[x] = true
				out = append(out, x)
			}
		}
	}
	slices.Sort(out)
	return out
}

// compressedSuffixes are the names of compressed files, which are never tailed: a rotation that
// compresses app.log.1 into app.log.1.gz makes a new file the app.log* glob matches.
var compressedSuffixes = []string{".gz", ".bz2", ".zip", ".xz", ".zst", ".tgz", ".lz4", ".z"}

func compressedName(path string) bool {
	for _, s := range compressedSuffixes {
		if len(path) >= len(s) && strings.EqualFold(path[len(path)-len(s):], s) {
			return true
		}
	}
	return false
}

// compressedMagic reports data beginning with the magic bytes of gzip, bzip2, zip, xz, zstd or
// lz4: a compressed file under a name without a compression suffix.
func compressedMagic(head []byte) bool {
	for _, m := range [][]byte{
		{0x1f, 0x8b},                     // gzip
		{'P', 'K', 0x03, 0x04},           // zip
		{0xfd, '7', 'z', 'X', 'Z', 0x00}, // xz
		{0x28, 0xb5, 0x2f, 0xfd},         // zstd
		{0x04, 0x22, 0x4d, 0x18},         // lz4 frame
	} {
		if len(head) >= len(m) && string(head[:len(m)]) == string(m) {
			return true
		}
	}
	// bzip2: "BZh", the block size digit, then a block's or the end's magic number.
	return len(head) >= 10 && string(head[:3]) == "BZh" && head[3] >= '1' && head[3] <= '9' &&
		(string(head[4:10]) == "1AY&SY" || string(head[4:10]) == "\x17\x72\x45\x38\x50\x90")
}
