package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestBenchLocal(t *testing.T) {
	for _, args := range [][]string{
		{"--records", "3000", "--shards", "2", "--keys", "50"},
		{"--records", "2000", "--shards", "3", "--size", "1000", "--no-aggregate"},
		{"--records", "2000", "--shards", "1", "--compress", "zstd", "--enforce-limits"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := run(testCtx(t), append([]string{"bench", "--format", "json"}, args...), &out, &errOut); err != nil {
				t.Fatalf("bench: %v\n%s", err, errOut.String())
			}
			var rep benchReport
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("output is not the JSON report: %v\n%s", err, out.String())
			}
			if rep.Produce.Delivered != rep.Records || rep.Produce.Failed != 0 || rep.Consume == nil || rep.Consume.Records != int64(rep.Records) {
				t.Fatalf("report %+v (consume %+v): want every record delivered and read back once", rep, rep.Consume)
			}
			if rep.Produce.RecordsPerSec <= 0 || rep.Produce.LatencyP50Ms <= 0 || rep.Produce.LatencyP99Ms < rep.Produce.LatencyP50Ms {
				t.Errorf("implausible producer figures: %+v", rep.Produce)
			}
		})
	}
}

func TestBenchText(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(testCtx(t), []string{"bench", "--records", "500", "--shards", "1", "--no-consume"}, &out, &errOut); err != nil {
		t.Fatalf("bench: %v\n%s", err, errOut.String())
	}
	if s := out.String(); !strings.Contains(s, "produce: 500 delivered, 0 failed") || strings.Contains(s, "consume:") {
		t.Fatalf("text report:\n%s", s)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--target", "mars"},
		{"--records", "0"},
		{"--size", "2000000"},
		{"--format", "xml"},
		{"--target", "aws", "--enforce-limits"},
		{"--region", "eu-west-1"}, // --target local calls no AWS
		{"extra"},
		{"--nope"},
	} {
		var out, errOut bytes.Buffer
		if err := run(testCtx(t), append([]string{"bench"}, args...), &out, &errOut); !errors.Is(err, errCLIUsage) {
			t.Errorf("bench %v = %v, want a usage error", args, err)
		}
	}
}
