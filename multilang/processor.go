package multilang

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/smithy-go"

	"github.com/shardwise/shardwise/kcl"
)

// FailurePolicy says what a child's failure (it cannot start, its stdout ends, it answers with the
// wrong status, it does not answer within the timeout) does.
type FailurePolicy int

const (
	// Restart kills the failed child and returns an error to the worker, which retries that shard with
	// a fresh child after a backoff (the same batch is delivered again). Other shards are not touched.
	// This is the default (property shardwise.onChildFailure = restart).
	Restart FailurePolicy = iota
	// Exit reports the failure to ChildConfig.OnFatal, which stops the whole daemon: the Java daemon's
	// behaviour (System.exit(1)). Property shardwise.onChildFailure = exit.
	Exit
)

// String returns "restart" or "exit", the values of shardwise.onChildFailure.
func (p FailurePolicy) String() string {
	if p == Exit {
		return "exit"
	}
	return "restart"
}

// DefaultCloseTimeout is how long a child may take to exit after its stdin was closed (after leaseLost,
// shardEnded or shutdownRequested) before it is killed.
const DefaultCloseTimeout = 10 * time.Second

// ChildConfig says how the record processors of a daemon run their children.
type ChildConfig struct {
	// Command is the child's argv (executableName split on spaces). A bare name is looked up on PATH.
	Command []string
	// Env is added to the daemon's environment; each child also gets KCL_SHARD_ID.
	Env []string
	// Timeout bounds the wait for each status (timeoutInSeconds); 0 waits for ever.
	Timeout time.Duration
	// CloseTimeout bounds the wait for a child's exit once its stdin closed; 0 means DefaultCloseTimeout.
	CloseTimeout time.Duration
	// OnChildFailure is the failure policy; OnFatal is called (from a processor goroutine) with the
	// failure under Exit and must make the daemon stop.
	OnChildFailure FailurePolicy
	OnFatal        func(error)
	// ShardEndRequiresCheckpoint makes an unacknowledged shard end (the child did not checkpoint during
	// shardEnded) an error, so the worker retries it with a fresh child instead of finishing the shard.
	ShardEndRequiresCheckpoint bool
	// Logger receives the daemon's log lines for children (nil: discard).
	Logger *slog.Logger
}

// NewProcessorFactory returns the kcl.ProcessorFactory of a MultiLangDaemon: each shard's processor runs
// one child process and speaks the protocol to it. The factory starts nothing; Initialize starts the
// child.
func NewProcessorFactory(cfg ChildConfig) (kcl.ProcessorFactory, error) {
	if len(cfg.Command) == 0 || cfg.Command[0] == "" {
		return nil, fmt.Errorf("%w: empty child command", ErrInvalidConfig)
	}
	if cfg.OnChildFailure == Exit && cfg.OnFatal == nil {
		return nil, fmt.Errorf("%w: failure policy exit needs OnFatal", ErrInvalidConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = DefaultCloseTimeout
	}
	c := cfg
	return func(shardID string) kcl.RecordProcessor {
		return &childProcessor{cfg: &c, shardID: shardID, log: c.Logger.With("shard_id", shardID)}
	}, nil
}

// childProcessor is the kcl.RecordProcessor of one shard. The worker calls it from one goroutine.
type childProcessor struct {
	cfg     *ChildConfig
	shardID string
	log     *slog.Logger

	ch    *child       // the running child; nil when none runs
	start kcl.Position // what a fresh child is initialized with: the initial position or the last checkpoint
	// last is the last record position delivered to the child: the worker's LastDelivered (which
	// counts user records filtered out of the batch), else the batch's last record.
	last    kcl.Position
	hasLast bool
}

// Initialize starts the child and sends initialize.
func (p *childProcessor) Initialize(ctx context.Context, in kcl.InitializeInput) error {
	p.start = in.Start
	if p.ch != nil { // a retried Initialize: start over
		p.ch.kill()
		p.ch = nil
	}
	return p.ensureChild(ctx)
}

// ensureChild starts a child and initializes it unless one runs.
func (p *childProcessor) ensureChild(ctx context.Context) error {
	if p.ch != nil {
		return nil
	}
	env := append(append([]string(nil), p.cfg.Env...), "KCL_SHARD_ID="+p.shardID)
	ch, err := startChild(p.cfg.Command, env, p.log)
	if err != nil {
		return p.failed(err)
	}
	p.ch = ch
	return p.exchange(ctx, initializeLine(p.shardID, p.start), actionInitialize, nil)
}

// ProcessRecords sends processRecords and serves the child's checkpoints until its status.
func (p *childProcessor) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	if err := p.ensureChild(ctx); err != nil {
		return err
	}
	line := appendProcessRecords(make([]byte, 0, 256+len(in.Records)*160), in.Records, in.MillisBehindLatest)
	p.delivered(in.LastDelivered, in.Records)
	return p.exchange(ctx, line, actionProcessRecords, func(ctx context.Context, req checkpointRequest) string {
		return p.checkpoint(ctx, in.Checkpointer, req)
	})
}

