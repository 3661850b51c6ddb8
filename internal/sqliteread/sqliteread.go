// Package sqliteread reads the rows of one table of a SQLite 3 database file, in pure Go and
// without SQL: only what taking over another program's small state file needs (the Kinesis Agent
// keeps its checkpoints in one). It follows the documented file format
// (https://www.sqlite.org/fileformat2.html): the 100-byte header, table b-trees (interior and leaf
// pages), overflow pages, the record format and its varints. It never writes.
//
// Not supported (a typed error, never a wrong answer): text encodings other than UTF-8, a
// database whose write-ahead log still holds frames (open it once with sqlite3 to checkpoint the
// log), a hot rollback journal (an interrupted transaction), indexes, views and WITHOUT ROWID
// tables. Rows are read in rowid order.
package sqliteread

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// Magic is the first 16 bytes of every SQLite 3 database file.
const Magic = "SQLite format 3\x00"

// MaxFileSize bounds what Open reads (the file is read whole).
const MaxFileSize = 256 << 20

var (
	// ErrNotSQLite: the data does not start with Magic.
	ErrNotSQLite = errors.New("sqliteread: not a SQLite 3 database")
	// ErrCorrupt: the file breaks the format (a *FormatError wraps it).
	ErrCorrupt = errors.New("sqliteread: corrupt database")
	// ErrUnsupported: a valid feature this reader does not handle (encoding, WITHOUT ROWID).
	ErrUnsupported = errors.New("sqliteread: unsupported")
	// ErrPendingLog: a -wal file with frames or a hot -journal file sits beside the database,
	// so the main file alone may not hold the last committed state.
	ErrPendingLog = errors.New("sqliteread: the database has a pending write-ahead log or rollback journal")
	// ErrNoTable: the schema has no table of that name.
	ErrNoTable = errors.New("sqliteread: no such table")
)

// FormatError says where the file breaks the format. It wraps ErrCorrupt.
type FormatError struct {
	Page int // 1-based page number, 0 for the header
	Msg  string
}

func (e *FormatError) Error() string {
	if e.Page == 0 {
		return "sqliteread: corrupt database header: " + e.Msg
	}
	return fmt.Sprintf("sqliteread: corrupt database page %d: %s", e.Page, e.Msg)
}

func (e *FormatError) Unwrap() error { return ErrCorrupt }

func corrupt(page int, format string, args ...any) error {
	return &FormatError{Page: page, Msg: fmt.Sprintf(format, args...)}
}

// DB is a database file held in memory.
type DB struct {
	data     []byte
	pageSize int
	usable   int // page size minus the reserved bytes at the end of each page
	pages    int
}

// Row is one table row: its rowid and its values in column order. A value is nil (NULL), int64,
// float64, string (TEXT) or []byte (BLOB). A row written before an ALTER TABLE ADD COLUMN has
// fewer values than the table has columns; Table pads it with nil.
type Row struct {
	RowID  int64
	Values []any
}

// Open reads the database file at path. It returns an error wrapping ErrPendingLog when a
// non-empty path+"-wal" or path+"-journal" file exists beside it.
func Open(path string) (*DB, error) {
	for _, side := range []string{"-wal", "-journal"} {
		if fi, err := os.Stat(path + side); err == nil && fi.Size() > 0 {
			return nil, fmt.Errorf("%w: %s (open the database once with sqlite3, or start the program that owns it, so it is folded in)", ErrPendingLog, path+side)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrUnsupported, path, MaxFileSize)
	}
	return Parse(data)
}

// Parse checks the header of an in-memory database file. data is not copied.
func Parse(data []byte) (*DB, error) {
	if len(data) < len(Magic) || string(data[:len(Magic)]) != Magic {
		return nil, ErrNotSQLite
	}
	if len(data) < 100 {
		return nil, corrupt(0, "%d bytes, shorter than the header", len(data))
	}
	ps := int(binary.BigEndian.Uint16(data[16:18]))
	if ps == 1 {
		ps = 65536
	}
	if ps < 512 || ps&(ps-1) != 0 {
		return nil, corrupt(0, "page size %d", ps)
	}
	reserved := int(data[20])
	usable := ps - reserved
	if usable < 480 {
		return nil, corrupt(0, "usable page size %d", usable)
	}
	if enc := binary.BigEndian.Uint32(data[56:60]); enc != 0 && enc != 1 {
		return nil, fmt.Errorf("%w: text encoding %d (only UTF-8 is read)", ErrUnsupported, enc)
	}
	pages := len(data) / ps
	if pages < 1 {
		return nil, corrupt(0, "%d bytes, shorter than one page of %d", len(data), ps)
	}
	// The in-header page count is valid when the change counter matches "version-valid-for".
	if n := int(binary.BigEndian.Uint32(data[28:32])); n > 0 && binary.BigEndian.Uint32(data[24:28]) == binary.BigEndian.Uint32(data[92:96]) && n < pages {
		pages = n
	}
	return &DB{data: data, pageSize: ps, usable: usable, pages: pages}, nil
}

