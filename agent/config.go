package agent

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shardwise/shardwise/internal/backoff"
)

// PartitionKeyOption chooses each record's partition key.
type PartitionKeyOption string

// Partition key options, as in the Kinesis Agent.
const (
	// PartitionKeyRandom gives every record a random key, spreading records over all shards.
	PartitionKeyRandom PartitionKeyOption = "RANDOM"
	// PartitionKeyDeterministic uses a hash of the record data (after processing), so equal
	// records land on the same shard.
	PartitionKeyDeterministic PartitionKeyOption = "DETERMINISTIC"
)

// InitialPosition says where to start reading a file found at the very first start of a flow (the
// checkpoint file marks a flow started; START_OF_FILE reads only the newest file of each rotation
// family, see the package documentation).
type InitialPosition string

// Initial positions, as in the Kinesis Agent.
const (
	StartOfFile InitialPosition = "START_OF_FILE"
	EndOfFile   InitialPosition = "END_OF_FILE"
)

// Processing option names (dataProcessingOptions[].optionName).
const (
	OptionSingleLine = "SINGLELINE"
	OptionCSVToJSON  = "CSVTOJSON"
	OptionLogToJSON  = "LOGTOJSON"
	// OptionAddMetadata wraps each record in {"ts":...,"metadata":...,"data":...}.
	OptionAddMetadata = "ADDMETADATA"
	// OptionAddEC2Metadata adds the EC2 instance's metadata to each record, a JSON object.
	OptionAddEC2Metadata = "ADDEC2METADATA"
	// OptionAddBrackets wraps each record in braces.
	OptionAddBrackets = "ADDBRACKETS"
)

// SINGLELINE parseOptions values.
const (
	// ParseNoTrim keeps each line's leading and trailing blanks.
	ParseNoTrim = "NO_TRIM"
	// ParseEscapeNewLine joins the lines with \\n (three bytes) instead of nothing.
	ParseEscapeNewLine = "ESCAPE_NEW_LINE"
)

// JSON layouts of the options that write JSON (dataProcessingOptions[].jsonFormat): CSVTOJSON,
// LOGTOJSON, ADDMETADATA and ADDEC2METADATA.
const (
	// JSONFormatCompact writes the record on one line, without blanks (the default).
	JSONFormatCompact = "COMPACT"
	// JSONFormatPrettyPrint writes the record indented, as the Kinesis Agent's PRETTYPRINT does
	// (Jackson's default pretty printer): one member per line, two spaces per object level,
	// "key" : value, arrays on one line as [ a, b ], empty ones as { } and [ ].
	JSONFormatPrettyPrint = "PRETTYPRINT"
)

// Log formats of LOGTOJSON (logFormat).
const (
	LogFormatCommonApache   = "COMMONAPACHELOG"
	LogFormatCombinedApache = "COMBINEDAPACHELOG"
	LogFormatApacheError    = "APACHEERRORLOG"
	LogFormatSyslog         = "SYSLOG"
	LogFormatRFC3339Syslog  = "RFC3339SYSLOG"
)

// Limits and defaults of flow settings.
const (
	DefaultCheckpointFile      = "shardwise-agent.checkpoints.json"
	DefaultMinTimeBetweenPolls = 100 * time.Millisecond
	DefaultCheckpointTTL       = 7 * 24 * time.Hour
	maxBufferAgeLimit          = 15 * time.Minute
	maxBufferRecordsLimit      = 500
	maxBufferBytesLimit        = 10 << 20
)

