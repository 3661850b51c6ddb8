// Command vulncheck checks the modules of this repository against the Go vulnerability database,
// offline: the database is built from the OSV files of a pinned golang.org/x/vulndb module version
// (fetched through the Go module proxy like any module) with that module's indexdb command, and
// govulncheck (pinned) reads it with -db file://. Run it from the repository root:
//
//	cd tools/vulncheck && go run . -root ../..
//
// It fails (exit 1) when code of ours calls a vulnerable symbol of a module we require. Findings in
// the Go standard library are printed too; they are fixed by a newer Go toolchain rather than by a
// change to go.mod, so they fail the run only with -stdlib.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// The pinned tools and database. The vulndb pseudo-version's date is the database's date: the
// OSV files it holds carry no modification times of their own.
const (
	govulncheck   = "golang.org/x/vuln/cmd/govulncheck@v1.9.0"
	vulndbModule  = "golang.org/x/vulndb"
	vulndbVersion = "v0.0.0-20261105234957-e22db6528018" // 2026-11-05 23:49:57 UTC
	indexdb       = vulndbModule + "/cmd/indexdb@" + vulndbVersion
)

func main() {
	root := flag.String("root", ".", "repository root")
	cache := flag.String("db", "", "where the built database is kept (default: the user cache directory)")
	stdlib := flag.Bool("stdlib", false, "fail on standard-library findings too")
	flag.Parse()
	if err := run(*root, *cache, *stdlib); err != nil {
		fmt.Fprintln(os.Stderr, "vulncheck:", err)
		os.Exit(1)
	}
}

func run(root, dbDir string, failStdlib bool) error {
	if dbDir == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return err
		}
		dbDir = filepath.Join(c, "shardwise-vulndb", vulndbVersion)
	}
	if err := buildDB(dbDir); err != nil {
		return err
	}
	fmt.Printf("vulncheck: database %s@%s (2026-11-05), %s\n", vulndbModule, vulndbVersion, dbDir)
	mods, err := modules(root)
	if err != nil {
		return err
	}
	failed := false
	for _, dir := range mods {
		called, err := scan(dir, dbDir)
		if err != nil {
			return err
		}
		m, err := filepath.Rel(root, dir)
		if err != nil {
			m = dir
		}
		for _, f := range called {
			bad := f.module != "stdlib" || failStdlib
			failed = failed || bad
			note := "FAIL"
			if !bad {
				note = "stdlib (fixed by Go " + strings.TrimPrefix(f.fixed, "v") + "; not failing without -stdlib)"
			}
			fmt.Printf("vulncheck: %s: %s in %s@%s, called from %s: %s\n", m, f.id, f.module, f.version, f.caller, note)
		}
		if len(called) == 0 {
			fmt.Printf("vulncheck: %s: no vulnerable symbol called\n", m)
		}
	}
	if failed {
		return fmt.Errorf("vulnerable code is called (see above)")
	}
	return nil
}

// buildDB builds the database at dir once: the OSV files of the pinned vulndb module, indexed.
func buildDB(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "index", "db.json")); err == nil {
		return nil
	}
	out, err := exec.Command("go", "mod", "download", "-json", vulndbModule+"@"+vulndbVersion).Output()
	if err != nil {
		return fmt.Errorf("downloading %s@%s: %w", vulndbModule, vulndbVersion, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return fmt.Errorf("go mod download gave no directory: %s", out)
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	cmd := exec.Command("go", "run", indexdb, "-vulns", filepath.Join(mod.Dir, "data", "osv"), "-out", tmp)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building the database: %w", err)
	}
	return os.Rename(tmp, dir)
}

// modules lists the directories of the repository's modules (this tool's excepted).
func modules(root string) ([]string, error) {
	var mods []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && p != root) {
			return filepath.SkipDir
		}
		if d.Name() == "go.mod" && !strings.Contains(filepath.ToSlash(p), "tools/vulncheck") {
			mods = append(mods, filepath.Dir(p))
		}
		return nil
	})
	slices.Sort(mods)
	return mods, err
}

type finding struct {
	id, module, version, fixed, caller string
}

// scan runs govulncheck on one module and returns the vulnerabilities whose symbols are called.
func scan(dir, dbDir string) ([]finding, error) {
	abs, err := filepath.Abs(dbDir)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "run", govulncheck, "-db", "file://"+abs, "-format", "json", "./...")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("govulncheck in %s: %w\n%s", dir, err, stderr.String())
	}
	return called(bytes.NewReader(out))
}

// called reads govulncheck's JSON stream: a finding whose trace starts at a function is a call of a
// vulnerable symbol (package- and module-level findings have none).
func called(r io.Reader) ([]finding, error) {
	type frame struct {
		Module, Version, Package, Function, Receiver string
	}
	type message struct {
		Finding *struct {
			OSV          string  `json:"osv"`
			FixedVersion string  `json:"fixed_version"`
			Trace        []frame `json:"trace"`
		} `json:"finding"`
	}
	seen := map[string]bool{}
	var out []finding
	dec := json.NewDecoder(bufio.NewReader(r))
	for {
		var m message
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("reading govulncheck's output: %w", err)
		}
		f := m.Finding
		if f == nil || len(f.Trace) == 0 || f.Trace[0].Function == "" || seen[f.OSV] {
			continue
		}
		seen[f.OSV] = true
		last := f.Trace[len(f.Trace)-1]
		caller := last.Package + "."
		if r := strings.TrimPrefix(last.Receiver, "*"); r != "" {
			caller += r + "."
		}
		out = append(out, finding{id: f.OSV, module: f.Trace[0].Module, version: f.Trace[0].Version,
			fixed: f.FixedVersion, caller: caller + last.Function})
	}
	return out, nil
}
