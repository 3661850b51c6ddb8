package lease

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
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
	// ErrInvalidConfig: NewManager or NewCoordinator got an invalid argument or option.
	ErrInvalidConfig = errors.New("lease: invalid configuration")
	// ErrTableMismatch: EnsureTable found a table whose key schema is not leaseKey (S).
	ErrTableMismatch = errors.New("lease: table is not a lease table")
)

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

func isInUse(err error) bool {
	var riu *types.ResourceInUseException
	return errors.As(err, &riu)
}

func isConflict(err error) bool { return errors.Is(err, ErrConflict) }
