package kinesistest

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// JSON shapes of the Kinesis_20131202 API (AWS JSON 1.1). Blobs are base64 strings, which
// encoding/json does for []byte; timestamps are epoch seconds with a fraction.

// epoch is a timestamp as the AWS JSON protocols write it.
type epoch time.Time

func (e epoch) MarshalJSON() ([]byte, error) {
	return appendEpoch(nil, time.Time(e).UnixMilli()), nil
}

func (e *epoch) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			*e = epoch(t)
			return nil
		}
		b = []byte(s)
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	sec, frac := math.Modf(f)
	*e = epoch(time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)))
	return nil
}

// appendEpoch writes Unix milliseconds as epoch seconds with three decimals.
func appendEpoch(dst []byte, ms int64) []byte {
	if ms < 0 {
		dst = append(dst, '-')
		ms = -ms
	}
	dst = strconv.AppendInt(dst, ms/1000, 10)
	frac := ms % 1000
	return append(dst, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

type streamRef struct {
	StreamName string `json:",omitempty"`
	StreamARN  string `json:",omitempty"`
}

type hashKeyRangeJSON struct {
	StartingHashKey string
	EndingHashKey   string
}

type seqRangeJSON struct {
	StartingSequenceNumber string
	EndingSequenceNumber   string `json:",omitempty"`
}

type shardJSON struct {
	ShardId               string
	ParentShardId         string `json:",omitempty"`
	AdjacentParentShardId string `json:",omitempty"`
	HashKeyRange          hashKeyRangeJSON
	SequenceNumberRange   seqRangeJSON
}

type streamModeJSON struct {
	StreamMode string
}

type enhancedMetricsJSON struct {
	ShardLevelMetrics []string
}

type createStreamInput struct {
	StreamName                 string
	ShardCount                 *int
	StreamModeDetails          *streamModeJSON
	MaxRecordSizeInKiB         *int
	RecordDistributionStrategy string
	Tags                       map[string]string
}

type streamDescriptionJSON struct {
	StreamName              string
	StreamARN               string
	StreamStatus            string
	StreamModeDetails       streamModeJSON
	Shards                  []shardJSON
	HasMoreShards           bool
	RetentionPeriodHours    int
	StreamCreationTimestamp epoch
	EnhancedMonitoring      []enhancedMetricsJSON
	EncryptionType          string
	KeyId                   string `json:",omitempty"`
}

type streamSummaryJSON struct {
	StreamName              string
	StreamARN               string
	StreamStatus            string
	StreamModeDetails       streamModeJSON
	RetentionPeriodHours    int
	StreamCreationTimestamp epoch
	EnhancedMonitoring      []enhancedMetricsJSON
	EncryptionType          string
	KeyId                   string `json:",omitempty"`
	OpenShardCount          int
	ConsumerCount           int
	MaxRecordSizeInKiB      int
	// RecordDistributionStrategy is present for ON_DEMAND streams only, as in Kinesis.
	RecordDistributionStrategy string `json:",omitempty"`
}

type describeStreamInput struct {
	streamRef
	Limit                 *int
	ExclusiveStartShardId string
}

type listStreamsInput struct {
	Limit                    *int
	ExclusiveStartStreamName string
	NextToken                string
}

type streamListEntryJSON struct {
	StreamName              string
	StreamARN               string
	StreamStatus            string
	StreamModeDetails       streamModeJSON
	StreamCreationTimestamp epoch
}

type listStreamsOutput struct {
	StreamNames     []string
	StreamSummaries []streamListEntryJSON
	HasMoreStreams  bool
	NextToken       string `json:",omitempty"`
}

type shardFilterJSON struct {
	Type      string
	ShardId   string `json:",omitempty"`
	Timestamp *epoch `json:",omitempty"`
}

type listShardsInput struct {
	streamRef
	NextToken               string
	ExclusiveStartShardId   string
	MaxResults              *int
	StreamCreationTimestamp *epoch
	ShardFilter             *shardFilterJSON
}

type listShardsOutput struct {
	Shards    []shardJSON
	NextToken string `json:",omitempty"`
}

type retentionInput struct {
	streamRef
	RetentionPeriodHours int
}

type encryptionInput struct {
	streamRef
	EncryptionType string
	KeyId          string
}

type maxRecordSizeInput struct {
	streamRef
	MaxRecordSizeInKiB int
}

type splitShardInput struct {
	streamRef
	ShardToSplit       string
	NewStartingHashKey string
}

type mergeShardsInput struct {
	streamRef
	ShardToMerge         string
	AdjacentShardToMerge string
}

type updateShardCountInput struct {
	streamRef
	TargetShardCount int
	ScalingType      string
}

type updateShardCountOutput struct {
	StreamName        string
	StreamARN         string
	CurrentShardCount int
	TargetShardCount  int
}

type putRecordInput struct {
	streamRef
	Data                      []byte
	PartitionKey              *string // optional on a stream with AUTO record distribution
	ExplicitHashKey           *string
	SequenceNumberForOrdering *string
}

type putRecordOutput struct {
	ShardId        string
	SequenceNumber string
	EncryptionType string
}

type putRecordsEntry struct {
	Data            []byte
	PartitionKey    string
	ExplicitHashKey string
	hasPK           bool // PartitionKey was sent (it is optional under AUTO record distribution)
	hasEHK          bool
}

// UnmarshalJSON decodes an entry, noting which optional members were present (the fast decoder does
// the same for the bodies it takes).
func (e *putRecordsEntry) UnmarshalJSON(b []byte) error {
	var raw struct {
		Data            []byte
		PartitionKey    *string
		ExplicitHashKey *string
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*e = putRecordsEntry{Data: raw.Data}
	if raw.PartitionKey != nil {
		e.PartitionKey, e.hasPK = *raw.PartitionKey, true
	}
	if raw.ExplicitHashKey != nil {
		e.ExplicitHashKey, e.hasEHK = *raw.ExplicitHashKey, true
	}
	return nil
}

type putRecordsInput struct {
	streamRef
	Records []putRecordsEntry
}

type getShardIteratorInput struct {
	streamRef
	ShardId                string
	ShardIteratorType      string
	StartingSequenceNumber string
	Timestamp              *epoch
}

type getShardIteratorOutput struct {
	ShardIterator string
}

type getRecordsInput struct {
	ShardIterator string
	Limit         *int
	StreamARN     string
}

type consumerInput struct {
	StreamARN    string
	ConsumerName string
	ConsumerARN  string
}

type consumerJSON struct {
	ConsumerName              string
	ConsumerARN               string
	ConsumerStatus            string
	ConsumerCreationTimestamp epoch
	StreamARN                 string `json:",omitempty"`
}

type listConsumersInput struct {
	StreamARN               string
	MaxResults              *int
	NextToken               string
	StreamCreationTimestamp *epoch
}

type listConsumersOutput struct {
	Consumers []consumerJSON
	NextToken string `json:",omitempty"`
}

type startingPositionJSON struct {
	Type           string
	SequenceNumber string
	Timestamp      *epoch
}

type subscribeInput struct {
	ConsumerARN      string
	ShardId          string
	StartingPosition startingPositionJSON
}
