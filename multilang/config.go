package multilang

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shardwise/shardwise/kcl"
)

// Config is a MultiLangDaemon properties file resolved onto Shardwise's settings. Durations and counts
// hold the Java defaults when the file does not set them. cmd/shardwise builds the AWS clients, the
// lease.Manager and the kcl.Worker from it.
type Config struct {
	// Command is executableName split on spaces, as the Java daemon splits it (no quoting).
	Command         []string
	ApplicationName string // applicationName (required): lease table and consumer name by default
	TableName       string // lease table; ApplicationName unless tableName is set
	Stream          string // the stream name, or its ARN when streamArn is set (kcl.NewWorker takes both)
	StreamName      string // the stream's name (from streamName, or taken from streamArn)
	Region          string // "" means the SDK chain (AWS_REGION)

	KinesisEndpoint  string // kinesisEndpoint; "" means the SDK chain (AWS_ENDPOINT_URL_KINESIS, ...)
	DynamoDBEndpoint string // dynamoDBEndpoint; "" means the SDK chain

	// Credential providers, in chain order; empty means the SDK's default chain. Credentials is
	// AwsCredentialsProvider; the DynamoDB and CloudWatch ones default to it.
	Credentials           []CredentialProvider
	CredentialsDynamoDB   []CredentialProvider // AwsCredentialsProviderDynamoDB
	CredentialsCloudWatch []CredentialProvider // AwsCredentialsProviderCloudWatch (parsed; no metrics are sent)

	WorkerID        string       // "" means a random ID per start, as Java does
	InitialPosition kcl.Position // TrimHorizon, Latest or AtTimestamp

	Failover           time.Duration // failoverTimeMillis (10 s)
	ShardSyncInterval  time.Duration // shardSyncIntervalMillis (1 min)
	ParentPollInterval time.Duration // parentShardPollIntervalMillis (10 s)
	PollInterval       time.Duration // idleTimeBetweenReadsInMillis (1.5 s)
	TaskBackoff        time.Duration // taskBackoffTimeMillis (500 ms)
	Timeout            time.Duration // timeoutInSeconds; 0: none
	ShutdownGrace      time.Duration // shutdownGraceMillis (30 s; Java's default is 0)
	MaxLeasesForWorker int           // 0: unlimited
	MaxLeasesToSteal   int           // maxLeasesToStealAtOneTime (1)
	MaxRecords         int           // maxRecords per GetRecords call (10,000)

	FanOut       bool   // retrievalMode resolved (DEFAULT is FANOUT unless a polling key is set)
	ConsumerName string // fan-out consumer name (default ApplicationName)
	ConsumerARN  string // consumerArn: a registered fan-out consumer to use instead of registering one

	CallProcessRecordsEvenForEmptyRecordList bool   // empty batches are delivered (idle flushes)
	CleanupLeasesUponShardCompletion         bool   // false keeps finished shards' leases (true by default)
	ProcessingLanguage                       string // added to the SDK user agent

	OnChildFailure             FailurePolicy // shardwise.onChildFailure: restart the child (default) or exit
	ShardEndRequiresCheckpoint bool          // shardwise.shardEndRequiresCheckpoint (true)

	// Settings lists every key of the property table with its resolved value, for --print-config.
	Settings []Setting
}

// A Setting is one resolved property for --print-config.
type Setting struct {
	Key    string // the property's name
	Value  string // its resolved value
	Source string // "file", "default" or "derived"
	Maps   string // what it sets in Shardwise
}

// A Warning is about a key that has no effect, is unknown, or is resolved differently from Java.
type Warning struct {
	Key     string // the property's name
	Message string // what happens to it
}

// String returns "key: message".
func (w Warning) String() string { return w.Key + ": " + w.Message }

// A CredentialProvider is one entry of an AwsCredentialsProvider value: "Name|arg|...|nested=value".
// Name is the class's simple name (a fully qualified name is reduced to it).
type CredentialProvider struct {
	Name   string            // e.g. "DefaultCredentialsProvider", "ProfileCredentialsProvider", "StsAssumeRoleCredentialsProvider"
	Args   []string          // the "|"-separated arguments after the name (a profile name, a role ARN and session name)
	Nested map[string]string // endpoint, endpointRegion, externalId
}

