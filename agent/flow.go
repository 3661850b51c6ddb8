package agent

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shardwise/shardwise/internal/backoff"
	"github.com/shardwise/shardwise/kpl"
)

// partitionKeyLen bounds the length of every partition key the agent makes (DETERMINISTIC: 32
// hex digits; RANDOM: at most 22 characters), counted in the record size limit.
const partitionKeyLen = 32

// readChunk is the size of each read; readPerPoll caps what one file gets per poll, so a large
// backlog in one file does not starve the others.
const (
	readChunk   = 64 << 10
	readPerPoll = 8 << 20
)

// A flow tails the files of one agent.json flow and sends their records through one producer.
// Its state is owned by its goroutine (run); only snap is shared, under mu.
type flow struct {
	a          *Agent
	cfg        Flow
	log        *slog.Logger
	prod       sender // a kpl.Producer (kinesisStream) or a firehoseSender (deliveryStream)
	procs      []processor
	start      *regexp.Regexp
	footer     *regexp.Regexp // fileFooterPattern; nil: none
	retry      backoff.Policy // between re-sends of records the producer gave up on
	term       []byte
	poll       time.Duration
	files      map[fileID]*tracked
	saved      []fileCheckpoint     // this flow's checkpoint entries not matched to a file yet
	orphans    []fileCheckpoint     // entries whose inode now holds other content (see claim)
	firstRun   bool                 // the flow never started before (no marker): initialPosition applies
	started    time.Time            // when the flow first started (its marker); zero until the first scan
	ttl        time.Duration        // how long entries of files not found are kept (checkpointTimeToLiveDays)
	scanned    bool                 // the first scan is done
	scans      int                  // scans so far
	startedAt  time.Time            // the first scan's time
	pending    int                  // entries queued in all files
	seq        int                  // files found so far
	buf        []byte               // read buffer (the splitter copies what it keeps)
	openFailed map[string]bool      // paths whose open failed, logged once
	pattern    glob                 // filePattern
	exclude    glob                 // excludePattern (no patterns: none)
	skipped    map[fileID]bool      // compressed content (magic bytes): never tailed
	deferred   map[fileID]time.Time // possible copies still being written, since
	noMatch    time.Time            // since when the pattern matches no file to tail; zero: it does
	warnedNone bool                 // the Warn about noMatch was logged
	listing    listCache            // the last listing of the pattern (see list)
	// hot are the files looked at at every poll: the ones not quiet (see quiet), which include
	// every file with records on their way. In a watched flow the others wait for a notification
	// or the safety poll; a polling flow looks at them every idleStatEvery (see idle).
	hot        map[*tracked]struct{}
	watch      *watchHub                  // shared by the Agent's flows
	watched    bool                       // every directory of the pattern is watched (see safetyPollEvery)
	nextFull   time.Time                  // a watched flow's next safety poll
	nextTry    time.Time                  // a polling flow's next try to watch its directories
	watchNote  string                     // why the directories are not watched, as last logged
	rescan     bool                       // the last scan left work for the next poll (a file gone, one not opened yet)
	goneFiles  int                        // tracked files gone from the pattern (see forgetFinished)
	byPath     map[string][]*tracked      // tracked files by path, for notifications; nil: to be rebuilt
	changed    bool                       // something may have moved since the last publish
	order      []*tracked                 // the files in discovery order, for publish; nil: to be rebuilt
	snapAt     map[*tracked]int           // each file's entry in snap (see publish)
	touched    map[*tracked]struct{}      // files looked at since the last publish
	relayout   bool                       // snap's entries are to be made again at the next publish
	savedByID  map[fileID][]int           // indexes of saved by identity, during a scan (see claim)
	savedDrop  map[int]bool               // entries of saved claimed or orphaned during a scan
	sources    map[fingerprint][]*tracked // possible copy sources by fingerprint, during a scan (see copySource)
	sourceLens map[int]bool               // the fingerprint lengths in sources
	m          *flowMetrics               // the flow's figures for Stats (metrics.go)
	// The end of a backlog (see caughtUp): what was read since the files were last all read to
	// their end, the thresholds that make it a backlog, and the send-now in progress.
	burstRecs, burstBytes int
	fullRecs, fullBytes   int
	entrySeq              uint64 // entries queued so far (entry.seq)
	flush                 *flushJob

	mu     sync.Mutex
	snap   []fileCheckpoint
	marker flowMarker
}

// tracked is a file being tailed. The handle stays open, so a renamed or deleted file is read to
// its end.
type tracked struct {
	id         fileID
	seq        int // discovery order
	path       string
	f          *os.File // nil while closed (see closable): opened again by path when it changes
	readPos    int64    // next byte to read
	committed  int64    // every record before this offset is delivered (or deliberately skipped)
	gen        int      // incremented when the file is truncated: older entries no longer move committed
	split      *splitter
	fp         fingerprint
	queue      []*entry // records read, in file order, not yet committed
	rotated    bool     // renamed or gone from the glob: it will not be written any more
	gone       bool     // no longer matched by the glob
	goneScans  int      // consecutive scans that did not find it
	size       int64
	modTime    time.Time
	lastChange time.Time
	// fpSize and fpMod are the size and modification time at which fp was last checked against
	// the file: the first bytes are read again only when one of them changed, when fpRacy says
	// the check was made so soon after a write that a rewrite within the same clock tick would not
	// show in them (see racyWindow), or when checkFp says a notification named the file or it
	// was opened again.
	fpSize   int64
	fpMod    time.Time
	fpRacy   bool
	checkFp  bool
	nextStat time.Time // an idle file is looked at again from then (see idleStatAfter)
	seen     time.Time // when last found by a scan (refreshed every seenRefresh): its entry's LastSeen
	retryAt  time.Time // when the failed entries are sent again; zero: none waiting
	retries  int       // consecutive retry rounds, for the backoff
	window   []byte    // the last bytes read, just before readPos (copies are checked against it)
	// shadowOf is the tracked file this one is a copy of (copytruncate or cp made it while the
	// original still holds the same data): it is not read, nor checkpointed, until the original is
	// truncated (then it takes over the original's old content, see adopt) or finished.
	shadowOf *tracked
	linkSize int64 // the copy's size when it was last found to hold the original's bytes
	// prev is the content the file held before it was truncated, kept a while so that a copy found
	// after the truncation (copytruncate between two polls) takes it over.
	prev *prevContent
}

// prevContent is the reading state of a file's content before it was truncated.
type prevContent struct {
	fp                 fingerprint
	window             []byte
	gen                int
	readPos, committed int64
	split              *splitter
	retryAt            time.Time
	retries            int
	until              time.Time // forgotten after this
}

// racyWindow: a check of a file's first bytes made less than this after its modification time
// may have been made in the same clock tick as a rewrite (copytruncate, then as many bytes
// written) that leaves size and modification time as they were: file systems stamp times with
// the kernel's coarse clock (1-10 ms), some to the second (ext3, FAT: two). Such a check is made
// again at the next look whatever size and modification time say.
const racyWindow = 3 * time.Second

func racy(mod, now time.Time) bool { return now.Sub(mod) < racyWindow }

// windowLen is how many bytes before the read offset a copy must hold identically (besides the
// fingerprint of the first bytes) to be taken for a copy.
const windowLen = 1024

// copyLinkWindow is how long a truncated file's old content waits for its copy to appear.
const copyLinkWindow = time.Minute

