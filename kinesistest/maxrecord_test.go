package kinesistest_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/kinesistest"
)

// TestUpdateMaxRecordSizeTakesEffectAtOnce: the stream's maximum record size (data plus partition
// key) changes for the very next write and DescribeStreamSummary reports it.
func TestUpdateMaxRecordSizeTakesEffectAtOnce(t *testing.T) {
	// The shard's 1 MiB/s write budget refills between puts: the clock moves 10 s before each.
	clk := kinesistest.NewManualClock(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	_, c := start(t, kinesistest.EnforceLimits(), kinesistest.Clock(clk.Now))
	ctx := ctxT(t)
	if got := aws.ToInt32(createStream(t, c, "mrs", 1).StreamDescriptionSummary.MaxRecordSizeInKiB); got != 1024 {
		t.Fatalf("new stream MaxRecordSizeInKiB = %d, want 1024", got)
	}
	// record returns a record of exactly n bytes, data plus its one-byte partition key.
	record := func(n int) ([]byte, *string) { return bytes.Repeat([]byte{'x'}, n-1), aws.String("k") }
	put := func(n int) (errOne, errMany error) {
		data, pk := record(n)
		clk.Advance(10 * time.Second)
		_, errOne = c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("mrs"), PartitionKey: pk, Data: data})
		clk.Advance(10 * time.Second)
		_, errMany = c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("mrs"), Records: []types.PutRecordsRequestEntry{
			{PartitionKey: aws.String("small"), Data: []byte("s")}, {PartitionKey: pk, Data: data},
		}})
		return errOne, errMany
	}
	wantRefused := func(n int) {
		t.Helper()
		errOne, errMany := put(n)
		wantRequestError(t, errOne, kinesistest.CodeInvalidArgument, "maximum record size")
		wantRequestError(t, errMany, kinesistest.CodeInvalidArgument, "maximum record size")
	}
	wantAccepted := func(n int) {
		t.Helper()
		if errOne, errMany := put(n); errOne != nil || errMany != nil {
			t.Fatalf("record of %d bytes: PutRecord %v, PutRecords %v; want accepted", n, errOne, errMany)
		}
	}
	setKiB := func(kib int32) {
		t.Helper()
		if _, err := c.UpdateMaxRecordSize(ctx, &kinesis.UpdateMaxRecordSizeInput{StreamARN: createdARN(t, c, "mrs"), MaxRecordSizeInKiB: aws.Int32(kib)}); err != nil {
			t.Fatalf("UpdateMaxRecordSize(%d): %v", kib, err)
		}
		if got := aws.ToInt32(summary(t, c, "mrs").MaxRecordSizeInKiB); got != kib {
			t.Errorf("DescribeStreamSummary MaxRecordSizeInKiB = %d after setting %d", got, kib)
		}
	}

	// Records over 1 MiB are slow to send under the race detector: a few, right at the boundary.
	wantRefused(1<<20 + 1)
	setKiB(2048)
	wantAccepted(1<<20 + 1)
	setKiB(1024)
	wantRefused(1<<20 + 1)

	for _, kib := range []int32{1023, 10241} {
		_, err := c.UpdateMaxRecordSize(ctx, &kinesis.UpdateMaxRecordSizeInput{StreamARN: createdARN(t, c, "mrs"), MaxRecordSizeInKiB: aws.Int32(kib)})
		wantRequestError(t, err, kinesistest.CodeValidation, "maxRecordSizeInKiB")
	}
	if got := aws.ToInt32(summary(t, c, "mrs").MaxRecordSizeInKiB); got != 1024 {
		t.Errorf("refused updates changed MaxRecordSizeInKiB to %d", got)
	}
}

func createdARN(t *testing.T, c *kinesis.Client, name string) *string {
	t.Helper()
	return summary(t, c, name).StreamARN
}
