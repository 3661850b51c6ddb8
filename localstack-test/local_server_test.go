package localstack_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/kinesistest"
)

// localKinesis starts a kinesistest server that stops when the test ends, and returns it with an SDK
// client for it.
func localKinesis(t *testing.T) (*kinesistest.Server, *kinesis.Client) {
	t.Helper()
	srv, err := kinesistest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, srv.KinesisClient()
}