// entry is a record on its way: done entries (delivered, filtered, skipped or failed for good)
// move the checkpoint once every earlier entry of the file is done.
type entry struct {
	seq    uint64 // its place among the flow's entries (see flushJob)
	gen    int
	end    int64
	rec    kpl.Record
	fut    future // nil once the outcome is handled
	done   bool
	failed bool // to be sent again at the file's retryAt
}

func newFlow(a *Agent, cfg Flow, procs []processor, saved []fileCheckpoint, started time.Time) *flow {
	f := &flow{
		a:          a,
		cfg:        cfg,
		log:        a.log.With("file_pattern", cfg.FilePattern, "stream", cfg.streamKey()),
		procs:      procs,
		term:       []byte("\n"),
		poll:       cfg.MinTimeBetweenFilePolls,
		files:      map[fileID]*tracked{},
		openFailed: map[string]bool{},
		skipped:    map[fileID]bool{},
		deferred:   map[fileID]time.Time{},
		hot:        map[*tracked]struct{}{},
		saved:      saved,
		firstRun:   started.IsZero(),
		started:    started,
		ttl:        cmp.Or(a.cfg.CheckpointTTL, DefaultCheckpointTTL),
		snap:       slices.Clone(saved),
	}
	if !started.IsZero() {
		f.marker = flowMarker{FilePattern: cfg.FilePattern, Stream: cfg.streamKey(), Started: started}
	}
	f.pattern, _ = compileGlob(cfg.FilePattern) // checked by Validate
	f.exclude, _ = compileGlob(cfg.ExcludePattern)
	if cfg.ExcludePattern == "" {
		f.exclude = glob{}
	}
	f.listing = newListCache(f.pattern)
	if cfg.MultiLineStartPattern != "" {
		f.start = regexp.MustCompile(`^(?:` + cfg.MultiLineStartPattern + `)`) // checked by Validate
	}
	if cfg.FileFooterPattern != "" {
		f.footer, _ = compileFooter(cfg.FileFooterPattern) // checked by Validate
	}
	f.retry = cfg.retryPolicy(a.opts.retry)
	f.fullRecs = cmp.Or(cfg.MaxBufferSizeRecords, maxBufferRecordsLimit)
	f.fullBytes = cmp.Or(cfg.MaxBufferSizeBytes, kinesisMaxCallBytes)
	if cfg.DeliveryStream != "" {
		f.fullRecs = min(f.fullRecs, firehoseMaxBatchRecords)
		f.fullBytes = min(f.fullBytes, firehoseMaxBatchBytes)
	}
	if cfg.TruncatedRecordTerminator != nil {
		f.term = []byte(*cfg.TruncatedRecordTerminator)
	}
	if a.opts.pollInterval > 0 {
		f.poll = a.opts.pollInterval
	}
	if f.poll <= 0 {
		f.poll = DefaultMinTimeBetweenPolls
	}
	// The flows of an Agent share one watch hub; they are made one after the other before any
	// runs (see Agent.Run).
	for _, o := range a.flows {
		f.watch = o.watch
	}
	if f.watch == nil {
		f.watch = &watchHub{off: a.opts.pollOnly}
	}
	return f
}

// run tails until ctx ends, then flushes with putCtx (which the Agent cancels when the shutdown
// timeout passes), closes the producer and publishes the final offsets.
func (f *flow) run(ctx, putCtx context.Context) {
	f.watch.join(f)
	defer f.watch.leave(f)
	timer := time.NewTimer(0)
	defer timer.Stop()
	var published time.Time
	for {
		select {
		case <-ctx.Done():
			f.shutdown(putCtx)
			return
		case <-timer.C:
		case <-f.flushed():
			// Everything handed to the producer is delivered: settle it now rather than at the
			// next poll, so that the end of a backlog is checkpointed (and counted) at once.
			timer.Stop()
		}
		now := time.Now()
		f.step(ctx, putCtx, now)
		// The checkpoint writer reads the offsets every CheckpointInterval: publishing them
		// twice as often is enough (shutdown publishes the final ones). A poll that looked at
		// no file and listed nothing changed nothing; the safety poll publishes anyway.
		if f.changed && now.Sub(published) >= f.a.opts.checkpointInterval/2 || now.Sub(published) >= safetyPollEvery {
			f.publish()
			published, f.changed = now, false
		}
		timer.Reset(f.poll)
	}
}

func (f *flow) shutdown(putCtx context.Context) {
	f.stopFlush()
	if err := f.prod.Flush(putCtx); err != nil {
		f.log.Warn("flush at shutdown incomplete", "err", err)
	}
wait:
	for _, t := range f.files {
		for _, e := range t.queue {
			if e.fut == nil {
				continue
			}
			select {
			case <-e.fut.Done():
			case <-putCtx.Done():
				break wait
			}
		}
	}
	f.settle(putCtx, time.Now(), false)
	f.prod.Close()
	f.settle(putCtx, time.Now(), false)
	f.forgetFinished(time.Now())
	f.publish()
	for _, t := range f.files {
		t.close()
	}
	f.log.Info("flow stopped", "pending_records", f.pending)
}

// step is one poll: find files, read what is new, hand records to the producer, settle outcomes.
// A polling flow lists its pattern (see list) and looks at every file not idle; a watched flow
// lists it only when a notification says a matching name changed, and looks only at its hot
// files and the ones a notification named, besides the safety poll's full round.
func (f *flow) step(ctx, putCtx context.Context, now time.Time) {
	ch := f.notifications(now)
	full := !f.watched || ch.all || !now.Before(f.nextFull)
	if f.watched && full {
		f.nextFull = now.Add(safetyPollEvery)
	}
	// The files named by a notification are looked at (made hot), by the paths they had before
	// this poll's listing and by the ones they have after it: a file written and then renamed
	// between two polls was written under its old name.
	f.markWritten(ch.written)
	for from, to := range ch.moved {
		// A closed file renamed within the watched directories is opened again under its new
		// name at once, whether or not the pattern matches it: if it was written just before, it
		// is read to its end like any tracked file renamed away.
		for _, t := range f.trackedAt(from) {
			if t.f == nil {
				f.reopen(t, to)
			}
			f.hot[t] = struct{}{}
		}
	}
	scanned := false
	switch {
	case !f.watched:
		f.scan(now, listPoll)
		scanned = true
	case full || ch.relist:
		f.scan(now, listRefresh)
		scanned = true
	case f.rescan:
		f.scan(now, listReuse)
		scanned = true
	}
	var look []*tracked
	var justListed map[fileID]*listed
	switch {
	case !f.watched:
		for _, t := range f.files {
			if !f.idle(t, now) { // looked at every idleStatEvery only
				look = append(look, t)
			}
		}
	case full:
		for _, t := range f.files {
			look = append(look, t)
		}
		if f.listing.at.Equal(now) {
			// Listed at this poll: closed files are looked at through the listing's stat.
			justListed = make(map[fileID]*listed, len(f.listing.files))
			for i := range f.listing.files {
				justListed[f.listing.files[i].id] = &f.listing.files[i]
			}
		}
	default:
		if scanned {
			f.markWritten(ch.written)
		}
		for t := range f.hot {
			look = append(look, t)
		}
	}
	list := look[:0]
	for _, t := range look {
		if f.stat(t, now, justListed[t.id]) {
			f.hot[t] = struct{}{}
			list = append(list, t)
		}
	}
	// Rotated files first, then oldest first: a rotated file is finished before the file that
	// replaced it, and a backlog of files is read in the order it was written. Modification
	// times are coarse (often equal for files written within milliseconds), so the order in
	// which files were found breaks ties.
	slices.SortFunc(list, func(x, y *tracked) int {
		if x.rotated != y.rotated {
			if x.rotated {
				return -1
			}
			return 1
		}
		return cmp.Or(x.modTime.Compare(y.modTime), cmp.Compare(x.seq, y.seq))
	})
	for _, t := range list {
		if ctx.Err() != nil {
			break
		}
		if t.shadowOf != nil && t.size != t.linkSize {
			f.checkCopy(t, now)
		}
		if t.shadowOf == nil {
			f.tail(ctx, putCtx, t, now)
		}
	}
	f.settle(putCtx, now, true)
	f.caughtUp(putCtx, ctx.Err() != nil)
	f.forgetFinished(now)
	if len(list) > 0 || scanned {
		f.changed = true
	}
	if scanned || f.order == nil {
		f.relayout = true
	}
	if f.touched == nil {
		f.touched = map[*tracked]struct{}{}
	}
	for t := range f.hot {
		f.touched[t] = struct{}{}
	}
	var sources map[*tracked]bool // originals of copies: kept open (copies are never quiet: all hot)
	for t := range f.hot {
		if t.shadowOf != nil {
			if sources == nil {
				sources = map[*tracked]bool{}
			}
			sources[t.shadowOf] = true
		}
	}
	for t := range f.hot {
		if !f.quiet(t, now) {
			continue
		}
		delete(f.hot, t)
		if !sources[t] && f.closable(t, now) {
			t.close()
			f.log.Debug("idle file closed (opened again when it changes)", "path", t.path)
		}
	}
	f.m.pollDone()
}

