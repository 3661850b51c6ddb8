package fanout

import (
	"net/http"
	"time"
)

// UnencryptedHTTP2Client returns an HTTP client that speaks HTTP/2 without TLS (h2c with prior
// knowledge) to http:// endpoints and negotiates h2 by ALPN for https:// ones, for SubscribeToShard
// against local Kinesis servers on plain HTTP. It has no overall timeout (subscriptions are long
// requests). Never needed for AWS itself, whose endpoints are HTTPS.
func UnencryptedHTTP2Client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	p.SetHTTP2(true)
	tr.Protocols = &p
	tr.ForceAttemptHTTP2 = true
	// Health checks: a connection silent for 15 s is pinged and closed when the ping is not answered
	// within 10 s, so a dead connection fails its subscriptions instead of leaving them silent.
	tr.HTTP2 = &http.HTTP2Config{SendPingTimeout: 15 * time.Second, PingTimeout: 10 * time.Second}
	return &http.Client{Transport: tr}
}