// Credential provider names cmd/shardwise can construct (simple class names, Java SDK v1 and v2).
var credentialProviderNames = map[string]string{
	"DefaultCredentialsProvider":                 "default",
	"DefaultAWSCredentialsProviderChain":         "default",
	"EnvironmentVariableCredentialsProvider":     "env",
	"ProfileCredentialsProvider":                 "profile",
	"InstanceProfileCredentialsProvider":         "imds",
	"EC2ContainerCredentialsProviderWrapper":     "container",
	"ContainerCredentialsProvider":               "container",
	"WebIdentityTokenFileCredentialsProvider":    "webidentity",
	"StsAssumeRoleCredentialsProvider":           "assumerole",
	"KclStsAssumeRoleCredentialsProvider":        "assumerole",
	"STSAssumeRoleSessionCredentialsProvider":    "assumerole",
	"KclSTSAssumeRoleSessionCredentialsProvider": "assumerole",
	"AnonymousCredentialsProvider":               "anonymous",
	"AnonymousAWSCredentials":                    "anonymous",
}

// Kind returns what the provider maps onto: default, env, profile, imds, container, webidentity,
// assumerole or anonymous.
func (p CredentialProvider) Kind() string { return credentialProviderNames[p.Name] }

// SupportedCredentialProviders lists the provider names FromProperties accepts.
func SupportedCredentialProviders() []string {
	names := make([]string, 0, len(credentialProviderNames))
	for n := range credentialProviderNames {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var streamARNRe = regexp.MustCompile(`^arn:aws[^:]*:kinesis:[a-z0-9-]+:\d{12}:stream/([A-Za-z0-9_.-]+)$`)

// key kinds of the property table.
type keySpec struct {
	key    string
	def    string // the Java default shown by --print-config when unset
	maps   string
	apply  func(c *Config, v string) error // nil: accepted with a warning (noEffect)
	effect string                          // warning when set and apply is nil
}

const (
	noEffect = "no effect in Shardwise (accepted for compatibility)"
	kcl3     = "KCL 3.x setting: no effect, Shardwise runs the KCL 2.x lease protocol"
)

func durationMillis(dst *time.Duration) func(*Config, string) error {
	return func(_ *Config, v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("want a non-negative number of milliseconds, not %q", v)
		}
		*dst = time.Duration(n) * time.Millisecond
		return nil
	}
}

func intValue(dst *int) func(*Config, string) error {
	return func(_ *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("want an integer, not %q", v)
		}
		*dst = n
		return nil
	}
}

func boolValue(dst *bool) func(*Config, string) error {
	return func(_ *Config, v string) error {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true", "yes", "y", "on", "1":
			*dst = true
		case "false", "no", "n", "off", "0":
			*dst = false
		default:
			return fmt.Errorf("want true or false, not %q", v)
		}
		return nil
	}
}

func stringValue(dst *string) func(*Config, string) error {
	return func(_ *Config, v string) error { *dst = strings.TrimSpace(v); return nil }
}

