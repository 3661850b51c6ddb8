package fanout

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// SubscribeAPI is what a [Subscriber] calls. *kinesis.Client satisfies it.
type SubscribeAPI interface {
	SubscribeToShard(ctx context.Context, in *kinesis.SubscribeToShardInput, optFns ...func(*kinesis.Options)) (*kinesis.SubscribeToShardOutput, error)
}

// RegistrationAPI is what [EnsureConsumer] calls. *kinesis.Client satisfies it.
type RegistrationAPI interface {
	RegisterStreamConsumer(ctx context.Context, in *kinesis.RegisterStreamConsumerInput, optFns ...func(*kinesis.Options)) (*kinesis.RegisterStreamConsumerOutput, error)
	DescribeStreamConsumer(ctx context.Context, in *kinesis.DescribeStreamConsumerInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamConsumerOutput, error)
}

// DeregisterAPI is what [Deregister] calls. *kinesis.Client satisfies it.
type DeregisterAPI interface {
	DeregisterStreamConsumer(ctx context.Context, in *kinesis.DeregisterStreamConsumerInput, optFns ...func(*kinesis.Options)) (*kinesis.DeregisterStreamConsumerOutput, error)
}

// StreamAPI is what [StreamARN] calls. *kinesis.Client satisfies it.
type StreamAPI interface {
	DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
}

// API is every Kinesis method the package calls, with the SDK's exact signatures, so *kinesis.Client
// satisfies it unchanged. It may gain methods: pass the real client (pointed at kinesistest in tests)
// rather than implementing it by hand.
type API interface {
	SubscribeAPI
	RegistrationAPI
	DeregisterAPI
	StreamAPI
}