// Config is an agent.json file: the AWS Kinesis Agent's format. ParseConfig reads it; Validate
// checks it (New calls Validate).
type Config struct {
	// CheckpointFile is where file offsets are kept ("checkpointFile"). Empty means
	// DefaultCheckpointFile in the working directory (the shardwise-agent command uses
	// checkpoints.json in $STATE_DIRECTORY, $XDG_STATE_HOME/shardwise-agent or
	// /var/lib/shardwise-agent). Run checks at start that it can be written.
	CheckpointFile string
	// KinesisEndpoint overrides the Kinesis endpoint ("kinesis.endpoint"); only the command uses it.
	KinesisEndpoint string
	// KinesisRegion is "kinesis.region": the AWS region of the Kinesis client, overriding the SDK
	// chain's (AWS_REGION, the shared config); only the command uses it.
	KinesisRegion string
	// FirehoseEndpoint overrides the Firehose endpoint ("firehose.endpoint") and FirehoseRegion
	// ("firehose.region") the Firehose client's region; only the command uses them.
	FirehoseEndpoint string
	FirehoseRegion   string
	// EmitMetrics is "cloudwatch.emitMetrics": whether the command publishes the agent's
	// CloudWatch metrics (see the package documentation). Nil (unset) means true, the Kinesis
	// Agent's default: see MetricsEnabled.
	EmitMetrics *bool
	// CloudWatchEndpoint overrides the CloudWatch endpoint ("cloudwatch.endpoint"); only the
	// command uses it.
	CloudWatchEndpoint string
	// CloudWatchNamespace is "cloudwatch.namespace", the metrics' namespace; "" means
	// DefaultCloudWatchNamespace, the Kinesis Agent's.
	CloudWatchNamespace string
	// CloudWatchTagInstance is "cloudwatch.tagInstance": the metrics get an Instance dimension
	// (the EC2 instance ID, else the host name), as in the Kinesis Agent.
	CloudWatchTagInstance bool
	// MetricsBufferTime is "cloudwatch.metricsBufferTimeMillis": how often the metrics are sent
	// to CloudWatch; 0 (unset) means DefaultMetricsBufferTime.
	MetricsBufferTime time.Duration
	// MetricsQueueSize is "cloudwatch.metricsQueueSize": how many metric data the publisher holds
	// while CloudWatch cannot be reached (the oldest are dropped beyond); 0 (unset) means
	// DefaultMetricsQueueSize.
	MetricsQueueSize int
	// StatusReportingPeriod is "log.statusReportingPeriodSeconds": how often the agent logs its
	// progress line; 0 (unset) means DefaultStatusReportingPeriod.
	StatusReportingPeriod time.Duration
	// AWSAccessKeyID and AWSSecretAccessKey are "awsAccessKeyId" and "awsSecretAccessKey": static
	// credentials used instead of the AWS SDK chain when both are set (the command logs a Warn:
	// instance roles are preferred). Only the command uses them; they are never logged.
	AWSAccessKeyID     string
	AWSSecretAccessKey string
	// AssumeRoleARN is "assumeRoleARN": the role the command assumes through STS AssumeRole with
	// the credentials above (or the SDK chain's), with AssumeRoleExternalID ("assumeRoleExternalId")
	// as its external ID when set. STSEndpoint ("sts.endpoint") overrides the STS endpoint.
	AssumeRoleARN        string
	AssumeRoleExternalID string
	STSEndpoint          string
	// CheckpointTTL is "checkpointTimeToLiveDays": how long the checkpoint entry of a file that
	// is no longer found is kept (a volume mounted late, a file moved away for a while). 0 (unset)
	// means DefaultCheckpointTTL, 7 days, as in the Kinesis Agent.
	CheckpointTTL time.Duration
	// ImportJavaCheckpoints is "shardwise.importJavaCheckpoints", a Shardwise key: the AWS Kinesis
	// Agent's SQLite checkpoint file to take over at the first start (when CheckpointFile does not
	// exist yet). Empty means DefaultJavaCheckpointFile when it exists, and a CheckpointFile that
	// is itself such a SQLite file (never written to); "off" turns the take-over off.
	ImportJavaCheckpoints string
	// ShutdownTimeout is "shutdownTimeoutMillis": how long Run flushes at shutdown (see the
	// ShutdownTimeout option, which overrides it); 0 (unset) means DefaultShutdownTimeout, 10s, as
	// in the Kinesis Agent.
	ShutdownTimeout time.Duration
	// Flows are the files to tail and where to send them ("flows").
	Flows []Flow
}

