// Package bodyguard works around a race between the AWS SDK and net/http that a fast local server
// exposes: the SDK closes a request body as soon as the answer arrives, and if the transport is still
// making its final read of that body, the read fails and the connection, with the answer on it, is
// torn down ("use of closed network connection"). Requests sent through this package have their body
// reduced to Read and Close, which hides the body's WriteTo method, so that read ends in a clean io.EOF.
package bodyguard

import (
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// Doer is what the SDK needs of an HTTP client.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// RoundTripper returns next with the workaround applied to every request.
func RoundTripper(next http.RoundTripper) http.RoundTripper { return roundTripper{next} }

// Client returns next with the workaround applied to every request.
func Client(next Doer) Doer { return client{next} }

type roundTripper struct{ next http.RoundTripper }

func (g roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	return g.next.RoundTrip(strip(r))
}

type client struct{ next Doer }

func (g client) Do(r *http.Request) (*http.Response, error) { return g.next.Do(strip(r)) }

// strip returns r, or a shallow copy of it whose body only reads and closes.
func strip(r *http.Request) *http.Request {
	if r.Body == nil || r.Body == http.NoBody {
		return r
	}
	r2 := new(http.Request)
	*r2 = *r
	r2.Body = readCloser{r.Body}
	return r2
}

type readCloser struct{ rc io.ReadCloser }

func (b readCloser) Read(p []byte) (int, error) { return b.rc.Read(p) }
func (b readCloser) Close() error               { return b.rc.Close() }

// WrapConfig applies the workaround to cfg's HTTP client (the SDK's default client when it has
// none), so every client made from cfg gets it.
func WrapConfig(cfg *aws.Config) {
	var base Doer = awshttp.NewBuildableClient()
	if cfg.HTTPClient != nil {
		base = cfg.HTTPClient
	}
	cfg.HTTPClient = Client(base)
}
