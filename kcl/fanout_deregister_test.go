package kcl_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/kcl"
)

// consumers lists the stream's registered fan-out consumers by name.
func (e *efoEnv) consumers(stream string) []string {
	e.t.Helper()
	ctx := context.Background()
	sum, err := e.kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		e.t.Fatal(err)
	}
	out, err := e.kc.ListStreamConsumers(ctx, &kinesis.ListStreamConsumersInput{StreamARN: sum.StreamDescriptionSummary.StreamARN})
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, c := range out.Consumers {
		names = append(names, aws.ToString(c.ConsumerName))
	}
	return names
}

func TestDeregisterConsumerOnShutdown(t *testing.T) {
	for _, tt := range []struct {
		name       string
		opts       []kcl.Option
		wantRemain bool
	}{
		{"kept by default", nil, true},
		{"deregistered with the option", []kcl.Option{kcl.DeregisterConsumerOnShutdown()}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEFOEnv(t)
				e.createStream("dereg", 1)
				e.put("dereg", "k", []byte("one"))
				l := newLedger()
				w := e.start("w1", "dereg", l.factory, tt.opts...)
				waitUntil(t, 20*time.Second, "the record through fan-out", func() bool { return l.distinct() == 1 })
				if got := e.consumers("dereg"); len(got) != 1 || got[0] != "efo-app" {
					t.Fatalf("consumers while running = %v, want [efo-app]", got)
				}
				w.shutdown(t)
				if got := e.consumers("dereg"); (len(got) == 1) != tt.wantRemain {
					t.Errorf("consumers after Shutdown = %v, want remaining %v", got, tt.wantRemain)
				}

			})
		})
	}
}