// notifications returns what the pattern's watched directories reported since the last poll,
// and sets f.watched: whether every one of them is watched.
func (f *flow) notifications(now time.Time) changeSet {
	if !f.listing.cacheable {
		return changeSet{} // wildcards in directories: polled
	}
	try := !f.watched && !now.Before(f.nextTry)
	verify := f.watched && !now.Before(f.nextFull)
	ch, watched, err := f.watch.take(f, f.listing.dirs, try, verify)
	switch {
	case watched && !f.watched:
		f.nextFull = now // listed and looked at in full once the watches are in place
		f.watchNote = ""
		f.log.Info("watching the pattern's directories for changes", "safety_poll", safetyPollEvery.String())
	case !watched && f.watched:
		f.log.Info("a directory of the pattern is no longer watched: polling", "err", err)
	case !watched && err != nil && err.Error() != f.watchNote:
		f.watchNote = err.Error()
		f.log.Info("the pattern's directories are not watched: polling", "reason", f.watchNote)
	}
	if try && !watched {
		f.nextTry = now.Add(watchRetryEvery)
	}
	f.watched = watched
	return ch
}

// markWritten makes hot the tracked files at the paths a notification said were written; their
// first bytes are checked at this look (size and modification time may hide a rewrite).
func (f *flow) markWritten(paths map[string]bool) {
	for p := range paths {
		for _, t := range f.trackedAt(p) {
			t.checkFp = true
			f.hot[t] = struct{}{}
		}
	}
}

// trackedAt returns the tracked files whose path is p.
func (f *flow) trackedAt(p string) []*tracked {
	if f.byPath == nil {
		f.byPath = make(map[string][]*tracked, len(f.files))
		for _, t := range f.files {
			f.byPath[t.path] = append(f.byPath[t.path], t)
		}
	}
	return f.byPath[p]
}

// stat updates t's size and modification time and reports whether t is to be tailed. A closed
// file is looked at through its path (the file there must have t's identity), or through l, what
// a listing made at this poll found at its path, and opened again only when it changed. An open
// file found by that listing at its path with its identity takes the listing's figures instead
// of another stat call.
func (f *flow) stat(t *tracked, now time.Time, l *listed) bool {
	t.nextStat = now.Add(idleStatEvery)
	// The listing is older than what open found for a file opened at this poll (after the
	// listing): taking its smaller size would make tail see a fingerprint longer than the file
	// and take it for truncated. A size or time gone back is left to fstat.
	if t.f != nil && l != nil && l.path == t.path && l.id == t.id && l.size >= t.size && !l.mtime.Before(t.modTime) {
		t.size, t.modTime = l.size, l.mtime
		return true
	}
	if t.f == nil {
		var size int64
		var mod time.Time
		if l != nil && l.path == t.path {
			size, mod = l.size, l.mtime
		} else {
			fi, err := os.Stat(t.path)
			if err != nil || idOf(fi) != t.id {
				return false // not at its path (renamed or deleted): the listing finds it if still there
			}
			size, mod = fi.Size(), fi.ModTime()
		}
		if size == t.size && mod.Equal(t.modTime) && !t.checkFp {
			return false
		}
		return f.reopen(t, t.path)
	}
	fi, err := t.f.Stat()
	if err != nil {
		f.m.processingError()
		f.log.Warn("stat failed", "path", t.path, "err", err)
		return false
	}
	t.size, t.modTime = fi.Size(), fi.ModTime()
	return true
}

// reopen opens a closed file again at path, which must hold the same file (device and inode);
// tail then checks its first bytes as for any change.
func (f *flow) reopen(t *tracked, path string) bool {
	fh, err := os.Open(path)
	if err != nil {
		return false
	}
	fi, err := fh.Stat()
	if err != nil || idOf(fi) != t.id || !fi.Mode().IsRegular() {
		fh.Close()
		return false
	}
	t.f, t.size, t.modTime, t.checkFp = fh, fi.Size(), fi.ModTime(), true
	f.log.Debug("closed file changed: opened again", "path", path)
	return true
}

func (t *tracked) close() {
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
}

// quiet reports whether t needs no look until it changes: read to its end, nothing on its way,
// not a copy, still in the pattern, and holding nothing back, or holding back only what waits for
// the writer (a partial line, an open multi-line record) for longer than twice IdleFlush (and
// idleStatAfter) since its last change, so that whatever IdleFlush would send was sent.
func (f *flow) quiet(t *tracked, now time.Time) bool {
	if t.shadowOf != nil || t.gone || len(t.queue) > 0 || !t.retryAt.IsZero() || t.readPos < t.size {
		return false
	}
	if !t.split.hasPartialLine() && !t.split.hasOpenRecord() {
		return true
	}
	return now.Sub(t.lastChange) >= max(idleStatAfter, 2*f.a.opts.idleFlush)
}

// closeIdleAfter is how long a quiet file must stay unchanged before its descriptor is closed.
const closeIdleAfter = idleStatAfter

// closable reports whether quiet t's descriptor may be closed (the originals of copies excepted,
// see step): everything it holds read and delivered (so that if it is renamed out of reach or
// deleted while closed, nothing of it is lost), unchanged for closeIdleAfter, and either rotated
// (it is not expected to grow) or in a watched directory, where a write is noticed at the next
// poll and the file opened again. In a polling flow a file still under its live name stays open:
// a write just before it is renamed out of the pattern would be noticed only at its next look
// (idleStatEvery).
func (f *flow) closable(t *tracked, now time.Time) bool {
	return t.f != nil && t.committed == t.readPos && t.readPos == t.size && !t.split.hasPartialLine() && !t.split.hasOpenRecord() &&
		now.Sub(t.lastChange) >= closeIdleAfter && (f.watched || t.rotated)
}