// Shutdown tells the child why processing ends and waits for it to exit.
func (p *childProcessor) Shutdown(ctx context.Context, in kcl.ShutdownInput) error {
	p.delivered(in.LastDelivered, nil)
	switch in.Reason {
	case kcl.ShardEnded:
		return p.shardEnded(ctx, in.Checkpointer)
	case kcl.Requested:
		if p.ch == nil {
			return nil
		}
		serve := func(ctx context.Context, req checkpointRequest) string {
			return p.checkpoint(ctx, in.Checkpointer, req)
		}
		if err := p.exchange(ctx, actionLine(actionShutdownRequested), actionShutdownRequested, serve); err != nil {
			return err
		}
		// The Java daemon drops the lease after shutdownRequested; the child then gets leaseLost.
		if err := p.exchange(ctx, actionLine(actionLeaseLost), actionLeaseLost, nil); err != nil {
			return err
		}
		return p.closeChild(ctx)
	default: // LeaseLost
		if p.ch == nil {
			return nil
		}
		if err := p.exchange(ctx, actionLine(actionLeaseLost), actionLeaseLost, nil); err != nil {
			return err
		}
		return p.closeChild(ctx)
	}
}

// shardEnded sends shardEnded (to a fresh child if none runs) and reports whether the child
// acknowledged the end with a checkpoint.
func (p *childProcessor) shardEnded(ctx context.Context, cp kcl.Checkpointer) error {
	if err := p.ensureChild(ctx); err != nil {
		return err
	}
	acked := false
	serve := func(ctx context.Context, req checkpointRequest) string {
		if req.subInvalid {
			return errIllegalArgument
		}
		if req.SequenceNumber == nil || *req.SequenceNumber == kcl.ShardEnd.SequenceNumber {
			acked = true
			return ""
		}
		if last, ok := p.lastDelivered(); ok && validSeq(*req.SequenceNumber) &&
			comparePositions(requestPosition(req), last) >= 0 {
			// Java turns a checkpoint of the last record into SHARD_END; the worker writes it.
			acked = true
			return ""
		}
		return p.checkpoint(ctx, cp, req)
	}
	if err := p.exchange(ctx, actionLine(actionShardEnded), actionShardEnded, serve); err != nil {
		return err
	}
	if err := p.closeChild(ctx); err != nil {
		p.log.LogAttrs(ctx, slog.LevelWarn, "child did not exit after shardEnded", slog.Any("err", err))
	}
	if !acked && p.cfg.ShardEndRequiresCheckpoint {
		p.log.LogAttrs(ctx, slog.LevelWarn, "child did not checkpoint at shard end; retrying the shard end with a fresh child")
		return ErrShardEndNotCheckpointed
	}
	return nil
}

// ErrShardEndNotCheckpointed is returned by Shutdown(ShardEnded) when the child did not acknowledge the
// shard end with a checkpoint (and ShardEndRequiresCheckpoint is set): the worker retries.
var ErrShardEndNotCheckpointed = errors.New("multilang: the child did not checkpoint at shard end")

// closeChild closes the child's stdin and waits for its exit (killing it after CloseTimeout).
func (p *childProcessor) closeChild(ctx context.Context) error {
	ch := p.ch
	p.ch = nil
	ctx, cancel := context.WithTimeout(ctx, p.cfg.CloseTimeout)
	defer cancel()
	return ch.close(ctx)
}

// failed handles a child failure: the child is killed, the failure logged and, under the Exit policy,
// reported as fatal. It returns err.
func (p *childProcessor) failed(err error) error {
	if p.ch != nil {
		p.ch.kill()
		p.ch = nil
	}
	p.log.LogAttrs(context.Background(), slog.LevelError, "child failed", slog.Any("err", err),
		slog.String("policy", p.cfg.OnChildFailure.String()))
	if p.cfg.OnChildFailure == Exit {
		p.cfg.OnFatal(err)
	}
	return err
}

