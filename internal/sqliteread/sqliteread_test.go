package sqliteread

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var javaColumns = []string{"flow", "path", "fileId", "lastModifiedTime", "size", "offset", "lastUpdated"}

func openTable(t *testing.T, file, table string) ([]string, []Row) {
	t.Helper()
	db, err := Open(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	cols, rows, err := db.Table(table)
	if err != nil {
		t.Fatal(err)
	}
	return cols, rows
}

func TestJavaCheckpointTable(t *testing.T) {
	cols, rows := openTable(t, "java_checkpoints.db", "file_checkpoints") // case-insensitive name
	if strings.Join(cols, ",") != strings.Join(javaColumns, ",") {
		t.Fatalf("columns %q", cols)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4", len(rows))
	}
	want := []any{"kinesis:app-stream:/var/log/app/app.log*", "/var/log/app/app.log", "(dev=803,ino=1310730)",
		int64(1764806400123), int64(5120), int64(4096), "2026-12-01 10:00:00.125"}
	for i, v := range want {
		if rows[0].Values[i] != v {
			t.Errorf("row 1 column %s = %#v, want %#v", cols[i], rows[0].Values[i], v)
		}
	}
	if rows[1].Values[4] != int64(10485760) || rows[2].Values[6] != "2026-12-01 10:00:01.000" || rows[2].Values[4] != int64(0) {
		t.Errorf("rows 2-3: %v %v", rows[1].Values, rows[2].Values)
	}
	long := rows[3]
	path := long.Values[1].(string)
	wantPath := "/data/deep/" + strings.Repeat("ab", 2600) + ".log"
	if path != wantPath {
		t.Errorf("overflowing path: %d bytes, want %d (prefix %q)", len(path), len(wantPath), path[:min(40, len(path))])
	}
	if long.Values[4] != int64(9007199254740993) || long.Values[5] != int64(-1) {
		t.Errorf("size %v offset %v", long.Values[4], long.Values[5])
	}
}

func TestManyRows(t *testing.T) {
	_, rows := openTable(t, "many_rows.db", "FILE_CHECKPOINTS")
	if len(rows) != 2000 {
		t.Fatalf("%d rows, want 2000", len(rows))
	}
	for i, r := range rows {
		n := int64(i + 1)
		if r.RowID != n || r.Values[1] != "/var/log/f"+itoa(n) || r.Values[4] != n*100 || r.Values[5] != n*50 {
			t.Fatalf("row %d: %d %v", i, r.RowID, r.Values)
		}
	}
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestAlteredTableAndRowidAlias(t *testing.T) {
	cols, rows := openTable(t, "altered.db", "T")
	if strings.Join(cols, ",") != "a,b,c" || len(rows) != 2 {
		t.Fatalf("%q %v", cols, rows)
	}
	// Row 1 predates the added column (nil, the default is SQL's business); b is the rowid.
	if rows[0].Values[0] != "before" || rows[0].Values[1] != int64(1) || rows[0].Values[2] != nil {
		t.Errorf("row 1 %#v", rows[0].Values)
	}
	if rows[1].Values[0] != "after" || rows[1].Values[1] != int64(7) || rows[1].Values[2] != "y" {
		t.Errorf("row 2 %#v", rows[1].Values)
	}
}

func TestWAL(t *testing.T) {
	_, rows := openTable(t, "wal.db", "FILE_CHECKPOINTS")
	if len(rows) != 1 || rows[0].Values[0] != "kinesis:s:/l/a*" {
		t.Fatalf("%v", rows)
	}
	// A log that still holds frames: the main file may be stale, so Open refuses.
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/wal.db")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "checkpoints")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p); err != nil {
		t.Fatalf("no log yet: %v", err)
	}
	for _, side := range []string{"-wal", "-journal"} {
		if err := os.WriteFile(p+side, []byte("frames"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(p); !errors.Is(err, ErrPendingLog) {
			t.Errorf("with %s: %v, want ErrPendingLog", side, err)
		}
		os.Remove(p + side)
	}
}

func TestErrors(t *testing.T) {
	if _, err := Parse([]byte("not a database at all, just text")); !errors.Is(err, ErrNotSQLite) {
		t.Errorf("text: %v", err)
	}
	data, err := os.ReadFile("testdata/java_checkpoints.db")
	if err != nil {
		t.Fatal(err)
	}
	db, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Table("nope"); !errors.Is(err, ErrNoTable) {
		t.Errorf("missing table: %v", err)
	}
	if !IsSQLite("testdata/java_checkpoints.db") || IsSQLite("testdata/README.md") {
		t.Error("IsSQLite")
	}
	// Truncated to two pages: the table's pages are gone.
	short, _ := Parse(data[:2*4096])
	var fe *FormatError
	if _, _, err := short.Table("FILE_CHECKPOINTS"); !errors.As(err, &fe) || !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated: %v", err)
	}
	// UTF-16 databases are refused, not misread.
	utf16 := append([]byte(nil), data...)
	utf16[59] = 2
	if _, err := Parse(utf16); !errors.Is(err, ErrUnsupported) {
		t.Errorf("utf-16: %v", err)
	}
}

func TestVarint(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		v    uint64
		size int
	}{
		{[]byte{0x00}, 0, 1},
		{[]byte{0x7f}, 127, 1},
		{[]byte{0x81, 0x00}, 128, 2},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ^uint64(0), 9},
		{[]byte{0x81}, 0, 0},
	} {
		if v, n := varint(c.in); v != c.v || n != c.size {
			t.Errorf("varint(% x) = %d, %d; want %d, %d", c.in, v, n, c.v, c.size)
		}
	}
}

// FuzzTable feeds mutated copies of the fixtures: the reader may refuse them, never panic or loop.
func FuzzTable(f *testing.F) {
	for _, name := range []string{"java_checkpoints.db", "altered.db", "wal.db"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, 0, byte(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, at int, b byte) {
		if len(data) > 0 {
			if at < 0 {
				at = -at
			}
			data = append([]byte(nil), data...)
			data[at%len(data)] = b
		}
		db, err := Parse(data)
		if err != nil {
			return
		}
		db.Table("FILE_CHECKPOINTS")
		db.Table("T")
	})
}

// BenchmarkManyRows reads the 2,000-row fixture (77 pages) from memory.
func BenchmarkManyRows(b *testing.B) {
	data, err := os.ReadFile("testdata/many_rows.db")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		db, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		if _, rows, err := db.Table("FILE_CHECKPOINTS"); err != nil || len(rows) != 2000 {
			b.Fatal(err, len(rows))
		}
	}
}
