package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/internal/bodyguard"
)

// loadAWSConfig loads the standard SDK configuration chain: AWS_REGION, credentials, AWS_ENDPOINT_URL,
// AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL_DYNAMODB, AWS_CA_BUNDLE, profiles.
func loadAWSConfig(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("no AWS region configured: set AWS_REGION (for the local engines: eval \"$(localstack-test/engines.sh env)\")")
	}
	bodyguard.WrapConfig(&cfg) // the SDK/net/http request-body race that fast local endpoints expose
	return cfg, nil
}

// newKinesisClient returns a Kinesis client from the standard configuration.
func newKinesisClient(ctx context.Context) (*kinesis.Client, error) {
	cfg, err := loadAWSConfig(ctx)
	if err != nil {
		return nil, err
	}
	return kinesis.NewFromConfig(cfg), nil
}
