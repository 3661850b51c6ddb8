package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/firehosetest"
)

// newFirehose starts a firehosetest server holding delivery stream name and returns a client.
func newFirehose(t *testing.T, name string) (*firehosetest.Server, *firehose.Client) {
	t.Helper()
	srv, err := firehosetest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.CreateDeliveryStream(name)
	fc := firehose.New(firehose.Options{
		BaseEndpoint: aws.String(srv.URL()),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})
	return srv, fc
}

// streamOffset returns the checkpointed offset of file for the flow of destination stream (the
// checkpoint file's "kinesisStream": "firehose:<name>" for a Firehose flow), or -1.
func streamOffset(t *testing.T, cp, stream, file string) int64 {
	t.Helper()
	data, err := os.ReadFile(cp)
	if err != nil {
		return -1
	}
	var cf struct {
		Files []struct {
			Stream string `json:"kinesisStream"`
			Path   string `json:"path"`
			Offset int64  `json:"offset"`
		}
	}
	if err := json.Unmarshal(data, &cf); err != nil {
		t.Fatalf("checkpoint file: %v", err)
	}
	for _, c := range cf.Files {
		if c.Stream == stream && c.Path == file {
			return c.Offset
		}
	}
	return -1
}

func firehoseLines(srv *firehosetest.Server, name string) string {
	var b strings.Builder
	for _, r := range srv.Records(name) {
		b.Write(r)
	}
	return b.String()
}

// awsSample is AWS's sample agent.json (comments, one Kinesis flow, one Firehose flow on the
// same files), with the test's paths and endpoints.
const awsSample = `{
  "cloudwatch.emitMetrics": true,
  "kinesis.endpoint": "",
  "firehose.endpoint": "", // the client is the test's
  "checkpointFile": %q,

  "flows": [
    {
      "filePattern": %q,
      "kinesisStream": "logs",
      "partitionKeyOption": "RANDOM"
    },
    {
      /* the same files to Firehose */
      "filePattern": %q,
      "deliveryStream": "yourdeliverystream"
    }
  ]
}`

