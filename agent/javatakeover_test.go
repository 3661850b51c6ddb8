package agent_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/shardwise/shardwise/agent"
)

// javaSchema is the table the Kinesis Agent's SQLiteFileCheckpointStore creates.
const javaSchema = "create table if not exists FILE_CHECKPOINTS(       flow text,       path text,       fileId text,       lastModifiedTime bigint,       size bigint,       offset bigint,       lastUpdated datetime,       primary key (flow, path))"

type javaRow struct {
	flow, path, fileID string
	lastModified       int64
	size, offset       int64
	lastUpdated        string
}

// writeJavaCheckpoints writes a SQLite 3 database holding the Kinesis Agent's checkpoint table
// with rows, for a test whose file identities (inodes) are only known at run time. It writes the
// smallest valid file (a 4096-byte page for the schema, one leaf page for the rows; the primary
// key's index, which the reader never uses, is left out, so sqlite3's integrity checks and
// queries that use that index call the file malformed). Its layout was checked once with the
// sqlite3 shell (select * on a file from this function returns its rows); the reader itself is
// tested on files the sqlite3 shell wrote (internal/sqliteread/testdata).
func writeJavaCheckpoints(t *testing.T, path string, rows []javaRow) {
	t.Helper()
	const pageSize = 4096
	db := make([]byte, 2*pageSize)
	copy(db, "SQLite format 3\x00")
	binary.BigEndian.PutUint16(db[16:], pageSize)
	db[18], db[19], db[20], db[21], db[22], db[23] = 1, 1, 0, 64, 32, 32
	binary.BigEndian.PutUint32(db[24:], 1) // change counter
	binary.BigEndian.PutUint32(db[28:], 2) // pages
	binary.BigEndian.PutUint32(db[40:], 1) // schema cookie
	binary.BigEndian.PutUint32(db[44:], 4) // schema format
	binary.BigEndian.PutUint32(db[56:], 1) // UTF-8
	binary.BigEndian.PutUint32(db[92:], 1) // version-valid-for
	binary.BigEndian.PutUint32(db[96:], 3045001)
	leaf(t, db[:pageSize], 100, [][]any{{"table", "FILE_CHECKPOINTS", "FILE_CHECKPOINTS", int64(2), javaSchema}})
	var recs [][]any
	for _, r := range rows {
		recs = append(recs, []any{r.flow, r.path, r.fileID, r.lastModified, r.size, r.offset, r.lastUpdated})
	}
	leaf(t, db[pageSize:], 0, recs)
	if err := os.WriteFile(path, db, 0o644); err != nil {
		t.Fatal(err)
	}
}

// leaf fills a table leaf page (its b-tree header at hdr) with records, rowids from 1.
func leaf(t *testing.T, page []byte, hdr int, recs [][]any) {
	page[hdr] = 0x0D
	binary.BigEndian.PutUint16(page[hdr+3:], uint16(len(recs)))
	end := len(page)
	for i, vals := range recs {
		var head, body []byte
		for _, v := range vals {
			switch v := v.(type) {
			case string:
				head = sqlVarint(head, uint64(13+2*len(v)))
				body = append(body, v...)
			case int64:
				head = sqlVarint(head, 6)
				body = binary.BigEndian.AppendUint64(body, uint64(v))
			}
		}
		rec := append(sqlVarint(nil, uint64(len(head)+1)), head...) // header length < 128: one byte
		rec = append(rec, body...)
		cell := sqlVarint(nil, uint64(len(rec)))
		cell = sqlVarint(cell, uint64(i+1))
		cell = append(cell, rec...)
		end -= len(cell)
		if len(rec) > len(page)-35 || end < hdr+8+2*len(recs) {
			t.Fatal("writeJavaCheckpoints: rows too long for one page")
		}
		copy(page[end:], cell)
		binary.BigEndian.PutUint16(page[hdr+8+2*i:], uint16(end))
	}
	binary.BigEndian.PutUint16(page[hdr+5:], uint16(end))
}

func sqlVarint(b []byte, v uint64) []byte {
	var tmp []byte
	for {
		tmp = append([]byte{byte(v & 0x7f)}, tmp...)
		v >>= 7
		if v == 0 {
			break
		}
	}
	for i := 0; i < len(tmp)-1; i++ {
		tmp[i] |= 0x80
	}
	return append(b, tmp...)
}

func javaFileID(t *testing.T, path string) (string, int64, int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("(dev=%x,ino=%d)", uint64(st.Dev), uint64(st.Ino)), fi.ModTime().UnixMilli(), fi.Size() //nolint:unconvert
}

