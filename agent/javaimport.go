package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/shardwise/shardwise/internal/sqliteread"
)

// DefaultJavaCheckpointFile is where the AWS Kinesis Agent keeps its checkpoints (a SQLite
// database). At the first start (no Shardwise checkpoint file yet), Run takes them over from
// there when the file exists and Config.ImportJavaCheckpoints is empty.
const DefaultJavaCheckpointFile = "/var/run/aws-kinesis-agent/checkpoints"

// javaCheckpointTable is the Kinesis Agent's table (SQLiteFileCheckpointStore): one row per
// (flow, path) with the file's identity (fileId: Java's UnixFileKey, "(dev=<hex>,ino=<decimal>)"),
// its modification time (ms) and size when checkpointed, the delivered offset and when the row
// was last written.
const javaCheckpointTable = "FILE_CHECKPOINTS"

// javaCheckpoint is one row of the Kinesis Agent's checkpoint table.
type javaCheckpoint struct {
	Flow, Path, FileID string
	LastModified       int64 // ms since the epoch
	Size, Offset       int64
	LastUpdated        string // "YYYY-MM-DD HH:MM:SS.SSS" (UTC), sorts as text
}

// readJavaCheckpoints reads the Kinesis Agent's checkpoint table from its SQLite file.
func readJavaCheckpoints(path string) ([]javaCheckpoint, error) {
	db, err := sqliteread.Open(path)
	if err != nil {
		return nil, err
	}
	cols, rows, err := db.Table(javaCheckpointTable)
	if err != nil {
		return nil, err
	}
	at := map[string]int{}
	for i, c := range cols {
		at[strings.ToLower(c)] = i
	}
	for _, c := range []string{"flow", "path", "fileid", "lastmodifiedtime", "size", "offset", "lastupdated"} {
		if _, ok := at[c]; !ok {
			return nil, fmt.Errorf("table %s has no column %s (columns %v)", javaCheckpointTable, c, cols)
		}
	}
	str := func(r sqliteread.Row, c string) string {
		switch v := r.Values[at[c]].(type) {
		case string:
			return v
		case []byte:
			return string(v)
		}
		return ""
	}
	num := func(r sqliteread.Row, c string) int64 {
		switch v := r.Values[at[c]].(type) {
		case int64:
			return v
		case float64:
			return int64(v)
		case string:
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
		return 0
	}
	out := make([]javaCheckpoint, 0, len(rows))
	for _, r := range rows {
		out = append(out, javaCheckpoint{
			Flow: str(r, "flow"), Path: str(r, "path"), FileID: str(r, "fileid"),
			LastModified: num(r, "lastmodifiedtime"), Size: num(r, "size"), Offset: num(r, "offset"),
			LastUpdated: str(r, "lastupdated"),
		})
	}
	return out, nil
}

// parseJavaFileID reads Java's UnixFileKey.toString(): "(dev=803,ino=1310730)", the device in hex
// and the inode in decimal.
func parseJavaFileID(s string) (fileID, bool) {
	s, ok := strings.CutPrefix(s, "(dev=")
	if !ok {
		return fileID{}, false
	}
	s, ok = strings.CutSuffix(s, ")")
	if !ok {
		return fileID{}, false
	}
	dev, ino, ok := strings.Cut(s, ",ino=")
	if !ok {
		return fileID{}, false
	}
	d, err1 := strconv.ParseUint(dev, 16, 64)
	i, err2 := strconv.ParseUint(ino, 10, 64)
	if err1 != nil || err2 != nil {
		return fileID{}, false
	}
	return fileID{Dev: d, Ino: i}, true
}

// javaFlowID is the Kinesis Agent's id of a flow: "kinesis:" + stream + ":" + the source (the
// filePattern's directory, "/", its file name part, as Java's Path prints them); "fh:" +
// delivery stream + ":" + the source for a Firehose flow.
func javaFlowID(fc Flow) string {
	source := filepath.Join(filepath.Dir(fc.FilePattern), filepath.Base(fc.FilePattern))
	if fc.KinesisStream == "" && fc.DeliveryStream != "" {
		return "fh:" + fc.DeliveryStream + ":" + source
	}
	return "kinesis:" + fc.KinesisStream + ":" + source
}

// javaImport is what the take-over found for one flow (logged by Run).
type javaImport struct {
	Flow             Flow
	Row              javaCheckpoint // the flow's newest row, the one the Kinesis Agent resumes from
	Found            string         // the current path of the checkpointed file, "" if it is gone
	Resumed, Skipped int            // files resumed at an offset (or read from 0), files taken as delivered
}

// importJavaCheckpoints maps the Kinesis Agent's checkpoint rows onto the files the flows match
// now, as the Kinesis Agent would resume: each flow continues from its newest row. The file of
// that row (found by device and inode wherever it was renamed; by inode and path when the device
// number changed, as it may across a reboot) resumes at the row's offset, or from 0 when it is now
// shorter than that offset (truncated). The other files the flow matches were delivered when
// they are not newer than that row's file was when checkpointed (the Kinesis Agent moves to a
// newer file only after finishing the older one), and are read from 0 when they are newer (the
// Kinesis Agent's pending files). A flow with no row is left alone (its initialPosition applies).
// The returned state has an entry for every file matched and a started marker for every flow
// imported.
func importJavaCheckpoints(rows []javaCheckpoint, flows []Flow, now time.Time) (checkpointFile, []javaImport) {
	var st checkpointFile
	var report []javaImport
	for _, fc := range flows {
		id := javaFlowID(fc)
		var row *javaCheckpoint
		for i := range rows {
			if rows[i].Flow == id && (row == nil || rows[i].LastUpdated > row.LastUpdated) {
				row = &rows[i]
			}
		}
		if row == nil {
			continue
		}
		rep := javaImport{Flow: fc, Row: *row}
		want, idOK := parseJavaFileID(row.FileID)
		pattern, _ := compileGlob(fc.FilePattern) // checked by Validate
		type found struct {
			path string
			fi   os.FileInfo
		}
		var files []found
		match := -1
		for _, p := range pattern.files() {
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			got := idOf(fi)
			abs, _ := filepath.Abs(p) // the Kinesis Agent records absolute paths
			if idOK && got.Ino == want.Ino && (got.Dev == want.Dev || (match < 0 && abs == row.Path)) {
				match = len(files)
			}
			files = append(files, found{p, fi})
		}
		for i, f := range files {
			size := f.fi.Size()
			offset := int64(0)
			switch {
			case i == match:
				rep.Found = f.path
				if row.Offset >= 0 && row.Offset <= size {
					offset = row.Offset
				}
				rep.Resumed++
			case f.fi.ModTime().UnixMilli() <= row.LastModified:
				offset = size
				rep.Skipped++
			default:
				rep.Resumed++
			}
			c := fileCheckpoint{
				FilePattern: fc.FilePattern, Stream: fc.streamKey(), Path: f.path,
				Offset: offset, LastSeen: now,
			}
			id := idOf(f.fi)
			c.Dev, c.Inode = id.Dev, id.Ino
			if fh, err := os.Open(f.path); err == nil {
				if fp, err := readFingerprint(fh, size); err == nil {
					c.FingerprintLen, c.Fingerprint = fp.N, fp.Sum
				}
				fh.Close()
			}
			st.Files = append(st.Files, c)
		}
		st.Flows = append(st.Flows, flowMarker{FilePattern: fc.FilePattern, Stream: fc.streamKey(), Started: now})
		report = append(report, rep)
	}
	return st, report
}

// takeOver imports the Kinesis Agent's checkpoints into st at the first start: when the
// checkpoint file does not exist yet and a Kinesis Agent checkpoint database is configured
// (ImportJavaCheckpoints) or found at DefaultJavaCheckpointFile. The imported state is written
// at once, so the take-over happens once. A configured database that cannot be read stops Run
// with a *CheckpointError (Op "import"); it is never written to.
func (a *Agent) takeOver(st *checkpointFile) error {
	src := a.cfg.ImportJavaCheckpoints
	if src == "off" {
		return nil
	}
	if _, err := os.Stat(a.cfg.CheckpointFile); !errors.Is(err, fs.ErrNotExist) {
		return nil // not the first start (or unreadable: loadCheckpointFile said so already)
	}
	if src == "" {
		if _, err := os.Stat(DefaultJavaCheckpointFile); err != nil {
			return nil //nolint:nilerr // no Kinesis Agent database at the default path: nothing to take over
		}
		src = DefaultJavaCheckpointFile
	}
	rows, err := readJavaCheckpoints(src)
	if err != nil {
		return &CheckpointError{Path: src, Op: "import", Err: fmt.Errorf("taking over the Kinesis Agent's checkpoints: %w", err)}
	}
	imported, report := importJavaCheckpoints(rows, a.cfg.Flows, time.Now().UTC())
	for _, r := range report {
		a.log.Info("took over the Kinesis Agent's checkpoint", "file_pattern", r.Flow.FilePattern, "stream", r.Flow.streamKey(),
			"java_path", r.Row.Path, "java_offset", r.Row.Offset, "java_updated", r.Row.LastUpdated,
			"found_at", r.Found, "files_resumed", r.Resumed, "files_delivered", r.Skipped)
		if r.Found == "" {
			a.log.Warn("the file of the Kinesis Agent's last checkpoint is gone: files newer than it are read from their start",
				"file_pattern", r.Flow.FilePattern, "java_path", r.Row.Path, "java_file_id", r.Row.FileID)
		}
	}
	a.log.Info("Kinesis Agent checkpoints read", "java_checkpoint_file", src, "rows", len(rows), "flows_taken_over", len(report))
	if len(report) == 0 {
		return nil
	}
	*st = imported
	return writeCheckpointFile(a.cfg.CheckpointFile, imported)
}
