// Package cloudwatch sends the hooks of Shardwise's kpl, kcl, lease and agent packages to Amazon
// CloudWatch (PutMetricData) under the Java KPL's, KCL's and Kinesis Agent's metric names,
// dimensions and levels. It is a module of its own
// (github.com/shardwise/shardwise/metrics/cloudwatch) so that users of the library who do not
// want it do not build it.
//
//	cw := cloudwatch.NewFromConfig(awsCfg) // github.com/aws/aws-sdk-go-v2/service/cloudwatch
//	m, err := cwmetrics.New(cw, cwmetrics.Config{Namespace: "orders-app", Level: cwmetrics.LevelSummary,
//		WorkerIdentifier: workerID}) // the lease owner below
//	defer m.Close(ctx) // sends what is left
//	p, err := kpl.New(kinesisClient, "orders", kpl.WithHooks(m))
//	lm, err := lease.NewManager(dynamoClient, "orders-app", workerID, lease.WithHooks(m))
//	w, err := kcl.NewWorker(kinesisClient, lm, "orders", newProcessor, kcl.WithHooks(m))
//
// # Levels, granularity, batching
//
// Level (NONE, SUMMARY, DETAILED; default DETAILED) and Granularity (GLOBAL, STREAM, SHARD;
// default SHARD) are the Java KPL's metricsLevel and metricsGranularity: a metric above the level
// is not sent; at SHARD a metric naming a shard is sent three times, without stream dimensions,
// with StreamName, and with StreamName and ShardId (STREAM: the first two; GLOBAL: the first).
// KCL metrics carry the Java KCL's Operation dimension in every set; Config.Dimensions (the KPL's
// additional dimensions, e.g. the host) are added to every datum. With Config.WorkerIdentifier
// (the lease owner), the per-worker metrics, those of the operations RenewAllLeases and
// TakeLeases, carry WorkerIdentifier as well, as the Java KCL 2.x's lease renewer and taker send
// them (its metricsEnabledDimensions default, ALL); per-shard metrics never do.
//
// A hook only adds a sample to an in-memory statistic set (minimum, maximum, sum, count) per
// metric and dimension set. Every Config.Interval (default 60 s, the KPL's metricsUploadDelay)
// a goroutine turns them into datums, queues them (at most Config.MaxQueue, default 10,000, the
// oldest dropped beyond it) and sends the queue in PutMetricData requests of at most 1,000 datums
// and an estimated 900 KiB (the API's limits: 1,000 datums, 1 MB). A failed request leaves its
// datums queued for the next interval; one refused as invalid is dropped. Close sends what is
// left within its context and reports what it could not send; Sent, Calls and Dropped count.
//
// # Metrics
//
// Units: Count unless said; ms is Milliseconds, B Bytes. Dims: S = StreamName (STREAM, SHARD
// granularity), Sh = ShardId (SHARD granularity), Op = Operation, W = WorkerIdentifier (only
// with Config.WorkerIdentifier).
//
//	hook                          metric                               unit  level     dimensions
//	kpl OnRecordBuffered          UserRecordsReceived                  Count DETAILED  S
//	                              UserRecordsPending                   Count DETAILED  S
//	kpl OnRecordDone (sent)       BufferingTime                        ms    SUMMARY   S, Sh
//	                              RetriesPerRecord                     Count DETAILED  S, Sh
//	kpl OnRecordDone (delivered)  UserRecordsPut                       Count SUMMARY   S, Sh
//	                              UserRecordsDataPut                   B     DETAILED  S, Sh
//	kpl OnRecordDone (expired)    UserRecordExpired                    Count SUMMARY   S
//	kpl OnRecordDone (failed)     UserRecordsFailed (other errors)     Count SUMMARY   S
//	kpl OnKinesisRecordPut        KinesisRecordsPut                    Count SUMMARY   S, Sh
//	                              KinesisRecordsDataPut                B     DETAILED  S, Sh
//	                              UserRecordsPerKinesisRecord          Count DETAILED  S, Sh
//	kpl OnPutRecords              RequestTime                          ms    DETAILED  S
//	                              KinesisRecordsPerPutRecordsRequest   Count DETAILED  S
//	kpl OnEntryError              AllErrors                            Count SUMMARY   S, Sh
//	                              ErrorsByCode                         Count SUMMARY   ErrorCode, S, Sh
//	kpl OnShardMapRefreshed       ShardMapRefreshes, OpenShards        Count DETAILED  S
//	                              ShardMapRefreshErrors                Count SUMMARY   S
//	kpl OnDistributionChanged     ShardPrediction (1 or 0)             Count DETAILED  S
//	kcl OnRecordsProcessed        RecordsProcessed                     Count SUMMARY   Op=ProcessTask, S, Sh
//	                              DataBytesProcessed                   B     SUMMARY   Op=ProcessTask, S, Sh
//	                              RecordProcessor.processRecords.Time  ms    SUMMARY   Op=ProcessTask, S, Sh
//	                              Success (1, or 0 on error)           Count SUMMARY   Op=ProcessTask, S, Sh
//	kcl OnMillisBehindLatest      MillisBehindLatest                   ms    SUMMARY   Op=ProcessTask, S, Sh
//	kcl OnExpiredIterator         ExpiredIterator                      Count SUMMARY   Op=ProcessTask, S, Sh
//	kcl OnGetRecordsThrottled     GetRecordsThrottled                  Count SUMMARY   Op=ProcessTask, S, Sh
//	kcl OnRecordsFiltered         RecordsFiltered                      Count DETAILED  Op=ProcessTask, S, Sh
//	kcl OnCorruptRecord           CorruptRecords                       Count SUMMARY   Op=ProcessTask, S, Sh
//	kcl OnRecordDropped           RecordsDropped                       Count SUMMARY   Op=ProcessTask, S, Sh
//	kcl OnCurrentLeases           CurrentLeases                        Count SUMMARY   Op=RenewAllLeases, W, S
//	kcl OnShardStarted            ShardStarted                         Count DETAILED  Op=InitializeTask, S, Sh
//	kcl OnShardLeaseLost          ShardLeaseLost                       Count SUMMARY   Op=ShutdownTask, S, Sh
//	kcl OnShardEnded              ShardEnded                           Count DETAILED  Op=ShutdownTask, S, Sh
//	kcl OnConsumerRegistration... RegistrationRefused                  Count SUMMARY   Op=RegisterStreamConsumer, S
//	lease OnLeaseRenewed          RenewLease.Success, RenewLease.Time  -, ms DETAILED  Op=RenewAllLeases, W
//	                              LostLeases (lease lost)              Count SUMMARY   Op=RenewAllLeases, W
//	lease OnLeaseLost             LostLeases (renewals timed out)      Count SUMMARY   Op=RenewAllLeases, W
//	lease OnLeaseTaken            LeaseTaken                           Count DETAILED  Op=TakeLeases, W, Reason
//	lease OnLeaseTakeRound        Success, Time                        -, ms SUMMARY   Op=TakeLeases, W
//	                              TakenLeases, LeaseSpillover          Count SUMMARY   Op=TakeLeases, W
//	                              NumWorkers, ExpiredLeases            Count SUMMARY   Op=TakeLeases, W
//	                              TotalLeases, NeededLeases            Count DETAILED  Op=TakeLeases, W
//	lease OnLeaseReleased         LeasesReleased                       Count DETAILED  Op=ShutdownTask
//	lease OnLeaseCheckpoint       Success, Time                        -, ms DETAILED  Op=Checkpoint
//	agent OnFlowSend              RecordSendAttempts, RecordSendErrors Count SUMMARY   Destination
//	                              ServiceErrors                        Count SUMMARY   Destination
//	agent OnFlowDelivered         RecordsSent, BytesSent               -, B  SUMMARY   Destination
//	agent OnRecordFailed          RecordsFailed                        Count SUMMARY   Destination
//	agent OnFileEvent             FileEvents                           Count DETAILED  Destination, Kind
//	agent OnCheckpointWritten     CheckpointsWritten                   Count DETAILED  -
//	                              CheckpointErrors                     Count SUMMARY   -
//
// The names, units and levels of the KPL rows and of RecordsProcessed, DataBytesProcessed,
// MillisBehindLatest, ExpiredIterator, CurrentLeases, LostLeases, TakenLeases, LeaseSpillover,
// NumWorkers, ExpiredLeases, TotalLeases and NeededLeases are the Java libraries' (AWS docs
// "Monitoring the KPL/KCL with Amazon CloudWatch"), those of the agent rows the Kinesis Agent's;
// the others name Shardwise events the Java libraries do not count. The agent's Destination is
// the flow's stream name (shardwise-agent's own publisher, internal/agentmetrics, prefixes it
// with KinesisStream: or DeliveryStream: from the agent's Stats).
package cloudwatch
