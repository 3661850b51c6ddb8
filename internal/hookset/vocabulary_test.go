package hookset_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/internal/hookset"
	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/kpl"
	"github.com/shardwise/shardwise/lease"
)

// metrics implements every hook of kpl, kcl, lease and agent, as the metrics adapters do. That it
// compiles is the point: no two hook methods of the four packages share a name with different
// signatures.
type metrics struct{ events map[string]int }

func (m *metrics) on(kind string) { m.events[kind]++ }

// kpl
func (m *metrics) OnRecordBuffered(kpl.RecordBufferedEvent)    { m.on("kpl buffered") }
func (m *metrics) OnRecordDone(kpl.RecordDoneEvent)            { m.on("kpl done") }
func (m *metrics) OnKinesisRecordPut(kpl.KinesisRecordEvent)   { m.on("kpl kinesis record") }
func (m *metrics) OnPutRecords(kpl.PutRecordsEvent)            { m.on("kpl put records") }
func (m *metrics) OnEntryError(kpl.EntryErrorEvent)            { m.on("kpl entry error") }
func (m *metrics) OnShardMapRefreshed(kpl.ShardMapEvent)       { m.on("kpl shard map") }
func (m *metrics) OnDistributionChanged(kpl.DistributionEvent) { m.on("kpl distribution") }

// kcl
func (m *metrics) OnRecordsProcessed(kcl.ProcessedEvent)               { m.on("kcl processed") }
func (m *metrics) OnMillisBehindLatest(kcl.BehindEvent)                { m.on("kcl behind") }
func (m *metrics) OnCurrentLeases(kcl.CurrentLeasesEvent)              { m.on("kcl current leases") }
func (m *metrics) OnShardStarted(kcl.ShardEvent)                       { m.on("kcl shard started") }
func (m *metrics) OnShardLeaseLost(kcl.ShardLeaseLostEvent)            { m.on("kcl shard lease lost") }
func (m *metrics) OnExpiredIterator(kcl.ShardEvent)                    { m.on("kcl expired iterator") }
func (m *metrics) OnGetRecordsThrottled(kcl.ThrottledEvent)            { m.on("kcl throttled") }
func (m *metrics) OnRecordsFiltered(kcl.FilteredEvent)                 { m.on("kcl filtered") }
func (m *metrics) OnCorruptRecord(kcl.CorruptEvent)                    { m.on("kcl corrupt") }
func (m *metrics) OnShardEnded(kcl.ShardEndedEvent)                    { m.on("kcl shard ended") }
func (m *metrics) OnConsumerRegistrationRefused(kcl.RegistrationEvent) { m.on("kcl registration") }
func (m *metrics) OnRecordDropped(kcl.DroppedEvent)                    { m.on("kcl dropped") }

// lease
func (m *metrics) OnLeaseRenewed(lease.RenewEvent)         { m.on("lease renewed") }
func (m *metrics) OnLeaseTaken(lease.TakenEvent)           { m.on("lease taken") }
func (m *metrics) OnLeaseLost(lease.LostEvent)             { m.on("lease lost") }
func (m *metrics) OnLeaseReleased(lease.ReleasedEvent)     { m.on("lease released") }
func (m *metrics) OnLeaseCheckpoint(lease.CheckpointEvent) { m.on("lease checkpoint") }
func (m *metrics) OnLeaseTakeRound(lease.TakeRoundEvent)   { m.on("lease take round") }

// agent
func (m *metrics) OnRecordFailed(agent.RecordFailedEvent)    { m.on("agent record failed") }
func (m *metrics) OnFileEvent(agent.FileEvent)               { m.on("agent file") }
func (m *metrics) OnCheckpointWritten(agent.CheckpointEvent) { m.on("agent checkpoint") }
func (m *metrics) OnFlowSend(agent.FlowSendEvent)            { m.on("agent flow send") }
func (m *metrics) OnFlowDelivered(agent.FlowDeliveredEvent)  { m.on("agent flow delivered") }

