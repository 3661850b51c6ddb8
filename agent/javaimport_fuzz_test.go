package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shardwise/shardwise/internal/sqliteread"
)

// FuzzJavaImport: a damaged Kinesis Agent checkpoint database (the fixture with one byte changed)
// is refused with a clear error (not SQLite, corrupt, unsupported, no table, no column), or its rows, mapped onto the files a
// flow matches, give one checkpoint per file with an offset inside the file, and the file ids the
// rows carry read back as Java prints them.
func FuzzJavaImport(f *testing.F) {
	fixture, err := os.ReadFile(filepath.Join("testdata", "java_checkpoints.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(0, byte(0), int64(3), "(dev=803,ino=1310730)")
	f.Add(100, byte(0xff), int64(-1), "(dev=fd01,ino=7)")
	f.Add(len(fixture)-1, byte(1), int64(1<<40), "(dev=,ino=1)")
	dir, err := os.MkdirTemp("", "fuzz-javaimport-")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o700); err != nil {
		f.Fatal(err)
	}
	for name, body := range map[string]string{"app.log": "one\ntwo\n", "app.log.1": "old\n"} {
		if err := os.WriteFile(filepath.Join(logs, name), []byte(body), 0o600); err != nil {
			f.Fatal(err)
		}
	}
	db := filepath.Join(dir, "checkpoints")
	flow := Flow{FilePattern: filepath.Join(logs, "app.log*"), KinesisStream: "s"}
	f.Fuzz(func(t *testing.T, at int, b byte, offset int64, fileID string) {
		data := append([]byte(nil), fixture...)
		if at < 0 {
			at = -at
		}
		data[at%len(data)] = b
		if err := os.WriteFile(db, data, 0o600); err != nil {
			t.Fatal(err)
		}
		rows, err := readJavaCheckpoints(db)
		if err != nil {
			typed := false
			for _, e := range []error{sqliteread.ErrNotSQLite, sqliteread.ErrCorrupt, sqliteread.ErrUnsupported, sqliteread.ErrNoTable} {
				typed = typed || errors.Is(err, e)
			}
			if !typed && !strings.Contains(err.Error(), "has no column") {
				t.Fatalf("unclear error %T: %v", err, err)
			}
			return
		}
		for _, r := range rows {
			if id, ok := parseJavaFileID(r.FileID); ok {
				if back, ok := parseJavaFileID(fmt.Sprintf("(dev=%x,ino=%d)", id.Dev, id.Ino)); !ok || back != id {
					t.Fatalf("file id %q read as %+v, printed and read again as %+v", r.FileID, id, back)
				}
			}
		}
		// The flow's own row, with the fuzzed offset and file id, beside what the database holds.
		rows = append(rows, javaCheckpoint{Flow: javaFlowID(flow), Path: filepath.Join(logs, "app.log"), FileID: fileID,
			Offset: offset, LastUpdated: "9999-12-31 23:59:59.999"})
		st, report := importJavaCheckpoints(rows, []Flow{flow}, time.Now())
		if len(report) != 1 || len(st.Files) != 2 || len(st.Flows) != 1 {
			t.Fatalf("import: %d reports, %d files, %d flows; want 1, 2, 1", len(report), len(st.Files), len(st.Flows))
		}
		for _, c := range st.Files {
			fi, err := os.Stat(c.Path)
			if err != nil {
				t.Fatal(err)
			}
			if c.Offset < 0 || c.Offset > fi.Size() {
				t.Fatalf("%s: offset %d outside the file's %d bytes (row offset %d)", c.Path, c.Offset, fi.Size(), offset)
			}
		}
	})
}
