package ec2tags

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/shardwise/shardwise/internal/backoff"
	"github.com/shardwise/shardwise/internal/ec2tags/ec2fake"
)

func fakeClient(t *testing.T) (*Client, *ec2fake.Server) {
	t.Helper()
	srv := ec2fake.Start()
	t.Cleanup(srv.Close)
	c := &Client{
		Credentials: credentials.NewStaticCredentialsProvider(srv.Key.AccessKeyID, srv.Key.SecretAccessKey, ""),
		Region:      "us-east-1",
		Endpoint:    srv.URL,
		retry:       backoff.Policy{Base: time.Millisecond, Max: time.Millisecond},
	}
	return c, srv
}

// TestInstanceTagsPaginated: the request is a signed form POST (Action, Version, the resource-id
// filter; the fake checks the signature), and pages are followed by NextToken until none is left.
func TestInstanceTagsPaginated(t *testing.T) {
	c, srv := fakeClient(t)
	want := map[string]string{"Name": "web-1", "Team": "logs", "env": "prod", "a&b": "<x>", "Empty": "", "z": "last"}
	srv.SetTags("i-0abc", want)
	srv.SetTags("i-other", map[string]string{"Name": "not mine"})
	srv.SetPageSize(2)
	got, err := c.InstanceTags(context.Background(), "eu-west-1", "i-0abc")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("tags %v, want %v", got, want)
	}
	reqs := srv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests for 6 tags in pages of 2, want 3", len(reqs))
	}
	for i, r := range reqs {
		if r.Answer != http.StatusOK {
			t.Errorf("request %d answered %d", i, r.Answer)
		}
		if !strings.HasPrefix(r.Authorization, "AWS4-HMAC-SHA256 Credential=AKIDFAKE/") || r.Region != "eu-west-1" {
			t.Errorf("request %d: Authorization %q, region %q; want a signature for eu-west-1", i, r.Authorization, r.Region)
		}
		f := r.Form
		if f.Get("Action") != "DescribeTags" || f.Get("Version") != APIVersion || f.Get("Filter.1.Name") != "resource-id" || f.Get("Filter.1.Value.1") != "i-0abc" {
			t.Errorf("request %d form %v", i, f)
		}
		if (i == 0) != (f.Get("NextToken") == "") {
			t.Errorf("request %d NextToken %q", i, f.Get("NextToken"))
		}
	}
}

// TestInstanceTagsBadSignature: a request signed with another secret is refused (the fake checks
// signatures for real), and the error is the API's.
func TestInstanceTagsBadSignature(t *testing.T) {
	c, _ := fakeClient(t)
	c.Credentials = credentials.NewStaticCredentialsProvider("AKIDFAKE", "wrong", "")
	_, err := c.InstanceTags(context.Background(), "", "i-0abc")
	var e *Error
	if !errors.As(err, &e) || e.Code != "AuthFailure" || e.StatusCode != http.StatusUnauthorized {
		t.Fatalf("err = %v, want AuthFailure", err)
	}
	if IsAccessDenied(err) {
		t.Error("AuthFailure taken for a missing permission")
	}
}

// TestInstanceTagsDenied: UnauthorizedOperation is reported at once (not retried) and recognised
// by IsAccessDenied.
func TestInstanceTagsDenied(t *testing.T) {
	c, srv := fakeClient(t)
	srv.Deny(true)
	_, err := c.InstanceTags(context.Background(), "", "i-0abc")
	if !IsAccessDenied(err) {
		t.Fatalf("err = %v, want access denied", err)
	}
	if !strings.Contains(err.Error(), "UnauthorizedOperation") {
		t.Errorf("error %q does not name the code", err)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests, want 1 (a denial is not retried)", n)
	}
}

// TestInstanceTagsRetries: throttling and 5xx answers are tried again (up to 3 attempts).
func TestInstanceTagsRetries(t *testing.T) {
	c, srv := fakeClient(t)
	srv.SetTags("i-0abc", map[string]string{"k": "v"})
	srv.FailNext("RequestLimitExceeded", "InternalError")
	got, err := c.InstanceTags(context.Background(), "", "i-0abc")
	if err != nil || got["k"] != "v" {
		t.Fatalf("tags %v, %v; want them after two retries", got, err)
	}
	srv.FailNext("RequestLimitExceeded", "RequestLimitExceeded", "RequestLimitExceeded")
	_, err = c.InstanceTags(context.Background(), "", "i-0abc")
	var e *Error
	if !errors.As(err, &e) || e.Code != "RequestLimitExceeded" {
		t.Errorf("err = %v after 3 throttled attempts, want RequestLimitExceeded", err)
	}
	srv.FailNext("InvalidParameterValue")
	before := len(srv.Requests())
	if _, err := c.InstanceTags(context.Background(), "", "i-0abc"); err == nil || len(srv.Requests()) != before+1 {
		t.Errorf("a 400 answer: err %v after %d requests, want an error after 1", err, len(srv.Requests())-before)
	}
}

// TestErrorShapes: EC2's error answer (Response/Errors/Error) and the Query protocol's
// (ErrorResponse/Error), as a proxy may answer, both give the code; a body that is neither gives
// the HTTP status.
func TestErrorShapes(t *testing.T) {
	for body, want := range map[string]string{
		`<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>no</Message></Error></Errors><RequestID>r</RequestID></Response>`:    "UnauthorizedOperation",
		`<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>no</Message></Error><RequestId>r</RequestId></ErrorResponse>`: "AccessDenied",
		`<html>forbidden</html>`: "403",
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, body)
		}))
		c := &Client{Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""), Region: "us-east-1", Endpoint: srv.URL}
		_, err := c.InstanceTags(context.Background(), "", "i-1")
		srv.Close()
		var e *Error
		if !errors.As(err, &e) || e.Code != want || e.StatusCode != http.StatusForbidden {
			t.Errorf("answer %s: err %v, want code %s", body, err, want)
		}
		if IsAccessDenied(err) != (want != "403") {
			t.Errorf("answer %s: IsAccessDenied %v", body, IsAccessDenied(err))
		}
	}
}

func TestNewEndpoint(t *testing.T) {
	base := "http://127.0.0.1:1"
	cfg := aws.Config{Region: "eu-west-1", BaseEndpoint: &base}
	t.Setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "")
	t.Setenv("AWS_ENDPOINT_URL_EC2", "")
	if c := New(cfg); c.Endpoint != base || c.Region != "eu-west-1" {
		t.Errorf("endpoint %q region %q, want the base endpoint", c.Endpoint, c.Region)
	}
	t.Setenv("AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:2")
	if c := New(cfg); c.Endpoint != "http://127.0.0.1:2" {
		t.Errorf("endpoint %q, want AWS_ENDPOINT_URL_EC2", c.Endpoint)
	}
	t.Setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
	if c := New(cfg); c.Endpoint != "" {
		t.Errorf("endpoint %q, want the region's (configured endpoints ignored)", c.Endpoint)
	}
	if e := defaultEndpoint("eu-west-1"); e != "https://ec2.eu-west-1.amazonaws.com" {
		t.Errorf("default endpoint %q", e)
	}
	if e := defaultEndpoint("cn-north-1"); e != "https://ec2.cn-north-1.amazonaws.com.cn" {
		t.Errorf("China endpoint %q", e)
	}
}
