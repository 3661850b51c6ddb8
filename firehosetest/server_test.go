package firehosetest_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/smithy-go"

	"github.com/shardwise/shardwise/firehosetest"
)

func newClient(t *testing.T, opts ...firehosetest.Option) (*firehosetest.Server, *firehose.Client) {
	t.Helper()
	srv, err := firehosetest.NewServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, firehose.New(firehose.Options{
		BaseEndpoint:     aws.String(srv.URL()),
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		RetryMaxAttempts: 1,
	})
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func records(n, size int) []types.Record {
	rs := make([]types.Record, n)
	for i := range rs {
		rs[i] = types.Record{Data: bytes.Repeat([]byte{byte('a' + i%26)}, size)}
	}
	return rs
}

func TestCreateDescribe(t *testing.T) {
	_, c := newClient(t)
	ctx := context.Background()
	if _, err := c.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("d")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("d")}); apiCode(err) != "ResourceInUseException" {
		t.Errorf("second create = %v, want ResourceInUseException", err)
	}
	out, err := c.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("d")})
	if err != nil {
		t.Fatal(err)
	}
	if d := out.DeliveryStreamDescription; aws.ToString(d.DeliveryStreamName) != "d" || d.DeliveryStreamStatus != types.DeliveryStreamStatusActive {
		t.Errorf("described %+v", d)
	}
	if _, err := c.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("nope")}); apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("describe missing = %v, want ResourceNotFoundException", err)
	}
}

func TestPutRecordBatchLimits(t *testing.T) {
	srv, c := newClient(t)
	srv.CreateDeliveryStream("d")
	ctx := context.Background()
	put := func(rs []types.Record) error {
		_, err := c.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String("d"), Records: rs})
		return err
	}
	tests := []struct {
		name string
		rs   []types.Record
		code string
	}{
		{"501 records", records(501, 1), "ValidationException"},
		{"record over 1,000 KiB", records(1, firehosetest.MaxRecordBytes+1), "ValidationException"},
		{"over 4 MiB", records(5, firehosetest.MaxRecordBytes), "InvalidArgumentException"},
		{"500 records", records(500, 10), ""},
		{"4 records of 1,000 KiB", records(4, firehosetest.MaxRecordBytes), ""},
	}
	want := 0
	for _, tt := range tests {
		if err := put(tt.rs); apiCode(err) != tt.code || (tt.code == "" && err != nil) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.code)
		}
		if tt.code == "" {
			want += len(tt.rs)
		}
	}
	if got := len(srv.Records("d")); got != want {
		t.Errorf("%d records kept, want %d (the accepted calls')", got, want)
	}
	_, err := c.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String("nope"), Records: records(1, 1)})
	if apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("unknown stream: %v, want ResourceNotFoundException", err)
	}
}

func TestControlFailsEntries(t *testing.T) {
	srv, c := newClient(t, firehosetest.AutoCreate())
	srv.Control(firehosetest.FailEntries(2))
	rs := records(4, 3)
	out, err := c.PutRecordBatch(context.Background(), &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String("d"), Records: rs})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(out.FailedPutCount) != 2 || len(out.RequestResponses) != 4 {
		t.Fatalf("FailedPutCount %d, %d responses; want 2 of 4", aws.ToInt32(out.FailedPutCount), len(out.RequestResponses))
	}
	for i, rr := range out.RequestResponses {
		failed := i < 2
		if (aws.ToString(rr.ErrorCode) == "ServiceUnavailableException") != failed || (aws.ToString(rr.RecordId) == "") != failed {
			t.Errorf("entry %d: %+v, failed=%v expected", i, rr, failed)
		}
	}
	got := srv.Records("d")
	if len(got) != 2 || !bytes.Equal(got[0], rs[2].Data) || !bytes.Equal(got[1], rs[3].Data) {
		t.Errorf("kept %q, want the last two records", got)
	}
	if _, err := c.PutRecord(context.Background(), &firehose.PutRecordInput{DeliveryStreamName: aws.String("d"), Record: &types.Record{Data: []byte("one")}}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Records("d"); len(got) != 3 || string(got[2]) != "one" || srv.Calls("PutRecordBatch") != 1 || srv.Calls("PutRecord") != 1 {
		t.Errorf("after PutRecord: %q, calls %d/%d", got, srv.Calls("PutRecordBatch"), srv.Calls("PutRecord"))
	}
}
