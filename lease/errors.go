package lease

import (
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// Sentinel errors. Manager methods wrap them with the lease key, so test with errors.Is.
var (
	// ErrLeaseLost: a write that requires this worker to hold the lease (renew, checkpoint, prepare
	// checkpoint, release, child-shard update) found the lease taken, changed or deleted. The lease is gone:
	// stop processing its shard.
	ErrLeaseLost = errors.New("lease: lease lost")
	// ErrConflict: a take, evict or conditional delete lost a race; the lease changed since it was read.
	ErrConflict = errors.New("lease: lease changed concurrently")
	// ErrExists: Create found a lease with that key already.
	ErrExists = errors.New("lease: lease already exists")
	// ErrNotFound: Get found no lease with that key.
	ErrNotFound = errors.New("lease: lease not found")
	// ErrInvalidConfig: NewManager got an invalid argument or option (or a kcl worker an invalid
	// fleet timing option).
	ErrInvalidConfig = errors.New("lease: invalid configuration")
	// ErrTableMismatch: EnsureTable found a table whose key schema is not leaseKey (S).
	ErrTableMismatch = errors.New("lease: table is not a lease table")
	// ErrTimeout: a DynamoDB call did not answer within CallTimeout (or a Coordinator write before the
	// lease's validity ended). Retryable: the lease is not lost, and a write may or may not have been
	// applied.
	ErrTimeout = errors.New("lease: DynamoDB call timed out")
	// ErrTableRefused: the table belongs to an application Shardwise must not join (see [RefusedError]).
	// Nothing was written to it.
	ErrTableRefused = errors.New("lease: table refused")
	// ErrMultiStreamTable: the table is a Java KCL multi-stream lease table (lease keys
	// account:stream:epoch:shardId); Shardwise reads single-stream tables only. Wrapped in a RefusedError.
	ErrMultiStreamTable = errors.New("lease: multi-stream lease table")
	// ErrJava3xFleetActive: the table's migration state says its Java KCL fleet runs the KCL 3.x lease
	// assignment (CLIENT_VERSION_3X or CLIENT_VERSION_3X_WITH_ROLLBACK) and Java workers still renew
	// leases. Wrapped in a RefusedError.
	ErrJava3xFleetActive = errors.New("lease: Java KCL 3.x fleet active on the table")
)

// A RefusedError reports a lease table Shardwise will not use, and what to do about it. It wraps
// ErrTableRefused and the reason (ErrMultiStreamTable or ErrJava3xFleetActive): test with errors.Is.
type RefusedError struct {
	Table  string // the lease table
	Reason error  // ErrMultiStreamTable or ErrJava3xFleetActive
	Detail string // what was found
	Advice string // what to do
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("lease: table %s refused: %v: %s; %s", e.Table, e.Reason, e.Detail, e.Advice)
}

// Unwrap returns ErrTableRefused and the reason.
func (e *RefusedError) Unwrap() []error { return []error{ErrTableRefused, e.Reason} }

// isConditionFailed reports whether err is DynamoDB's ConditionalCheckFailedException (the condition of
// a conditional write evaluated to false). It never looks at the message text.
func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

func isNotFound(err error) bool {
	var rnf *types.ResourceNotFoundException
	return errors.As(err, &rnf)
}

func isAccessDenied(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "AccessDeniedException"
}

func isInUse(err error) bool {
	var riu *types.ResourceInUseException
	return errors.As(err, &riu)
}

func isConflict(err error) bool { return errors.Is(err, ErrConflict) }
