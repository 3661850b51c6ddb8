package agent

import (
	"errors"
	"fmt"
	"log/slog"
)

// Sentinel errors, for errors.Is.
var (
	// ErrInvalidConfig: the configuration is malformed or contradictory. Every *ConfigError wraps it.
	ErrInvalidConfig = errors.New("agent: invalid configuration")
	// ErrUnsupported: the configuration asks for a Kinesis Agent feature Shardwise does not provide
	// (a Firehose deliveryStream flow, for example). The *ConfigError wraps it too.
	ErrUnsupported = errors.New("agent: unsupported setting")
	// ErrCorruptCheckpoint: the checkpoint file exists but cannot be read as a checkpoint file. The
	// agent refuses to start rather than guess (re-sending everything, or skipping data); move the
	// file aside to start over. Every *CheckpointError caused by its content wraps it.
	ErrCorruptCheckpoint = errors.New("agent: corrupt checkpoint file")
	// ErrPermission: a flow needs an AWS permission the credentials lack (see PermissionError).
	ErrPermission = errors.New("agent: missing AWS permission")
	// ErrRunning: Run was called on an Agent that is running or has run.
	ErrRunning = errors.New("agent: Run called twice")
)

// ConfigError describes a configuration problem. Field names the setting as written in agent.json
// ("flows[1].partitionKeyOption"); Reason says what is wrong with it.
type ConfigError struct {
	Field  string
	Reason string
	Err    error // ErrUnsupported for unsupported features, else nil
}

func (e *ConfigError) Error() string {
	if e.Field == "" {
		return "agent: invalid configuration: " + e.Reason
	}
	return "agent: invalid configuration: " + e.Field + ": " + e.Reason
}

// Unwrap returns ErrInvalidConfig, and Err when set.
func (e *ConfigError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalidConfig, e.Err}
	}
	return []error{ErrInvalidConfig}
}

// LogValue reports the error as structured attributes.
func (e *ConfigError) LogValue() slog.Value {
	return slog.GroupValue(slog.String("field", e.Field), slog.String("reason", e.Reason))
}

func configErr(field, format string, args ...any) *ConfigError {
	return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// CheckpointError describes a checkpoint file that could not be read or written.
type CheckpointError struct {
	Path string // the checkpoint file
	Op   string // "check" (the directory is not writable, at start), "read", "parse" or "write"
	Err  error  // the cause
}

func (e *CheckpointError) Error() string {
	return fmt.Sprintf("agent: checkpoint file %s: %s: %v", e.Path, e.Op, e.Err)
}

// Unwrap returns the cause.
func (e *CheckpointError) Unwrap() error { return e.Err }

// PermissionError reports an IAM action a flow needs but its credentials are denied: Run returns
// it at start for a flow with shardwise.aggregation, which needs kinesis:ListShards and
// kinesis:DescribeStreamSummary. It wraps ErrPermission and the AWS error.
type PermissionError struct {
	Flow   string // "flows[0]"
	Stream string // the stream or delivery stream
	Action string // "kinesis:ListShards"
	Err    error  // the service's error
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("agent: %s: stream %s: %s is denied (shardwise.aggregation needs kinesis:PutRecords, kinesis:ListShards and kinesis:DescribeStreamSummary; grant it or remove shardwise.aggregation): %v",
		e.Flow, e.Stream, e.Action, e.Err)
}

// Unwrap returns ErrPermission and the AWS error.
func (e *PermissionError) Unwrap() []error { return []error{ErrPermission, e.Err} }
