package agent

import (
	"fmt"
	"time"

	"github.com/shardwise/shardwise/internal/hookset"
)

// Hook is any value implementing one or more of the HookXxx interfaces below; register hooks with
// WithHooks. The agent calls each kind a hook implements; new kinds never break existing hooks.
// Hooks run on agent goroutines, possibly concurrently: they must be fast, safe for concurrent use,
// and must not block or call back into the Agent.
//
// Every method takes one event, and every event names the flow (its file pattern) and its stream
// ("firehose:" and the delivery stream for a Firehose flow). Method names are unique across the hooks
// of kpl, kcl, lease and agent: one type can implement all of them and be given to each package's
// WithHooks.
type Hook any

// HookRecordFailed is called for each record skipped because Kinesis can never accept it
// (kpl.ErrInvalidRecord, kpl.ErrRecordTooLarge). The agent also logs it at Error and counts it in
// Stats.RecordsFailed.
type HookRecordFailed interface {
	OnRecordFailed(e RecordFailedEvent)
}

// RecordFailedEvent describes a skipped record.
type RecordFailedEvent struct {
	FilePattern, Stream string
	Path                string
	Offset              int64 // file offset just past the record
	Err                 error // the *kpl.RecordError
}

// HookFileEvent is called when a flow starts tailing a file, sees it rotated or truncated, and
// finishes it.
type HookFileEvent interface {
	OnFileEvent(e FileEvent)
}

// FileEventKind says what happened to a file.
type FileEventKind int

// File event kinds.
const (
	FileTailing   FileEventKind = iota + 1 // found; Offset is where reading starts
	FileRotated                            // renamed or gone from the pattern
	FileTruncated                          // shrank or was rewritten (copytruncate): read again from 0
	FileFinished                           // gone from the pattern, read and delivered: forgotten
	// FileCopy: found to be a copy of a tracked file (copytruncate, cp): not read while the
	// original holds the same data; a FileTailing event follows when it takes over.
	FileCopy
	FileSkipped // compressed content (magic bytes): never read
)

// String returns the kind's name: "tailing", "rotated", "truncated", "finished", "copy" or
// "skipped".
func (k FileEventKind) String() string {
	switch k {
	case FileTailing:
		return "tailing"
	case FileRotated:
		return "rotated"
	case FileTruncated:
		return "truncated"
	case FileFinished:
		return "finished"
	case FileCopy:
		return "copy"
	case FileSkipped:
		return "skipped"
	}
	return fmt.Sprintf("FileEventKind(%d)", int(k))
}

// FileEvent describes a change in a tracked file.
type FileEvent struct {
	FilePattern, Stream string
	Path                string
	Kind                FileEventKind // what happened
	Offset              int64         // the read offset at the event (FileFinished: the checkpointed end)
}

// HookCheckpointWritten is called after each attempt to write the checkpoint file.
type HookCheckpointWritten interface {
	OnCheckpointWritten(e CheckpointEvent)
}

// CheckpointEvent describes a checkpoint file write.
type CheckpointEvent struct {
	Path     string
	Files    int           // entries written
	Duration time.Duration // how long the write took
	Err      error         // a *CheckpointError when the write failed
}

// HookFlowSend is called after each PutRecords (Firehose: PutRecordBatch) call of a flow, retries
// included: the Kinesis Agent's RecordSendAttempts, RecordSendErrors and ServiceErrors per flow
// (Stats.Flows holds the same counts, added up).
type HookFlowSend interface {
	OnFlowSend(e FlowSendEvent)
}

// FlowSendEvent describes one send call of a flow.
type FlowSendEvent struct {
	FilePattern, Stream string
	Records             int  // records (Kinesis or Firehose records) the call carried
	Failed              int  // records the call returned as failed (0 when ServiceError)
	ServiceError        bool // the call failed as a whole
}

// HookFlowDelivered is called for each record of a flow the destination accepted: the Kinesis
// Agent's RecordsSent and BytesSent per flow.
type HookFlowDelivered interface {
	OnFlowDelivered(e FlowDeliveredEvent)
}

// FlowDeliveredEvent describes a delivered record (a line, after the processing options).
type FlowDeliveredEvent struct {
	FilePattern, Stream string
	Bytes               int // data bytes (partition key not counted)
}

type hooks struct {
	failed     []HookRecordFailed
	file       []HookFileEvent
	checkpoint []HookCheckpointWritten
	send       []HookFlowSend
	delivered  []HookFlowDelivered
}

func sortHooks(hs []Hook) (hooks, error) {
	s := hookset.New(hs)
	h := hooks{
		failed:     hookset.Take[HookRecordFailed](s),
		file:       hookset.Take[HookFileEvent](s),
		checkpoint: hookset.Take[HookCheckpointWritten](s),
		send:       hookset.Take[HookFlowSend](s),
		delivered:  hookset.Take[HookFlowDelivered](s),
	}
	if err := s.Unmatched("agent"); err != nil {
		return h, configErr("", "%v", err)
	}
	return h, nil
}