// An idle file, unchanged for idleStatAfter (and twice IdleFlush, so that what it holds back
// was sent) with nothing on its way, is looked at every idleStatEvery instead of at every poll: a
// file that starts growing again is read at most idleStatEvery late, and 2,000 idle files cost
// 1,000 fstat calls a second instead of 20,000.
const (
	idleStatAfter = 10 * time.Second
	idleStatEvery = 2 * time.Second
)

// idle reports whether t may be left alone at this poll: read to its end, nothing on its way,
// looked at less than idleStatEvery ago, and either unchanged for idleStatAfter (and twice
// IdleFlush, so that what it held back was sent) or not modified for idleStatAfter and holding
// nothing back.
func (f *flow) idle(t *tracked, now time.Time) bool {
	if t.shadowOf != nil || len(t.queue) > 0 || t.readPos < t.size || !now.Before(t.nextStat) {
		return false
	}
	if now.Sub(t.lastChange) >= max(idleStatAfter, 2*f.a.opts.idleFlush) {
		return true
	}
	return now.Sub(t.modTime) >= idleStatAfter && !t.split.hasPartialLine() && !t.split.hasOpenRecord()
}

// goneScansToForget is how many consecutive scans must miss a file before it is forgotten: a
// file renamed between Glob and Stat is missed by one scan although it is still in the pattern,
// and forgetting it would make the next scan read it again from the start.
const goneScansToForget = 3

// forgetOrphansAfter is how long checkpoint entries whose inode now holds other content are kept
// after a flow starts, for a copy of their content to claim them (see claimCopy).
const forgetOrphansAfter = time.Minute

// seenAt is the LastSeen recorded for a file found at now: now rounded down to the hour (to a
// tenth of the TTL when that is shorter), the same step for every file, so idle files change the
// checkpoint file once an hour all together, not at every poll nor one after the other.
func (f *flow) seenAt(now time.Time) time.Time {
	return now.UTC().Truncate(max(min(time.Hour, f.ttl/10), time.Second))
}

// forgetFinished closes and forgets the files gone from the pattern whose records are all
// delivered: their checkpoint entries are no longer needed. Copies of a forgotten file are read
// from where it ended.
func (f *flow) forgetFinished(now time.Time) {
	if f.goneFiles == 0 {
		return
	}
	for id, t := range f.files {
		if t.goneScans < goneScansToForget {
			continue
		}
		if t.shadowOf == nil && (len(t.queue) > 0 || t.split.hasPartialLine() || t.split.hasOpenRecord() || t.readPos < t.size) {
			continue
		}
		t.close()
		delete(f.files, id)
		delete(f.hot, t)
		f.byPath, f.order = nil, nil
		f.goneFiles--
		if t.shadowOf != nil {
			continue
		}
		f.log.Info("finished file", "path", t.path)
		f.fileEvent(t, FileFinished, t.committed)
		for _, c := range f.files {
			if c.shadowOf == t {
				pos := min(t.readPos, c.size)
				c.shadowOf, c.rotated, c.lastChange = nil, true, now
				c.readPos, c.committed = pos, pos
				c.split = newSplitter(f.start, f.a.opts.maxRecordSize, 0, pos)
				f.log.Info("copy of a finished file: reading what it holds beyond", "path", c.path, "copy_of", t.path, "offset", pos)
				f.fileEvent(c, FileTailing, pos)
			}
		}
	}
}

// scan matches the glob and updates the set of tracked files.
func (f *flow) scan(now time.Time, mode listMode) {
	paths := f.list(now, mode)
	if len(f.saved) > 0 {
		f.savedByID = make(map[fileID][]int, len(f.saved))
		for i, c := range f.saved {
			f.savedByID[c.id()] = append(f.savedByID[c.id()], i)
		}
	}
	seen := make(map[fileID]string, len(paths))
	type found struct {
		path  string
		id    fileID
		mtime time.Time
		saved int // index of its checkpoint entry, or len(f.saved)
	}
	var fresh []found
	for _, l := range paths {
		p, id := l.path, l.id
		if _, dup := seen[id]; dup || f.skipped[id] {
			if f.skipped[id] {
				seen[id] = ""
			}
			continue
		}
		seen[id] = p
		if _, ok := f.files[id]; !ok {
			fr := found{path: p, id: id, mtime: l.mtime, saved: len(f.saved)}
			if is := f.savedByID[id]; len(is) > 0 {
				fr.saved = is[0]
			}
			fresh = append(fresh, fr)
		}
	}
	for id := range f.skipped {
		if _, ok := seen[id]; !ok {
			delete(f.skipped, id)
		}
	}
	for id := range f.deferred {
		if _, ok := seen[id]; !ok {
			delete(f.deferred, id)
		}
	}
	gone, rescan := 0, false
	for id, t := range f.files {
		p, ok := seen[id]
		switch {
		case !ok || p == "":
			gone++
			rescan = rescan || t.goneScans < goneScansToForget-1
			if t.goneScans == 0 {
				f.log.Info("file left the pattern (rotated or deleted): reading it to its end", "path", t.path)
				if !t.rotated {
					f.fileEvent(t, FileRotated, t.readPos)
				}
			}
			t.gone, t.rotated = true, true
			t.goneScans++
		case p != t.path:
			f.log.Info("file renamed (rotated)", "path", t.path, "new_path", p)
			wasRotated := t.rotated
			t.path, t.rotated = p, true
			f.byPath = nil
			if !wasRotated {
				f.fileEvent(t, FileRotated, t.readPos)
			}
			fallthrough
		default:
			// Seen again: a rename between Glob and Stat can hide a file from one scan.
			t.gone, t.goneScans = false, 0
			if seen := f.seenAt(now); t.seen.Before(seen) {
				t.seen = seen
			}
		}
	}
	// Discovery order breaks ties between equal modification times later: files known from the
	// checkpoint come first, in the order they were found before; then the oldest first, and
	// among files modified within the same clock tick the lower inode number, usually the file
	// created first.
	slices.SortFunc(fresh, func(x, y found) int {
		return cmp.Or(cmp.Compare(x.saved, y.saved), x.mtime.Compare(y.mtime), cmp.Compare(x.id.Ino, y.id.Ino))
	})
	// START_OF_FILE at a flow's very first start reads only the newest file of each rotation
	// family from its start (see rotationFamily); the older ones are taken as already sent.
	var older map[string]bool
	if f.firstRun && !f.scanned && f.cfg.InitialPosition == StartOfFile {
		older = map[string]bool{}
		newest := map[string]found{}
		for _, fr := range fresh {
			fam := rotationFamily(fr.path)
			best, ok := newest[fam]
			switch {
			case !ok:
				newest[fam] = fr
			case newerInFamily(fr.path, fr.mtime, fr.id, best.path, best.mtime, best.id):
				older[best.path] = true
				newest[fam] = fr
			default:
				older[fr.path] = true
			}
		}
	}
	for _, fr := range fresh {
		f.open(fr.path, now, older[fr.path])
		if _, ok := f.files[fr.id]; !ok && !f.skipped[fr.id] && !f.openFailed[fr.path] {
			rescan = true // replaced since it was listed, or a copy still being written: next poll
		}
	}
	f.endScan()
	f.goneFiles, f.rescan = gone, rescan
	tailable := false
	for _, p := range seen {
		tailable = tailable || p != ""
	}
	f.checkMatches(now, tailable)
	if !f.scanned {
		f.scanned, f.startedAt = true, now
		if f.started.IsZero() {
			f.started = now.UTC()
		}
	}
	f.scans++
	// Checkpoint entries no file has claimed are kept (and written back) for the checkpoint TTL
	// after their file was last seen, as the Kinesis Agent keeps them (checkpointTimeToLiveDays): a
	// volume mounted after the agent started, a file moved away for a while, or a file renamed
	// while a scan ran is resumed at its offset when it shows up again, not sent again in full.
	if len(f.saved) > 0 && f.scans >= goneScansToForget {
		f.saved = slices.DeleteFunc(f.saved, func(c fileCheckpoint) bool {
			if now.Sub(c.LastSeen) <= f.ttl {
				return false
			}
			f.log.Info("checkpointed file not found for checkpointTimeToLiveDays: entry forgotten", "path", c.Path,
				"last_seen", c.LastSeen.Format(time.RFC3339))
			return true
		})
	}
	if len(f.orphans) > 0 && f.scans >= goneScansToForget && now.Sub(f.startedAt) >= forgetOrphansAfter {
		f.orphans = nil
	}
}

