package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/shardwise/shardwise/internal/ec2tags"
	"github.com/shardwise/shardwise/internal/ec2tags/ec2fake"
)

func TestAddBrackets(t *testing.T) {
	p, err := newProcessor(ProcessingOption{OptionName: OptionAddBrackets}, "")
	if err != nil {
		t.Fatal(err)
	}
	if out, ok := p.process([]byte("hello there\n")); !ok || string(out) != "{hello there\n}" {
		t.Errorf("ADDBRACKETS = %q, %v; want the record in braces, newline inside", out, ok)
	}
}

func TestAddMetadata(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"flows": [{"filePattern": "/l/*.log", "kinesisStream": "s", "dataProcessingOptions": [
		{"optionName": "ADDMETADATA", "timestamp": "true", "metadata": {"key": "value", "foo": {"bar": "baz"}, "a": [1, 2]}},
		{"optionName": "ADDMETADATA"}]}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate = %v, want ADDMETADATA accepted", err)
	}
	opts := cfg.Flows[0].DataProcessingOptions
	p, err := newProcessor(opts[0], "")
	if err != nil {
		t.Fatal(err)
	}
	am := p.(addMetadata)
	am.now = func() time.Time { return time.Date(2026, 12, 4, 17, 1, 2, 345_000_000, time.FixedZone("X", 3600)) }
	out, ok := am.process([]byte("say \"hi\" <b>\n"))
	want := `{"ts":"2026-12-04T16:01:02.345Z","metadata":{"key":"value","foo":{"bar":"baz"},"a":[1,2]},"data":"say \"hi\" <b>"}` + "\n"
	if !ok || string(out) != want {
		t.Errorf("ADDMETADATA =\n%s want\n%s", out, want)
	}
	p, err = newProcessor(opts[1], "")
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := p.process([]byte("x\n\n")); string(out) != `{"metadata":null,"data":"x\n"}`+"\n" {
		t.Errorf("ADDMETADATA without metadata or timestamp = %q", out)
	}
}

// fakeIMDS serves IMDSv2: the token, the instance identity document and, when tags is not nil,
// the instance tags. It counts identity document reads.
func fakeIMDS(t *testing.T, tags map[string]string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var docs atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
			io.WriteString(w, "tok")
		case r.Header.Get("X-Aws-Ec2-Metadata-Token") != "tok":
			http.Error(w, "no token", http.StatusUnauthorized)
		case r.URL.Path == "/latest/dynamic/instance-identity/document":
			docs.Add(1)
			io.WriteString(w, `{"privateIp": "10.0.0.7", "availabilityZone": "eu-west-1b", "instanceId": "i-0abc",
				"instanceType": "t3.micro", "accountId": "123456789012", "imageId": "ami-42", "region": "eu-west-1"}`)
		case tags != nil && r.URL.Path == "/latest/meta-data/tags/instance":
			for k := range tags {
				fmt.Fprintln(w, k)
			}
		case tags != nil && strings.HasPrefix(r.URL.Path, "/latest/meta-data/tags/instance/"):
			v, ok := tags[strings.TrimPrefix(r.URL.Path, "/latest/meta-data/tags/instance/")]
			if !ok {
				http.NotFound(w, r)
				return
			}
			io.WriteString(w, v)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &docs
}

func useIMDS(t *testing.T, url string) {
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "")
}