// Flow is one entry of "flows": files matching FilePattern go to KinesisStream.
type Flow struct {
	// FilePattern is "filePattern", required: a glob in the Kinesis Agent's (Java's) syntax: * ? [a-z]
	// [!a-z] and {log,txt} alternatives; unlike the Kinesis Agent, directories may hold globs too.
	FilePattern string
	// ExcludePattern is "excludePattern", a Shardwise key: files matching it are not tailed (same
	// syntax; without a slash it is matched against the file's name only, "*.tmp"). Compressed
	// files are never tailed (see the package documentation).
	ExcludePattern string
	KinesisStream  string // "kinesisStream": stream name or ARN, required
	// DeliveryStream is "deliveryStream", a Firehose delivery stream: the flow's records go to it
	// with PutRecordBatch instead (a flow has one of KinesisStream and DeliveryStream).
	DeliveryStream string
	// AggregatedRecordSizeBytes is "aggregatedRecordSizeBytes", Firehose flows only: consecutive
	// records are concatenated into one Firehose record of up to this many bytes (at most
	// 1,000 KiB); 0 (unset) sends one record per line, as the Kinesis Agent does.
	AggregatedRecordSizeBytes int
	PartitionKeyOption        PartitionKeyOption // "partitionKeyOption": RANDOM (default) or DETERMINISTIC
	InitialPosition           InitialPosition    // "initialPosition": END_OF_FILE (default) or START_OF_FILE
	// MaxBufferAge is "maxBufferAgeMillis", the producer's Linger; 0 (unset) is
	// DefaultMaxBufferAge (1s). The end of a backlog does not wait for it (see
	// DefaultMaxBufferAge).
	MaxBufferAge time.Duration
	// MaxBufferSizeRecords is "maxBufferSizeRecords", Kinesis records per PutRecords call (kpl
	// BatchMaxRecords); 0 (unset) keeps 500.
	MaxBufferSizeRecords int
	// MaxBufferSizeBytes is "maxBufferSizeBytes", bytes per PutRecords call (kpl BatchMaxBytes);
	// 0 (unset) keeps 5 MiB.
	MaxBufferSizeBytes int
	// SkipHeaderLines is "skipHeaderLines": lines skipped at the start of each file.
	SkipHeaderLines int
	// MultiLineStartPattern is "multiLineStartPattern": a Go regexp; a record begins at a line
	// matching it at the line's start and runs until the next such line.
	MultiLineStartPattern string
	// TruncatedRecordTerminator is "truncatedRecordTerminator": what ends a record cut at the
	// Kinesis record size limit. Nil means "\n".
	TruncatedRecordTerminator *string
	// MinTimeBetweenFilePolls is "minTimeBetweenFilePollsMillis"; 0 (unset) means 100ms.
	MinTimeBetweenFilePolls time.Duration
	// FileFooterPattern is "fileFooterPattern": a Go regexp; a record that matches it as a whole
	// (leading and trailing blanks aside) ends its file, as in the Kinesis Agent: neither it nor
	// anything after it in that file is sent (they count as filtered and are checkpointed).
	FileFooterPattern string
	// RetryInitialBackoff and RetryMaxBackoff are "retryInitialBackoffMillis" and
	// "retryMaxBackoffMillis": the jittered exponential backoff between tries to send records
	// that failed (the producer's per-shard retries and the agent's re-sends after a request-level
	// error). When either is set, the other defaults to the Kinesis Agent's (100ms, 10s); when
	// neither is, kpl's (100ms to 5s) and the agent's RetryBackoff (1s to 30s) apply.
	RetryInitialBackoff time.Duration
	RetryMaxBackoff     time.Duration
	// DataProcessingOptions are applied in order ("dataProcessingOptions").
	DataProcessingOptions []ProcessingOption
	// Aggregation is "shardwise.aggregation", a Shardwise key: true packs several lines into one
	// Kinesis record in the KPL aggregated format, which only consumers that deaggregate (KCL, the
	// deaggregation libraries) can read, and needs kinesis:ListShards and
	// kinesis:DescribeStreamSummary besides kinesis:PutRecords (Run checks them at start). False,
	// the default, sends one line per Kinesis record as the Kinesis Agent does, with PutRecords only.
	Aggregation bool
}

// ProcessingOption is one entry of "dataProcessingOptions".
type ProcessingOption struct {
	OptionName       string   // SINGLELINE, CSVTOJSON, LOGTOJSON, ADDMETADATA, ADDEC2METADATA or ADDBRACKETS
	CustomFieldNames []string // CSVTOJSON (required) and LOGTOJSON (optional)
	Delimiter        string   // CSVTOJSON; "" means ","
	LogFormat        string   // LOGTOJSON (required); accepted and unused with ADDEC2METADATA, as in the Kinesis Agent
	MatchPattern     string   // LOGTOJSON: a Go regexp with one group per custom field name
	// Metadata is ADDMETADATA's "metadata": any JSON value, put in each record as written.
	Metadata json.RawMessage
	// Timestamp is ADDMETADATA's "timestamp" ("true" or true): add "ts", the time of processing.
	Timestamp bool
	// MetadataTTL is ADDEC2METADATA's "metadataTTL" (seconds in agent.json): how long the instance
	// metadata is kept before it is read again; 0 means DefaultEC2MetadataTTL (an hour).
	MetadataTTL time.Duration
	// ParseOptions are SINGLELINE's "parseOptions": NO_TRIM keeps each line's leading and
	// trailing blanks, ESCAPE_NEW_LINE joins the lines with the three bytes \\n (a backslash, a
	// backslash and n, as the Kinesis Agent writes them) instead of nothing. Other values are
	// ignored with a Warn, as the Kinesis Agent ignores them.
	ParseOptions []string
	// JSONFormat is "jsonFormat": how CSVTOJSON, LOGTOJSON, ADDMETADATA and ADDEC2METADATA write
	// their JSON, JSONFormatCompact ("" means it) or JSONFormatPrettyPrint; other values are
	// rejected (by name, case-sensitive, as in the Kinesis Agent). The other options ignore it.
	JSONFormat string
}