// TestJavaTakeOver is the swap from the Kinesis Agent: its SQLite checkpoints say app.log was
// delivered up to line 30 (and app.log.1 in full). While no agent runs, 10 more lines are
// written, app.log is rotated by rename and a new app.log gets 5 lines. Shardwise's first start
// takes the checkpoints over: the stream receives lines 30-59 of the old file and the new
// file's 5 lines, each once, and nothing the Kinesis Agent had sent. The Kinesis Agent's file is
// not written to.
func TestJavaTakeOver(t *testing.T) {
	e := newEnv(t, 1)
	f := e.flow("app.log*")
	f.InitialPosition = agent.EndOfFile // the take-over must win over initialPosition
	older := lines("z", 0, 40)
	writeFile(t, e.path("app.log.1"), older)
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(e.path("app.log.1"), past, past); err != nil {
		t.Fatal(err)
	}
	writeFile(t, e.path("app.log"), lines("a", 0, 50))
	if err := os.Chtimes(e.path("app.log"), past.Add(time.Minute), past.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	id, mtime, size := javaFileID(t, e.path("app.log"))
	oldID, oldMtime, oldSize := javaFileID(t, e.path("app.log.1"))
	javaDB := filepath.Join(e.dir, "aws-kinesis-agent", "checkpoints")
	if err := os.MkdirAll(filepath.Dir(javaDB), 0o755); err != nil {
		t.Fatal(err)
	}
	flowID := "kinesis:" + e.stream + ":" + f.FilePattern
	writeJavaCheckpoints(t, javaDB, []javaRow{
		{flowID, e.path("app.log.1"), oldID, oldMtime, oldSize, oldSize, "2026-12-01 09:00:00.000"},
		{flowID, e.path("app.log"), id, mtime, size, int64(len(lines("a", 0, 30))), "2026-12-01 10:00:00.000"},
	})
	javaBefore, err := os.ReadFile(javaDB)
	if err != nil {
		t.Fatal(err)
	}
	// The swap: the Kinesis Agent is stopped; the application writes and rotates meanwhile.
	appendFile(t, e.path("app.log"), lines("a", 50, 60))
	if err := os.Rename(e.path("app.log.1"), e.path("app.log.2")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(e.path("app.log"), e.path("app.log.1")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, e.path("app.log"), lines("b", 0, 5))

	cfg := agent.Config{CheckpointFile: e.cp, ImportJavaCheckpoints: javaDB, Flows: []agent.Flow{f}}
	r := e.startConfig(cfg)
	e.waitRecords(35)
	r.stop(t)
	got := e.readData() // after the final flush: a late duplicate would show
	want := splitLines(lines("a", 30, 60) + lines("b", 0, 5))
	expectSameSet(t, got, want)

	// A second start does not import again (the checkpoint file exists) and sends nothing more.
	appendFile(t, e.path("app.log"), lines("b", 5, 7))
	r = e.startConfig(cfg)
	e.waitRecords(37)
	r.stop(t)
	got = e.readData()
	expectSameSet(t, got, append(want, splitLines(lines("b", 5, 7))...))
	after, err := os.ReadFile(javaDB)
	if err != nil || !bytes.Equal(after, javaBefore) {
		t.Errorf("the Kinesis Agent's checkpoint database changed (err %v)", err)
	}
}

// TestJavaTakeOverErrors: a configured Kinesis Agent database that cannot be read stops Run with
// a *CheckpointError (Op "import"); a checkpointFile that is a SQLite database is taken over and
// never written: Shardwise keeps DefaultCheckpointFile in the working directory.
func TestJavaTakeOverErrors(t *testing.T) {
	e := newEnv(t, 1)
	bad := e.path("not-sqlite")
	writeFile(t, bad, "plain text")
	a, err := agent.New(agent.Config{CheckpointFile: e.cp, ImportJavaCheckpoints: bad, Flows: []agent.Flow{e.flow("*.log")}}, e.kc)
	if err != nil {
		t.Fatal(err)
	}
	var ce *agent.CheckpointError
	if err := a.Run(t.Context()); !errors.As(err, &ce) || ce.Op != "import" || ce.Path != bad {
		t.Errorf("Run = %v, want a *CheckpointError with Op import", err)
	}

	t.Chdir(e.dir)
	writeFile(t, e.path("x.log"), lines("x", 0, 10))
	javaDB := e.path("checkpoints")
	id, mtime, size := javaFileID(t, e.path("x.log"))
	f := e.flow("x.log")
	writeJavaCheckpoints(t, javaDB, []javaRow{{"kinesis:" + e.stream + ":" + f.FilePattern, e.path("x.log"), id, mtime, size, int64(len(lines("x", 0, 4))), "2026-12-01 10:00:00.000"}})
	before, _ := os.ReadFile(javaDB)
	r := e.startConfig(agent.Config{CheckpointFile: javaDB, Flows: []agent.Flow{f}})
	e.waitRecords(6)
	r.stop(t)
	got := e.readData()
	expectSameSet(t, got, splitLines(lines("x", 4, 10)))
	if after, _ := os.ReadFile(javaDB); !bytes.Equal(before, after) {
		t.Error("the Kinesis Agent's database was written to")
	}
	if _, err := os.Stat(filepath.Join(e.dir, agent.DefaultCheckpointFile)); err != nil {
		t.Errorf("Shardwise's own checkpoint file: %v", err)
	}
}

// startConfig is env.start with a whole Config.
func (e *env) startConfig(cfg agent.Config) *running {
	e.t.Helper()
	a, err := agent.New(cfg, e.kc, fastOptions(debugOpts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{a: a, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	e.t.Cleanup(func() { r.stop(e.t) })
	return r
}

// expectSameSet is expectExactly without regard to order (files are read side by side).
func expectSameSet(t *testing.T, got, want []string) {
	t.Helper()
	expectExactly(t, slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want)))
}
