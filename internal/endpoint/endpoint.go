// Package endpoint decides which service endpoints the Shardwise commands may talk to: TLS by
// default, plain HTTP only to this machine (loopback) unless the user opts in.
//
// The rule, applied by cmd/shardwise, cmd/shardwise-agent and the multilang daemon to every
// endpoint they are given (agent.json's kinesis.endpoint, firehose.endpoint, cloudwatch.endpoint
// and sts.endpoint; a multilang properties file's kinesisEndpoint, dynamoDBEndpoint and STS
// endpoint; and the SDK chain's AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>, as resolved by
// each client):
//
//   - a bare host name (agent.json's usual "kinesis.us-east-1.amazonaws.com") means https://;
//   - https:// is always accepted;
//   - http:// is accepted when the host is loopback (localhost, 127.0.0.0/8, ::1), where the local
//     engines and test servers run, and refused otherwise with an *Error wrapping ErrInsecure,
//     unless the environment variable SHARDWISE_ALLOW_INSECURE is 1 or true;
//   - any other scheme, or a URL without a host, is refused.
//
// Request signing does not hide a request's content: over plain HTTP, record data, partition keys
// and the signed headers travel readable by anyone on the path.
package endpoint

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// AllowInsecureEnv is the environment variable that lets plain-HTTP endpoints to other hosts
// through ("1" or "true").
const AllowInsecureEnv = "SHARDWISE_ALLOW_INSECURE"

// Sentinel errors, for errors.Is.
var (
	// ErrInsecure: a plain-HTTP endpoint whose host is not loopback, without the opt-in.
	ErrInsecure = errors.New("plain-HTTP endpoint refused")
	// ErrInvalid: the endpoint is not an http(s) URL with a host.
	ErrInvalid = errors.New("invalid endpoint")
)

// Error describes a refused endpoint: Setting names where it came from ("kinesis.endpoint",
// "Kinesis endpoint (AWS_ENDPOINT_URL_KINESIS or AWS_ENDPOINT_URL)").
type Error struct {
	Setting  string
	Endpoint string
	Err      error // ErrInsecure or ErrInvalid
	Reason   string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %q: %s", e.Setting, e.Endpoint, e.Reason)
}

// Unwrap returns ErrInsecure or ErrInvalid.
func (e *Error) Unwrap() error { return e.Err }

// AllowInsecure reports whether getenv (os.Getenv) sets AllowInsecureEnv to a true value.
func AllowInsecure(getenv func(string) string) bool {
	v, err := strconv.ParseBool(strings.TrimSpace(getenv(AllowInsecureEnv)))
	return err == nil && v
}

// Normalize returns the endpoint URL for a setting that may be a bare host (agent.json's
// endpoints): "" stays "" (the SDK's default, always https), a value without "://" gets
// "https://", and the result must pass Check.
func Normalize(setting, raw string, allowInsecure bool) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", nil
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	if err := Check(setting, raw, allowInsecure); err != nil {
		return "", err
	}
	return raw, nil
}

// Check applies the rule to a full endpoint URL ("" passes: the SDK's own endpoints are https).
func Check(setting, raw string, allowInsecure bool) error {
	if raw == "" {
		return nil
	}
	refuse := func(err error, format string, args ...any) error {
		return &Error{Setting: setting, Endpoint: raw, Err: err, Reason: fmt.Sprintf(format, args...)}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return refuse(ErrInvalid, "not a URL: %v", err)
	}
	if u.Host == "" || u.Hostname() == "" {
		return refuse(ErrInvalid, "no host (want https://HOST[:PORT])")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if IsLoopback(u.Hostname()) || allowInsecure {
			return nil
		}
		return refuse(ErrInsecure, "plain HTTP to a host that is not this machine would send record data, partition keys and signed requests unencrypted; use https://, or set %s=1 to allow it", AllowInsecureEnv)
	default:
		return refuse(ErrInvalid, "scheme %q (want https:// or, for loopback, http://)", u.Scheme)
	}
}

// IsLoopback reports whether host (without port or brackets) names this machine: "localhost" (or
// a name under .localhost, RFC 6761), or an IP address in 127.0.0.0/8 or ::1. Other names are not
// resolved: what a name resolves to can change.
func IsLoopback(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
