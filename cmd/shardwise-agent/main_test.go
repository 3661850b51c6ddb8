package main

import (
	"os"
	"testing"
)

// TestMain keeps the tests on loopback: CloudWatch metrics are on by default (as in the Kinesis
// Agent), so a test whose agent.json neither turns them off nor names a cloudwatch.endpoint would
// otherwise send its last metrics to the real CloudWatch endpoint at shutdown. Port 1 refuses at
// once; tests that look at the metrics set their own endpoint.
func TestMain(m *testing.M) {
	if os.Getenv("AWS_ENDPOINT_URL_CLOUDWATCH") == "" {
		os.Setenv("AWS_ENDPOINT_URL_CLOUDWATCH", "http://127.0.0.1:1")
	}
	os.Exit(m.Run())
}
