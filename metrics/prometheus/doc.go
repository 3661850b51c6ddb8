// Package prometheus exposes the hooks of Shardwise's kpl, kcl, lease and agent packages as
// Prometheus metrics (github.com/prometheus/client_golang). It is a module of its own
// (github.com/shardwise/shardwise/metrics/prometheus) so that users of the library who do not
// want Prometheus do not build it.
//
//	reg := prometheus.NewRegistry()
//	m, err := promadapter.New(reg, promadapter.Options{})
//	p, err := kpl.New(kinesisClient, "orders", kpl.WithHooks(m))
//	lm, err := lease.NewManager(dynamoClient, "orders-app", workerID, lease.WithHooks(m))
//	w, err := kcl.NewWorker(kinesisClient, lm, "orders", newProcessor, kcl.WithHooks(m))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// One *Metrics serves every producer, worker, lease coordinator and agent of a process; every
// family carries a stream label (lease: table; agent: file_pattern and stream), and, with
// Options.ShardLabels, the per-shard families a shard_id label. The names follow the Java KPL and
// KCL metrics, in Prometheus' snake case, under <namespace>_<package>_ (namespace "shardwise"):
//
//	hook                          metric                                         type       Java name / labels
//	kpl OnRecordBuffered          kpl_user_records_received_total                counter    UserRecordsReceived
//	                              kpl_user_records_pending                       gauge      UserRecordsPending
//	kpl OnRecordDone (delivered)  kpl_user_records_put_total                     counter    UserRecordsPut; shard_id*
//	                              kpl_user_records_data_put_bytes_total          counter    UserRecordsDataPut; shard_id*
//	kpl OnRecordDone (failed)     kpl_user_records_failed_total                  counter    UserRecordExpired; code
//	kpl OnRecordDone (sent)       kpl_buffering_time_seconds                     histogram  BufferingTime
//	                              kpl_retries_per_record                         histogram  RetriesPerRecord
//	kpl OnRecordDone              kpl_user_record_latency_seconds                histogram  -
//	kpl OnKinesisRecordPut        kpl_kinesis_records_put_total                  counter    KinesisRecordsPut; shard_id*
//	                              kpl_kinesis_records_data_put_bytes_total       counter    KinesisRecordsDataPut; shard_id*
//	                              kpl_user_records_per_kinesis_record            histogram  UserRecordsPerKinesisRecord
//	kpl OnPutRecords              kpl_put_records_requests_total                 counter    result (ok, partial, error)
//	                              kpl_put_records_throttled_entries_total        counter    -
//	                              kpl_request_time_seconds                       histogram  RequestTime
//	                              kpl_kinesis_records_per_put_records_request    histogram  KinesisRecordsPerPutRecordsRequest
//	kpl OnEntryError              kpl_all_errors_total                           counter    AllErrors; shard_id*
//	                              kpl_errors_by_code_total                       counter    ErrorsByCode; code
//	kpl OnShardMapRefreshed       kpl_shard_map_refreshes_total                  counter    reason, result
//	                              kpl_open_shards                                gauge      -
//	kpl OnDistributionChanged     kpl_distribution_changes_total                 counter    strategy
//	                              kpl_shard_prediction                           gauge      -
//	kcl OnRecordsProcessed        kcl_records_processed_total                    counter    RecordsProcessed; shard_id*
//	                              kcl_data_bytes_processed_total                 counter    DataBytesProcessed; shard_id*
//	                              kcl_process_errors_total                       counter    shard_id*
//	                              kcl_process_task_time_seconds                  histogram  ProcessTask Time
//	kcl OnMillisBehindLatest      kcl_millis_behind_latest                       gauge      MillisBehindLatest (max over shards); shard_id*
//	kcl OnCurrentLeases           kcl_current_leases                             gauge      CurrentLeases (leases held)
//	kcl OnShardStarted            kcl_shards_started_total                       counter    shard_id*
//	kcl OnShardLeaseLost          kcl_shard_leases_lost_total                    counter    shard_id*
//	kcl OnShardEnded              kcl_shards_ended_total                         counter    shard_id*
//	kcl OnExpiredIterator         kcl_expired_iterators_total                    counter    shard_id*
//	kcl OnGetRecordsThrottled     kcl_get_records_throttled_total                counter    shard_id*
//	kcl OnRecordsFiltered         kcl_records_filtered_total                     counter    shard_id*
//	kcl OnCorruptRecord           kcl_corrupt_records_total                      counter    shard_id*
//	kcl OnConsumerRegistration... kcl_consumer_registration_refusals_total       counter    -
//	kcl OnRecordDropped           kcl_records_dropped_total                      counter    reason
//	lease OnLeaseRenewed          lease_renewals_total, lease_renew_time_seconds counter    RenewAllLeases; result (ok, lost, error)
//	lease OnLeaseTaken            lease_leases_taken_total                       counter    TakenLeases; reason
//	lease OnLeaseLost             lease_leases_lost_total                        counter    LostLeases
//	lease OnLeaseReleased         lease_leases_released_total                    counter    -
//	lease OnLeaseCheckpoint       lease_checkpoints_total, ..._time_seconds      counter    result
//	lease OnLeaseTakeRound        lease_take_rounds_total, ..._time_seconds      counter    TakeLeases; result
//	                              lease_leases_stolen_total                      counter    LeaseSpillover
//	                              lease_total_leases, lease_num_workers          gauge      TotalLeases, NumWorkers
//	                              lease_target_leases, lease_leases_held         gauge      -
//	                              lease_available_leases                         gauge      ExpiredLeases
//	agent OnRecordFailed          agent_hook_records_failed_total                counter    -
//	agent OnFileEvent             agent_hook_file_events_total                   counter    kind
//	agent OnCheckpointWritten     agent_hook_checkpoints_total, ..._time_seconds counter    result
//	agent OnFlowSend              agent_hook_send_calls_total                    counter    -
//	                              agent_hook_record_send_attempts_total          counter    RecordSendAttempts
//	                              agent_hook_record_send_errors_total            counter    RecordSendErrors
//	                              agent_hook_service_errors_total                counter    ServiceErrors
//	agent OnFlowDelivered         agent_hook_records_sent_total                  counter    RecordsSent
//	                              agent_hook_bytes_sent_total                    counter    BytesSent
//
// (* with Options.ShardLabels.) The agent's families are named agent_hook_ so that they never
// clash with the figures shardwise-agent --metrics-addr serves (shardwise_agent_..., from its
// Stats).
package prometheus
