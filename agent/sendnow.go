package agent

import "context"

// kinesisMaxCallBytes is kpl's default BatchMaxBytes: a flow's maxBufferSizeBytes when unset.
const kinesisMaxCallBytes = 5 << 20

// The end of a backlog. maxBufferAgeMillis (DefaultMaxBufferAge, 1s) lets a record wait for
// the ones after it so that a slow log is sent in few calls. After a backlog (a start with
// START_OF_FILE, a restart after a while down, a burst of lines) that wait only delays the last
// records: when a poll has read every file of the flow to its end, nothing is coming for them to
// wait for. So when the reads since the files were last all at their end queued at least a full
// call's worth (maxBufferSizeRecords records, or maxBufferSizeBytes), the flow hands the records
// still waiting to Kinesis at once (kpl.Producer.Flush, run by a goroutine of the flow), and
// goes back to batching as soon as they are delivered. A slow writer (a few lines per poll)
// never reaches that size between two reads to the end: its lines keep waiting up to
// maxBufferAgeMillis and share calls. A steady writer of a call's worth or more per poll gets at
// most one early (partial) call per shard and poll.

// flushJob is a send-now in progress: a goroutine running the sender's Flush until the flow
// cancels it, once the entries up to upTo are delivered (or failed), or Flush returns because
// the producer holds nothing more.
type flushJob struct {
	cancel    context.CancelFunc
	done      chan struct{} // closed when the goroutine returns
	upTo      uint64        // the entries queued up to this one (entry.seq) are to go now
	cancelled bool
}

// caughtUp is called after each poll's reads and settle. It ends the send-now when what it was
// for is delivered, and starts one when the poll read every file to its end after at least a
// full call's worth of records. stopping: ctx ended during the poll (shutdown flushes anyway).
func (f *flow) caughtUp(putCtx context.Context, stopping bool) {
	if j := f.flush; j != nil {
		select {
		case <-j.done:
			f.flush = nil
		default:
			if !j.cancelled && f.settledUpTo(j.upTo) {
				j.cancel()
				j.cancelled = true
			}
		}
	}
	if stopping {
		return
	}
	// Only hot files can be behind: a file not hot is read to its end (see quiet). A file that
	// is a copy of another is not read.
	for t := range f.hot {
		if t.shadowOf == nil && t.readPos < t.size {
			return
		}
	}
	backlog := f.burstRecs >= f.fullRecs || f.burstBytes >= f.fullBytes
	f.burstRecs, f.burstBytes = 0, 0
	if !backlog {
		return
	}
	if j := f.flush; j != nil && !j.cancelled {
		j.upTo = f.entrySeq // still sending now: the new records go with it
		return
	}
	if j := f.flush; j != nil {
		<-j.done // cancelled: Flush returns at once
	}
	ctx, cancel := context.WithCancel(putCtx)
	j := &flushJob{cancel: cancel, done: make(chan struct{}), upTo: f.entrySeq}
	f.flush = j
	go func() {
		defer close(j.done)
		_ = f.prod.Flush(ctx) // cancelled, or everything delivered: the flow settles the outcomes
	}()
}

// settledUpTo reports whether every entry queued up to seq is resolved: no future of such an
// entry is still waiting. Entries are queued in seq order within each file, and only hot files
// have entries (see quiet).
func (f *flow) settledUpTo(seq uint64) bool {
	for t := range f.hot {
		for _, e := range t.queue {
			if e.seq > seq {
				break
			}
			if e.fut == nil {
				continue
			}
			select {
			case <-e.fut.Done():
			default:
				return false
			}
		}
	}
	return true
}

// flushed returns a channel closed when the send-now's Flush returned by itself (the producer
// holds nothing more: the flow settles at once); nil when there is none to wait for.
func (f *flow) flushed() <-chan struct{} {
	if j := f.flush; j != nil && !j.cancelled {
		return j.done
	}
	return nil
}

// stopFlush ends the send-now, if any, and waits for its goroutine.
func (f *flow) stopFlush() {
	if j := f.flush; j != nil {
		j.cancel()
		<-j.done
		f.flush = nil
	}
}