// Every hook interface of the four packages; TestEveryHookAsserted keeps this list complete.
var (
	_ kpl.HookRecordBuffered      = (*metrics)(nil)
	_ kpl.HookRecordDone          = (*metrics)(nil)
	_ kpl.HookKinesisRecordPut    = (*metrics)(nil)
	_ kpl.HookPutRecords          = (*metrics)(nil)
	_ kpl.HookEntryError          = (*metrics)(nil)
	_ kpl.HookShardMapRefreshed   = (*metrics)(nil)
	_ kpl.HookDistributionChanged = (*metrics)(nil)

	_ kcl.HookRecordsProcessed     = (*metrics)(nil)
	_ kcl.HookMillisBehindLatest   = (*metrics)(nil)
	_ kcl.HookCurrentLeases        = (*metrics)(nil)
	_ kcl.HookShardStarted         = (*metrics)(nil)
	_ kcl.HookShardLeaseLost       = (*metrics)(nil)
	_ kcl.HookExpiredIterator      = (*metrics)(nil)
	_ kcl.HookGetRecordsThrottled  = (*metrics)(nil)
	_ kcl.HookRecordsFiltered      = (*metrics)(nil)
	_ kcl.HookCorruptRecord        = (*metrics)(nil)
	_ kcl.HookShardEnded           = (*metrics)(nil)
	_ kcl.HookConsumerRegistration = (*metrics)(nil)
	_ kcl.HookRecordDropped        = (*metrics)(nil)

	_ lease.HookLeaseRenewed    = (*metrics)(nil)
	_ lease.HookLeaseTaken      = (*metrics)(nil)
	_ lease.HookLeaseLost       = (*metrics)(nil)
	_ lease.HookLeaseReleased   = (*metrics)(nil)
	_ lease.HookLeaseCheckpoint = (*metrics)(nil)
	_ lease.HookLeaseTakeRound  = (*metrics)(nil)

	_ agent.HookRecordFailed      = (*metrics)(nil)
	_ agent.HookFileEvent         = (*metrics)(nil)
	_ agent.HookCheckpointWritten = (*metrics)(nil)
	_ agent.HookFlowSend          = (*metrics)(nil)
	_ agent.HookFlowDelivered     = (*metrics)(nil)
)

// TestEveryHookAsserted reads the four packages' sources and fails when one declares a Hook
// interface this file does not assert, or an event type without a Stream (lease: Table) field, so a
// new hook cannot be added outside the shared vocabulary.
func TestEveryHookAsserted(t *testing.T) {
	self, err := os.ReadFile("vocabulary_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"kpl", "kcl", "lease", "agent"} {
		files, err := filepath.Glob(filepath.Join("..", "..", pkg, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		structs := map[string]*ast.StructType{}
		hooks := map[string]*ast.InterfaceType{}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range f.Decls {
				g, ok := d.(*ast.GenDecl)
				if !ok || g.Tok != token.TYPE {
					continue
				}
				for _, sp := range g.Specs {
					ts := sp.(*ast.TypeSpec)
					switch x := ts.Type.(type) {
					case *ast.StructType:
						structs[ts.Name.Name] = x
					case *ast.InterfaceType:
						if ts.Name.IsExported() && strings.HasPrefix(ts.Name.Name, "Hook") {
							hooks[ts.Name.Name] = x
						}
					}
				}
			}
		}
		if len(hooks) == 0 {
			t.Errorf("no hooks found in %s", pkg)
		}
		for name, it := range hooks {
			full := pkg + "." + name
			if !strings.Contains(string(self), "_ "+full+" ") {
				t.Errorf("%s is not asserted in vocabulary_test.go", full)
			}
			checkEvent(t, pkg, full, it, structs)
		}
	}
}

// noStream lists the hooks whose events concern no one stream.
var noStream = map[string]string{
	"agent.HookCheckpointWritten": "the checkpoint file holds every flow's files",
}

// checkEvent checks that a hook's one method takes one event, and that the event names the stream
// (lease: the table).
func checkEvent(t *testing.T, pkg, hook string, it *ast.InterfaceType, structs map[string]*ast.StructType) {
	t.Helper()
	if len(it.Methods.List) != 1 {
		t.Errorf("%s has %d methods, want 1", hook, len(it.Methods.List))
		return
	}
	ft, ok := it.Methods.List[0].Type.(*ast.FuncType)
	if !ok || ft.Params.NumFields() != 1 {
		t.Errorf("%s's method does not take exactly one event", hook)
		return
	}
	id, ok := ft.Params.List[0].Type.(*ast.Ident)
	if !ok || structs[id.Name] == nil {
		t.Errorf("%s's event is not a struct of %s", hook, pkg)
		return
	}
	if why, ok := noStream[hook]; ok {
		t.Logf("%s: no stream: %s", hook, why)
		return
	}
	want := "Stream"
	if pkg == "lease" {
		want = "Table"
	}
	for _, f := range structs[id.Name].Fields.List {
		for _, n := range f.Names {
			if n.Name == want {
				return
			}
		}
	}
	t.Errorf("%s's event %s.%s has no %s field", hook, pkg, id.Name, want)
}

func TestUnmatched(t *testing.T) {
	s := hookset.New([]any{&metrics{}, 42})
	if got := hookset.Take[kpl.HookRecordDone](s); len(got) != 1 {
		t.Errorf("Take found %d HookRecordDone, want 1", len(got))
	}
	err := s.Unmatched("kpl")
	if err == nil || !strings.Contains(err.Error(), "hook 1 (int)") {
		t.Errorf("Unmatched = %v, want hook 1 (int) named", err)
	}
	s = hookset.New([]any{&metrics{}})
	hookset.Take[agent.HookFlowSend](s)
	if err := s.Unmatched("agent"); err != nil {
		t.Errorf("Unmatched = %v, want nil", err)
	}
}
