// Package multilang runs KCL applications written for the Java KCL's MultiLangDaemon (Python
// amazon_kclpy, Node aws-kcl, Ruby, .NET) on Shardwise's kcl worker, without a JVM. It is the library
// behind `shardwise multilang`; it loads no AWS configuration.
//
// The pieces:
//
//   - Load reads a properties file with java.util.Properties.load rules (ISO-8859-1, comments, line
//     continuations, escapes), as the Java daemon does.
//   - FromProperties resolves the Java daemon's keys onto a Config (the kcl and lease settings, the
//     credential providers by name, the child command) with the Java defaults and validation, and
//     returns warnings for keys that have no effect or are unknown.
//   - NewProcessorFactory returns a kcl.ProcessorFactory whose processors each run one child process
//     and speak the MultiLangDaemon protocol to it: one JSON object per line on the child's stdin
//     (initialize, processRecords, leaseLost, shardEnded, shutdownRequested, checkpoint responses) and
//     status and checkpoint messages read from its stdout; stray stdout lines are skipped, stderr is
//     relayed to the logger at Error.
//
// Mapping onto kcl.RecordProcessor: Initialize starts the child and sends initialize with the lease's
// checkpoint (or the initial position); ProcessRecords sends processRecords and serves the child's
// checkpoints through the worker's checkpointer, answering with the Java exception names applications
// test for (IllegalArgumentException, ShutdownException, ThrottlingException, InvalidStateException,
// KinesisClientLibDependencyException); Shutdown sends leaseLost, shardEnded (a checkpoint of null, of
// the last record or of SHARD_END acknowledges it; the worker writes SHARD_END) or shutdownRequested then
// leaseLost, and closes the child's stdin.
//
// Failures of a child (it cannot start, its stdout ends, it answers with the wrong status, or no status
// comes within ChildConfig.Timeout) kill that child and return an error wrapping ErrChildFailed: the
// worker retries that shard with a fresh child (Restart, the default), or ChildConfig.OnFatal stops the
// daemon (Exit, the Java daemon's behaviour). An unacknowledged shard end returns
// ErrShardEndNotCheckpointed, so the worker retries it with a fresh child instead of leaving the shard
// stuck.
package multilang
