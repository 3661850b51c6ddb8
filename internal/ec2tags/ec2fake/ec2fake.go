// Package ec2fake is a small fake of the EC2 Query API's DescribeTags for tests, in the style of
// net/http/httptest: it listens on loopback, checks each request as EC2 does (a valid Signature
// Version 4 signature by a known key, Action, Version, the resource-id filter) and answers with
// the XML EC2 sends, a page at a time, or with EC2's error answers.
package ec2fake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Request is what the server saw of one request.
type Request struct {
	Form          url.Values
	Authorization string // the Authorization header
	Region        string // the region of the signature's scope
	Answer        int    // the HTTP status answered
}

// Server is a fake EC2 endpoint serving DescribeTags.
type Server struct {
	URL    string
	Key    aws.Credentials // the only identity whose signatures are accepted
	srv    *httptest.Server
	mu     sync.Mutex
	tags   map[string]map[string]string // instance id -> key -> value
	page   int
	deny   bool
	fail   []string // error codes to answer first, one per request
	reqs   []Request
	tokens map[string]int // NextToken -> offset
}

// Start starts a server on loopback that accepts the credentials AKIDFAKE / SECRETFAKE.
func Start() *Server {
	s := &Server{
		Key:    aws.Credentials{AccessKeyID: "AKIDFAKE", SecretAccessKey: "SECRETFAKE", Source: "ec2fake"},
		tags:   map[string]map[string]string{},
		page:   1000,
		tokens: map[string]int{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// SetTags sets an instance's tags.
func (s *Server) SetTags(instanceID string, tags map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tags[instanceID] = tags
}

// SetPageSize sets how many tags one answer holds at most (MaxResults lowers it further).
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.page = n
}

// Deny makes every request answer UnauthorizedOperation (403), as EC2 does for an identity
// without ec2:DescribeTags.
func (s *Server) Deny(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny = deny
}

// FailNext makes the next requests answer these error codes, one each (RequestLimitExceeded is
// answered with 503, as EC2 throttles; InternalError with 500; others with 400).
func (s *Server) FailNext(codes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = append(s.fail, codes...)
}

// Requests returns the requests seen so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	rec := Request{Form: form, Authorization: r.Header.Get("Authorization")}
	status, answer := s.answer(r, body, form, &rec)
	rec.Answer = status
	s.mu.Lock()
	s.reqs = append(s.reqs, rec)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	io.WriteString(w, answer)
}

func errorAnswer(status int, code, msg string) (int, string) {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<Response><Errors><Error><Code>")
	xml.EscapeText(&b, []byte(code))
	b.WriteString("</Code><Message>")
	xml.EscapeText(&b, []byte(msg))
	b.WriteString("</Message></Error></Errors><RequestID>fake-request</RequestID></Response>")
	return status, b.String()
}

func (s *Server) answer(r *http.Request, body []byte, form url.Values, rec *Request) (int, string) {
	region, err := s.checkSignature(r, body)
	rec.Region = region
	if err != nil {
		return errorAnswer(http.StatusUnauthorized, "AuthFailure", err.Error())
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return errorAnswer(http.StatusBadRequest, "InvalidAction", "want a form POST")
	}
	if a := form.Get("Action"); a != "DescribeTags" {
		return errorAnswer(http.StatusBadRequest, "InvalidAction", fmt.Sprintf("The action %s is not valid for this web service.", a))
	}
	if v := form.Get("Version"); v != "2016-11-15" {
		return errorAnswer(http.StatusBadRequest, "InvalidParameterValue", "unexpected Version "+v)
	}
	if form.Get("Filter.1.Name") != "resource-id" || form.Get("Filter.1.Value.1") == "" {
		return errorAnswer(http.StatusBadRequest, "InvalidParameterValue", "want Filter.1.Name=resource-id with a value (the fake serves only that)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.fail) > 0 {
		code := s.fail[0]
		s.fail = s.fail[1:]
		status := http.StatusBadRequest
		switch code {
		case "RequestLimitExceeded":
			status = http.StatusServiceUnavailable
		case "InternalError":
			status = http.StatusInternalServerError
		}
		return errorAnswer(status, code, "injected by ec2fake")
	}
	if s.deny {
		return errorAnswer(http.StatusForbidden, "UnauthorizedOperation", "You are not authorized to perform this operation. User: arn:aws:sts::123456789012:assumed-role/agent/i-0abc is not authorized to perform: ec2:DescribeTags because no identity-based policy allows the ec2:DescribeTags action")
	}
	id := form.Get("Filter.1.Value.1")
	var keys []string
	for k := range s.tags[id] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	from := 0
	if tok := form.Get("NextToken"); tok != "" {
		off, ok := s.tokens[tok]
		if !ok {
			return errorAnswer(http.StatusBadRequest, "InvalidParameterValue", "unknown NextToken")
		}
		from = off
	}
	n := s.page
	if mr := form.Get("MaxResults"); mr != "" {
		m, err := strconv.Atoi(mr)
		if err != nil || m < 5 || m > 1000 {
			return errorAnswer(http.StatusBadRequest, "InvalidParameterValue", "MaxResults must be between 5 and 1000")
		}
		n = min(n, m)
	}
	to := min(from+n, len(keys))
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<DescribeTagsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>fake-request</requestId><tagSet>`)
	for _, k := range keys[from:to] {
		b.WriteString("<item><resourceId>")
		xml.EscapeText(&b, []byte(id))
		b.WriteString("</resourceId><resourceType>instance</resourceType><key>")
		xml.EscapeText(&b, []byte(k))
		b.WriteString("</key><value>")
		xml.EscapeText(&b, []byte(s.tags[id][k]))
		b.WriteString("</value></item>")
	}
	b.WriteString("</tagSet>")
	if to < len(keys) {
		tok := fmt.Sprintf("token-%d-%d", len(s.tokens), to)
		s.tokens[tok] = to
		b.WriteString("<nextToken>" + tok + "</nextToken>")
	}
	b.WriteString("</DescribeTagsResponse>")
	return http.StatusOK, b.String()
}

// checkSignature checks the request's Signature Version 4 signature: it signs the same request
// again with the server's key at the request's X-Amz-Date and compares. It returns the region of
// the signature's scope.
func (s *Server) checkSignature(r *http.Request, body []byte) (string, error) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return "", fmt.Errorf("no Authorization header")
	}
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return "", fmt.Errorf("not a Signature Version 4 Authorization header: %q", auth)
	}
	var cred, signed string
	for part := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signed = v
		}
	}
	scope := strings.Split(cred, "/") // key/date/region/service/aws4_request
	if len(scope) != 5 || scope[3] != "ec2" || scope[4] != "aws4_request" {
		return "", fmt.Errorf("credential scope %q is not for ec2", cred)
	}
	region := scope[2]
	if scope[0] != s.Key.AccessKeyID {
		return region, fmt.Errorf("unknown access key %q", scope[0])
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return region, fmt.Errorf("bad X-Amz-Date: %v", err)
	}
	if d := time.Since(when); d > 15*time.Minute || d < -15*time.Minute {
		return region, fmt.Errorf("signature expired: X-Amz-Date %s", when)
	}
	again, _ := http.NewRequestWithContext(context.Background(), r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	again.ContentLength = int64(len(body))
	for h := range strings.SplitSeq(signed, ";") {
		switch h {
		case "host", "x-amz-date", "content-length":
		default:
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), s.Key, again, hex.EncodeToString(sum[:]), "ec2", region, when); err != nil {
		return region, err
	}
	if got, want := auth, again.Header.Get("Authorization"); got != want {
		return region, fmt.Errorf("signature does not match (got %q, want %q)", got, want)
	}
	return region, nil
}
