package agent_test

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/kinesistest"
)

// TestLogsCarryNoRecordData: an agent logging at Debug, with faults injected (failed entries,
// 500s, resets: the retry and Warn paths), a malformed line for LOGTOJSON, aggregation on one flow
// and an explicit partition key taken from the data on another, never writes a record's payload or
// partition key to its log.
func TestLogsCarryNoRecordData(t *testing.T) {
	e := newEnv(t, 2, kinesistest.Faults(kinesistest.FaultConfig{Rate: 0.2, Seed: 7}))
	token := fmt.Sprintf("PAYLOAD%016x", rand.Uint64())
	var lines strings.Builder
	for i := range 40 {
		fmt.Fprintf(&lines, "%s line %d\n", token, i)
	}
	writeFile(t, e.path("plain.log"), lines.String())
	writeFile(t, e.path("agg.json"), lines.String())
	plain := e.flow("plain.log")
	plain.InitialPosition = agent.StartOfFile
	plain.DataProcessingOptions = []agent.ProcessingOption{{OptionName: agent.OptionLogToJSON, LogFormat: "SYSLOG"}}
	agg := e.flow("agg.json")
	agg.InitialPosition = agent.StartOfFile
	agg.Aggregation = true
	var logs lockedLog
	r := e.start([]agent.Flow{plain, agg}, agent.WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	// LOGTOJSON drops the lines that are not syslog lines: only agg.json's 40 arrive.
	e.waitRecords(40)
	r.stop(t)
	got := logs.String()
	if !strings.Contains(got, `"level":"DEBUG"`) {
		t.Fatalf("no Debug lines logged: the check would prove nothing\n%s", got)
	}
	if strings.Contains(got, token) {
		t.Errorf("a record's payload reached the log:\n%s", excerpt(got, token))
	}
	keys := map[string]bool{}
	for _, rc := range e.read() {
		keys[rc.key] = true
	}
	for k := range keys {
		if len(k) >= 8 && strings.Contains(got, k) {
			t.Errorf("partition key %q reached the log:\n%s", k, excerpt(got, k))
		}
	}
	t.Logf("%d log bytes checked, %d partition keys", len(got), len(keys))
}

func excerpt(s, sub string) string {
	i := strings.Index(s, sub)
	return s[max(0, i-300):min(len(s), i+len(sub)+100)]
}
