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
	Path string
	Op   string // "read", "parse" or "write"
	Err  error
}

func (e *CheckpointError) Error() string {
	return fmt.Sprintf("agent: checkpoint file %s: %s: %v", e.Path, e.Op, e.Err)
}

// Unwrap returns the cause.
func (e *CheckpointError) Unwrap() error { return e.Err }