// IsSQLite reports whether the file at path starts with Magic.
func IsSQLite(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [len(Magic)]byte
	_, err = io.ReadFull(f, b[:])
	return err == nil && string(b[:]) == Magic
}

// page returns page n (1-based) and the offset of its b-tree header within it.
func (db *DB) page(n int) ([]byte, int, error) {
	if n < 1 || n > db.pages {
		return nil, 0, corrupt(n, "page number out of range (%d pages)", db.pages)
	}
	p := db.data[(n-1)*db.pageSize : n*db.pageSize]
	if n == 1 {
		return p, 100, nil
	}
	return p, 0, nil
}

// walk calls fn for every cell of the table b-tree rooted at root, in rowid order.
func (db *DB) walk(root int, fn func(rowid int64, payload []byte) error) error {
	seen := make(map[int]bool)
	var visit func(n, depth int) error
	visit = func(n, depth int) error {
		if depth > 64 || seen[n] {
			return corrupt(n, "b-tree loop")
		}
		seen[n] = true
		p, h, err := db.page(n)
		if err != nil {
			return err
		}
		if h+8 > len(p) {
			return corrupt(n, "short page")
		}
		kind := p[h]
		ncells := int(binary.BigEndian.Uint16(p[h+3 : h+5]))
		hdr := 8
		switch kind {
		case 0x0D: // table leaf
		case 0x05: // table interior
			hdr = 12
		case 0x02, 0x0A:
			return fmt.Errorf("%w: page %d is an index page (WITHOUT ROWID table?)", ErrUnsupported, n)
		default:
			return corrupt(n, "b-tree page type %#x", kind)
		}
		ptrs := h + hdr
		if ptrs+2*ncells > db.usable {
			return corrupt(n, "%d cells do not fit", ncells)
		}
		for i := range ncells {
			off := int(binary.BigEndian.Uint16(p[ptrs+2*i:]))
			if off < ptrs+2*ncells || off >= db.usable {
				return corrupt(n, "cell %d at offset %d", i, off)
			}
			cell := p[off:db.usable]
			if kind == 0x05 {
				if len(cell) < 5 {
					return corrupt(n, "short interior cell %d", i)
				}
				if err := visit(int(binary.BigEndian.Uint32(cell)), depth+1); err != nil {
					return err
				}
				continue
			}
			size, k := varint(cell)
			if k == 0 || size > uint64(db.pages*db.usable) { // no payload is larger than the file
				return corrupt(n, "cell %d payload size", i)
			}
			rowid, k2 := varint(cell[k:])
			if k2 == 0 {
				return corrupt(n, "cell %d rowid", i)
			}
			payload, err := db.payload(n, cell[k+k2:], int(size))
			if err != nil {
				return err
			}
			if err := fn(int64(rowid), payload); err != nil {
				return err
			}
		}
		if kind == 0x05 {
			return visit(int(binary.BigEndian.Uint32(p[h+8:h+12])), depth+1)
		}
		return nil
	}
	return visit(root, 0)
}

// payload assembles a leaf cell's payload of size bytes: the local part in rest, then the
// overflow chain.
func (db *DB) payload(pageNo int, rest []byte, size int) ([]byte, error) {
	u := db.usable
	maxLocal := u - 35
	local := size
	if size > maxLocal {
		minLocal := (u-12)*32/255 - 23
		local = minLocal + (size-minLocal)%(u-4)
		if local > maxLocal {
			local = minLocal
		}
	}
	if local > len(rest) || (local < size && local+4 > len(rest)) {
		return nil, corrupt(pageNo, "cell payload runs past the page")
	}
	if local == size {
		return rest[:size], nil
	}
	out := make([]byte, 0, size)
	out = append(out, rest[:local]...)
	next := int(binary.BigEndian.Uint32(rest[local:]))
	for hops := 0; len(out) < size; hops++ {
		if next == 0 || hops > db.pages {
			return nil, corrupt(pageNo, "overflow chain ends after %d of %d bytes", len(out), size)
		}
		p, _, err := db.page(next)
		if err != nil {
			return nil, err
		}
		n := min(size-len(out), u-4)
		out = append(out, p[4:4+n]...)
		next = int(binary.BigEndian.Uint32(p[:4]))
	}
	return out, nil
}