// FromProperties resolves p with the Java daemon's rules (KinesisClientLibConfigurator): required keys,
// streamArn over streamName, defaults. Keys with no effect and unknown keys give warnings; bad values
// and unsupported credential providers give an error wrapping ErrInvalidConfig.
func FromProperties(p Properties) (Config, []Warning, error) {
	var c Config
	c.InitialPosition = kcl.TrimHorizon
	c.Failover = 10 * time.Second
	c.ShardSyncInterval = time.Minute
	c.ParentPollInterval = 10 * time.Second
	c.PollInterval = 1500 * time.Millisecond
	c.TaskBackoff = 500 * time.Millisecond
	c.MaxLeasesToSteal = 1
	c.MaxRecords = 10000
	c.CleanupLeasesUponShardCompletion = true
	c.ShardEndRequiresCheckpoint = true
	c.ShutdownGrace = 30 * time.Second
	var (
		executable, streamName, streamARN, retrievalMode, initialPos, initialExt string
		timeoutSec                                                               int
		credsKinesis, credsDynamo, credsCW                                       string
		failurePolicy                                                            = "restart"
	)
	specs := []keySpec{
		{key: "executableName", maps: "child command, split on spaces", apply: stringValue(&executable)},
		{key: "applicationName", maps: "lease table name and fan-out consumer name", apply: stringValue(&c.ApplicationName)},
		{key: "tableName", def: "applicationName", maps: "lease table name", apply: stringValue(&c.TableName)},
		{key: "streamName", maps: "stream", apply: stringValue(&streamName)},
		{key: "streamArn", maps: "stream (wins over streamName)", apply: stringValue(&streamARN)},
		{key: "regionName", def: "SDK chain (AWS_REGION)", maps: "region of the Kinesis and DynamoDB clients", apply: stringValue(&c.Region)},
		{key: "kinesisEndpoint", def: "SDK chain", maps: "Kinesis BaseEndpoint", apply: stringValue(&c.KinesisEndpoint)},
		{key: "dynamoDBEndpoint", def: "SDK chain", maps: "DynamoDB BaseEndpoint", apply: stringValue(&c.DynamoDBEndpoint)},
		{key: "AwsCredentialsProvider", def: "DefaultCredentialsProvider", maps: "Kinesis and DynamoDB credentials", apply: stringValue(&credsKinesis)},
		{key: "AwsCredentialsProviderDynamoDB", def: "AwsCredentialsProvider", maps: "DynamoDB credentials", apply: stringValue(&credsDynamo)},
		{key: "AwsCredentialsProviderCloudWatch", def: "AwsCredentialsProvider", maps: "none (Shardwise publishes no CloudWatch metrics)", apply: stringValue(&credsCW)},
		{key: "workerId", def: "random UUID per start", maps: "lease owner", apply: stringValue(&c.WorkerID)},
		{key: "initialPositionInStream", def: "TRIM_HORIZON", maps: "kcl.StartAt", apply: stringValue(&initialPos)},
		{key: "initialPositionInStreamExtended", maps: "kcl.StartAt(AtTimestamp), epoch seconds", apply: stringValue(&initialExt)},
		{key: "failoverTimeMillis", def: "10000", maps: "lease.Failover", apply: durationMillis(&c.Failover)},
		{key: "shardSyncIntervalMillis", def: "60000", maps: "kcl.ShardSyncInterval", apply: durationMillis(&c.ShardSyncInterval)},
		{key: "parentShardPollIntervalMillis", def: "10000", maps: "kcl.ParentPollInterval", apply: durationMillis(&c.ParentPollInterval)},
		{key: "maxLeasesForWorker", def: "unlimited", maps: "kcl.MaxLeasesForWorker", apply: intValue(&c.MaxLeasesForWorker)},
		{key: "maxLeasesToStealAtOneTime", def: "1", maps: "kcl.MaxLeasesToStealAtOnce", apply: intValue(&c.MaxLeasesToSteal)},
		{key: "retrievalMode", def: "DEFAULT (FANOUT unless a polling key is set)", maps: "polling or kcl.EnhancedFanOut", apply: stringValue(&retrievalMode)},
		{key: "consumerName", def: "applicationName", maps: "kcl.EnhancedFanOut consumer name", apply: stringValue(&c.ConsumerName)},
		{key: "consumerArn", maps: "kcl.EnhancedFanOutARN", apply: stringValue(&c.ConsumerARN)},
		{key: "maxRecords", def: "10000", maps: "kcl.MaxRecordsPerPoll", apply: intValue(&c.MaxRecords)},
		{key: "idleTimeBetweenReadsInMillis", def: "1500", maps: "kcl.PollInterval", apply: durationMillis(&c.PollInterval)},
		{key: "retryGetRecordsInSeconds", maps: "none (Shardwise retries GetRecords with its own backoff)", effect: noEffect},
		{key: "maxGetRecordsThreadPool", maps: "none", effect: noEffect},
		{key: "millisBehindLatestThresholdForReducedTps", maps: "none", effect: noEffect},
		{key: "callProcessRecordsEvenForEmptyRecordList", def: "false", maps: "kcl.DeliverEmptyBatches", apply: boolValue(&c.CallProcessRecordsEvenForEmptyRecordList)},
		{key: "cleanupLeasesUponShardCompletion", def: "true", maps: "kcl.KeepFinishedLeases when false", apply: boolValue(&c.CleanupLeasesUponShardCompletion)},
		{key: "taskBackoffTimeMillis", def: "500", maps: "kcl.RetryBackoff", apply: durationMillis(&c.TaskBackoff)},
		{key: "timeoutInSeconds", def: "none", maps: "per-message status deadline", apply: intValue(&timeoutSec)},
		{key: "shutdownGraceMillis", def: "30000 (Java: 0)", maps: "Worker.Shutdown deadline on SIGTERM", apply: durationMillis(&c.ShutdownGrace)},
		{key: "processingLanguage", maps: "SDK user agent", apply: stringValue(&c.ProcessingLanguage)},
		{key: "maxActiveThreads", maps: "none (goroutines)", effect: noEffect},
		{key: "shardwise.onChildFailure", def: "restart", maps: "restart the failed child, or exit the daemon (Java)", apply: stringValue(&failurePolicy)},
		{key: "shardwise.shardEndRequiresCheckpoint", def: "true", maps: "retry an unacknowledged shard end with a fresh child", apply: boolValue(&c.ShardEndRequiresCheckpoint)},
	}
	for _, k := range []string{"validateSequenceNumberBeforeCheckpointing", "listShardsBackoffTimeInMillis",
		"maxListShardsRetryAttempts", "skipShardSyncAtWorkerInitializationIfLeasesExist", "ignoreUnexpectedChildShards",
		"logWarningForTaskAfterMillis", "schedulerInitializationBackoffTimeMillis", "shardPrioritization", "metricsLevel",
		"metricsBufferTimeMillis", "metricsMaxQueueSize", "metricsEnabledDimensions", "leaseTableDeletionProtectionEnabled",
		"leaseTablePitrEnabled", "initialLeaseTableReadCapacity", "initialLeaseTableWriteCapacity", "maxLeaseRenewalThreads",
		"leaseTableScanTotalSegments", "maxCacheByteSize", "maxRecordsCount", "maxPendingProcessRecordsInput"} {
		specs = append(specs, keySpec{key: k, maps: "none", effect: noEffect})
	}
	kcl3Keys := []string{"clientVersionConfig", "leaseAssignmentIntervalMillis", "enablePriorityLeaseAssignment",
		"isGracefulLeaseHandoffEnabled", "gracefulLeaseHandoffTimeoutMillis", "inMemoryWorkerMetricsCaptureFrequencyMillis",
		"workerMetricsReporterFreqInMillis", "noOfPersistedMetricsPerWorkerMetrics", "disableWorkerMetrics",
		"maxThroughputPerHostKBps", "dampeningPercentage", "reBalanceThresholdPercentage", "allowThroughputOvershoot",
		"varianceBalancingFrequency", "workerMetricsEMAAlpha", "staleWorkerMetricsEntryCleanupDuration",
		"migrateAllEntitiesToLeaseTable", "tableMigrationCompleteBakeTimeSeconds"}
	for _, k := range kcl3Keys {
		specs = append(specs, keySpec{key: k, maps: "none", effect: kcl3})
	}
	byKey := map[string]*keySpec{}
	for i := range specs {
		byKey[specs[i].key] = &specs[i]
	}

	var warns []Warning
	set := map[string]string{}
	for _, rawKey := range p.Keys {
		key := normalizeKey(rawKey)
		v := p.Values[rawKey]
		set[key] = v
		spec, ok := byKey[key]
		switch {
		case ok && spec.apply != nil:
			if err := spec.apply(&c, v); err != nil {
				return Config{}, warns, fmt.Errorf("%w: %s: %v", ErrInvalidConfig, key, err)
			}
		case ok:
			warns = append(warns, Warning{key, spec.effect})
		case strings.HasPrefix(key, "workerMetrics") || strings.HasPrefix(key, "coordinatorState"):
			warns = append(warns, Warning{key, kcl3})
		default:
			warns = append(warns, Warning{key, "unknown key: ignored (the Java daemon ignores it too)"})
		}
	}

	// Validation, as KinesisClientLibConfigurator does it.
	c.Command = splitOnSpaces(executable)
	switch {
	case len(c.Command) == 0:
		return Config{}, warns, fmt.Errorf("%w: executableName is required", ErrInvalidConfig)
	case c.ApplicationName == "":
		return Config{}, warns, fmt.Errorf("%w: applicationName is required", ErrInvalidConfig)
	case streamARN == "" && streamName == "":
		return Config{}, warns, fmt.Errorf("%w: streamName or streamArn is required", ErrInvalidConfig)
	}
	if streamARN != "" {
		m := streamARNRe.FindStringSubmatch(streamARN)
		if m == nil {
			return Config{}, warns, fmt.Errorf("%w: streamArn %q is not a Kinesis stream ARN (arn:aws:kinesis:<region>:<account>:stream/<name>)", ErrInvalidConfig, streamARN)
		}
		c.Stream, c.StreamName = streamARN, m[1]
		if streamName != "" && streamName != m[1] {
			warns = append(warns, Warning{"streamName", fmt.Sprintf("ignored: streamArn names stream %q", m[1])})
		}
	} else {
		c.Stream, c.StreamName = streamName, streamName
	}
	if c.TableName == "" {
		c.TableName = c.ApplicationName
	}
	if c.ConsumerName == "" {
		c.ConsumerName = c.ApplicationName
	}
	var err error
	if credsKinesis == "" {
		warns = append(warns, Warning{"AwsCredentialsProvider", "not set (Java requires it): using the SDK's default chain"})
	}
	if c.Credentials, err = parseCredentialProviders(credsKinesis); err != nil {
		return Config{}, warns, fmt.Errorf("%w: AwsCredentialsProvider: %w", ErrInvalidConfig, err)
	}
	if credsDynamo == "" {
		c.CredentialsDynamoDB = c.Credentials
	} else if c.CredentialsDynamoDB, err = parseCredentialProviders(credsDynamo); err != nil {
		return Config{}, warns, fmt.Errorf("%w: AwsCredentialsProviderDynamoDB: %w", ErrInvalidConfig, err)
	}
	if credsCW == "" {
		c.CredentialsCloudWatch = c.Credentials
	} else if c.CredentialsCloudWatch, err = parseCredentialProviders(credsCW); err != nil {
		return Config{}, warns, fmt.Errorf("%w: AwsCredentialsProviderCloudWatch: %w", ErrInvalidConfig, err)
	}
	if credsCW != "" {
		warns = append(warns, Warning{"AwsCredentialsProviderCloudWatch", "no effect: Shardwise publishes no CloudWatch metrics"})
	}
	switch strings.ToUpper(initialPos) {
	case "", "TRIM_HORIZON":
		c.InitialPosition = kcl.TrimHorizon
	case "LATEST":
		c.InitialPosition = kcl.Latest
	case "AT_TIMESTAMP":
		if initialExt == "" {
			return Config{}, warns, fmt.Errorf("%w: initialPositionInStream AT_TIMESTAMP needs initialPositionInStreamExtended (epoch seconds)", ErrInvalidConfig)
		}
	default:
		return Config{}, warns, fmt.Errorf("%w: initialPositionInStream must be TRIM_HORIZON or LATEST, not %q", ErrInvalidConfig, initialPos)
	}
	if initialExt != "" {
		sec, err := strconv.ParseInt(initialExt, 10, 64)
		if err != nil {
			return Config{}, warns, fmt.Errorf("%w: initialPositionInStreamExtended must be epoch seconds, not %q", ErrInvalidConfig, initialExt)
		}
		c.InitialPosition = kcl.AtTimestamp(time.Unix(sec, 0))
	}
	pollingKeySet := false
	for _, k := range []string{"maxRecords", "idleTimeBetweenReadsInMillis", "retryGetRecordsInSeconds", "maxGetRecordsThreadPool", "millisBehindLatestThresholdForReducedTps"} {
		if _, ok := set[k]; ok {
			pollingKeySet = true
		}
	}
	switch strings.ToUpper(retrievalMode) {
	case "", "DEFAULT":
		c.FanOut = !pollingKeySet
	case "FANOUT":
		c.FanOut = true
	case "POLLING":
		c.FanOut = false
	default:
		return Config{}, warns, fmt.Errorf("%w: retrievalMode must be FANOUT, POLLING or DEFAULT, not %q", ErrInvalidConfig, retrievalMode)
	}
	if c.FanOut && pollingKeySet {
		warns = append(warns, Warning{"retrievalMode", "FANOUT: the polling keys set have no effect"})
	}
	if c.PollInterval < 200*time.Millisecond {
		warns = append(warns, Warning{"idleTimeBetweenReadsInMillis", fmt.Sprintf("%v is below the 200ms minimum: using 200ms", c.PollInterval)})
		c.PollInterval = 200 * time.Millisecond
	}
	if c.MaxRecords < 1 || c.MaxRecords > 10000 {
		return Config{}, warns, fmt.Errorf("%w: maxRecords %d is not in 1..10000", ErrInvalidConfig, c.MaxRecords)
	}
	if timeoutSec < 0 {
		return Config{}, warns, fmt.Errorf("%w: timeoutInSeconds %d is negative", ErrInvalidConfig, timeoutSec)
	}
	c.Timeout = time.Duration(timeoutSec) * time.Second
	switch strings.ToLower(failurePolicy) {
	case "restart":
		c.OnChildFailure = Restart
	case "exit":
		c.OnChildFailure = Exit
	default:
		return Config{}, warns, fmt.Errorf("%w: shardwise.onChildFailure must be restart or exit, not %q", ErrInvalidConfig, failurePolicy)
	}
	if _, ok := set["shutdownGraceMillis"]; !ok {
		warns = append(warns, Warning{"shutdownGraceMillis", "not set: Shardwise waits up to 30s on SIGTERM for children to checkpoint (the Java daemon's default is 0)"})
	}

	// The resolved table for --print-config.
	for _, s := range specs {
		st := Setting{Key: s.key, Maps: s.maps}
		if v, ok := set[s.key]; ok {
			st.Value, st.Source = v, "file"
		} else if s.def != "" {
			st.Value, st.Source = s.def, "default"
		} else if s.apply == nil {
			continue // a no-effect key that is not set
		} else {
			st.Source = "unset"
		}
		c.Settings = append(c.Settings, st)
	}
	mode := "POLLING"
	if c.FanOut {
		mode = "FANOUT"
	}
	c.Settings = append(c.Settings,
		Setting{Key: "(resolved) command", Value: strings.Join(quoteAll(c.Command), " "), Source: "derived"},
		Setting{Key: "(resolved) stream", Value: c.Stream, Source: "derived"},
		Setting{Key: "(resolved) lease table", Value: c.TableName, Source: "derived"},
		Setting{Key: "(resolved) retrieval", Value: mode, Source: "derived"},
		Setting{Key: "(resolved) initial position", Value: c.InitialPosition.String(), Source: "derived"},
		Setting{Key: "(resolved) credentials", Value: describeProviders(c.Credentials), Source: "derived"},
		Setting{Key: "(resolved) failure policy", Value: c.OnChildFailure.String(), Source: "derived"},
	)
	return c, warns, nil
}

