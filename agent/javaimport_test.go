package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReadJavaCheckpointsFixture(t *testing.T) {
	// testdata/java_checkpoints.db was written by the sqlite3 shell with the Kinesis Agent's
	// schema (see internal/sqliteread/testdata/README.md).
	rows, err := readJavaCheckpoints("testdata/java_checkpoints.db")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows", len(rows))
	}
	want := javaCheckpoint{Flow: "kinesis:app-stream:/var/log/app/app.log*", Path: "/var/log/app/app.log", FileID: "(dev=803,ino=1310730)",
		LastModified: 1764806400123, Size: 5120, Offset: 4096, LastUpdated: "2026-12-01 10:00:00.125"}
	if rows[0] != want {
		t.Errorf("row 1 = %+v, want %+v", rows[0], want)
	}
	if id, ok := parseJavaFileID(rows[2].FileID); !ok || id != (fileID{Dev: 0xfd01, Ino: 42}) {
		t.Errorf("fileId %q = %+v %v", rows[2].FileID, id, ok)
	}
	if got := javaFlowID(Flow{KinesisStream: "app-stream", FilePattern: "/var/log/app//app.log*"}); got != rows[0].Flow {
		t.Errorf("javaFlowID = %q", got)
	}
	if got := javaFlowID(Flow{DeliveryStream: "app-firehose", FilePattern: "/var/log/web/access.log"}); got != rows[2].Flow {
		t.Errorf("javaFlowID (Firehose) = %q", got)
	}
	for _, bad := range []string{"", "(dev=zz,ino=1)", "(dev=1,ino=)", "dev=1,ino=2", "(dev=1;ino=2)"} {
		if _, ok := parseJavaFileID(bad); ok {
			t.Errorf("parseJavaFileID(%q) accepted", bad)
		}
	}
	if _, err := readJavaCheckpoints("testdata/nope.db"); err == nil {
		t.Error("a missing file was read")
	}
}

// TestImportJavaCheckpointsMapping: the file of the flow's newest row resumes at its offset
// wherever it was renamed; older files were delivered; newer ones are read from 0; a truncated
// checkpointed file restarts at 0; a flow without rows is not touched; other flows' rows are
// ignored.
func TestImportJavaCheckpointsMapping(t *testing.T) {
	dir := t.TempDir()
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	mk := func(name, content string, mtime time.Time) (string, fileID) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return p, idOf(fi)
	}
	old, _ := mk("app.log.2", strings.Repeat("o\n", 10), base)
	cur, curID := mk("app.log.1", strings.Repeat("c\n", 50), base.Add(2*time.Second)) // renamed since
	newer, _ := mk("app.log", strings.Repeat("n\n", 5), base.Add(3*time.Second))
	trunc, truncID := mk("t.log", "x\n", base)
	javaID := func(id fileID) string { return fmt.Sprintf("(dev=%x,ino=%d)", id.Dev, id.Ino) } // Java's UnixFileKey
	flow := Flow{FilePattern: filepath.Join(dir, "app.log*"), KinesisStream: "s"}
	flowT := Flow{FilePattern: filepath.Join(dir, "t.log"), KinesisStream: "s"}
	flowNone := Flow{FilePattern: filepath.Join(dir, "none*"), KinesisStream: "s"}
	rows := []javaCheckpoint{
		{Flow: javaFlowID(flow), Path: filepath.Join(dir, "app.log"), FileID: javaID(curID),
			LastModified: base.Add(time.Second).UnixMilli(), Size: 40, Offset: 30, LastUpdated: "2026-12-01 10:00:00.500"},
		{Flow: javaFlowID(flow), Path: filepath.Join(dir, "app.log.1"), FileID: "(dev=1,ino=1)",
			LastModified: base.UnixMilli(), Size: 20, Offset: 20, LastUpdated: "2026-12-01 09:00:00.000"},
		{Flow: javaFlowID(Flow{KinesisStream: "other", FilePattern: flow.FilePattern}), Path: filepath.Join(dir, "app.log"), FileID: javaID(curID),
			Offset: 2, LastUpdated: "2026-12-01 11:00:00.000"},
		{Flow: javaFlowID(flowT), Path: trunc, FileID: javaID(truncID),
			LastModified: base.UnixMilli(), Size: 100, Offset: 100, LastUpdated: "2026-12-01 10:00:00.000"},
	}
	// The device number changed (a reboot can renumber it): same inode and same path still match.
	reboot, rebootID := mk("r.log", "r1\nr2\nr3\n", base)
	flowR := Flow{FilePattern: filepath.Join(dir, "r.log"), KinesisStream: "s"}
	rows = append(rows, javaCheckpoint{Flow: javaFlowID(flowR), Path: reboot, FileID: javaID(fileID{Dev: rebootID.Dev + 1, Ino: rebootID.Ino}),
		LastModified: base.UnixMilli(), Size: 6, Offset: 3, LastUpdated: "2026-12-01 10:00:00.000"})
	// The checkpointed file is gone: older files were delivered, newer ones are read from 0.
	goneOld, _ := mk("g.log.1", "g\n", base)
	goneNew, _ := mk("g.log", "h\n", base.Add(5*time.Second))
	flowG := Flow{FilePattern: filepath.Join(dir, "g.log*"), KinesisStream: "s"}
	rows = append(rows, javaCheckpoint{Flow: javaFlowID(flowG), Path: filepath.Join(dir, "g.log.0"), FileID: "(dev=1,ino=999999999)",
		LastModified: base.Add(time.Second).UnixMilli(), Size: 6, Offset: 6, LastUpdated: "2026-12-01 10:00:00.000"})
	now := time.Now().UTC()
	st, report := importJavaCheckpoints(rows, []Flow{flow, flowT, flowNone, flowR, flowG}, now)
	got := map[string]int64{}
	for _, c := range st.Files {
		got[c.Path] = c.Offset
		if c.LastSeen != now || c.FingerprintLen == 0 || c.Inode == 0 {
			t.Errorf("entry %+v: LastSeen, fingerprint and identity must be set", c)
		}
	}
	want := map[string]int64{old: 20, cur: 30, newer: 0, trunc: 0, reboot: 3, goneOld: 2, goneNew: 0}
	if len(got) != len(want) {
		t.Errorf("entries %v, want %v", got, want)
	}
	for p, o := range want {
		if got[p] != o {
			t.Errorf("%s: offset %d, want %d", filepath.Base(p), got[p], o)
		}
	}
	if len(st.Flows) != 4 || len(report) != 4 || report[0].Found != cur || report[0].Skipped != 1 || report[0].Resumed != 2 ||
		report[2].Found != reboot || report[3].Found != "" {
		t.Errorf("markers %v report %+v", st.Flows, report)
	}
}

func TestImportJavaCheckpointsKey(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"shardwise.importJavaCheckpoints": "/old/checkpoints",
		"flows": [{"filePattern": "/var/log/a*", "kinesisStream": "s"}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ImportJavaCheckpoints != "/old/checkpoints" {
		t.Errorf("ImportJavaCheckpoints = %q", cfg.ImportJavaCheckpoints)
	}
	if _, err := ParseConfig([]byte(`{"shardwise.importJavaCheckpoints": 3}`), nil); err == nil {
		t.Error("a number was accepted")
	}
}