// varint decodes a SQLite varint (big-endian, 7 bits a byte, the ninth byte whole). It returns
// the value and its length, 0 if b is too short.
func varint(b []byte) (uint64, int) {
	var v uint64
	for i := range 9 {
		if i >= len(b) {
			return 0, 0
		}
		if i == 8 {
			return v<<8 | uint64(b[i]), 9
		}
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return v, 9
}

// record decodes a record (header of serial types, then the values).
func record(b []byte) ([]any, error) {
	hlen, k := varint(b)
	if k == 0 || hlen < uint64(k) || hlen > uint64(len(b)) {
		return nil, errors.New("record header length")
	}
	types := b[k:hlen]
	body := b[hlen:]
	var vals []any
	for len(types) > 0 {
		st, n := varint(types)
		if n == 0 {
			return nil, errors.New("record serial type")
		}
		types = types[n:]
		var size uint64
		switch {
		case st <= 4:
			size = st
		case st == 5:
			size = 6
		case st == 6 || st == 7:
			size = 8
		case st == 8 || st == 9:
			size = 0
		case st == 10 || st == 11:
			return nil, fmt.Errorf("reserved serial type %d", st)
		default:
			size = (st - 12) / 2
		}
		if size > uint64(len(body)) {
			return nil, errors.New("record value runs past the payload")
		}
		v := body[:size]
		body = body[size:]
		switch {
		case st == 0:
			vals = append(vals, nil)
		case st <= 6:
			var x int64
			if v[0]&0x80 != 0 {
				x = -1
			}
			for _, c := range v {
				x = x<<8 | int64(c)
			}
			vals = append(vals, x)
		case st == 7:
			vals = append(vals, math.Float64frombits(binary.BigEndian.Uint64(v)))
		case st == 8:
			vals = append(vals, int64(0))
		case st == 9:
			vals = append(vals, int64(1))
		case st%2 == 0:
			vals = append(vals, bytes.Clone(v))
		default:
			vals = append(vals, string(v))
		}
	}
	return vals, nil
}

// schemaEntry is a row of sqlite_schema (type, name, tbl_name, rootpage, sql).
type schemaEntry struct {
	kind, name string
	root       int
	sql        string
}

func (db *DB) schema() ([]schemaEntry, error) {
	var out []schemaEntry
	err := db.walk(1, func(_ int64, payload []byte) error {
		vals, err := record(payload)
		if err != nil {
			return corrupt(1, "schema record: %v", err)
		}
		if len(vals) < 5 {
			return corrupt(1, "schema record has %d columns", len(vals))
		}
		var e schemaEntry
		e.kind, _ = vals[0].(string)
		e.name, _ = vals[1].(string)
		if r, ok := vals[3].(int64); ok {
			e.root = int(r)
		}
		e.sql, _ = vals[4].(string)
		out = append(out, e)
		return nil
	})
	return out, err
}

// Table returns the table's column names (from its CREATE TABLE statement) and its rows. The
// name is matched without regard to case, as SQL does.
func (db *DB) Table(name string) ([]string, []Row, error) {
	entries, err := db.schema()
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		if e.kind != "table" || !strings.EqualFold(e.name, name) {
			continue
		}
		cols, rowidCol, err := columns(e.sql)
		if err != nil {
			return nil, nil, err
		}
		var rows []Row
		err = db.walk(e.root, func(rowid int64, payload []byte) error {
			vals, err := record(payload)
			if err != nil {
				return corrupt(e.root, "table %s row %d: %v", e.name, rowid, err)
			}
			for len(vals) < len(cols) {
				vals = append(vals, nil)
			}
			if rowidCol >= 0 && vals[rowidCol] == nil {
				vals[rowidCol] = rowid // an INTEGER PRIMARY KEY column is the rowid, stored as NULL
			}
			rows = append(rows, Row{RowID: rowid, Values: vals})
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		return cols, rows, nil
	}
	return nil, nil, fmt.Errorf("%w: %s", ErrNoTable, name)
}

// columns returns the column names of a CREATE TABLE statement and the index of an INTEGER
// PRIMARY KEY column (-1 if none).
func columns(sql string) ([]string, int, error) {
	open, end := strings.IndexByte(sql, '('), strings.LastIndexByte(sql, ')')
	if open < 0 || end < open {
		return nil, -1, fmt.Errorf("%w: table definition %q", ErrUnsupported, sql)
	}
	if strings.Contains(strings.ToUpper(sql[end:]), "WITHOUT") {
		return nil, -1, fmt.Errorf("%w: WITHOUT ROWID table", ErrUnsupported)
	}
	var cols []string
	rowidCol := -1
	for _, def := range splitTop(sql[open+1 : end]) {
		def = strings.TrimSpace(def)
		name, rest := ident(def)
		switch strings.ToUpper(name) {
		case "", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "CONSTRAINT":
			if !strings.ContainsAny(def[:min(len(def), 1)], "\"`[") {
				continue // a table constraint
			}
		}
		words := strings.Fields(strings.ToUpper(rest))
		if len(words) >= 3 && words[0] == "INTEGER" && words[1] == "PRIMARY" && words[2] == "KEY" &&
			!(len(words) > 3 && words[3] == "DESC") {
			rowidCol = len(cols)
		}
		cols = append(cols, name)
	}
	return cols, rowidCol, nil
}

// splitTop splits s at the commas outside parentheses and quotes.
func splitTop(s string) []string {
	var parts []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case c == '[':
			quote = ']'
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// ident returns the identifier at the start of s (unquoted) and what follows it.
func ident(s string) (string, string) {
	if s == "" {
		return "", ""
	}
	closeBy := map[byte]byte{'"': '"', '`': '`', '[': ']'}
	if c, ok := closeBy[s[0]]; ok {
		if i := strings.IndexByte(s[1:], c); i >= 0 {
			return s[1 : 1+i], s[2+i:]
		}
		return s[1:], ""
	}
	i := strings.IndexFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '(' })
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}