// LoadConfig reads and parses the agent.json file at path, then the *.json files of the agent.d
// directory beside it (/etc/aws-kinesis/agent.d for /etc/aws-kinesis/agent.json), in name order,
// as the Kinesis Agent does: their flows are added to the main file's; their other settings apply
// when the main file (or an earlier agent.d file) does not set them, and are logged at Warn and
// ignored when it sets them differently. Errors in an agent.d file name it in the Field of the
// *ConfigError. See ParseConfig.
func LoadConfig(path string, log *slog.Logger) (Config, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("agent: reading configuration: %w", err)
	}
	cfg, err := ParseConfig(data, log)
	if err != nil {
		return Config{}, err
	}
	dir := filepath.Join(filepath.Dir(path), "agent.d")
	extra, _ := filepath.Glob(filepath.Join(dir, "*.json")) // sorted; the pattern is valid
	for _, p := range extra {
		name := "agent.d/" + filepath.Base(p)
		data, err := os.ReadFile(p)
		if err != nil {
			return Config{}, fmt.Errorf("agent: reading configuration: %w", err)
		}
		more, err := ParseConfig(data, log.With("file", name))
		if err != nil {
			var ce *ConfigError
			if errors.As(err, &ce) {
				c := *ce
				c.Field = strings.TrimSuffix(name+": "+c.Field, ": ")
				return Config{}, &c
			}
			return Config{}, err
		}
		mergeSetting(log, name, "checkpointFile", &cfg.CheckpointFile, more.CheckpointFile)
		mergeSetting(log, name, "kinesis.endpoint", &cfg.KinesisEndpoint, more.KinesisEndpoint)
		mergeSetting(log, name, "kinesis.region", &cfg.KinesisRegion, more.KinesisRegion)
		mergeSetting(log, name, "firehose.endpoint", &cfg.FirehoseEndpoint, more.FirehoseEndpoint)
		mergeSetting(log, name, "firehose.region", &cfg.FirehoseRegion, more.FirehoseRegion)
		mergeSetting(log, name, "awsAccessKeyId", &cfg.AWSAccessKeyID, more.AWSAccessKeyID)
		mergeSetting(log, name, "awsSecretAccessKey", &cfg.AWSSecretAccessKey, more.AWSSecretAccessKey)
		mergeSetting(log, name, "assumeRoleARN", &cfg.AssumeRoleARN, more.AssumeRoleARN)
		mergeSetting(log, name, "assumeRoleExternalId", &cfg.AssumeRoleExternalID, more.AssumeRoleExternalID)
		mergeSetting(log, name, "sts.endpoint", &cfg.STSEndpoint, more.STSEndpoint)
		if cfg.CheckpointTTL == 0 {
			cfg.CheckpointTTL = more.CheckpointTTL
		}
		mergeSetting(log, name, "cloudwatch.endpoint", &cfg.CloudWatchEndpoint, more.CloudWatchEndpoint)
		mergeSetting(log, name, "cloudwatch.namespace", &cfg.CloudWatchNamespace, more.CloudWatchNamespace)
		if cfg.EmitMetrics == nil {
			cfg.EmitMetrics = more.EmitMetrics
		}
		cfg.CloudWatchTagInstance = cfg.CloudWatchTagInstance || more.CloudWatchTagInstance
		cfg.MetricsBufferTime = cmp.Or(cfg.MetricsBufferTime, more.MetricsBufferTime)
		cfg.MetricsQueueSize = cmp.Or(cfg.MetricsQueueSize, more.MetricsQueueSize)
		cfg.StatusReportingPeriod = cmp.Or(cfg.StatusReportingPeriod, more.StatusReportingPeriod)
		cfg.Flows = append(cfg.Flows, more.Flows...)
		log.Info("configuration file added", "file", p, "flows", len(more.Flows))
	}
	return cfg, nil
}

// Defaults of the cloudwatch.* and log.* keys, the Kinesis Agent's.
const (
	DefaultCloudWatchNamespace   = "AWSKinesisAgent"
	DefaultMetricsBufferTime     = 30 * time.Second
	DefaultMetricsQueueSize      = 10_000
	DefaultStatusReportingPeriod = 30 * time.Second
)

// MetricsEnabled reports whether CloudWatch metrics are to be published: "cloudwatch.emitMetrics"
// unset or true.
func (c Config) MetricsEnabled() bool { return c.EmitMetrics == nil || *c.EmitMetrics }

// mergeSetting takes an agent.d file's value of a setting the configuration does not set yet.
func mergeSetting(log *slog.Logger, file, key string, dst *string, v string) {
	switch {
	case v == "" || v == *dst:
	case *dst == "":
		*dst = v
	default:
		log.Warn("agent.d setting differs from the one already set, ignored", "file", file, "key", key)
	}
}

