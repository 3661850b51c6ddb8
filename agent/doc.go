// Package agent is a log-tailing agent: the AWS Kinesis Agent's job in Go, on top of package kpl.
// It follows the files of each flow of an agent.json configuration, cuts them into records (one per
// line, or one per group of lines with multiLineStartPattern), reshapes them with the
// dataProcessingOptions and sends them to a Kinesis data stream through a kpl.Producer, keeping a
// durable checkpoint of how far each file was delivered.
//
// # Wire format
//
// By default the records are what the Kinesis Agent sends: one line (or multi-line record) per
// Kinesis record, with the flow's partition key (partitionKeyOption RANDOM: a random double in
// [0, 1000000) in Java's notation, "604938.5731295842", as the Kinesis Agent makes it;
// DETERMINISTIC: the lower-case hex MD5 of the record data). The producer runs with
// kpl.DisableAggregation and kpl.DisableShardPrediction: it calls PutRecords only (never
// ListShards), so the Kinesis Agent's usual IAM policy (kinesis:PutRecords) is enough. Lines go
// in file order into PutRecords calls, two calls in flight per flow (the Kinesis Agent sends with
// many threads at once and keeps no order). Kinesis may apply the later of the two first, so on a
// shard a line can come after lines of the call that followed its own (at most two calls,
// 2 × maxBufferSizeRecords lines, apart), never after later ones unless it is sent again. The two
// calls in flight never carry the same partition key, and a failed entry is sent again before any
// later line of its key, so the lines of one key stay in file order (but for lines the agent sends
// again itself after a request-level error: see Delivery and checkpoints). A line whose entry
// failed is sent again after the lines that followed it in its call and in the call beside it (the
// Kinesis Agent also sends it again later). Two calls keep Kinesis and the agent busy at once:
// about 1.4 times the lines per second of one call at a time in BenchmarkAgentThroughput/default
// (kinesistest in the same process; 1.0 to 1.6 in pairs of runs); against AWS, where a call's
// round trip dominates, the gain should be nearer twice (not measured here). The Shardwise key
// "shardwise.aggregation": true in a flow turns KPL aggregation on (fewer, larger Kinesis records,
// per-shard order kept under retries by kpl.StrictOrdering); only consumers that deaggregate (the
// KCL, the deaggregation libraries) read such records. It needs kinesis:ListShards and
// kinesis:DescribeStreamSummary as well: Run calls both at start and returns a *PermissionError
// naming the denied action.
//
//	cfg, err := agent.LoadConfig("/etc/aws-kinesis/agent.json", logger)
//	if err != nil { ... }                  // *agent.ConfigError names the field
//	a, err := agent.New(cfg, kinesis.NewFromConfig(awsCfg), agent.WithLogger(logger))
//	if err != nil { ... }
//	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
//	defer stop()
//	err = a.Run(ctx) // tails until ctx ends, then flushes, writes checkpoints and returns
//
// # Configuration
//
// Config mirrors agent.json (ParseConfig, LoadConfig). Comments (// and /* */) are allowed, as the
// Kinesis Agent's parser allows them, and LoadConfig adds the agent.d/*.json files beside the main
// file (their flows are appended). Keys: checkpointFile, checkpointTimeToLiveDays,
// kinesis.endpoint, kinesis.region, awsAccessKeyId and awsSecretAccessKey (static keys),
// assumeRoleARN, assumeRoleExternalId and sts.endpoint (the last seven used by the shardwise-agent
// command to build its AWS configuration; the secret is never logged), the cloudwatch.* keys and
// log.statusReportingPeriodSeconds (see Visibility), shutdownTimeoutMillis (how long the shutdown
// flush may take, 10s by default; the ShutdownTimeout option overrides it) and flows with
// filePattern, kinesisStream, partitionKeyOption (RANDOM, DETERMINISTIC: MD5 of the record data
// after processing), initialPosition (END_OF_FILE by
// default), maxBufferAgeMillis (the producer's Linger), maxBufferSizeRecords and maxBufferSizeBytes
// (records and bytes per PutRecords call), skipHeaderLines, multiLineStartPattern,
// truncatedRecordTerminator, minTimeBetweenFilePollsMillis, fileFooterPattern (a record matching it
// as a whole, blanks aside, ends its file: neither it nor what follows in that file is sent, as in
// the Kinesis Agent; they are checkpointed as done, and a file that replaces it is read),
// retryInitialBackoffMillis and retryMaxBackoffMillis (the backoff between tries of failed
// records: the producer's and the agent's re-sends; one alone takes the Kinesis Agent's 100ms or
// 10s for the other) and dataProcessingOptions; the Shardwise keys excludePattern and
// shardwise.aggregation. Numbers may be JSON strings. A flow with a
// deliveryStream instead of a kinesisStream sends to Amazon Data Firehose with PutRecordBatch
// through the client given with WithFirehose (500 records and 4 MiB per call, 1,000 KiB per
// record, failed entries sent again with backoff, checkpoints as for Kinesis); its
// aggregatedRecordSizeBytes concatenates consecutive lines into one Firehose record of up to that
// size. Its checkpoint entries name the destination "firehose:<deliveryStream>". Other Kinesis
// Agent settings and unknown keys are logged at Warn and ignored.
//
// filePattern and excludePattern are globs in the Kinesis Agent's syntax (Java's): * ? [a-z],
// [!a-z] for a negated class and {log,txt} alternatives (nesting allowed); unlike the Kinesis
// Agent, directories may hold globs too. A flow whose pattern has matched no file to tail for a
// minute logs a Warn (once, until files appear again).
//
// Differences from the Kinesis Agent: every file matching filePattern is tailed, tracked by inode
// (the Kinesis Agent follows the newest file and tells rotations apart by timestamps, so it needs
// rotations at least a second apart); maxBufferAgeMillis unset is 1s, the least the Kinesis
// Agent accepts (its default is 60s); regular expressions use Go's syntax (RE2), which covers the
// usual Java ones but not look-around, back-references or possessive quantifiers (rejected with a
// *ConfigError); SINGLELINE joins the trimmed lines without a separator, as the Kinesis Agent does.
//
// # Processing options
//
// SINGLELINE removes newlines and each line's leading and trailing blanks and ends the record with
// one newline; its "parseOptions" NO_TRIM keeps the blanks and ESCAPE_NEW_LINE joins the lines
// with the three bytes \\n (as the Kinesis Agent writes them) instead of nothing. CSVTOJSON
// maps the columns to customFieldNames ({"f1":"v1",...}, missing columns null, extra ones
// dropped); its delimiter (default ",") is a regular expression, as in the Kinesis
// Agent, and splits as Java's String.split does (trailing empty columns dropped): "\\|" in
// agent.json is a literal |, "\\t" a tab; an unescaped "|" matches the empty string and splits
// between every character, as in the Kinesis Agent (ParseConfig logs a Warn). LOGTOJSON parses
// COMMONAPACHELOG (host ident authuser datetime request response bytes), COMBINEDAPACHELOG (and
// referer agent), APACHEERRORLOG (timestamp module severity processid threadid client message),
// SYSLOG and RFC3339SYSLOG (timestamp hostname program processid message) into a JSON object; "-"
// in the Apache formats and absent optional groups are null; customFieldNames renames the fields;
// matchPattern with customFieldNames replaces the format (one group per field, matched against the
// whole line). A line that does not match is dropped, as the Kinesis Agent drops it (counted in
// Stats.RecordsFiltered, logged at Debug). ADDMETADATA makes each record
// {"ts":"2026-12-04T17:01:02.345Z","metadata":<its "metadata" value as written, null when
// absent>,"data":"<the record without its last newline>"}; "ts" (UTC, milliseconds) only with
// "timestamp": "true". ADDBRACKETS wraps the record in braces, newline included ("{line\n}"), as the
// Kinesis Agent does. ADDEC2METADATA sets privateIp, availabilityZone, instanceId, instanceType,
// accountId, amiId, region, metadataTimestamp and tags (keys lower-cased) on a record that is a JSON
// object (a key it has keeps its place and takes the metadata's value; the others are appended).
// The metadata is read from the instance metadata service (IMDSv2) at the first record and again
// after "metadataTTL" seconds (an hour by default), each read bounded by 2s; the tags come from
// the instance metadata when instance tags in metadata are enabled on the instance, else from
// ec2:DescribeTags (filter resource-id = the instance id, in the instance's region, every page,
// within 5s) through the EC2TagsAPI given with WithEC2Tags, as the Kinesis Agent reads them (the
// shardwise-agent command gives one speaking the EC2 Query API with the identity before
// assumeRoleARN, at AWS_ENDPOINT_URL_EC2 when set). When DescribeTags is denied, one Warn names
// ec2:DescribeTags and records go without "tags" (it is tried again after each TTL; the Warn is
// repeated only after tags were read in between); when it fails otherwise the tags read before are
// kept; without a client a Warn says so and records get no "tags". Off EC2 a Warn is logged at each
// failed read and records pass unchanged, as they do in the Kinesis Agent; a record that is not a
// JSON object passes unchanged from that option (the Kinesis Agent sends the raw line instead,
// before every option). JSON output ends with a newline; "jsonFormat": "PRETTYPRINT" on CSVTOJSON,
// LOGTOJSON, ADDMETADATA or ADDEC2METADATA lays it out as the Kinesis Agent's PRETTYPRINT does
// (Jackson's default pretty printer: one member per line, "key" : value, two spaces per object
// level, arrays on one line as [ a, b ], empty ones as { } and [ ]), "COMPACT" (the default) on one
// line; other values are a *ConfigError. A record longer than the Kinesis record limit
// (MaxRecordSize, 1 MiB, partition key included) is cut and ends with truncatedRecordTerminator
// ("\n" by default).
//
// # Files, rotation and offsets
//
// Each poll (minTimeBetweenFilePollsMillis, 100ms by default) matches filePattern and tracks every
// regular file by identity (device and inode) and a fingerprint of its first 256 bytes. Compressed
// files are never tailed: by name (.gz .bz2 .zip .xz .zst .tgz .lz4 .z, any case; the Kinesis
// Agent skips .gz .bz2 .zip) and by content (gzip, bzip2, zip, xz, zstd and lz4 magic bytes), so a
// rotation that compresses app.log.1 sends no binary records; nor are files matching the flow's
// excludePattern (a Shardwise key). Records are lines with their newline, as the Kinesis Agent
// sends them; a partial last line waits for its newline.
//
// Rotation by rename (logrotate's create): the renamed file is followed by its inode and read to
// its end, bytes the application still appends to it included; its held-back partial line (or
// open multi-line record) is sent only once the file has stayed unchanged for IdleFlush (5s), so a
// buffered logger that writes the rest of its line to the renamed file before reopening does not
// get it cut in two. Files are read rotated-first, then oldest first. A file that leaves the
// pattern or is deleted is read to its end through its open handle, then forgotten.
//
// Rotation by copy (copytruncate, or cp): a new file whose first bytes equal a tracked file's
// fingerprint, which holds the same bytes just before that file's read offset and is at least as
// long as its committed offset, is a copy: it is not read while the original still holds the same
// data. When the original is truncated, the copy takes over the original's old content where the
// agent was (offsets, the held partial line, the records on their way and their checkpoint) and is
// read from there, and the original is read again from offset 0; when the original is deleted, the
// copy is read from where the original ended; when the copy grows with bytes the original does not
// hold at the same offsets (a new file that only began like a tracked one, with the same header),
// it is read from its start (re-sending rather than losing). A copy found after the truncation
// (both between two polls) is linked the same way for a minute; a copy shorter than the committed
// offset is looked at again until IdleFlush has passed (it may still be being written), then read
// as a new file. A copy made while the agent was down resumes at the checkpoint of the content it
// copies (the checkpoint entry whose inode now holds other content). A file that shrinks below the
// read offset or whose first bytes change, with no copy, restarts at offset 0.
//
// Many files: on Linux the directories of filePattern are watched with inotify (one instance per
// Agent). A poll then lists the pattern only when a matching name was created, deleted or renamed,
// and looks only at the files a notification named and at the busy ones (not read to their end,
// records on their way, a held-back line waiting for IdleFlush, copies); every 10 s it lists and
// looks at everything anyway, and after a notification queue overflow. Directories that cannot
// be watched are polled as above: not there yet, on a network or FUSE file system (other hosts'
// writes raise no notification), under a pattern with wildcards in its directories, or when
// inotify is not available. The first bytes are checked again when size or modification time
// changed, when a notification named the file, and when the last check was made within 3 s of
// the file's modification time (a rewrite in the same clock tick keeps both). A file whose data is
// all read and delivered and that stayed unchanged for 10 s has its descriptor closed: a rotated
// file always, a file under its live name only in a watched directory. It is opened again by
// path when it changes (it must still have its device and inode), and under its new name when it
// is renamed within the watched directories. What such a closed file gets written in the instant
// before it is deleted, or moved out of the watched directories, is not read.
//
// A file that appears after the flow started is read from its start; initialPosition applies only
// to the files found when a flow starts for the very first time: the checkpoint file keeps a
// "started" marker per flow (filePattern and stream), so after a restart the files written
// meanwhile are read from their start, even when the flow had no file before. END_OF_FILE skips
// complete lines only (a last line still being written is sent once complete). START_OF_FILE reads
// only the newest file of each rotation family from its start, as the Kinesis Agent reads only
// the newest file, and takes the older ones as sent (lines added to them later are sent). A
// rotation family is the files of a directory whose names are equal once every run of digits, with
// the separator (- _ .) just before it, is removed: app.log, app.log.1, app.log-20261204 and
// app.2026-12-04.log are one family; so are app1.log and app2.log. The newest is the one modified
// last (on a tie, the name without digits).
// skipHeaderLines skips the first lines of every file read from offset 0. A multi-line record ends
// at the next start line, when its file is rotated, or when its file stays unchanged for
// IdleFlush (5s).
//
// # Delivery and checkpoints
//
// Delivery is at least once. A file's checkpoint advances only past records whose Future
// succeeded, in file order (records dropped by LOGTOJSON and header lines count as done). The
// producer retries throttling and failures without a time limit (RecordTTL 0) and keeps each
// shard's order (StrictOrdering); records it gives up on because of a request-level error (missing
// stream, denied access) are kept and sent again by the agent after RetryBackoff, in file order.
// Only records Kinesis can never accept (invalid, too large) are skipped: logged at Error and
// counted in Stats.RecordsFailed, never silently. Reading pauses when MaxPendingRecords are waiting.
//
// A record waits up to maxBufferAgeMillis (1s by default) for the ones after it, so that a slow
// log shares calls: a line every 100 ms costs one PutRecords call a second. The end of a backlog
// does not wait: when a poll has read every file of the flow to its end and the reads since the
// files were last all at their end queued a full call's worth (maxBufferSizeRecords records, 500
// by default, or maxBufferSizeBytes), the records still waiting are sent at once (the producer's
// Flush, run on a goroutine of the flow while reading and checkpointing go on), and batching
// resumes as soon as they are delivered. So a start with START_OF_FILE, a restart after a while
// down or a burst of lines is delivered as fast as Kinesis takes it, to its last line. A writer
// of a call's worth or more per poll (5,000 lines a second at the default 100 ms poll) gets at
// most one early, partial call per shard and poll. Order and checkpoints are as for any send.
//
// The checkpoint file (CheckpointFile; DefaultCheckpointFile in the working directory when empty;
// the shardwise-agent command uses systemd's $STATE_DIRECTORY or /var/lib/shardwise-agent) is
// checked at start: Run creates its directory if missing and returns a *CheckpointError (Op
// "check") naming it when no file can be created there. It is JSON: per file its flow, path,
// identity, fingerprint, delivered offset and when it was last seen; per flow a "started" marker.
// It is written every CheckpointInterval (1s) when something changed and at shutdown, atomically
// (temporary file, fsync, rename, fsync of the directory). On restart each file resumes at its
// offset, found by identity and fingerprint even if it was renamed meanwhile; a new file reusing a
// checkpointed inode starts at 0. Entries that match no file are kept (and written back) until
// their file has not been seen for checkpointTimeToLiveDays (Config.CheckpointTTL, 7 days, as in
// the Kinesis Agent), so a volume mounted after the start, or a file moved away for a while,
// resumes at its offset instead of being sent again in full; each entry records when its file was
// last seen (rounded down to the hour for every file alike, so idle files rewrite the checkpoint
// file once an hour, together). A SIGKILLed agent loses nothing; it re-sends only the records
// delivered after the last checkpoint write. A checkpoint file that cannot be parsed makes Run fail
// with a *CheckpointError wrapping ErrCorruptCheckpoint (the agent neither re-sends everything nor
// skips data on its own; move the file aside to start over).
//
// # Taking over from the Kinesis Agent
//
// When the checkpoint file does not exist yet, Run takes over the Kinesis Agent's SQLite checkpoint
// database (its FILE_CHECKPOINTS table, read by a pure-Go reader, never written):
// Config.ImportJavaCheckpoints ("shardwise.importJavaCheckpoints"), else DefaultJavaCheckpointFile
// when it exists; a CheckpointFile that is such a database is imported the same way, and New
// replaces it with DefaultCheckpointFile ("off" turns the take-over off). Each flow resumes from
// its newest row, as the Kinesis Agent does: that row's file, found by the Kinesis Agent's file id
// (device in hex and inode) wherever it was renamed, continues at the row's offset (from 0 when it
// is now shorter); the flow's other files count as delivered when they are not newer than that
// file was when checkpointed, and are read from 0 when newer. The flows get their started marker
// (initialPosition does not apply) and the checkpoint file is written at once. A database that
// cannot be read (or whose -wal or -journal file still holds data) makes Run return a
// *CheckpointError with Op "import".
//
// # Visibility
//
// Stats is a snapshot for gauges and counters, safe to call at any time; Stats.Flows has one
// FlowStats per flow. Its send figures carry the meaning of the Kinesis Agent's CloudWatch metrics
// of the same names: RecordSendAttempts (records carried by PutRecords or PutRecordBatch calls,
// retries included), RecordsSent and BytesSent (records delivered and their data bytes),
// RecordSendErrors (records calls returned as failed), ServiceErrors (calls that failed as a whole)
// and ConsecutiveProcessingErrors (polls in a row that met an error opening, stat'ing or reading
// the flow's files; 0 after a clean poll). Shardwise adds what the Kinesis Agent lacks:
// BytesBehind (bytes written to the files and not delivered yet, BytesUnread of them not read yet),
// PendingRecords and OldestUnsentRecordAge (read, not delivered; the age to within
// CheckpointInterval/2), LastDelivery and PendingSince, and Stats.CheckpointAge (how long ago the
// checkpoint file last held every delivered offset: it grows while writes fail, and bounds what a
// crash would send again). FlowStats.Stalled tells a flow that has had data to deliver for a
// while and delivered nothing in that time: a stalled agent is not an idle one.
//
// Run logs a progress line at Info every log.statusReportingPeriodSeconds
// (Config.StatusReportingPeriod, 30s as in the Kinesis Agent) and once at shutdown: records parsed
// and bytes read, records sent and failed, records pending, bytes behind and unread, the oldest
// unsent record's age, the checkpoint age and the uptime. It is logged at Warn, naming the flows,
// when a flow has delivered nothing for 5 minutes while records wait, and at Warn when 40 MiB or
// more are not read yet (where the Kinesis Agent warns that it is behind).
//
// The library publishes nothing itself. The shardwise-agent command sends these figures to
// CloudWatch (on by default, as in the Kinesis Agent: cloudwatch.emitMetrics) in the namespace
// AWSKinesisAgent (cloudwatch.namespace) with the Kinesis Agent's metric names, units and
// Destination dimension ("KinesisStream:<stream>", "DeliveryStream:<name>"), plus BytesBehind,
// OldestUnsentRecordAge and CheckpointAge, every cloudwatch.metricsBufferTimeMillis (30s), at
// cloudwatch.endpoint when set; cloudwatch.tagInstance adds the Instance dimension and
// cloudwatch.metricsQueueSize bounds what waits while CloudWatch cannot be reached. It needs
// cloudwatch:PutMetricData. With --metrics-addr it also serves /metrics (Prometheus text) and
// /healthz (503 once a flow has had records waiting for --unhealthy-after, 5 minutes, with no
// delivery).
//
// # Lifecycle and concurrency
//
// New validates and starts nothing. Run (once) loads the checkpoints, creates one producer per
// flow, runs one goroutine per flow plus the checkpoint writer, and returns only after every
// goroutine it started has stopped: when ctx ends it stops reading, flushes for at most
// ShutdownTimeout (10s), closes the producers and writes the checkpoint file. Stats is safe for
// concurrent use. The *slog.Logger (silent by default) receives lifecycle events at Info, retries
// at Warn and skipped records at Error; record data is never logged. Hooks (WithHooks) report
// skipped records (HookRecordFailed), file events (HookFileEvent: tailing, rotated, truncated,
// finished), checkpoint writes (HookCheckpointWritten) and each flow's send calls and deliveries
// (HookFlowSend, HookFlowDelivered: the Kinesis Agent's per-destination counters as events); Stats
// gives the counters and each flow's figures (see Visibility).
//
// # Defaults
//
//	option / setting               default
//	CheckpointFile                 shardwise-agent.checkpoints.json (working directory)
//	CheckpointInterval             1s
//	checkpointTimeToLiveDays       7 (Config.CheckpointTTL)
//	ShutdownTimeout                10s
//	IdleFlush                      5s (also how long a rotated file's partial line waits)
//	MaxRecordSize                  1 MiB
//	MaxPendingRecords              100000 per flow
//	RetryBackoff                   1s..30s
//	PollInterval                   each flow's minTimeBetweenFilePollsMillis (100ms)
//	partitionKeyOption             RANDOM
//	initialPosition                END_OF_FILE (a flow's first start only)
//	maxBufferAgeMillis             1s (DefaultMaxBufferAge; the producer's Linger; not after a backlog)
//	maxBufferSizeRecords           500
//	maxBufferSizeBytes             5 MiB
//	truncatedRecordTerminator      "\n"
//	shardwise.aggregation          false (one line per Kinesis record, PutRecords only)
//	excludePattern                 none (compressed files are always skipped)
//	log.statusReportingPeriodSeconds  30 (the progress line)
//	cloudwatch.emitMetrics         true (the command publishes; namespace AWSKinesisAgent, every 30s)
package agent
