package kcl_test

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/kinesistest"
)

// protoCounter records the HTTP major version of every answer.
type protoCounter struct {
	next       http.RoundTripper
	h1, h2, h3 atomic.Int64
}

func (p *protoCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := p.next.RoundTrip(r)
	if err == nil {
		switch resp.ProtoMajor {
		case 1:
			p.h1.Add(1)
		case 2:
			p.h2.Add(1)
		default:
			p.h3.Add(1)
		}
	}
	return resp, err
}

// TestSocketSmoke: the fleet and fan-out suites run on kinesistest's virtual network inside synctest
// bubbles; these two run a worker over real loopback sockets, once per transport a worker uses:
// polling over HTTP/1.1 (no TLS) and enhanced fan-out over HTTP/2 (TLS, ALPN).
func TestSocketSmoke(t *testing.T) {
	for _, tc := range []struct {
		name  string
		efo   bool
		opts  []kinesistest.Option
		major int
	}{
		{"polling over HTTP/1.1", false, nil, 1},
		{"fan-out over HTTP/2", true, []kinesistest.Option{kinesistest.TLS()}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvOn(t, tc.efo, tc.opts...)
			protos := &protoCounter{}
			e.kc = kinesis.New(e.kc.Options(), func(o *kinesis.Options) {
				hc := o.HTTPClient.(*http.Client)
				protos.next = hc.Transport
				o.HTTPClient = &http.Client{Transport: protos}
			})
			e.createStream("smoke", 2)
			for i := range 10 {
				e.put("smoke", fmt.Sprint("k", i), fmt.Appendf(nil, "r%d", i))
			}
			l := newLedger()
			if tc.efo {
				e.start("w1", "smoke", l.factory)
			} else {
				e.startPolling("w1", "smoke", l.factory)
			}
			waitUntil(t, 30*time.Second, "10 records", func() bool { return l.distinct() == 10 })
			if d := l.dups(); d != 0 {
				t.Errorf("%d duplicates", d)
			}
			want, other := &protos.h1, &protos.h2
			if tc.major == 2 {
				want, other = &protos.h2, &protos.h1
			}
			if want.Load() == 0 || other.Load() != 0 || protos.h3.Load() != 0 {
				t.Errorf("answers over HTTP/1: %d, HTTP/2: %d, other: %d; want HTTP/%d only",
					protos.h1.Load(), protos.h2.Load(), protos.h3.Load(), tc.major)
			}
		})
	}
}
