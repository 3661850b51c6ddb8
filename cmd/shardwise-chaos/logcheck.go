package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// logCheck greps the logs (stderr, debug level) of every process of the run for the records'
// data marker, their partition keys' marker and the test credentials. The clients under test
// (put, consume, agent) must log none of them; the fake Kinesis server's call log (local-kinesis.log,
// written at --log-level debug) is reported but not held to it.
func (r *runner) logCheck() (string, bool) {
	needles := []struct{ what, s string }{
		{"data", r.dataMark}, {"partition-key", r.keyMark}, {"access-key", r.accessKey}, {"secret-key", r.secretKey},
	}
	files, bytesRead := 0, int64(0)
	hits := map[string]map[string]int{} // role -> what -> files
	var where []string
	// Unreadable entries are skipped: the processes wrote their logs as this user, so one that cannot
	// be read was not written by them.
	_ = filepath.WalkDir(r.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".log") || filepath.Dir(path) == r.binDir {
			return nil //nolint:nilerr // unreadable: skipped, as said above
		}
		if filepath.Base(filepath.Dir(filepath.Dir(path))) != filepath.Base(r.root) {
			return nil // not a process's log: scenario e's application logs live one level deeper
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil //nolint:nilerr // unreadable: skipped, as said above
		}
		files++
		bytesRead += int64(len(data))
		role, _, _ := strings.Cut(filepath.Base(path), "-")
		for _, n := range needles {
			if c := bytes.Count(data, []byte(n.s)); c > 0 {
				if hits[role] == nil {
					hits[role] = map[string]int{}
				}
				hits[role][n.what] += c
				rel, _ := filepath.Rel(r.root, path)
				where = append(where, fmt.Sprintf("%s:%s×%d", rel, n.what, c))
			}
		}
		return nil
	})
	var parts, broken []string
	for role, m := range hits {
		for what, c := range m {
			parts = append(parts, fmt.Sprintf("%s:%s×%d", role, what, c))
			if role != "local" {
				broken = append(broken, fmt.Sprintf("%s:%s×%d in logs", role, what, c))
			}
		}
	}
	sort.Strings(parts)
	sort.Strings(broken)
	sort.Strings(where)
	verdict, ok := r.verdict("logcheck", broken)
	if len(broken) > 0 {
		if len(where) > 6 {
			where = append(where[:6], "...")
		}
		verdict += " (in " + strings.Join(where, " ") + ")"
	}
	found := "none"
	if len(parts) > 0 {
		found = strings.Join(parts, ",")
	}
	return fmt.Sprintf("chaos logcheck: files=%d bytes=%d found=%s (local-kinesis.log, the fake server's debug call log, is not held to it) %s",
		files, bytesRead, found, verdict), ok
}
