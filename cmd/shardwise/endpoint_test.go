package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/shardwise/shardwise/internal/endpoint"
	"github.com/shardwise/shardwise/multilang"
)

// TestCLIRefusesPlainHTTPEndpoints: the CLI's clients (every subcommand's, through loadAWSConfig)
// and the multilang daemon's (properties endpoints included) refuse plain HTTP to a host other than
// this machine unless SHARDWISE_ALLOW_INSECURE is set; loopback and https pass. Nothing is sent:
// the check runs before any call (192.0.2.0/24 is a documentation range).
func TestCLIRefusesPlainHTTPEndpoints(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		ml       multilang.Config
		insecure string
		wantErr  error
		want     string
	}{
		{"kinesis env", map[string]string{"AWS_ENDPOINT_URL_KINESIS": "http://192.0.2.1:4568"}, multilang.Config{}, "", endpoint.ErrInsecure, "AWS_ENDPOINT_URL_KINESIS"},
		{"dynamodb env", map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": "http://192.0.2.1:4567"}, multilang.Config{}, "", endpoint.ErrInsecure, "AWS_ENDPOINT_URL_DYNAMODB"},
		{"global env", map[string]string{"AWS_ENDPOINT_URL": "http://kinesis.example"}, multilang.Config{}, "", endpoint.ErrInsecure, "AWS_ENDPOINT_URL"},
		{"properties kinesisEndpoint", nil, multilang.Config{KinesisEndpoint: "http://192.0.2.1:4568"}, "", endpoint.ErrInsecure, "kinesisEndpoint"},
		{"properties dynamoDBEndpoint", nil, multilang.Config{DynamoDBEndpoint: "http://192.0.2.1:4567"}, "", endpoint.ErrInsecure, "dynamoDBEndpoint"},
		{"sts endpoint", nil, multilang.Config{Credentials: []multilang.CredentialProvider{{Name: "StsAssumeRoleCredentialsProvider",
			Args: []string{"arn:aws:iam::123456789012:role/r"}, Nested: map[string]string{"endpoint": "http://sts.example^us-east-1"}}}}, "", endpoint.ErrInsecure, "StsAssumeRoleCredentialsProvider"},
		{"opted in", map[string]string{"AWS_ENDPOINT_URL": "http://192.0.2.1:4566"}, multilang.Config{KinesisEndpoint: "http://192.0.2.1:4568"}, "1", nil, ""},
		{"loopback", map[string]string{"AWS_ENDPOINT_URL_KINESIS": "http://127.0.0.1:4568", "AWS_ENDPOINT_URL_DYNAMODB": "http://localhost:4567"},
			multilang.Config{KinesisEndpoint: "http://[::1]:4568"}, "", nil, ""},
		{"https", map[string]string{"AWS_ENDPOINT_URL": "https://kinesis.example"}, multilang.Config{}, "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL_DYNAMODB"} {
				t.Setenv(k, "")
			}
			t.Setenv("AWS_REGION", "us-east-1")
			t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
			t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			t.Setenv(endpoint.AllowInsecureEnv, tt.insecure)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, errCLI := loadAWSConfig(context.Background(), awsSettings{})
			_, _, errML := multilangClients(context.Background(), tt.ml)
			for name, err := range map[string]error{"loadAWSConfig": errCLI, "multilangClients": errML} {
				if name == "loadAWSConfig" && tt.env == nil {
					continue // a properties-only case
				}
				if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
					t.Fatalf("%s = %v, want %v", name, err, tt.wantErr)
				}
				if err != nil && (!strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), endpoint.AllowInsecureEnv)) {
					t.Errorf("%s error %q does not name %s and %s", name, err, tt.want, endpoint.AllowInsecureEnv)
				}
			}
		})
	}
}
