package awserr

// flag marks codes that callers act on individually.
type flag uint8

const (
	notFound flag = 1 << iota
	validation
	expiredIterator
)

type entry struct {
	class     Class
	ambiguous bool // the code says the server may have applied the request
	flags     flag
}

var (
	throttle   = entry{class: Throttle}
	serverFail = entry{class: Transient, ambiguous: true}
	retryLater = entry{class: Transient} // refused before being applied; a later attempt can succeed
	terminal   = entry{class: Terminal}
	invalid    = entry{class: Terminal, flags: validation}
)

// codes classifies the AWS error codes Shardwise meets (Kinesis, DynamoDB, STS and the codes every
// AWS service may answer). A code not here is classified by its HTTP status. Sources: the Kinesis and
// DynamoDB API references and "Common Errors" pages; the SDK's aws/retry (standard.go:
// DefaultThrottleErrorCodes, DefaultRetryableErrorCodes; middleware.go: clockSkewCodes); the Java KPL
// (aws/kinesis/core/retrier.cc, handle_put_records_result: every failed request or entry is retried
// until RecordTtl, except ProvisionedThroughputExceededException with FailIfThrottled); the Java KCL
// (polling/PrefetchRecordsPublisher: ExpiredIterator and InvalidArgument renew the iterator,
// ProvisionedThroughputExceeded reports a throttle, any other SdkException is logged and the fetch is
// tried again; fanout/FanOutRecordsPublisher: ResourceNotFoundException ends the shard, any other error
// restarts the subscription; fanout/FanOutConsumerRegistration: LimitExceededException is "throttled,
// back off", ResourceInUseException on register means "describe it again").
var codes = map[string]entry{
	// ---- Throttle: the request was refused, not applied, because of a rate. ----

	// Kinesis: the shard's or stream's read or write rate is exceeded; DynamoDB: capacity exceeded.
	// Java KPL retries until RecordTtl, Java KCL backs off and reports it as a throttle.
	"ProvisionedThroughputExceededException": throttle,
	// Kinesis: KMS refused the stream key's encrypt/decrypt call for its own rate ("The request was
	// denied due to request throttling", PutRecords and GetRecords error lists).
	"KMSThrottlingException": throttle,
	// The generic throttle answers of AWS services (ThrottlingException is a common error of every
	// service, HTTP 400); all are in the SDK's DefaultThrottleErrorCodes. Earlier kcl only knew the
	// first of them, kpl also RequestLimitExceeded, TooManyRequestsException and SlowDown.
	"ThrottlingException":            throttle,
	"Throttling":                     throttle,
	"ThrottledException":             throttle,
	"RequestThrottled":               throttle,
	"RequestThrottledException":      throttle,
	"RequestLimitExceeded":           throttle, // EC2 and DynamoDB: account-level request rate
	"TooManyRequestsException":       throttle,
	"SlowDown":                       throttle, // S3 (HTTP 503): reduce the request rate
	"BandwidthLimitExceeded":         throttle, // SDK DefaultThrottleErrorCodes
	"PriorRequestNotComplete":        throttle, // SDK DefaultThrottleErrorCodes (Route 53)
	"EC2ThrottledException":          throttle, // SDK DefaultThrottleErrorCodes
	"TransactionInProgressException": throttle, // SDK DefaultThrottleErrorCodes (DynamoDB)
	// Kinesis: "the requested resource exceeds the maximum number allowed, or the number of concurrent
	// stream requests exceeds the maximum number allowed". For SubscribeToShard it is more than one
	// call per second per consumer and shard; for RegisterStreamConsumer and DescribeStreamConsumer a
	// call rate; for the control plane too many concurrent operations. Throttle, as the SDK
	// (DefaultThrottleErrorCodes) and the Java KCL (FanOutConsumerRegistration.retryWhenThrottled)
	// treat it. Caveat: RegisterStreamConsumer beyond the 20 consumers of a stream, and CreateStream
	// or UpdateShardCount beyond the shard quota, answer the same code and stay refused until a
	// consumer is deregistered or the quota raised; callers of those operations bound their retries.
	"LimitExceededException": throttle,

	// ---- Transient and ambiguous: the server failed, possibly after applying the request. ----

	// Common error of every service, HTTP 500 ("processing has failed because of an unknown error");
	// Kinesis also sends it as a PutRecords entry code. Java KPL retries until RecordTtl.
	"InternalFailure": serverFail,
	// Kinesis SubscribeToShard event-stream exception (smithy fault: server).
	"InternalFailureException": serverFail,
	// DynamoDB's HTTP 500 code.
	"InternalServerError": serverFail,
	// Common error, HTTP 503: "failed due to a temporary failure of the server".
	"ServiceUnavailable":          serverFail,
	"ServiceUnavailableException": serverFail,
	// IAM and others, HTTP 500: "failed because of an unknown error, exception or failure".
	"ServiceFailure": serverFail,

	// ---- Transient, not ambiguous: refused before being applied; retrying later can succeed. ----

	// Common error, HTTP 408: reading the request timed out on the server, so it was not processed.
	// SDK DefaultRetryableErrorCodes.
	"RequestTimeout":          retryLater,
	"RequestTimeoutException": retryLater,
	// Kinesis server-side encryption: the stream's KMS key is being rotated, disabled and re-enabled,
	// has a grant not yet propagated, or the account's KMS subscription is being set up. The Java KPL
	// retries every request error, these included, until RecordTtl (retrier.cc), and the Java KCL
	// retries GetRecords on any SdkException; a key that stays unusable ends with the caller's own
	// bound (RecordTTL, or the consumer's backoff and logs) rather than a crash on a state change.
	"KMSInvalidStateException": retryLater,
	"KMSDisabledException":     retryLater,
	"KMSNotFoundException":     retryLater,
	"KMSAccessDeniedException": retryLater,
	"KMSOptInRequired":         retryLater,
	// Temporary credentials expired (common error ExpiredTokenException, HTTP 403; STS ExpiredToken):
	// the SDK's credentials cache fetches new ones for the next attempt (aws.CredentialsCache
	// refreshes before ExpiryWindow precisely to avoid these).
	"ExpiredToken":          retryLater,
	"ExpiredTokenException": retryLater,
	// Common error, HTTP 400: the request reached the service more than 15 minutes after (or before)
	// its date stamp: a clock off, or a request stuck in a queue; a freshly signed attempt succeeds.
	"RequestExpired": retryLater,
	// Clock skew: in the SDK's clockSkewCodes; the SDK learns the server's time from the answer's Date
	// header and signs later attempts with the corrected time. (A genuinely wrong secret key answers
	// the same codes every time; the caller's retry bound ends it.)
	"InvalidSignatureException": retryLater,
	"SignatureDoesNotMatch":     retryLater,
	"RequestTimeTooSkewed":      retryLater,
	// STS AssumeRoleWithWebIdentity: "the identity provider could not be reached ... often a transient
	// error caused by network conditions. Retry the request".
	"IDPCommunicationError": retryLater,
	// Kinesis: "the resource is not available for this operation" - the stream is CREATING or
	// UPDATING, the consumer is being registered or deleted, or (SubscribeToShard) a subscription for
	// the same consumer and shard succeeded less than 5 seconds ago. It is a state, not a rate:
	// retrying after a pause succeeds, and lowering a send rate would not help, so Transient rather
	// than Throttle. Callers where it means something definite check the code themselves (the
	// fan-out subscriber waits out the 5 s window; RegisterStreamConsumer's loser describes the
	// consumer the winner made, as the Java KCL does; CreateStream of an existing stream).
	"ResourceInUseException": retryLater,

	// ---- Terminal ----

	// The stream, shard, consumer or table does not exist: kpl refreshes its shard map, kcl ends the
	// shard (the Java KCL's fan-out publisher treats it as the shard's end).
	"ResourceNotFoundException": {class: Terminal, flags: notFound},
	// The principal is not allowed the action (common error, HTTP 400/403). The SDK's clock-skew
	// wrapper makes it Transient when the answer shows a skewed clock (see Classify).
	"AccessDeniedException": terminal,
	// The access key is unknown or the token invalid, or no credentials were sent (common errors,
	// HTTP 403): every attempt with these credentials fails the same way.
	"UnrecognizedClientException": terminal,
	"InvalidClientTokenId":        terminal,
	"MissingAuthenticationToken":  terminal,
	// The request is invalid as sent: a parameter out of its limits (Kinesis InvalidArgumentException,
	// e.g. an explicit hash key out of range or a sequence number not in the shard), a constraint
	// violated (ValidationException, e.g. a partition key longer than 256 characters), a body that
	// does not parse (SerializationException), an invalid parameter (InvalidParameterException).
	// Flagged Validation: a batch may be split to find the bad entry.
	"ValidationException":       invalid,
	"InvalidArgumentException":  invalid,
	"SerializationException":    invalid,
	"InvalidParameterException": invalid,
	// GetRecords: the shard iterator is more than 5 minutes old. The same iterator never works again;
	// the caller gets a new one (Java KCL: restartIterator after the last record passed on).
	"ExpiredIteratorException": {class: Terminal, flags: expiredIterator},
	// ListShards: the NextToken is more than 300 seconds old; the listing must start over.
	"ExpiredNextTokenException": terminal,
}
