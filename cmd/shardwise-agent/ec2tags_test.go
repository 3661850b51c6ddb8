package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/internal/ec2tags/ec2fake"
	"github.com/shardwise/shardwise/kpl"
)

// TestRunEC2MetadataDescribeTags runs the command with ADDEC2METADATA on an instance whose
// metadata has no tags: the tags come from ec2:DescribeTags (AWS_ENDPOINT_URL_EC2, the fake EC2
// endpoint), signed with the instance's own identity (agent.json's static keys, not the role of
// assumeRoleARN, which Kinesis gets) for the instance's region (eu-west-1, not kinesis.region).
func TestRunEC2MetadataDescribeTags(t *testing.T) {
	imds := fakeIMDS(t, "eu-west-1")
	cleanAWSEnv(t, imds.URL)
	ec2 := ec2fake.Start()
	defer ec2.Close()
	ec2.SetTags("i-0123", map[string]string{"Name": "web-1", "Team": "logs"})
	t.Setenv("AWS_ENDPOINT_URL_EC2", ec2.URL)
	sts := &fakeSTS{}
	stsSrv := httptest.NewServer(sts)
	defer stsSrv.Close()
	srv, kc := logsServer(t)

	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	if err := os.WriteFile(logPath, []byte(`{"msg": "hi"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "agent.json")
	cfg := fmt.Sprintf(`{"checkpointFile": %q, "kinesis.endpoint": %q, "kinesis.region": "us-east-1", "cloudwatch.emitMetrics": false,
		"awsAccessKeyId": %q, "awsSecretAccessKey": %q, "assumeRoleARN": "arn:aws:iam::123456789012:role/agent", "sts.endpoint": %q,
		"flows": [{"filePattern": %q, "kinesisStream": "logs", "initialPosition": "START_OF_FILE",
		           "dataProcessingOptions": [{"optionName": "ADDEC2METADATA"}]}]}`,
		filepath.Join(dir, "cp.json"), srv.URL(), ec2.Key.AccessKeyID, ec2.Key.SecretAccessKey, stsSrv.URL, logPath)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-c", cfgPath}, &bytes.Buffer{}, &stderr,
			agent.PollInterval(10*time.Millisecond), agent.ProducerOptions(kpl.Linger(time.Millisecond)))
	}()
	waitFor(t, "one record", func() bool { return countRecords(t, kc) == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run = %v\n%s", err, stderr.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(readLines(t, kc)[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if tags, _ := rec["tags"].(map[string]any); tags["name"] != "web-1" || tags["team"] != "logs" || rec["instanceId"] != "i-0123" || rec["msg"] != "hi" {
		t.Errorf("record %v, want the instance's metadata and its tags from DescribeTags", rec)
	}
	reqs := ec2.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d DescribeTags requests, want 1\n%s", len(reqs), stderr.String())
	}
	if r := reqs[0]; r.Answer != 200 || r.Region != "eu-west-1" || !strings.Contains(r.Authorization, "Credential="+ec2.Key.AccessKeyID+"/") {
		t.Errorf("DescribeTags answered %d, region %q, Authorization %q; want the instance's identity and region", r.Answer, r.Region, r.Authorization)
	}
	if strings.Contains(stderr.String(), `"level":"WARN","msg":"ADDEC2METADATA`) {
		t.Errorf("an ADDEC2METADATA Warn although the tags were read:\n%s", stderr.String())
	}
}
