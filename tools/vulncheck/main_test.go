package main

import (
	"strings"
	"testing"
)

// TestCalled: only findings whose trace starts at a function count, once per vulnerability.
func TestCalled(t *testing.T) {
	in := `{"config":{"scanner_name":"govulncheck"}}
{"osv":{"id":"GO-1"}}
{"finding":{"osv":"GO-1","fixed_version":"v1.2.0","trace":[{"module":"example.com/m","version":"v1.0.0"}]}}
{"finding":{"osv":"GO-2","fixed_version":"v1.26.9","trace":[{"module":"stdlib","version":"v1.26.8","package":"net/http","function":"Get"},{"module":"github.com/shardwise/shardwise","package":"github.com/shardwise/shardwise/kpl","function":"Close","receiver":"*Producer"}]}}
{"finding":{"osv":"GO-2","fixed_version":"v1.26.9","trace":[{"module":"stdlib","version":"v1.26.8","package":"net/http","function":"Post"}]}}
`
	got, err := called(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].id != "GO-2" || got[0].module != "stdlib" || got[0].fixed != "v1.26.9" ||
		got[0].caller != "github.com/shardwise/shardwise/kpl.Producer.Close" {
		t.Fatalf("called = %+v", got)
	}
}