// endScan removes the checkpoint entries claimed during the scan and drops the scan's indexes.
func (f *flow) endScan() {
	if len(f.savedDrop) > 0 {
		kept := f.saved[:0]
		for i, c := range f.saved {
			if !f.savedDrop[i] {
				kept = append(kept, c)
			}
		}
		clear(f.saved[len(kept):])
		f.saved = kept
	}
	f.savedByID, f.savedDrop, f.sources, f.sourceLens = nil, nil, nil, nil
}

// rotationDigits are what rotation adds to a file name: a number or a date, with the separator
// before each run of digits.
var rotationDigits = regexp.MustCompile(`[-_.]?[0-9]+`)

// rotationFamily names the rotation family of a file: its directory and its name with every run of
// digits (and the separator just before it) removed. app.log, app.log.1, app.log-20261204 and
// app.2026-12-04.log are one family ("app.log"); so are app1.log and app2.log.
func rotationFamily(path string) string {
	dir, name := filepath.Split(path)
	return dir + rotationDigits.ReplaceAllString(name, "")
}

// newerInFamily reports whether file a is the newer of two files of a rotation family: the later
// modification time; on a tie the one whose name has no rotation digits (the live file), then the
// higher inode number (usually created last).
func newerInFamily(aPath string, aTime time.Time, aID fileID, bPath string, bTime time.Time, bID fileID) bool {
	if c := aTime.Compare(bTime); c != 0 {
		return c > 0
	}
	aLive := rotationFamily(aPath) == aPath
	bLive := rotationFamily(bPath) == bPath
	if aLive != bLive {
		return aLive
	}
	return aID.Ino > bID.Ino
}

// noMatchWarnAfter is how long a pattern may match no file before a Warn says so: a typo in
// filePattern, a glob syntax the operator expected to work, or a directory not mounted.
const noMatchWarnAfter = time.Minute

// checkMatches logs a Warn when the pattern has matched no file to tail for noMatchWarnAfter, and
// an Info when files appear again after that.
func (f *flow) checkMatches(now time.Time, any bool) {
	switch {
	case any:
		if f.warnedNone {
			f.log.Info("file pattern matches files again")
		}
		f.noMatch, f.warnedNone = time.Time{}, false
	case f.noMatch.IsZero():
		f.noMatch = now
	case !f.warnedNone && now.Sub(f.noMatch) >= noMatchWarnAfter:
		f.warnedNone = true
		f.log.Warn("file pattern has matched no file to tail for a while (compressed and excluded files do not count): check filePattern",
			"for", now.Sub(f.noMatch).Round(time.Second).String())
	}
}

// claimCopy finds the orphaned checkpoint entry (its inode now holds other content: the file was
// truncated while the agent was down) whose first bytes the new file fh holds, at least up to the
// entry's offset: a copytruncate copy made while the agent was down, which resumes there.
func (f *flow) claimCopy(hd *fileHead, size int64) (fileCheckpoint, bool) {
	for i, c := range f.orphans {
		fp := c.fingerprint()
		if fp.N == 0 || size < c.Offset {
			continue
		}
		if hd != nil && hd.matches(fp) {
			f.orphans = slices.Delete(f.orphans, i, i+1)
			return c, true
		}
	}
	return fileCheckpoint{}, false
}

func (f *flow) open(path string, now time.Time, olderInFamily bool) {
	fh, err := os.Open(path)
	if err != nil {
		f.m.processingError()
		if !f.openFailed[path] { // once per path, not at every poll
			f.openFailed[path] = true
			f.log.Warn("open failed, will keep trying", "path", path, "err", err)
		}
		return
	}
	delete(f.openFailed, path)
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return
	}
	id := idOf(fi)
	if _, ok := f.files[id]; ok { // replaced between Glob and Open: the next scan sorts it out
		fh.Close()
		return
	}
	size := fi.Size()
	hd, herr := readHead(fh, size) // nil on error: matches no checkpoint entry nor tracked file
	if herr != nil {
		hd = nil
	}
	if hd != nil && compressedMagic(hd.b[:min(len(hd.b), 10)]) {
		f.log.Info("compressed file: not tailed", "path", path)
		f.skipped[id] = true
		fh.Close()
		f.fileEvent(&tracked{path: path}, FileSkipped, 0)
		return
	}
	var start int64
	how := "new file"
	var src *tracked
	var adoptPrev bool
	cp, claimed := f.claim(id, hd)
	if !claimed {
		if cp, claimed = f.claimCopy(hd, size); claimed {
			how = "copy of a file truncated while the agent was down: resumed from its checkpoint"
		}
	}
	if !claimed {
		var wait bool
		src, adoptPrev, wait = f.copySource(fh, hd, size, now)
		// An empty new file may be a copy whose first bytes are not written yet (cp and logrotate's
		// copytruncate create the copy, then fill it): told apart once it holds bytes, or taken as
		// a new file after IdleFlush.
		empty := size == 0 && len(f.files) > 0
		if wait || empty {
			since, ok := f.deferred[id]
			if !ok {
				f.deferred[id], since = now, now
			}
			if now.Sub(since) < f.a.opts.idleFlush {
				// A copy still being written (cp, copytruncate): look again at the next scan.
				fh.Close()
				return
			}
			if wait {
				f.log.Warn("file starts like a tracked file but stays shorter than its checkpoint: read as a new file", "path", path)
			}
		}
		delete(f.deferred, id)
	}
	if claimed {
		start = cp.Offset
		if how == "new file" {
			how = "resumed from checkpoint"
		}
		if start > size {
			start, how = 0, "checkpoint past the end (truncated): from the start"
		}
	} else if f.firstRun && !f.scanned && f.cfg.InitialPosition != StartOfFile {
		start, how = lineStart(fh, size), "initial position END_OF_FILE"
	} else if olderInFamily {
		start, how = lineStart(fh, size), "initial position START_OF_FILE: an older file of its rotation family (only the newest is read from its start)"
	}
	skip := 0
	if start == 0 {
		skip = f.cfg.SkipHeaderLines
	}
	var fp fingerprint
	if hd != nil {
		fp = hd.fingerprint()
	}
	f.seq++
	t := &tracked{
		id: id, seq: f.seq, path: path, f: fh, readPos: start, committed: start,
		split: newSplitter(f.start, f.a.opts.maxRecordSize, skip, start),
		fp:    fp, size: size, modTime: fi.ModTime(), lastChange: now, seen: f.seenAt(now),
		fpSize: size, fpMod: fi.ModTime(), fpRacy: racy(fi.ModTime(), now),
	}
	f.files[id] = t
	f.hot[t] = struct{}{}
	f.byPath, f.order = nil, nil
	switch {
	case src != nil && adoptPrev:
		f.adopt(t, src, src.prev, now)
		src.prev = nil
		f.addSource(t)
		f.log.Info("copy of a truncated file (copytruncate): reading it where the original was", "path", path, "copy_of", src.path, "offset", t.readPos)
		f.fileEvent(t, FileTailing, t.readPos)
	case src != nil:
		t.shadowOf, t.linkSize = src, size
		f.log.Info("copy of a tracked file (copytruncate or cp): following the original", "path", path, "copy_of", src.path)
		f.fileEvent(t, FileCopy, 0)
	default:
		f.addSource(t)
		f.log.Info("tailing file", "path", path, "offset", start, "how", how)
		f.fileEvent(t, FileTailing, start)
	}
}

