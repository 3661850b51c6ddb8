package agent_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/kinesistest"
)

// waitStats polls the agent's flow figures until cond holds.
func waitStats(t *testing.T, r *running, what string, cond func(agent.FlowStats) bool) agent.FlowStats {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for {
		s := r.a.Stats()
		if len(s.Flows) != 1 {
			t.Fatalf("Stats().Flows has %d entries, want 1", len(s.Flows))
		}
		if cond(s.Flows[0]) {
			return s.Flows[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: flow stats %+v", what, s.Flows[0])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFlowStats follows one flow's figures through deliveries, failed calls, failed entries and
// a stall: the send counters have the Kinesis Agent's meaning (a failed call is a ServiceError and
// its records attempts, not errors), and the gauges show what waits and since when.
func TestFlowStats(t *testing.T) {
	e := newEnv(t, 1)
	live := e.path("app.log")
	writeFile(t, live, "a\nbb\nccc\n")
	f := e.flow("app.log")
	f.InitialPosition = agent.StartOfFile
	r := e.start([]agent.Flow{f})

	s := waitStats(t, r, "3 records sent", func(s agent.FlowStats) bool { return s.RecordsSent == 3 && s.BytesBehind == 0 })
	if s.BytesSent != 9 || s.RecordSendAttempts != 3 || s.RecordSendErrors != 0 || s.ServiceErrors != 0 || s.SendCalls < 1 {
		t.Errorf("after 3 lines: %+v", s)
	}
	if s.FilePattern != f.FilePattern || s.Destination != "logs" || s.Firehose || s.Files != 1 {
		t.Errorf("flow identity: %+v", s)
	}
	if s.LastDelivery.IsZero() || !s.PendingSince.IsZero() || s.PendingRecords != 0 || s.OldestUnsentRecordAge != 0 {
		t.Errorf("after delivery: %+v", s)
	}
	if st := r.a.Stats(); st.Started.IsZero() || st.CheckpointAge < 0 || st.CheckpointAge > waitDeadline {
		t.Errorf("Stats started %v, checkpoint age %v", st.Started, st.CheckpointAge)
	}

	// Every PutRecords call fails as a whole: the record waits, ServiceErrors grows.
	remove := e.srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
		if req.Op != "PutRecords" {
			return kinesistest.Action{}, false
		}
		return kinesistest.Action{Err: &kinesistest.Error{Code: "InternalFailure", Status: 500}}, true
	})
	appendFile(t, live, "dddd\n")
	s = waitStats(t, r, "a failed call and a waiting record", func(s agent.FlowStats) bool {
		return s.ServiceErrors > 0 && s.PendingRecords == 1 && s.OldestUnsentRecordAge > 0
	})
	if s.RecordsSent != 3 || s.RecordSendErrors != 0 || s.RecordSendAttempts <= 3 || s.PendingSince.IsZero() || s.BytesBehind != 5 || s.BytesUnread != 0 {
		t.Errorf("while calls fail: %+v", s)
	}
	now := time.Now()
	if s.Stalled(now, time.Hour) {
		t.Errorf("Stalled(now, 1h) = true although the record waits for %v", now.Sub(s.PendingSince))
	}
	if !s.Stalled(now.Add(2*time.Hour), time.Hour) {
		t.Errorf("Stalled(now+2h, 1h) = false: pending since %v, last delivery %v", s.PendingSince, s.LastDelivery)
	}
	remove()

	// One failed entry: a RecordSendError, then the record goes through.
	var failedOnce atomic.Bool
	remove = e.srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
		if req.Op != "PutRecords" || !failedOnce.CompareAndSwap(false, true) {
			return kinesistest.Action{}, false
		}
		return kinesistest.Action{FailEntries: map[int]string{0: "InternalFailure"}}, true
	})
	defer remove()
	s = waitStats(t, r, "the waiting record sent", func(s agent.FlowStats) bool { return s.RecordsSent == 4 && s.PendingSince.IsZero() })
	if s.BytesSent != 14 || s.BytesBehind != 0 || s.PendingRecords != 0 {
		t.Errorf("after the outage: %+v", s)
	}
	if s.RecordSendErrors != 1 || s.RecordSendAttempts != s.RecordsSent+s.RecordSendErrors+callRecords(s) {
		t.Errorf("attempts %d = sent %d + entry errors %d + records of failed calls: %+v", s.RecordSendAttempts, s.RecordsSent, s.RecordSendErrors, s)
	}
	r.stop(t)
}

// callRecords is how many attempts the failed calls carried: one record each in TestFlowStats.
func callRecords(s agent.FlowStats) int64 { return s.ServiceErrors }
