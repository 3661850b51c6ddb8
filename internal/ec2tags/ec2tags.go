// Package ec2tags reads the tags of an EC2 instance with ec2:DescribeTags (filtered on the
// instance's resource id), the call the Kinesis Agent's ADDEC2METADATA makes. It speaks the EC2
// Query protocol itself (a form POST signed with Signature Version 4, an XML answer, pages joined
// by NextToken), so the agent needs neither the EC2 SDK module nor its size in every build.
//
//	c := ec2tags.New(awsCfg)
//	tags, err := c.InstanceTags(ctx, "eu-west-1", "i-0abc")
//	if ec2tags.IsAccessDenied(err) { ... } // the identity lacks ec2:DescribeTags
//
// A Client is safe for concurrent use.
package ec2tags

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/ec2query"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go"

	"github.com/shardwise/shardwise/internal/backoff"
)

// APIVersion is the EC2 API version the requests name.
const APIVersion = "2016-11-15"

// maxAttempts bounds the tries of one page: throttling (RequestLimitExceeded), 5xx answers and
// failed connections are tried again after a jittered backoff, within the caller's context.
const maxAttempts = 3

// maxPages bounds the pages of one InstanceTags call (an instance has at most 50 tags, one page).
const maxPages = 100

// maxBody bounds the answer read into memory.
const maxBody = 10 << 20

// Client calls ec2:DescribeTags.
type Client struct {
	// HTTPClient sends the requests; nil means http.DefaultClient.
	HTTPClient aws.HTTPClient
	// Credentials sign the requests; nil fails every call with an error saying so.
	Credentials aws.CredentialsProvider
	// Region is the region used when InstanceTags is given none.
	Region string
	// Endpoint is the EC2 endpoint (scheme, host and optional path); "" means the region's,
	// https://ec2.<region>.amazonaws.com (amazonaws.com.cn in the China regions).
	Endpoint string

	retry backoff.Policy
	now   func() time.Time
}

// New returns a Client with cfg's HTTP client, credentials and region. Its endpoint is the
// standard AWS_ENDPOINT_URL_EC2 variable when set, else cfg.BaseEndpoint (AWS_ENDPOINT_URL or the
// shared config's endpoint_url), else the region's; AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true
// ignores the first two, as the SDK does.
func New(cfg aws.Config) *Client {
	c := &Client{HTTPClient: cfg.HTTPClient, Credentials: cfg.Credentials, Region: cfg.Region}
	if !strings.EqualFold(os.Getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true") {
		if e := os.Getenv("AWS_ENDPOINT_URL_EC2"); e != "" {
			c.Endpoint = e
		} else if cfg.BaseEndpoint != nil {
			c.Endpoint = *cfg.BaseEndpoint
		}
	}
	return c
}

// Error is an error answer of the EC2 API. It implements smithy.APIError.
type Error struct {
	StatusCode int
	Code       string // "UnauthorizedOperation", "RequestLimitExceeded", ...
	Message    string
	RequestID  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("ec2:DescribeTags: %s (HTTP %d): %s", e.Code, e.StatusCode, e.Message)
}

// ErrorCode returns the EC2 error code.
func (e *Error) ErrorCode() string { return e.Code }

// ErrorMessage returns the EC2 error message.
func (e *Error) ErrorMessage() string { return e.Message }

// ErrorFault says whether the server (5xx) or the client is at fault.
func (e *Error) ErrorFault() smithy.ErrorFault {
	if e.StatusCode >= 500 {
		return smithy.FaultServer
	}
	return smithy.FaultClient
}

var _ smithy.APIError = (*Error)(nil)

// IsAccessDenied reports whether err says the identity may not call ec2:DescribeTags
// (UnauthorizedOperation, as EC2 answers, or AccessDenied).
func IsAccessDenied(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "UnauthorizedOperation", "AccessDenied", "AccessDeniedException":
		return true
	}
	return false
}

