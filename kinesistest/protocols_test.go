package kinesistest_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/kinesistest"
)

// TestProtocols runs a round trip over every transport the server speaks and checks which one was used.
func TestProtocols(t *testing.T) {
	tests := []struct {
		name  string
		tls   bool
		h2    bool
		major int
	}{
		{"http1", false, false, 1},
		{"h2c", false, true, 2},
		{"tls-h2", true, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []kinesistest.Option
			if tt.tls {
				opts = append(opts, kinesistest.TLS())
			}
			srv, _ := start(t, opts...)
			hc := srv.Client()
			if tt.h2 {
				hc = srv.HTTP2Client()
			}
			rec := &protoRecorder{next: hc.Transport}
			c := newClient(t, srv, &http.Client{Transport: rec})
			createStream(t, c, "p", 1)
			putN(t, c, "p", 3, func(int) string { return "k" })
			got, _ := drain(t, c, iterator(t, c, "p", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, ""))
			if len(got) != 3 {
				t.Errorf("read %d records, want 3", len(got))
			}
			if p := rec.get(); p != tt.major {
				t.Errorf("answered over HTTP/%d, want HTTP/%d", p, tt.major)
			}
			if tt.tls && srv.CertPEM() == nil {
				t.Error("no certificate PEM under TLS")
			}
		})
	}
	// A client that does not trust the certificate is refused.
	srv, _ := start(t, kinesistest.TLS())
	c := newClient(t, srv, &http.Client{})
	if _, err := c.ListStreams(ctxT(t), &kinesis.ListStreamsInput{}); err == nil {
		t.Error("an untrusting client reached the TLS server")
	}
	// Non-loopback addresses need AllowNonLoopback.
	if _, err := kinesistest.NewServer(kinesistest.Addr("0.0.0.0:0")); !errors.Is(err, kinesistest.ErrInvalidConfig) {
		t.Errorf("NewServer on 0.0.0.0 without AllowNonLoopback: %v, want ErrInvalidConfig", err)
	}
	for _, o := range []kinesistest.Option{kinesistest.Faults(kinesistest.FaultConfig{Rate: 2}), kinesistest.IteratorTTL(0), kinesistest.MaxRequestBytes(-1), kinesistest.Clock(nil)} {
		if _, err := kinesistest.NewServer(o); !errors.Is(err, kinesistest.ErrInvalidConfig) {
			t.Errorf("NewServer with an invalid option: %v, want ErrInvalidConfig", err)
		}
	}
}