// ParseConfig parses an agent.json document. Comments (// to the end of the line, and /* ... */)
// are allowed, as the Kinesis Agent's parser allows them. Numbers may be given as JSON numbers or
// strings, as the Kinesis Agent accepts. Settings of the Kinesis Agent that Shardwise does not use, and
// unknown keys, are logged at Warn on log (nil: not logged) and otherwise ignored. Malformed
// values return a *ConfigError naming the field. ParseConfig does not call Validate.
func ParseConfig(data []byte, log *slog.Logger) (Config, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	data, err := stripComments(data)
	if err != nil {
		return Config{}, &ConfigError{Reason: err.Error()}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return Config{}, &ConfigError{Reason: "not a JSON object: " + err.Error()}
	}
	var cfg Config
	for _, key := range sortedKeys(top) {
		raw := top[key]
		if isNull(raw) {
			continue
		}
		switch key {
		case "checkpointFile":
			cfg.CheckpointFile, err = jsonString(key, raw)
		case "kinesis.endpoint":
			cfg.KinesisEndpoint, err = jsonString(key, raw)
		case "kinesis.region":
			cfg.KinesisRegion, err = jsonString(key, raw)
		case "cloudwatch.emitMetrics":
			var b bool
			b, err = jsonBool(key, raw)
			cfg.EmitMetrics = &b
		case "cloudwatch.endpoint":
			cfg.CloudWatchEndpoint, err = jsonString(key, raw)
		case "cloudwatch.namespace":
			cfg.CloudWatchNamespace, err = jsonString(key, raw)
		case "cloudwatch.tagInstance":
			cfg.CloudWatchTagInstance, err = jsonBool(key, raw)
		case "cloudwatch.metricsBufferTimeMillis":
			var n int64
			n, err = jsonInt(key, raw)
			cfg.MetricsBufferTime = time.Duration(n) * time.Millisecond
			if err == nil && (n < 1000 || n > 3600_000) {
				err = configErr(key, "must be in [1000, 3600000] ms, got %d", n)
			}
		case "cloudwatch.metricsQueueSize":
			var n int64
			n, err = jsonInt(key, raw)
			cfg.MetricsQueueSize = int(n)
			if err == nil && (n < 1 || n > 10_000_000) {
				err = configErr(key, "must be in [1, 10000000], got %d", n)
			}
		case "log.statusReportingPeriodSeconds":
			var n int64
			n, err = jsonInt(key, raw)
			cfg.StatusReportingPeriod = time.Duration(n) * time.Second
			if err == nil && (n < 1 || n > 86400) {
				err = configErr(key, "must be in [1, 86400] seconds, got %d", n)
			}
		case "flows":
			cfg.Flows, err = parseFlows(raw, log)
		case "awsAccessKeyId":
			cfg.AWSAccessKeyID, err = jsonString(key, raw)
		case "awsSecretAccessKey":
			cfg.AWSSecretAccessKey, err = jsonString(key, raw)
		case "assumeRoleARN":
			cfg.AssumeRoleARN, err = jsonString(key, raw)
		case "assumeRoleExternalId":
			cfg.AssumeRoleExternalID, err = jsonString(key, raw)
		case "sts.endpoint":
			cfg.STSEndpoint, err = jsonString(key, raw)
		case "shardwise.importJavaCheckpoints":
			cfg.ImportJavaCheckpoints, err = jsonString(key, raw)
		case "checkpointTimeToLiveDays":
			var n int64
			n, err = jsonInt(key, raw)
			cfg.CheckpointTTL = time.Duration(n) * 24 * time.Hour
			if err == nil && (n <= 0 || n > 36500) {
				err = configErr(key, "must be in [1, 36500] days, got %d", n)
			}
		case "shutdownTimeoutMillis":
			var n int64
			n, err = jsonInt(key, raw)
			cfg.ShutdownTimeout = time.Duration(n) * time.Millisecond
			if err == nil && n <= 0 {
				err = configErr(key, "must be positive, got %d", n)
			}
		case "firehose.endpoint":
			cfg.FirehoseEndpoint, err = jsonString(key, raw)
		case "firehose.region":
			cfg.FirehoseRegion, err = jsonString(key, raw)
		case "userDefinedCredentialsProvider.classname",
			"userDefinedCredentialsProvider.location", "log.level", "log.maxBackupIndex",
			"log.maxFileSize", "sendingThreadsMaxQueueSize",
			"maxSendingThreads", "sendingThreadsKeepAliveMillis", "maxSendingThreadsPerCore",
			"log.emitMetrics", "log.emitInternalMetrics", "maxConnections", "connectionTimeoutMillis",
			"connectionTTLMillis", "socketTimeoutMillis", "useTcpKeepAlive", "useHttpGzip", "userAgent",
			"userAgentOverride", "checkpoints.queryTimeoutSeconds", "checkpoints.connectionTimeoutSeconds":
			log.Warn("agent.json setting not supported by shardwise-agent, ignored", "key", key)
		default:
			log.Warn("unknown agent.json key ignored", "key", key)
		}
		if err != nil {
			return Config{}, err
		}
	}
	return cfg, nil
}

