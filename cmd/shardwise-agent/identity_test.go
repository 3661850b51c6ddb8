package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/shardwise/shardwise/agent"
)

// cleanAWSEnv leaves the SDK chain with nothing: no region, no credentials, no shared files, and
// the instance metadata at imdsURL ("" disables it).
func cleanAWSEnv(t *testing.T, imdsURL string) {
	t.Helper()
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
		"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL",
		"AWS_ENDPOINT_URL_STS", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	if imdsURL == "" {
		t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
		t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "")
	} else {
		t.Setenv("AWS_EC2_METADATA_DISABLED", "")
		t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imdsURL)
	}
}

// fakeIMDS serves the IMDSv2 token and the instance identity document of an instance in region.
func fakeIMDS(t *testing.T, region string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
			io.WriteString(w, "tok")
		case r.Header.Get("X-Aws-Ec2-Metadata-Token") != "tok":
			http.Error(w, "no token", http.StatusUnauthorized)
		case r.URL.Path == "/latest/dynamic/instance-identity/document":
			fmt.Fprintf(w, `{"region": %q, "instanceId": "i-0123", "accountId": "123456789012"}`, region)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func minimalConfig() agent.Config {
	return agent.Config{Flows: []agent.Flow{{FilePattern: "/tmp/x.log", KinesisStream: "logs"}}}
}

func TestAWSRegion(t *testing.T) {
	ctx := context.Background()
	discard := slog.New(slog.DiscardHandler)
	t.Run("kinesis.region", func(t *testing.T) {
		cleanAWSEnv(t, fakeIMDS(t, "eu-north-1").URL)
		t.Setenv("AWS_REGION", "us-west-2")
		cfg := minimalConfig()
		cfg.KinesisRegion = "ap-south-1"
		awsCfg, err := loadAWSConfig(ctx, cfg, discard)
		if err != nil {
			t.Fatal(err)
		}
		if got := newKinesisClient(awsCfg, "").Options().Region; got != "ap-south-1" {
			t.Errorf("Kinesis client region %q, want kinesis.region's ap-south-1", got)
		}
	})
	t.Run("AWS_REGION before instance metadata", func(t *testing.T) {
		cleanAWSEnv(t, fakeIMDS(t, "eu-north-1").URL)
		t.Setenv("AWS_REGION", "us-west-2")
		awsCfg, err := loadAWSConfig(ctx, minimalConfig(), discard)
		if err != nil || awsCfg.Region != "us-west-2" {
			t.Errorf("region %q, %v; want us-west-2", awsCfg.Region, err)
		}
	})
	t.Run("instance metadata", func(t *testing.T) {
		cleanAWSEnv(t, fakeIMDS(t, "eu-north-1").URL)
		var logs bytes.Buffer
		awsCfg, err := loadAWSConfig(ctx, minimalConfig(), slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if got := newKinesisClient(awsCfg, "").Options().Region; got != "eu-north-1" {
			t.Errorf("Kinesis client region %q, want the instance's eu-north-1", got)
		}
		if !strings.Contains(logs.String(), "instance metadata") {
			t.Errorf("no log line says where the region came from:\n%s", logs.String())
		}
	})
	t.Run("nothing", func(t *testing.T) {
		cleanAWSEnv(t, "")
		_, err := loadAWSConfig(ctx, minimalConfig(), discard)
		if err == nil || !strings.Contains(err.Error(), "no AWS region configured") {
			t.Errorf("loadAWSConfig = %v, want a no-region error", err)
		}
	})
}

func TestAWSStaticKeys(t *testing.T) {
	cleanAWSEnv(t, "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "envsecret")
	cfg := minimalConfig()
	cfg.AWSAccessKeyID, cfg.AWSSecretAccessKey = "AKIDFROMJSON", "jsonsecret"
	var logs bytes.Buffer
	awsCfg, err := loadAWSConfig(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := awsCfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != "AKIDFROMJSON" || creds.SecretAccessKey != "jsonsecret" {
		t.Errorf("credentials %q, want agent.json's static keys", creds.AccessKeyID)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "instance role") {
		t.Errorf("no Warn preferring instance roles:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "jsonsecret") {
		t.Errorf("the secret key was logged:\n%s", logs.String())
	}
}

// fakeSTS answers AssumeRole with fixed temporary credentials and records the requests.
type fakeSTS struct {
	mu   sync.Mutex
	reqs []url.Values
	auth []string
}

func (f *fakeSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	f.mu.Lock()
	f.reqs = append(f.reqs, form)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.mu.Unlock()
	if form.Get("Action") != "AssumeRole" {
		http.Error(w, "unexpected action", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	io.WriteString(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>ASIAASSUMED</AccessKeyId>
      <SecretAccessKey>assumedsecret</SecretAccessKey>
      <SessionToken>assumedtoken</SessionToken>
      <Expiration>2099-01-01T00:00:00Z</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/agent/shardwise-agent</Arn>
      <AssumedRoleId>AROA:shardwise-agent</AssumedRoleId>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>
</AssumeRoleResponse>`)
}

func TestAWSAssumeRole(t *testing.T) {
	cleanAWSEnv(t, "")
	fake := &fakeSTS{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	cfg := minimalConfig()
	cfg.KinesisRegion = "eu-west-1"
	cfg.AWSAccessKeyID, cfg.AWSSecretAccessKey = "AKIDBASE", "basesecret"
	cfg.AssumeRoleARN = "arn:aws:iam::123456789012:role/agent"
	cfg.AssumeRoleExternalID = "ext-42"
	cfg.STSEndpoint = srv.URL
	awsCfg, err := loadAWSConfig(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := awsCfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != "ASIAASSUMED" || creds.SessionToken != "assumedtoken" {
		t.Errorf("credentials %q (token %q), want the assumed role's", creds.AccessKeyID, creds.SessionToken)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.reqs) != 1 {
		t.Fatalf("%d STS requests at sts.endpoint, want 1", len(fake.reqs))
	}
	req := fake.reqs[0]
	if req.Get("RoleArn") != cfg.AssumeRoleARN || req.Get("ExternalId") != "ext-42" || req.Get("RoleSessionName") == "" {
		t.Errorf("AssumeRole request %v", req)
	}
	if !strings.Contains(fake.auth[0], "Credential=AKIDBASE/") || !strings.Contains(fake.auth[0], "/eu-west-1/sts/") {
		t.Errorf("AssumeRole signed with %q, want agent.json's static keys in kinesis.region", fake.auth[0])
	}
}

func TestAWSIdentityConfigErrors(t *testing.T) {
	for name, mod := range map[string]func(*agent.Config){
		"awsSecretAccessKey":   func(c *agent.Config) { c.AWSAccessKeyID = "AKID" },
		"awsAccessKeyId":       func(c *agent.Config) { c.AWSSecretAccessKey = "secret" },
		"assumeRoleExternalId": func(c *agent.Config) { c.AssumeRoleExternalID = "ext" },
	} {
		cfg := minimalConfig()
		mod(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Validate = %v, want an error naming %s", err, name)
		}
	}
	cfg, err := agent.ParseConfig([]byte(`{"awsAccessKeyId": "AKID", "awsSecretAccessKey": "s", "assumeRoleARN": "arn:r",
		"assumeRoleExternalId": "e", "sts.endpoint": "sts.example", "kinesis.region": "r1", "checkpointTimeToLiveDays": "3",
		"flows": [{"filePattern": "/x", "kinesisStream": "s"}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AWSAccessKeyID != "AKID" || cfg.AWSSecretAccessKey != "s" || cfg.AssumeRoleARN != "arn:r" ||
		cfg.AssumeRoleExternalID != "e" || cfg.STSEndpoint != "sts.example" || cfg.KinesisRegion != "r1" ||
		cfg.CheckpointTTL.Hours() != 72 {
		t.Errorf("ParseConfig = %+v", cfg)
	}
}
