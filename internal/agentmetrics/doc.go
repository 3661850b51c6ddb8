// Package agentmetrics publishes shardwise-agent's figures (agent.Stats): to CloudWatch with the
// AWS Kinesis Agent's namespace, metric names, units and dimensions (Publisher), as Prometheus
// text (Handler), and as a health check that fails when a flow has records to deliver and has
// delivered nothing for a while (HealthHandler). The agent library knows nothing of them: they
// read its Stats snapshots through a Source.
//
// # CloudWatch
//
// Every interval (cloudwatch.metricsBufferTimeMillis, 30 s by default) the Publisher takes a
// snapshot and queues one datum per metric and destination:
//
//	metric                       unit          dimensions               meaning over the interval
//	RecordSendAttempts           Count         Destination, [Instance]  records carried by send calls
//	RecordsSent                  Count         Destination, [Instance]  records delivered
//	RecordSendErrors             Count         Destination, [Instance]  records calls returned as failed
//	BytesSent                    Bytes         Destination, [Instance]  data bytes delivered
//	ServiceErrors                Count         Destination, [Instance]  calls that failed as a whole
//	ConsecutiveProcessingErrors  Count         Destination*, [Instance] polls in a row that met an error (max)
//	BytesBehind                  Bytes         Destination, [Instance]  bytes not delivered yet (gauge)
//	OldestUnsentRecordAge        Seconds       Destination, [Instance]  age of the oldest waiting record (max)
//	CheckpointAge                Seconds       [Instance]               since the checkpoint file was up to date
//
// Destination is "KinesisStream:<stream>" or "DeliveryStream:<delivery stream>", as the Kinesis
// Agent's senders name it; (*) ConsecutiveProcessingErrors carries the bare stream name, as the
// Kinesis Agent's tailer emits it. Instance (cloudwatch.tagInstance) is the EC2 instance ID or
// the host name. Flows sending to one destination are added up (ages and error streaks: the
// largest). The last three metrics are Shardwise's own. Counts are sent as one value per
// interval: the Sum statistic matches the Kinesis Agent's (which sends one sample per call, so
// its SampleCount and Average are per call, ours per interval).
//
// The queue is bounded (cloudwatch.metricsQueueSize): while CloudWatch cannot be reached the
// datums wait, the oldest dropped beyond the bound; a refused batch (access denied, invalid) is
// dropped. PutMetricData calls carry at most 1,000 datums and stay under 1 MB. Errors are logged
// at Warn, at most once a minute. Close takes a last snapshot and sends what is queued, within
// its context.
package agentmetrics