// copySource finds the tracked file the new file fh (size bytes, first bytes hd) is a copy of:
// same first bytes (fingerprint), same bytes before the read offset when it is that long, and at
// least as long as the committed offset (wait reports a copy that is shorter: perhaps still being
// written). A truncated file's old content (prev: copytruncate between two polls) comes first; the
// copy then takes it over. Files that are copies themselves are not sources. The candidates come
// from an index of the tracked files' fingerprints (see addSource), so a scan that finds n new
// files among n tracked ones costs n look-ups, not n² reads.
func (f *flow) copySource(fh *os.File, hd *fileHead, size int64, now time.Time) (src *tracked, adoptPrev, wait bool) {
	if hd == nil {
		return nil, false, false
	}
	if f.sources == nil {
		f.sources, f.sourceLens = map[fingerprint][]*tracked{}, map[int]bool{}
		for _, t := range f.files {
			f.addSource(t)
		}
	}
	var list []*tracked
	for n := range f.sourceLens {
		if n <= len(hd.b) {
			list = append(list, f.sources[fingerprint{N: n, Sum: hd.sum(n)}]...)
		}
	}
	if len(list) == 0 {
		return nil, false, false
	}
	slices.SortFunc(list, func(x, y *tracked) int { return cmp.Compare(x.seq, y.seq) })
	list = slices.Compact(list)
	for _, t := range list {
		if t.shadowOf != nil {
			continue
		}
		if p := t.prev; p != nil && now.Before(p.until) && sameStart(fh, hd, size, p.fp, p.window, p.readPos) {
			if size < p.committed {
				wait = true
				continue
			}
			return t, true, false
		}
	}
	for _, t := range list {
		if t.shadowOf != nil {
			continue
		}
		if sameStart(fh, hd, size, t.fp, t.window, t.readPos) {
			if size < t.committed {
				wait = true
				continue
			}
			return t, false, false
		}
	}
	return nil, false, wait
}

// addSource adds a tracked file to the scan's index of possible copy sources (built at the first
// new file of a scan, dropped at its end): by its fingerprint and its old content's.
func (f *flow) addSource(t *tracked) {
	if f.sources == nil || t.shadowOf != nil {
		return
	}
	for _, fp := range []fingerprint{t.fp, t.prevFingerprint()} {
		if fp.N > 0 {
			f.sources[fp] = append(f.sources[fp], t)
			f.sourceLens[fp.N] = true
		}
	}
}

func (t *tracked) prevFingerprint() fingerprint {
	if t.prev == nil {
		return fingerprint{}
	}
	return t.prev.fp
}

// checkCopy looks again at a copy whose size changed: a copy still being written goes on holding
// the original's bytes at the same offsets and stays a copy; a file that only began like the
// original (the same header, say) and then got its own lines is released and read from its start:
// the agent prefers re-sending a few lines to losing them.
func (f *flow) checkCopy(t *tracked, now time.Time) {
	src := t.shadowOf
	if src.f == nil && !f.reopen(src, src.path) {
		src = nil // the original was closed and is no longer at its path: compare with nothing
	}
	if src != nil && t.size > t.linkSize && src.size >= t.size {
		n := min(int64(windowLen), t.size)
		a, b := make([]byte, n), make([]byte, n)
		_, errA := src.f.ReadAt(a, t.size-n)
		_, errB := t.f.ReadAt(b, t.size-n)
		if (errA == nil || errA == io.EOF) && (errB == nil || errB == io.EOF) && bytes.Equal(a, b) {
			t.linkSize = t.size
			return
		}
	}
	t.lastChange = now
	t.readPos, t.committed = 0, 0
	t.split = newSplitter(f.start, f.a.opts.maxRecordSize, f.cfg.SkipHeaderLines, 0)
	f.log.Info("file began like a tracked file but holds other data: read from its start", "path", t.path, "like", t.shadowOf.path)
	t.shadowOf = nil
	f.fileEvent(t, FileTailing, 0)
}

// sameStart reports whether fh (first bytes hd) holds the fingerprinted first bytes and, when it
// reaches readPos, the window of bytes just before readPos.
func sameStart(fh *os.File, hd *fileHead, size int64, fp fingerprint, window []byte, readPos int64) bool {
	if fp.N == 0 || !hd.matches(fp) {
		return false
	}
	if len(window) == 0 || size < readPos {
		return true
	}
	buf := make([]byte, len(window))
	if _, err := fh.ReadAt(buf, readPos-int64(len(window))); err != nil && err != io.EOF {
		return false
	}
	return bytes.Equal(buf, window)
}

// adopt makes t, a copy of src's content before src was truncated, carry on from src's old
// reading state st: its offsets, its held partial line and its records still on their way, so
// nothing is read twice and the checkpoint of that content moves with t.
func (f *flow) adopt(t, src *tracked, st *prevContent, now time.Time) {
	n := 0
	for n < len(src.queue) && src.queue[n].gen == st.gen {
		src.queue[n].gen = t.gen
		n++
	}
	t.queue = append(t.queue, src.queue[:n]...)
	src.queue = slices.Clone(src.queue[n:])
	if !slices.ContainsFunc(src.queue, func(e *entry) bool { return e.failed }) {
		src.retryAt, src.retries = time.Time{}, 0 // its failed records, if any, moved with the content
	}
	t.readPos, t.committed, t.split, t.window = st.readPos, st.committed, st.split, st.window
	if t.size < st.readPos {
		// The copy ends before what was read from the original (lines written between the copy
		// and the truncation, which the copy does not hold): all it holds was read.
		t.readPos = t.size
		t.split = newSplitter(f.start, f.a.opts.maxRecordSize, 0, t.size)
	}
	t.retryAt, t.retries = st.retryAt, st.retries
	t.shadowOf, t.rotated, t.lastChange = nil, true, now
}

// claim finds the checkpoint entry of a file: same identity (device and inode, so a renamed file
// is found) and same first bytes (so a new file reusing a deleted file's inode is not). Matching on
// the first bytes alone would find copies (copytruncate while the agent was down) but could also
// take a different file with the same leading header for the checkpointed one and skip its data:
// the agent prefers re-sending to losing, so it does not.
func (f *flow) claim(id fileID, hd *fileHead) (fileCheckpoint, bool) {
	if hd == nil {
		return fileCheckpoint{}, false
	}
	for _, i := range f.savedByID[id] {
		if f.savedDrop[i] {
			continue
		}
		c := f.saved[i]
		if f.savedDrop == nil {
			f.savedDrop = map[int]bool{}
		}
		f.savedDrop[i] = true // removed from saved at the end of the scan
		if hd.matches(c.fingerprint()) {
			return c, true
		}
		// Same identity, other first bytes: the inode now holds another file (or the same file
		// truncated and rewritten, as copytruncate does while the agent is down), and the entry is
		// stale (keeping it would shadow this file's own entry). A copy of the old content may
		// claim it by its first bytes (claimCopy).
		f.orphans = append(f.orphans, c)
	}
	return fileCheckpoint{}, false
}

