package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite golden files")

// TestMultilangPrintConfigGolden: --print-config shows every resolved setting and warning for the Java
// daemon's sample properties (testdata/multilang/sample.properties).
func TestMultilangPrintConfigGolden(t *testing.T) {
	var out, errb bytes.Buffer
	in := filepath.Join("testdata", "multilang", "sample.properties")
	if err := run(context.Background(), []string{"multilang", "--print-config", in}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	golden := filepath.Join("testdata", "multilang", "sample.print-config.golden")
	if *updateGolden {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("--print-config output differs from %s (go test -run PrintConfigGolden -update to accept):\n%s", golden, out.String())
	}
	// Every key of the file is either a resolved setting or a warning.
	b, _ := os.ReadFile(in)
	for _, line := range strings.Split(string(b), "\n") {
		key, _, ok := strings.Cut(line, " = ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.Contains(out.String(), "\n"+key+" ") && !strings.Contains(out.String(), "WARN "+key+":") {
			t.Errorf("key %s neither resolved nor warned about", key)
		}
	}
}

// TestMultilangPrintConfigUpstreamSample runs --print-config on the Node client's own sample.properties
// when SHARDWISE_KCL_NODEJS_SAMPLES names a checkout of amazon-kinesis-client-nodejs.
func TestMultilangPrintConfigUpstreamSample(t *testing.T) {
	dir := os.Getenv("SHARDWISE_KCL_NODEJS_SAMPLES")
	if dir == "" {
		t.Skip("SHARDWISE_KCL_NODEJS_SAMPLES is not set")
	}
	var out, errb bytes.Buffer
	in := filepath.Join(dir, "samples", "basic_sample", "consumer", "sample.properties")
	if err := run(context.Background(), []string{"multilang", "-p", in, "--print-config"}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	for _, want := range []string{"executableName", "node sample_kcl_app.js", "kclnodejssample", "(resolved) retrieval", "FANOUT"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestMultilangUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"multilang"}, &out, &errb); !errors.Is(err, errCLIUsage) {
		t.Errorf("no file: %v, want usage error", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.properties")
	if err := os.WriteFile(bad, []byte("applicationName = a\nstreamName = s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"multilang", "--properties-file", bad, "--print-config"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "executableName is required") {
		t.Errorf("missing executableName: %v", err)
	}
}