// exchange sends line and serves the child's checkpoint requests (with serve; nil answers
// InvalidStateException, as in the Java daemon's phases without a checkpointer) until the child's status
// for action. Any failure kills the child.
func (p *childProcessor) exchange(ctx context.Context, line []byte, action string, serve func(context.Context, checkpointRequest) string) error {
	ch := p.ch
	var timeout <-chan time.Time
	if p.cfg.Timeout > 0 {
		t := time.NewTimer(p.cfg.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	var queue [][]byte // responses waiting for the write in progress
	wdone := ch.write(line)
	writeDone := func(err error) error {
		wdone = nil
		if err != nil {
			return p.failed(fmt.Errorf("%w: shard %s: writing %s: %w%s", ErrChildFailed, p.shardID, action, err, p.exitNote(ch)))
		}
		if len(queue) > 0 {
			wdone = ch.write(queue[0])
			queue = queue[1:]
		}
		return nil
	}
	status := false
	msgs := ch.msgs
	for {
		if status && wdone == nil {
			return nil
		}
		select {
		case err := <-wdone:
			if err := writeDone(err); err != nil {
				return err
			}
		case m, ok := <-msgs:
			if !ok {
				return p.failed(fmt.Errorf("%w: shard %s: stdout ended while waiting for the status of %s%s", ErrChildFailed, p.shardID, action, p.exitNote(ch)))
			}
			switch m.Action {
			case actionStatus:
				if m.ResponseFor != action {
					return p.failed(fmt.Errorf("%w: shard %s: status for %q while waiting for %s", ErrChildFailed, p.shardID, m.ResponseFor, action))
				}
				status, msgs = true, nil // only the writes in progress are awaited now
			case actionCheckpoint:
				errName := errInvalidState
				if serve != nil {
					errName = serve(ctx, m.Checkpoint)
				}
				resp := checkpointResponseLine(m.Checkpoint, errName)
				if wdone == nil {
					wdone = ch.write(resp)
				} else {
					queue = append(queue, resp)
				}
			}
		case <-ctx.Done():
			return p.failed(fmt.Errorf("%w: shard %s: waiting for the status of %s: %w", ErrChildFailed, p.shardID, action, ctx.Err()))
		case <-timeout:
			return p.failed(fmt.Errorf("%w: shard %s: no status for %s within %v (timeoutInSeconds)", ErrChildFailed, p.shardID, action, p.cfg.Timeout))
		}
	}
}

// exitNote waits briefly for a failing child's exit and describes it.
func (p *childProcessor) exitNote(ch *child) string {
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case <-ch.exited:
	case <-t.C:
	}
	if s := ch.exitStatus(); s != "" {
		return " (child: " + s + ")"
	}
	return ""
}

// delivered notes a batch: last is its LastDelivered (the zero Position when the input was built
// without it, as by tests, and then the batch's last record counts).
func (p *childProcessor) delivered(last kcl.Position, recs []kcl.Record) {
	if last == (kcl.Position{}) && len(recs) > 0 {
		last = recs[len(recs)-1].Position
	}
	if last != (kcl.Position{}) {
		p.last, p.hasLast = last, true
	}
}

// lastDelivered is the largest position the child may checkpoint.
func (p *childProcessor) lastDelivered() (kcl.Position, bool) {
	return p.last, p.hasLast
}

// checkpoint serves one checkpoint request and returns the Java exception name to answer with ("" for
// success).
func (p *childProcessor) checkpoint(ctx context.Context, cp kcl.Checkpointer, req checkpointRequest) string {
	if cp == nil {
		return errInvalidState
	}
	if req.subInvalid {
		return errIllegalArgument
	}
	var pos kcl.Position
	if req.SequenceNumber == nil {
		last, ok := p.lastDelivered()
		if !ok {
			return "" // nothing delivered yet: Java's checkpoint() has nothing to store either
		}
		pos = last
	} else {
		if !validSeq(*req.SequenceNumber) || (req.SubSequenceNumber != nil && *req.SubSequenceNumber < 0) {
			return errIllegalArgument
		}
		pos = requestPosition(req)
	}
	if err := cp.Checkpoint(ctx, pos); err != nil {
		name := checkpointErrorName(err)
		p.log.LogAttrs(ctx, slog.LevelWarn, "checkpoint failed", slog.String("position", pos.String()),
			slog.String("error", name), slog.Any("err", err))
		return name
	}
	p.start = pos
	return ""
}

// requestPosition is the position a checkpoint request names (sub-sequence 0 when absent, as Java's
// checkpoint(String) does).
func requestPosition(req checkpointRequest) kcl.Position {
	pos := kcl.Position{SequenceNumber: *req.SequenceNumber}
	if req.SubSequenceNumber != nil {
		pos.SubSequenceNumber = int(*req.SubSequenceNumber)
	}
	return pos
}

// checkpointErrorName maps a checkpoint error onto the Java exception name a client tests for.
func checkpointErrorName(err error) string {
	switch {
	case errors.Is(err, kcl.ErrInvalidPosition):
		return errIllegalArgument
	case errors.Is(err, kcl.ErrLeaseLost):
		return errShutdown
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded":
			return errThrottling
		}
	}
	return errDependency
}

func validSeq(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// comparePositions orders two record positions by sequence number (decimal, possibly beyond 64 bits),
// then sub-sequence number.
func comparePositions(a, b kcl.Position) int {
	x, y := trimZeros(a.SequenceNumber), trimZeros(b.SequenceNumber)
	switch {
	case len(x) != len(y):
		if len(x) < len(y) {
			return -1
		}
		return 1
	case x != y:
		if x < y {
			return -1
		}
		return 1
	}
	switch {
	case a.SubSequenceNumber < b.SubSequenceNumber:
		return -1
	case a.SubSequenceNumber > b.SubSequenceNumber:
		return 1
	}
	return 0
}

func trimZeros(s string) string {
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	return s
}