// InstanceTags returns the tags of the instance (key to value), calling DescribeTags with the
// filter resource-id = instanceID in region (the Client's Region when "") until the answer has no
// NextToken. Errors of the API are *Error.
func (c *Client) InstanceTags(ctx context.Context, region, instanceID string) (map[string]string, error) {
	if region == "" {
		region = c.Region
	}
	if region == "" {
		return nil, errors.New("ec2:DescribeTags: no region")
	}
	if instanceID == "" {
		return nil, errors.New("ec2:DescribeTags: no instance id")
	}
	if c.Credentials == nil {
		return nil, errors.New("ec2:DescribeTags: no credentials")
	}
	endpoint := c.Endpoint
	if endpoint == "" {
		endpoint = defaultEndpoint(region)
	}
	tags := map[string]string{}
	token := ""
	for page := 0; ; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("ec2:DescribeTags: still a NextToken after %d pages", maxPages)
		}
		form := url.Values{
			"Action":           {"DescribeTags"},
			"Version":          {APIVersion},
			"Filter.1.Name":    {"resource-id"},
			"Filter.1.Value.1": {instanceID},
			"MaxResults":       {"1000"},
		}
		if token != "" {
			form.Set("NextToken", token)
		}
		out, err := c.call(ctx, endpoint, region, form)
		if err != nil {
			return nil, err
		}
		for _, t := range out.Tags {
			if t.ResourceID == "" || t.ResourceID == instanceID {
				tags[t.Key] = t.Value
			}
		}
		if out.NextToken == "" {
			return tags, nil
		}
		if out.NextToken == token {
			return nil, errors.New("ec2:DescribeTags: the same NextToken twice")
		}
		token = out.NextToken
	}
}

// describeTagsResponse is the XML answer of DescribeTags.
type describeTagsResponse struct {
	Tags []struct {
		ResourceID string `xml:"resourceId"`
		Key        string `xml:"key"`
		Value      string `xml:"value"`
	} `xml:"tagSet>item"`
	NextToken string `xml:"nextToken"`
}

// call sends one page's request, trying again on throttling, 5xx answers and failed connections.
func (c *Client) call(ctx context.Context, endpoint, region string, form url.Values) (describeTagsResponse, error) {
	var err error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(c.retry.Delay(attempt - 1))
			select {
			case <-ctx.Done():
				t.Stop()
				return describeTagsResponse{}, fmt.Errorf("%w (last try: %w)", ctx.Err(), err)
			case <-t.C:
			}
		}
		var out describeTagsResponse
		var retry bool
		out, retry, err = c.send(ctx, endpoint, region, form)
		if err == nil || !retry || ctx.Err() != nil {
			return out, err
		}
	}
	return describeTagsResponse{}, err
}

func (c *Client) send(ctx context.Context, endpoint, region string, form url.Values) (out describeTagsResponse, retry bool, err error) {
	creds, err := c.Credentials.Retrieve(ctx)
	if err != nil {
		return out, false, fmt.Errorf("ec2:DescribeTags: credentials: %w", err)
	}
	body := []byte(form.Encode())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return out, false, fmt.Errorf("ec2:DescribeTags: endpoint %q: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.ContentLength = int64(len(body))
	sum := sha256.Sum256(body)
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "ec2", region, now().UTC()); err != nil {
		return out, false, fmt.Errorf("ec2:DescribeTags: signing: %w", err)
	}
	var hc aws.HTTPClient = http.DefaultClient
	if c.HTTPClient != nil {
		hc = c.HTTPClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return out, ctx.Err() == nil, fmt.Errorf("ec2:DescribeTags: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return out, ctx.Err() == nil, fmt.Errorf("ec2:DescribeTags: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &Error{StatusCode: resp.StatusCode}
		if comp, err := ec2query.GetErrorResponseComponents(bytes.NewReader(data)); err == nil {
			e.Code, e.Message, e.RequestID = comp.Code, comp.Message, comp.RequestID
		}
		if e.Code == "" { // the Query protocol's shape, as some proxies answer
			var q struct {
				Code      string `xml:"Error>Code"`
				Message   string `xml:"Error>Message"`
				RequestID string `xml:"RequestId"`
			}
			if xml.Unmarshal(data, &q) == nil {
				e.Code, e.Message, e.RequestID = q.Code, q.Message, q.RequestID
			}
		}
		if e.Code == "" {
			e.Code = strconv.Itoa(resp.StatusCode)
			e.Message = strings.TrimSpace(string(data[:min(len(data), 200)]))
		}
		return out, resp.StatusCode >= 500 || e.Code == "RequestLimitExceeded" || e.Code == "Throttling", e
	}
	if err := xml.Unmarshal(data, &out); err != nil {
		return out, false, fmt.Errorf("ec2:DescribeTags: undecodable answer: %w", err)
	}
	return out, false, nil
}

// defaultEndpoint is the region's EC2 endpoint.
func defaultEndpoint(region string) string {
	suffix := "amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		suffix = "amazonaws.com.cn"
	}
	return "https://ec2." + region + "." + suffix
}