func parseFlows(raw json.RawMessage, log *slog.Logger) ([]Flow, error) {
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, configErr("flows", "must be an array of objects")
	}
	flows := make([]Flow, 0, len(items))
	for i, item := range items {
		var f Flow
		prefix := fmt.Sprintf("flows[%d].", i)
		for _, key := range sortedKeys(item) {
			raw := item[key]
			field := prefix + key
			if isNull(raw) {
				continue
			}
			var err error
			var n int64
			switch key {
			case "filePattern":
				f.FilePattern, err = jsonString(field, raw)
			case "kinesisStream":
				f.KinesisStream, err = jsonString(field, raw)
			case "excludePattern":
				f.ExcludePattern, err = jsonString(field, raw)
			case "deliveryStream":
				f.DeliveryStream, err = jsonString(field, raw)
			case "partitionKeyOption":
				var s string
				s, err = jsonString(field, raw)
				f.PartitionKeyOption = PartitionKeyOption(s)
			case "initialPosition":
				var s string
				s, err = jsonString(field, raw)
				f.InitialPosition = InitialPosition(s)
			case "maxBufferAgeMillis":
				n, err = jsonInt(field, raw)
				f.MaxBufferAge = time.Duration(n) * time.Millisecond
				if err == nil && n <= 0 {
					err = configErr(field, "must be positive, got %d", n)
				}
			case "maxBufferSizeRecords":
				n, err = jsonInt(field, raw)
				f.MaxBufferSizeRecords = int(n)
				if err == nil && (n < 1 || n > maxBufferRecordsLimit) {
					err = configErr(field, "must be in [1, %d], got %d", maxBufferRecordsLimit, n)
				}
			case "maxBufferSizeBytes":
				n, err = jsonInt(field, raw)
				f.MaxBufferSizeBytes = int(n)
				if err == nil && (n < 1 || n > maxBufferBytesLimit) {
					err = configErr(field, "must be in [1, %d], got %d", maxBufferBytesLimit, n)
				}
			case "skipHeaderLines":
				n, err = jsonInt(field, raw)
				f.SkipHeaderLines = int(n)
				if err == nil && n < 0 {
					err = configErr(field, "must not be negative, got %d", n)
				}
			case "minTimeBetweenFilePollsMillis":
				n, err = jsonInt(field, raw)
				f.MinTimeBetweenFilePolls = time.Duration(n) * time.Millisecond
				if err == nil && n <= 0 {
					err = configErr(field, "must be positive, got %d", n)
				}
			case "multiLineStartPattern":
				f.MultiLineStartPattern, err = jsonString(field, raw)
			case "truncatedRecordTerminator":
				var s string
				s, err = jsonString(field, raw)
				f.TruncatedRecordTerminator = &s
			case "dataProcessingOptions":
				f.DataProcessingOptions, err = parseProcessing(field, raw, log)
			case "shardwise.aggregation":
				f.Aggregation, err = jsonBool(field, raw)
			case "aggregatedRecordSizeBytes":
				n, err = jsonInt(field, raw)
				f.AggregatedRecordSizeBytes = int(n)
				if err == nil && (n < 0 || n > firehoseMaxRecordBytes) {
					err = configErr(field, "must be in [0, %d], got %d", firehoseMaxRecordBytes, n)
				}
			case "fileFooterPattern":
				f.FileFooterPattern, err = jsonString(field, raw)
			case "retryInitialBackoffMillis":
				n, err = jsonInt(field, raw)
				f.RetryInitialBackoff = time.Duration(n) * time.Millisecond
				if err == nil && n <= 0 {
					err = configErr(field, "must be positive, got %d", n)
				}
			case "retryMaxBackoffMillis":
				n, err = jsonInt(field, raw)
				f.RetryMaxBackoff = time.Duration(n) * time.Millisecond
				if err == nil && n <= 0 {
					err = configErr(field, "must be positive, got %d", n)
				}
			case "maxTimeBetweenFileTrackerRefreshMillis", "publishQueueCapacity", "log.emitInternalMetrics",
				"waitOnFullPublishQueueMillis", "waitOnEmptyPublishQueueMillis", "waitOnFullRetryQueueMillis":
				log.Warn("agent.json flow setting not supported by shardwise-agent, ignored", "key", field)
			default:
				log.Warn("unknown agent.json flow key ignored", "key", field)
			}
			if err != nil {
				return nil, err
			}
		}
		flows = append(flows, f)
	}
	return flows, nil
}

