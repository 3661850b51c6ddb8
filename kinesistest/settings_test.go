package kinesistest_test

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func TestTagsModeMonitoringLimits(t *testing.T) {
	_, c := start(t)
	ctx := ctxT(t)
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("x"), ShardCount: aws.Int32(3), Tags: map[string]string{"team": "a"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String("x"), Tags: map[string]string{"env": "test", "team": "b"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RemoveTagsFromStream(ctx, &kinesis.RemoveTagsFromStreamInput{StreamName: aws.String("x"), TagKeys: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListTagsForStream(ctx, &kinesis.ListTagsForStreamInput{StreamName: aws.String("x")})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "team" || aws.ToString(tags.Tags[0].Value) != "b" {
		t.Errorf("ListTagsForStream: %v %+v", err, tags)
	}

	sum := createStream(t, c, "m", 1)
	if _, err := c.UpdateStreamMode(ctx, &kinesis.UpdateStreamModeInput{StreamARN: sum.StreamDescriptionSummary.StreamARN,
		StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}}); err != nil {
		t.Fatal(err)
	}
	mon, err := c.EnableEnhancedMonitoring(ctx, &kinesis.EnableEnhancedMonitoringInput{StreamName: aws.String("m"), ShardLevelMetrics: []types.MetricsName{types.MetricsNameIncomingBytes}})
	if err != nil || len(mon.DesiredShardLevelMetrics) != 1 {
		t.Errorf("EnableEnhancedMonitoring: %v %+v", err, mon)
	}
	s2, _ := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("m")})
	if d := s2.StreamDescriptionSummary; d.StreamModeDetails.StreamMode != types.StreamModeOnDemand ||
		fmt.Sprint(d.EnhancedMonitoring[0].ShardLevelMetrics) != "[IncomingBytes]" {
		t.Errorf("summary = %+v", d)
	}
	if _, err := c.DisableEnhancedMonitoring(ctx, &kinesis.DisableEnhancedMonitoringInput{StreamName: aws.String("m"), ShardLevelMetrics: []types.MetricsName{types.MetricsNameAll}}); err != nil {
		t.Fatal(err)
	}
	lim, err := c.DescribeLimits(ctx, &kinesis.DescribeLimitsInput{})
	if err != nil || aws.ToInt32(lim.OpenShardCount) != 4 || aws.ToInt32(lim.OnDemandStreamCount) != 1 {
		t.Errorf("DescribeLimits: %v %+v", err, lim)
	}
}
