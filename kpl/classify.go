package kpl

// Kinesis error codes the producer names. Errors are classified by internal/awserr, shared with
// kcl and the fan-out subscriber.
const (
	codeThroughputExceeded = "ProvisionedThroughputExceededException"
	codeInternalFailure    = "InternalFailure"
	codeResourceNotFound   = "ResourceNotFoundException"
)