func parseProcessing(field string, raw json.RawMessage, log *slog.Logger) ([]ProcessingOption, error) {
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, configErr(field, "must be an array of objects")
	}
	opts := make([]ProcessingOption, 0, len(items))
	for i, item := range items {
		var o ProcessingOption
		prefix := fmt.Sprintf("%s[%d].", field, i)
		for _, key := range sortedKeys(item) {
			raw := item[key]
			if isNull(raw) {
				continue
			}
			var err error
			switch key {
			case "optionName":
				o.OptionName, err = jsonString(prefix+key, raw)
			case "customFieldNames":
				if err = json.Unmarshal(raw, &o.CustomFieldNames); err != nil {
					err = configErr(prefix+key, "must be an array of strings")
				}
			case "delimiter":
				o.Delimiter, err = jsonString(prefix+key, raw)
			case "logFormat":
				o.LogFormat, err = jsonString(prefix+key, raw)
			case "matchPattern":
				o.MatchPattern, err = jsonString(prefix+key, raw)
			case "metadata":
				o.Metadata = slices.Clone(raw)
			case "timestamp":
				o.Timestamp, err = jsonBool(prefix+key, raw)
			case "jsonFormat":
				o.JSONFormat, err = jsonString(prefix+key, raw)
			case "parseOptions":
				if err = json.Unmarshal(raw, &o.ParseOptions); err != nil {
					err = configErr(prefix+key, "must be an array of strings")
				}
			case "metadataTTL":
				var n int64
				n, err = jsonInt(prefix+key, raw)
				o.MetadataTTL = time.Duration(n) * time.Second
				if err == nil && n <= 0 {
					err = configErr(prefix+key, "must be a positive number of seconds, got %d", n)
				}
			default:
				log.Warn("unknown agent.json processing option key ignored", "key", prefix+key)
			}
			if err != nil {
				return nil, err
			}
		}
		for _, po := range o.ParseOptions {
			if o.OptionName != OptionSingleLine {
				log.Warn("parseOptions applies only to SINGLELINE: ignored", "key", prefix+"parseOptions", "optionName", o.OptionName)
				break
			}
			if po != ParseNoTrim && po != ParseEscapeNewLine {
				log.Warn("SINGLELINE parseOptions value not known (NO_TRIM, ESCAPE_NEW_LINE are): ignored", "key", prefix+"parseOptions", "value", po)
			}
		}
		if o.JSONFormat != "" && !writesJSON(o.OptionName) {
			log.Warn("jsonFormat applies only to CSVTOJSON, LOGTOJSON, ADDMETADATA and ADDEC2METADATA: ignored",
				"key", prefix+"jsonFormat", "optionName", o.OptionName)
		}
		if o.OptionName == OptionCSVToJSON {
			if re, err := javaDelimiter(o.Delimiter); err == nil && re.MatchString("") {
				log.Warn("CSVTOJSON delimiter is a regular expression that matches the empty string: it splits between every character, as in the Kinesis Agent; escape it (\\| for |) for a literal delimiter",
					"key", prefix+"delimiter", "delimiter", o.Delimiter)
			}
		}
		opts = append(opts, o)
	}
	return opts, nil
}

// stripComments replaces the comments of a JSON document (// to the end of the line, /* ... */)
// with spaces, newlines kept, so offsets in later errors still point at the right line.
func stripComments(data []byte) ([]byte, error) {
	if !bytes.Contains(data, []byte("/")) {
		return data, nil
	}
	out := bytes.Clone(data)
	inString := false
	for i := 0; i < len(out); i++ {
		c := out[i]
		switch {
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '/' && i+1 < len(out) && out[i+1] == '/':
			for ; i < len(out) && out[i] != '\n'; i++ {
				out[i] = ' '
			}
		case c == '/' && i+1 < len(out) && out[i+1] == '*':
			end := bytes.Index(out[i+2:], []byte("*/"))
			if end < 0 {
				return nil, errors.New("not a JSON object: unterminated /* comment")
			}
			for j := i; j < i+2+end+2; j++ {
				if out[j] != '\n' {
					out[j] = ' '
				}
			}
			i += 2 + end + 1
		}
	}
	return out, nil
}

// isNull reports a JSON null, which leaves a setting unset.
func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// sortedKeys gives a deterministic order, so errors and logs are reproducible.
func sortedKeys(m map[string]json.RawMessage) []string { return slices.Sorted(maps.Keys(m)) }

func jsonString(field string, raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", configErr(field, "must be a string")
	}
	return s, nil
}

func jsonBool(field string, raw json.RawMessage) (bool, error) {
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return b, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if v, err := strconv.ParseBool(s); err == nil {
			return v, nil
		}
	}
	return false, configErr(field, "must be true or false")
}

func jsonInt(field string, raw json.RawMessage) (int64, error) {
	raw = bytes.TrimSpace(raw)
	text := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return 0, configErr(field, "must be an integer")
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
	if err != nil {
		return 0, configErr(field, "must be an integer, got %s", raw)
	}
	return n, nil
}

// Validate checks the configuration and returns the first problem as a *ConfigError.
func (c Config) Validate() error {
	if len(c.Flows) == 0 {
		return configErr("flows", "at least one flow is required")
	}
	switch {
	case c.AWSAccessKeyID != "" && c.AWSSecretAccessKey == "":
		return configErr("awsSecretAccessKey", "is required when awsAccessKeyId is set")
	case c.AWSAccessKeyID == "" && c.AWSSecretAccessKey != "":
		return configErr("awsAccessKeyId", "is required when awsSecretAccessKey is set")
	case c.AssumeRoleExternalID != "" && c.AssumeRoleARN == "":
		return configErr("assumeRoleExternalId", "needs assumeRoleARN")
	case c.CheckpointTTL < 0:
		return configErr("checkpointTimeToLiveDays", "must be positive")
	case c.MetricsBufferTime < 0:
		return configErr("cloudwatch.metricsBufferTimeMillis", "must be positive")
	case c.MetricsQueueSize < 0:
		return configErr("cloudwatch.metricsQueueSize", "must be positive")
	case c.StatusReportingPeriod < 0:
		return configErr("log.statusReportingPeriodSeconds", "must be positive")
	case c.ShutdownTimeout < 0:
		return configErr("shutdownTimeoutMillis", "must be positive")
	}
	type key struct{ pattern, stream string }
	seen := map[key]int{}
	for i, f := range c.Flows {
		if err := f.validate(fmt.Sprintf("flows[%d].", i)); err != nil {
			return err
		}
		k := key{f.FilePattern, f.streamKey()}
		if j, dup := seen[k]; dup {
			return configErr(fmt.Sprintf("flows[%d]", i), "same filePattern and destination as flows[%d]", j)
		}
		seen[k] = i
	}
	return nil
}