// normalizeKey applies KinesisClientLibConfigurator.processKey: AwsCredentialsProvider keys are matched
// case-insensitively.
func normalizeKey(k string) string {
	const prefix = "awscredentialsprovider"
	if len(k) >= len(prefix) && strings.EqualFold(k[:len(prefix)], prefix) {
		return "AwsCredentialsProvider" + k[len(prefix):]
	}
	return k
}

// splitOnSpaces splits executableName on runs of spaces, as the Java daemon's split(" +") does (tabs
// are not separators there either); empty parts are dropped.
func splitOnSpaces(s string) []string {
	var out []string
	for _, f := range strings.Split(strings.TrimSpace(s), " ") {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

func quoteAll(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = strconv.Quote(a)
	}
	return out
}

// parseCredentialProviders parses "Name|arg|k=v, Name2" (AwsCredentialsProviderPropertyValueDecoder).
func parseCredentialProviders(v string) ([]CredentialProvider, error) {
	var out []CredentialProvider
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		fields := strings.Split(part, "|")
		name := strings.TrimSpace(fields[0])
		if i := strings.LastIndexByte(name, '.'); i >= 0 {
			name = name[i+1:]
		}
		p := CredentialProvider{Name: name}
		for _, f := range fields[1:] {
			if k, val, ok := strings.Cut(f, "="); ok && isNestedKey(k) {
				if p.Nested == nil {
					p.Nested = map[string]string{}
				}
				p.Nested[k] = val
				continue
			}
			p.Args = append(p.Args, f)
		}
		if p.Kind() == "" {
			return nil, fmt.Errorf("credential provider %q cannot be constructed without a JVM; supported: %s",
				fields[0], strings.Join(SupportedCredentialProviders(), ", "))
		}
		out = append(out, p)
	}
	return out, nil
}

func isNestedKey(k string) bool {
	switch k {
	case "endpoint", "endpointRegion", "externalId":
		return true
	}
	return false
}

func describeProviders(ps []CredentialProvider) string {
	if len(ps) == 0 {
		return "SDK default chain"
	}
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.Name + " -> " + p.Kind()
		if len(p.Args) > 0 {
			parts[i] += " " + strings.Join(p.Args, "|")
		}
	}
	return strings.Join(parts, ", ")
}