// tail reads what is new in t and queues its records.
func (f *flow) tail(ctx, putCtx context.Context, t *tracked, now time.Time) {
	truncated := t.size < t.readPos
	if !truncated && t.fp.N > 0 && (t.size != t.fpSize || !t.modTime.Equal(t.fpMod) || t.fpRacy || t.checkFp) {
		// Changed since the first bytes were last checked: rewritten in place (copytruncate
		// followed by new writes past the old size) shows as other first bytes.
		ok, err := t.fp.matches(t.f, t.size)
		switch {
		case err == nil && !ok:
			truncated = true
		case err == nil:
			t.fpSize, t.fpMod, t.fpRacy, t.checkFp = t.size, t.modTime, racy(t.modTime, now), false
		}
	}
	if truncated {
		f.log.Warn("file truncated (copytruncate?): reading it again from the start", "path", t.path, "offset", t.readPos, "size", t.size)
		st := &prevContent{fp: t.fp, window: t.window, gen: t.gen, readPos: t.readPos, committed: t.committed,
			split: t.split, retryAt: t.retryAt, retries: t.retries, until: now.Add(copyLinkWindow)}
		t.prev, t.window = nil, nil
		var copied *tracked
		for _, c := range f.files {
			if c.shadowOf == t && c.size >= st.committed {
				f.adopt(c, t, st, now)
				f.log.Info("copy of the truncated file (copytruncate): reading it where the original was", "path", c.path, "copy_of", t.path, "offset", c.readPos)
				f.fileEvent(c, FileTailing, c.readPos)
				st, copied = nil, c
				break
			}
		}
		if copied != nil {
			// What the copy holds beyond the old read offset was written before the truncation:
			// read it now, before the lines written since (the copy is hot, its size fresh).
			f.tail(ctx, putCtx, copied, now)
		}
		if st != nil && st.fp.N > 0 {
			t.prev = st
		}
		t.gen++
		t.readPos, t.committed = 0, 0
		t.split = newSplitter(f.start, f.a.opts.maxRecordSize, f.cfg.SkipHeaderLines, 0)
		t.fp = fingerprint{}
		t.lastChange = now
		f.fileEvent(t, FileTruncated, 0)
	}
	emit := func(c chunk) { f.queue(putCtx, t, c) }
	if t.readPos < t.size && f.pending < f.a.opts.maxPending {
		if f.buf == nil {
			f.buf = make([]byte, readChunk)
		}
		buf := f.buf
		for read := 0; read < readPerPoll && f.pending < f.a.opts.maxPending && ctx.Err() == nil; {
			n, err := t.f.ReadAt(buf, t.readPos)
			if n > 0 {
				t.readPos += int64(n)
				read += n
				f.a.stats.bytesRead.Add(int64(n))
				t.split.feed(buf[:n], emit)
				t.lastChange = now
				t.window = keepWindow(t.window, buf[:n])
			}
			if err != nil || n == 0 {
				f.m.readEnded(err)
				break
			}
		}
	}
	if t.fp.N < fingerprintMax && t.size > int64(t.fp.N) {
		if fp, err := readFingerprint(t.f, t.size); err == nil {
			t.fp, t.fpSize, t.fpMod, t.fpRacy, t.checkFp = fp, t.size, t.modTime, racy(t.modTime, now), false
		}
	}
	if t.readPos < t.size {
		return
	}
	switch {
	case t.rotated:
		// Rotated away and read to its end: what it holds back is complete once the file has
		// stayed unchanged for IdleFlush (an application with a buffered logger may still be
		// writing the rest of its last line to the renamed file).
		if now.Sub(t.lastChange) >= f.a.opts.idleFlush {
			t.split.finish(emit)
		}
	case now.Sub(t.lastChange) >= f.a.opts.idleFlush && !t.split.hasPartialLine() && t.split.hasOpenRecord():
		t.split.flushRecord(emit)
	}
}

// keepWindow appends p to the window and keeps its last windowLen bytes.
func keepWindow(w, p []byte) []byte {
	if len(p) >= windowLen {
		return append(w[:0], p[len(p)-windowLen:]...)
	}
	if drop := len(w) + len(p) - windowLen; drop > 0 {
		w = append(w[:0], w[drop:]...)
	}
	return append(w, p...)
}

// queue processes a chunk and hands it to the producer.
func (f *flow) queue(putCtx context.Context, t *tracked, c chunk) {
	f.entrySeq++
	e := &entry{seq: f.entrySeq, gen: t.gen, end: c.end}
	t.queue = append(t.queue, e)
	f.pending++
	if c.skipped {
		e.done = true
		return
	}
	if t.split.footer { // after the file's footer: not sent, as the Kinesis Agent stops there
		e.done = true
		return
	}
	f.a.stats.recordsRead.Add(1)
	if f.footer != nil && f.footer.Match(trimJava(c.data)) {
		t.split.footer = true
		e.done = true
		f.a.stats.recordsFiltered.Add(1)
		f.log.Info("file footer matched (fileFooterPattern): the rest of the file is not sent", "path", t.path, "offset", c.end)
		return
	}
	data, ok := f.process(c)
	if !ok {
		e.done = true
		f.a.stats.recordsFiltered.Add(1)
		f.log.Debug("record dropped by a processing option", "path", t.path, "offset", c.end)
		return
	}
	e.rec = kpl.Record{PartitionKey: f.partitionKey(data), Data: data}
	e.fut = f.prod.PutAsync(putCtx, e.rec)
	f.burstRecs++
	f.burstBytes += len(data)
}

// process applies the processing options and the record size limit.
func (f *flow) process(c chunk) ([]byte, bool) {
	limit := f.a.opts.maxRecordSize - partitionKeyLen
	if f.cfg.DeliveryStream != "" {
		limit = min(limit, firehoseMaxRecordBytes)
	}
	data, cut := c.data, c.truncated
	if cut {
		data = f.truncate(data, limit)
	}
	for _, p := range f.procs {
		var ok bool
		if data, ok = p.process(data); !ok {
			return nil, false
		}
	}
	if len(data) > limit {
		data, cut = f.truncate(data, limit), true
	}
	if cut {
		f.a.stats.recordsTruncated.Add(1)
	}
	return data, true
}

func (f *flow) truncate(data []byte, limit int) []byte {
	keep := max(limit-len(f.term), 0)
	out := make([]byte, 0, keep+len(f.term))
	out = append(out, data[:min(keep, len(data))]...)
	return append(out, f.term...)
}

func (f *flow) partitionKey(data []byte) string {
	if f.cfg.PartitionKeyOption == PartitionKeyDeterministic {
		sum := md5.Sum(data)
		return hex.EncodeToString(sum[:])
	}
	return randomKey()
}

// randomKey makes a RANDOM partition key as the Kinesis Agent does: a uniform double in
// [0, 1000000) written as Java's Double.toString writes it ("604938.5731295842"), so consumers that
// look at keys see the same kind of key after the swap.
func randomKey() string { return javaDouble(rand.Float64() * 1e6) }