// TestFirehoseAWSSampleConfig runs AWS's sample agent.json unchanged (but for paths): every line
// reaches both the Kinesis stream and the Firehose delivery stream, one record per line, and both
// flows checkpoint the file at its end.
func TestFirehoseAWSSampleConfig(t *testing.T) {
	e := newEnv(t, 1)
	fsrv, fc := newFirehose(t, "yourdeliverystream")
	path := e.path("app.log")
	writeFile(t, path, "")
	cfg, err := agent.ParseConfig(fmt.Appendf(nil, awsSample, e.cp, e.path("app.log*"), e.path("app.log*")), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(cfg, e.kc, fastOptions(agent.WithFirehose(fc))...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	waitFor(t, "both flows to track the file", func() bool {
		return streamOffset(t, e.cp, "logs", path) >= 0 && streamOffset(t, e.cp, "firehose:yourdeliverystream", path) >= 0
	})
	content := lines("s", 0, 50)
	appendFile(t, path, content)
	got := e.waitRecords(50)
	waitFor(t, "the Firehose records", func() bool { return len(fsrv.Records("yourdeliverystream")) >= 50 })
	waitFor(t, "both checkpoints at the end", func() bool {
		end := int64(len(content))
		return streamOffset(t, e.cp, "logs", path) == end && streamOffset(t, e.cp, "firehose:yourdeliverystream", path) == end
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	checkNoGoroutines(t)
	expectExactly(t, got, splitLines(content))
	recs := fsrv.Records("yourdeliverystream")
	if len(recs) != 50 || firehoseLines(fsrv, "yourdeliverystream") != content {
		t.Errorf("Firehose got %d records %q, want the 50 lines one per record", len(recs), firehoseLines(fsrv, "yourdeliverystream"))
	}
}

// TestFirehoseFailedEntriesRetried fails one line's PutRecordBatch entry until the test lets it
// through: the lines after it are delivered, but the checkpoint stays just before it while it is
// sent again and again; once delivered, the checkpoint reaches the end and every line is there
// exactly once.
func TestFirehoseFailedEntriesRetried(t *testing.T) {
	e := newEnv(t, 1)
	fsrv, fc := newFirehose(t, "fh")
	var block atomic.Bool
	block.Store(true)
	var refused atomic.Int64
	fsrv.Control(func(en firehosetest.Entry) *firehosetest.Fault {
		if block.Load() && string(en.Data) == "x-5\n" {
			refused.Add(1)
			return &firehosetest.Fault{ErrorCode: "ServiceUnavailableException", ErrorMessage: "Slow down."}
		}
		return nil
	})
	path := e.path("app.log")
	writeFile(t, path, "")
	r := e.start([]agent.Flow{{FilePattern: path, DeliveryStream: "fh"}}, agent.WithFirehose(fc),
		agent.RetryBackoff(5*time.Millisecond, 20*time.Millisecond))
	waitFor(t, "the flow to track the file", func() bool { return streamOffset(t, e.cp, "firehose:fh", path) >= 0 })
	content := lines("x", 0, 10)
	appendFile(t, path, content)
	before := int64(len(lines("x", 0, 5)))
	waitFor(t, "the other 9 lines", func() bool { return len(fsrv.Records("fh")) == 9 })
	waitFor(t, "the checkpoint before x-5", func() bool { return streamOffset(t, e.cp, "firehose:fh", path) == before })
	// Several more refusals (the sender's own attempts and the flow's re-sends) later, the
	// checkpoint has not moved past the line.
	n := refused.Load()
	waitFor(t, "x-5 to be refused 6 more times", func() bool { return refused.Load() >= n+6 })
	if off := streamOffset(t, e.cp, "firehose:fh", path); off != before {
		t.Fatalf("checkpoint at %d while x-5 (ending at %d) is undelivered, want %d", off, before+4, before)
	}
	block.Store(false)
	waitFor(t, "the checkpoint at the end", func() bool { return streamOffset(t, e.cp, "firehose:fh", path) == int64(len(content)) })
	r.stop(t)
	got := splitLines(firehoseLines(fsrv, "fh"))
	want := splitLines(content)
	if len(got) != len(want) {
		t.Fatalf("Firehose holds %q, want each of %q once", got, want)
	}
	seen := map[string]int{}
	for _, l := range got {
		seen[l]++
	}
	for _, l := range want {
		if seen[l] != 1 {
			t.Errorf("line %q delivered %d times, want once", l, seen[l])
		}
	}
	if s := r.a.Stats(); s.RecordsRetried == 0 || s.RecordsSent != 10 {
		t.Errorf("stats %+v, want re-sends and 10 sent", s)
	}
}

// TestFirehoseAggregatedRecordSize concatenates lines into Firehose records of at most
// aggregatedRecordSizeBytes: the records hold whole lines, in order, several per record.
func TestFirehoseAggregatedRecordSize(t *testing.T) {
	e := newEnv(t, 1)
	fsrv, fc := newFirehose(t, "fh")
	path := e.path("app.log")
	writeFile(t, path, "")
	const size = 64
	r := e.start([]agent.Flow{{FilePattern: path, DeliveryStream: "fh", AggregatedRecordSizeBytes: size}}, agent.WithFirehose(fc))
	waitFor(t, "the flow to track the file", func() bool { return streamOffset(t, e.cp, "firehose:fh", path) >= 0 })
	content := lines("agg", 0, 100) // lines of 6 to 7 bytes
	appendFile(t, path, content)
	waitFor(t, "the checkpoint at the end", func() bool { return streamOffset(t, e.cp, "firehose:fh", path) == int64(len(content)) })
	r.stop(t)
	recs := fsrv.Records("fh")
	if got := firehoseLines(fsrv, "fh"); got != content {
		t.Fatalf("Firehose records concatenated = %q, want the file", got)
	}
	multi := 0
	for _, rec := range recs {
		if len(rec) > size || !strings.HasSuffix(string(rec), "\n") {
			t.Errorf("record %q: more than %d bytes or not whole lines", rec, size)
		}
		if strings.Count(string(rec), "\n") > 1 {
			multi++
		}
	}
	if multi == 0 || len(recs) >= 100 {
		t.Errorf("%d records for 100 lines, %d with several lines: no aggregation", len(recs), multi)
	}
}

// TestFirehoseFlowNeedsClient: New refuses a deliveryStream flow without agent.WithFirehose.
func TestFirehoseFlowNeedsClient(t *testing.T) {
	e := newEnv(t, 1)
	cfg := agent.Config{CheckpointFile: filepath.Join(e.dir, "cp.json"), Flows: []agent.Flow{{FilePattern: e.path("*.log"), DeliveryStream: "fh"}}}
	_, err := agent.New(cfg, e.kc)
	var ce *agent.ConfigError
	if !errors.As(err, &ce) || ce.Field != "flows[0].deliveryStream" {
		t.Errorf("New = %v, want a *ConfigError on flows[0].deliveryStream", err)
	}
}
