package fanout

import (
	"net/http"
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
	return &http.Client{Transport: tr}
}