// javaDouble formats a non-negative finite v as Java's Double.toString: the shortest decimal that
// reads back as v, plain with at least one fractional digit in [1e-3, 1e7), else computerized
// scientific notation ("1.0E-4").
func javaDouble(v float64) string {
	if v == 0 || (v >= 1e-3 && v < 1e7) {
		s := strconv.FormatFloat(v, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(v, 'E', -1, 64) // "1.2345E-04"
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	neg := strings.HasPrefix(exp, "-")
	exp = strings.TrimLeft(strings.TrimLeft(exp, "+-"), "0")
	if neg {
		exp = "-" + exp
	}
	return mant + "E" + exp
}

// settle handles resolved futures (delivered, failed for good, or to be sent again when retry is
// set) and moves each file's committed offset past its leading done entries.
//
// Only hot files can have records on their way (see quiet).
func (f *flow) settle(putCtx context.Context, now time.Time, retry bool) {
	for t := range f.hot {
	scan:
		for _, e := range t.queue {
			if e.fut == nil {
				continue
			}
			select {
			case <-e.fut.Done():
			default:
				// Outcomes come roughly in file order: stop at the first pending one rather
				// than poll every future at every step (up to MaxPendingRecords).
				break scan
			}
			_, err := e.fut.Wait(putCtx)
			switch {
			case err == nil:
				e.done, e.fut = true, nil
				t.retries = 0
				f.a.stats.recordsSent.Add(1)
				f.m.delivered(len(e.rec.Data), now)
			case errors.Is(err, kpl.ErrInvalidRecord), errors.Is(err, kpl.ErrRecordTooLarge):
				e.done, e.fut = true, nil
				f.a.stats.recordsFailed.Add(1)
				f.log.Error("record rejected for good, skipped", "path", t.path, "offset", e.end, "err", err)
				for _, h := range f.a.hooks.failed {
					h.OnRecordFailed(RecordFailedEvent{FilePattern: f.cfg.FilePattern, Stream: f.cfg.streamKey(), Path: t.path, Offset: e.end, Err: err})
				}
			case errors.Is(err, kpl.ErrClosed) || !retry:
				e.fut = nil // stays undone: not checkpointed, sent again after a restart
			default:
				e.fut, e.failed = nil, true
				if t.retryAt.IsZero() {
					t.retryAt = now.Add(f.retry.Delay(t.retries))
					t.retries++
					f.log.Warn("records not delivered, will send them again", "path", t.path, "offset", e.end,
						"attempt", t.retries, "retry_in", t.retryAt.Sub(now).String(), "err", err)
				}
			}
		}
		// The file's failed records are sent again together, in file order, after a per-file
		// backoff, so a passing outage does not reorder them among themselves.
		if retry && !t.retryAt.IsZero() && !now.Before(t.retryAt) {
			t.retryAt = time.Time{}
			for _, e := range t.queue {
				if e.failed {
					e.failed = false
					e.fut = f.prod.PutAsync(putCtx, e.rec)
					f.a.stats.recordsRetried.Add(1)
				}
			}
		}
		n := 0
		for n < len(t.queue) && t.queue[n].done {
			if t.queue[n].gen == t.gen {
				t.committed = t.queue[n].end
			}
			n++
		}
		if n > 0 {
			clear(t.queue[:n])
			t.queue = t.queue[n:]
			f.pending -= n
		}
	}
}

// publish makes the current offsets visible to the checkpoint writer.
func (f *flow) publish() {
	if f.order == nil {
		// In discovery order, which the next run keeps (see scan); kept until a file is found or
		// forgotten.
		f.relayout = true
		f.order = make([]*tracked, 0, len(f.files))
		for _, t := range f.files {
			f.order = append(f.order, t)
		}
		slices.SortFunc(f.order, func(x, y *tracked) int { return cmp.Compare(x.seq, y.seq) })
	}
	stream := f.cfg.streamKey()
	entry := func(t *tracked) fileCheckpoint {
		return fileCheckpoint{
			FilePattern: f.cfg.FilePattern, Stream: stream, Path: t.path,
			Dev: t.id.Dev, Inode: t.id.Ino, FingerprintLen: t.fp.N, Fingerprint: t.fp.Sum,
			Offset: t.committed, LastSeen: t.seen,
		}
	}
	// Only files hot now or since the last publish can have other entries, unless a scan ran or
	// the set of files changed: then the entries are made again; else those files' entries are
	// replaced in place (snapshot hands out copies), so that a poll of 2,000 quiet files and one
	// busy one neither makes nor copies 2,000 entries.
	if f.touched == nil {
		f.touched = map[*tracked]struct{}{}
	}
	for t := range f.hot {
		f.touched[t] = struct{}{}
	}
	patch := !f.relayout && f.snapAt != nil
	for t := range f.touched {
		if _, ok := f.snapAt[t]; ok != (t.shadowOf == nil) {
			patch = false // a copy became a file of its own, or the other way round
		}
	}
	if patch {
		f.m.observe(f, time.Now())
		f.mu.Lock()
		for t := range f.touched {
			if i, ok := f.snapAt[t]; ok {
				f.snap[i] = entry(t)
			}
		}
		f.setMarker()
		f.mu.Unlock()
		clear(f.touched)
		return
	}
	snap := make([]fileCheckpoint, 0, len(f.files)+len(f.saved))
	snap = append(snap, f.saved...)
	f.snapAt = make(map[*tracked]int, len(f.files))
	for _, t := range f.order {
		if t.shadowOf != nil {
			continue // a copy of a tracked file: found again by its content after a restart
		}
		f.snapAt[t] = len(snap)
		snap = append(snap, entry(t))
	}
	f.relayout = false
	clear(f.touched)
	f.m.observe(f, time.Now())
	f.mu.Lock()
	f.snap = snap
	f.setMarker()
	f.mu.Unlock()
}

// setMarker sets the started marker once the flow started (f.mu held).
func (f *flow) setMarker() {
	if !f.started.IsZero() {
		f.marker = flowMarker{FilePattern: f.cfg.FilePattern, Stream: f.cfg.streamKey(), Started: f.started}
	}
}

// snapshot returns the flow's checkpoint entries and its started marker (zero before the first
// scan of a flow that never started).
func (f *flow) snapshot() ([]fileCheckpoint, flowMarker) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.snap), f.marker // publish changes f.snap in place
}

func (f *flow) fileEvent(t *tracked, kind FileEventKind, offset int64) {
	for _, h := range f.a.hooks.file {
		h.OnFileEvent(FileEvent{FilePattern: f.cfg.FilePattern, Stream: f.cfg.streamKey(), Path: t.path, Kind: kind, Offset: offset})
	}
}

// lineStart returns the offset where the file's last line begins when it has no newline yet (the
// line being written), else size: END_OF_FILE skips the complete lines only. A last line longer
// than what is looked at (64 KiB) is skipped.
func lineStart(fh *os.File, size int64) int64 {
	n := min(size, readChunk)
	if n == 0 {
		return size
	}
	buf := make([]byte, n)
	if _, err := fh.ReadAt(buf, size-n); err != nil && err != io.EOF {
		return size
	}
	i := bytes.LastIndexByte(buf, '\n')
	switch {
	case i >= 0:
		return size - n + int64(i) + 1
	case n == size:
		return 0
	}
	return size
}

// compileFooter compiles a fileFooterPattern so that it matches a whole record, as Java's
// Matcher.matches does, with ^ and $ matching at line boundaries inside it (Java's MULTILINE).
func compileFooter(pattern string) (*regexp.Regexp, error) {
	return regexp.Compile(`(?m)\A(?:` + pattern + `)\z`)
}