func TestAddEC2Metadata(t *testing.T) {
	srv, docs := fakeIMDS(t, map[string]string{"Name": "web-1", "Team": "logs"})
	useIMDS(t, srv.URL)
	p, err := newProcessor(ProcessingOption{OptionName: OptionAddEC2Metadata, LogFormat: "RFC3339SYSLOG"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if docs.Load() != 0 {
		t.Fatal("the instance metadata was read at construction (Validate must not reach the network)")
	}
	out, ok := p.process([]byte(`{"msg": "hi", "region": "mine", "n": 1.50}` + "\n"))
	if !ok {
		t.Fatal("record dropped")
	}
	keys, vals, isObj := jsonObjectFields(out)
	if !isObj || !bytes.HasSuffix(out, []byte("\n")) {
		t.Fatalf("output %q is not a JSON object line", out)
	}
	wantKeys := []string{"msg", "region", "n", "privateIp", "availabilityZone", "instanceId", "instanceType", "accountId", "amiId", "metadataTimestamp", "tags"}
	if strings.Join(keys, ",") != strings.Join(wantKeys, ",") {
		t.Errorf("keys %v, want %v", keys, wantKeys)
	}
	got := map[string]string{}
	for i, k := range keys {
		got[k] = string(vals[i])
	}
	for k, v := range map[string]string{"msg": `"hi"`, "region": `"eu-west-1"`, "n": `1.50`, "privateIp": `"10.0.0.7"`,
		"availabilityZone": `"eu-west-1b"`, "instanceId": `"i-0abc"`, "instanceType": `"t3.micro"`, "accountId": `"123456789012"`,
		"amiId": `"ami-42"`, "tags": `{"name":"web-1","team":"logs"}`} {
		if got[k] != v {
			t.Errorf("%s = %s, want %s", k, got[k], v)
		}
	}
	var ts string
	if err := json.Unmarshal([]byte(got["metadataTimestamp"]), &ts); err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse("2006-01-02T15:04:05-0700", ts); err != nil {
		t.Errorf("metadataTimestamp %q: %v", ts, err)
	}
	// Cached for the TTL: a second record does not read the metadata again.
	p.process([]byte(`{}`))
	if n := docs.Load(); n != 1 {
		t.Errorf("%d reads of the instance metadata within the TTL, want 1", n)
	}
	p.(*addEC2Metadata).ttl = time.Nanosecond
	p.process([]byte(`{}`))
	if n := docs.Load(); n != 2 {
		t.Errorf("%d reads after the TTL passed, want 2", n)
	}
	// A record that is not a JSON object passes unchanged.
	if out, ok := p.process([]byte("plain line\n")); !ok || string(out) != "plain line\n" {
		t.Errorf("non-JSON record = %q, %v; want it unchanged", out, ok)
	}
}

func TestAddEC2MetadataWithoutTags(t *testing.T) {
	srv, _ := fakeIMDS(t, nil)
	useIMDS(t, srv.URL)
	var logs bytes.Buffer
	p := newAddEC2Metadata(ProcessingOption{OptionName: OptionAddEC2Metadata, MetadataTTL: time.Minute})
	p.setLogger(slog.New(slog.NewTextHandler(&logs, nil)))
	out, _ := p.process([]byte(`{"a":1}`))
	keys, _, _ := jsonObjectFields(out)
	if len(keys) != 9 || keys[len(keys)-1] != "metadataTimestamp" {
		t.Errorf("keys %v, want the identity fields and no tags", keys)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "tags") {
		t.Errorf("no Warn about the missing tags:\n%s", logs.String())
	}
}

// TestAddEC2MetadataOffEC2: without instance metadata the record passes unchanged, and a Warn says
// why (once per try, not per record).
func TestAddEC2MetadataOffEC2(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	var logs bytes.Buffer
	p := newAddEC2Metadata(ProcessingOption{OptionName: OptionAddEC2Metadata})
	p.setLogger(slog.New(slog.NewTextHandler(&logs, nil)))
	for range 3 {
		if out, ok := p.process([]byte(`{"a":1}` + "\n")); !ok || string(out) != `{"a":1}`+"\n" {
			t.Errorf("off EC2: %q, %v; want the record unchanged", out, ok)
		}
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d Warn lines, want 1:\n%s", n, logs.String())
	}
}

func TestJSONObjectFields(t *testing.T) {
	keys, vals, ok := jsonObjectFields([]byte(` {"a": 1, "b": {"c" : [1, 2]}, "a": "again"} ` + "\n"))
	if !ok || strings.Join(keys, ",") != "a,b" || string(vals[0]) != `"again"` || string(vals[1]) != `{"c":[1,2]}` {
		t.Errorf("got %v %q %v", keys, vals, ok)
	}
	for _, bad := range []string{`[1]`, `{"a":1}{}`, `{"a":}`, `"s"`, ``, `{"a":1`} {
		if _, _, ok := jsonObjectFields([]byte(bad)); ok {
			t.Errorf("%q taken for a JSON object", bad)
		}
	}
}

// ec2TagsClient is an ec2:DescribeTags client of the fake EC2 endpoint srv, with its key.
func ec2TagsClient(srv *ec2fake.Server) *ec2tags.Client {
	return &ec2tags.Client{
		Credentials: credentials.NewStaticCredentialsProvider(srv.Key.AccessKeyID, srv.Key.SecretAccessKey, ""),
		Endpoint:    srv.URL,
	}
}

// TestAddEC2MetadataDescribeTags: without instance tags in the instance metadata, the tags come
// from ec2:DescribeTags (signed, filtered on the instance id, in the instance's region, every
// page), keys lower-cased; with tags in the instance metadata, DescribeTags is not called.
func TestAddEC2MetadataDescribeTags(t *testing.T) {
	srv, _ := fakeIMDS(t, nil)
	useIMDS(t, srv.URL)
	ec2 := ec2fake.Start()
	defer ec2.Close()
	ec2.SetTags("i-0abc", map[string]string{"Name": "web-1", "Team": "logs", "Cost-Center": "42", "env": "prod", "Owner": "ops", "x": "y"})
	ec2.SetTags("i-other", map[string]string{"Name": "someone else"})
	ec2.SetPageSize(5)
	var logs bytes.Buffer
	p := newAddEC2Metadata(ProcessingOption{OptionName: OptionAddEC2Metadata})
	p.setLogger(slog.New(slog.NewTextHandler(&logs, nil)))
	p.setEC2Tags(ec2TagsClient(ec2))
	out, _ := p.process([]byte(`{"a":1}`))
	keys, vals, _ := jsonObjectFields(out)
	if len(keys) == 0 || keys[len(keys)-1] != "tags" {
		t.Fatalf("keys %v, want tags last", keys)
	}
	if got, want := string(vals[len(vals)-1]), `{"cost-center":"42","env":"prod","name":"web-1","owner":"ops","team":"logs","x":"y"}`; got != want {
		t.Errorf("tags %s, want %s", got, want)
	}
	reqs := ec2.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d DescribeTags requests for 6 tags in pages of 5, want 2", len(reqs))
	}
	for _, r := range reqs {
		if r.Answer != 200 || r.Region != "eu-west-1" || r.Form.Get("Filter.1.Value.1") != "i-0abc" {
			t.Errorf("request answered %d, region %q, form %v; want a signed request for i-0abc in the instance's region", r.Answer, r.Region, r.Form)
		}
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("a Warn although the tags were read:\n%s", logs.String())
	}

	// Tags in the instance metadata: they are used, DescribeTags is not called.
	srv2, _ := fakeIMDS(t, map[string]string{"Name": "from-imds"})
	useIMDS(t, srv2.URL)
	p = newAddEC2Metadata(ProcessingOption{OptionName: OptionAddEC2Metadata})
	p.setEC2Tags(ec2TagsClient(ec2))
	out, _ = p.process([]byte(`{}`))
	if _, vals, _ := jsonObjectFields(out); string(vals[len(vals)-1]) != `{"name":"from-imds"}` {
		t.Errorf("record %s, want the instance metadata's tags", out)
	}
	if n := len(ec2.Requests()); n != 2 {
		t.Errorf("DescribeTags called although the instance metadata has the tags (%d requests)", n-2)
	}
}

// TestAddEC2MetadataDescribeTagsDenied: when DescribeTags is denied, records keep flowing with the
// other metadata and no "tags", and one Warn (not one per read) names the missing permission.
func TestAddEC2MetadataDescribeTagsDenied(t *testing.T) {
	srv, docs := fakeIMDS(t, nil)
	useIMDS(t, srv.URL)
	ec2 := ec2fake.Start()
	defer ec2.Close()
	ec2.SetTags("i-0abc", map[string]string{"Name": "web-1"})
	ec2.Deny(true)
	var logs bytes.Buffer
	p := newAddEC2Metadata(ProcessingOption{OptionName: OptionAddEC2Metadata})
	p.setLogger(slog.New(slog.NewTextHandler(&logs, nil)))
	p.setEC2Tags(ec2TagsClient(ec2))
	p.ttl = time.Nanosecond // every record reads the metadata again
	for i := range 3 {
		out, ok := p.process([]byte(`{"n":1}` + "\n"))
		keys, _, isObj := jsonObjectFields(out)
		if !ok || !isObj || !slices.Contains(keys, "instanceId") || slices.Contains(keys, "tags") {
			t.Errorf("record %d: %s (ok %v); want the metadata without tags", i, out, ok)
		}
	}
	if docs.Load() != 3 || len(ec2.Requests()) != 3 {
		t.Fatalf("%d metadata reads, %d DescribeTags calls; want 3 each", docs.Load(), len(ec2.Requests()))
	}
	warns := strings.Count(logs.String(), "level=WARN")
	if warns != 1 || !strings.Contains(logs.String(), "missing_permission=ec2:DescribeTags") {
		t.Errorf("%d Warn lines, want 1 naming ec2:DescribeTags:\n%s", warns, logs.String())
	}
	// Allowed again: tags come back, and a later denial warns again.
	ec2.Deny(false)
	if out, _ := p.process([]byte(`{}`)); !bytes.Contains(out, []byte(`"tags":{"name":"web-1"}`)) {
		t.Errorf("record %s, want the tags once DescribeTags is allowed", out)
	}
	ec2.Deny(true)
	p.process([]byte(`{}`))
	if n := strings.Count(logs.String(), "level=WARN"); n != 2 {
		t.Errorf("%d Warn lines after a new denial, want 2", n)
	}
}

// TestAddEC2MetadataDescribeTagsFails: a DescribeTags failure other than a denial keeps the tags
// read before.
func TestAddEC2MetadataDescribeTagsFails(t *testing.T) {
	srv, _ := fakeIMDS(t, nil)
	useIMDS(t, srv.URL)
	ec2 := ec2fake.Start()
	defer ec2.Close()
	ec2.SetTags("i-0abc", map[string]string{"Name": "web-1"})
	p := newAddEC2Metadata(ProcessingOption{OptionName: OptionAddEC2Metadata})
	p.setEC2Tags(ec2TagsClient(ec2))
	p.ttl = time.Nanosecond
	p.process([]byte(`{}`))
	ec2.FailNext("InvalidParameterValue")
	if out, _ := p.process([]byte(`{}`)); !bytes.Contains(out, []byte(`"tags":{"name":"web-1"}`)) {
		t.Errorf("record %s after a failed DescribeTags, want the tags read before", out)
	}
}

// TestWithEC2TagsReachesProcessor: agent.New hands WithEC2Tags' client to every ADDEC2METADATA.
func TestWithEC2TagsReachesProcessor(t *testing.T) {
	cfg := Config{CheckpointFile: filepath.Join(t.TempDir(), "cp.json"), Flows: []Flow{{FilePattern: "/l/*.log", KinesisStream: "s",
		DataProcessingOptions: []ProcessingOption{{OptionName: OptionSingleLine}, {OptionName: OptionAddEC2Metadata}}}}}
	c := &ec2tags.Client{}
	a, err := New(cfg, nopClient{}, WithEC2Tags(c))
	if err != nil {
		t.Fatal(err)
	}
	if got := a.procs[0][1].(*addEC2Metadata).ec2; got != EC2TagsAPI(c) {
		t.Errorf("the processor's EC2 client is %v, want the one given", got)
	}
}