// Defaults of retryInitialBackoffMillis and retryMaxBackoffMillis when only the other is set:
// the Kinesis Agent's.
const (
	javaRetryInitialBackoff = 100 * time.Millisecond
	javaRetryMaxBackoff     = 10 * time.Second
)

// retryPolicy is the flow's backoff between tries of failed records: its retry keys when either
// is set, else def.
func (f Flow) retryPolicy(def backoff.Policy) backoff.Policy {
	if f.RetryInitialBackoff == 0 && f.RetryMaxBackoff == 0 {
		return def
	}
	return backoff.Policy{Base: cmp.Or(f.RetryInitialBackoff, javaRetryInitialBackoff), Max: cmp.Or(f.RetryMaxBackoff, javaRetryMaxBackoff)}
}

// streamKey names the flow's destination in checkpoints, markers, logs and hooks: the
// kinesisStream, or "firehose:" and the deliveryStream (no Kinesis stream name has a colon).
func (f Flow) streamKey() string {
	if f.KinesisStream == "" && f.DeliveryStream != "" {
		return "firehose:" + f.DeliveryStream
	}
	return f.KinesisStream
}

func (f Flow) validate(prefix string) error {
	switch {
	case f.FilePattern == "":
		return configErr(prefix+"filePattern", "is required")
	case f.DeliveryStream != "" && f.KinesisStream != "":
		return configErr(prefix+"deliveryStream", "a flow has either kinesisStream or deliveryStream, not both")
	case f.KinesisStream == "" && f.DeliveryStream == "":
		return configErr(prefix+"kinesisStream", "is required")
	case f.DeliveryStream != "" && f.Aggregation:
		return configErr(prefix+"shardwise.aggregation", "is for kinesisStream flows (Firehose flows use aggregatedRecordSizeBytes)")
	}
	if _, err := compileGlob(f.FilePattern); err != nil {
		return configErr(prefix+"filePattern", "%v", err)
	}
	if _, err := compileGlob(f.ExcludePattern); err != nil {
		return configErr(prefix+"excludePattern", "%v", err)
	}
	switch f.PartitionKeyOption {
	case "", PartitionKeyRandom, PartitionKeyDeterministic:
	default:
		return configErr(prefix+"partitionKeyOption", "must be RANDOM or DETERMINISTIC, got %q", f.PartitionKeyOption)
	}
	switch f.InitialPosition {
	case "", StartOfFile, EndOfFile:
	default:
		return configErr(prefix+"initialPosition", "must be START_OF_FILE or END_OF_FILE, got %q", f.InitialPosition)
	}
	switch {
	case f.MaxBufferAge < 0 || f.MaxBufferAge > maxBufferAgeLimit:
		return configErr(prefix+"maxBufferAgeMillis", "must be in [1, %d]", maxBufferAgeLimit.Milliseconds())
	case f.MaxBufferSizeRecords < 0 || f.MaxBufferSizeRecords > maxBufferRecordsLimit:
		return configErr(prefix+"maxBufferSizeRecords", "must be in [1, %d]", maxBufferRecordsLimit)
	case f.MaxBufferSizeBytes < 0 || f.MaxBufferSizeBytes > maxBufferBytesLimit:
		return configErr(prefix+"maxBufferSizeBytes", "must be in [1, %d]", maxBufferBytesLimit)
	case f.SkipHeaderLines < 0:
		return configErr(prefix+"skipHeaderLines", "must not be negative")
	case f.MinTimeBetweenFilePolls < 0:
		return configErr(prefix+"minTimeBetweenFilePollsMillis", "must be positive")
	case f.RetryInitialBackoff < 0:
		return configErr(prefix+"retryInitialBackoffMillis", "must be positive")
	case f.RetryMaxBackoff < 0:
		return configErr(prefix+"retryMaxBackoffMillis", "must be positive")
	}
	if f.FileFooterPattern != "" {
		if _, err := compileFooter(f.FileFooterPattern); err != nil {
			return configErr(prefix+"fileFooterPattern", "bad regular expression: %v", err)
		}
	}
	if f.MultiLineStartPattern != "" {
		if _, err := regexp.Compile(f.MultiLineStartPattern); err != nil {
			return configErr(prefix+"multiLineStartPattern", "bad regular expression: %v", err)
		}
	}
	for i, o := range f.DataProcessingOptions {
		if _, err := newProcessor(o, fmt.Sprintf("%sdataProcessingOptions[%d].", prefix, i)); err != nil {
			return err
		}
	}
	return nil
}
