package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// TestEveryCommandHasHelp: `shardwise COMMAND --help` (and `shardwise help COMMAND`) prints the
// command's synopsis, an example and the exit codes on stderr, exits 0 and does nothing else (no AWS
// settings are needed: none are set here).
func TestEveryCommandHasHelp(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	for name := range commands {
		for _, args := range [][]string{{name, "--help"}, {name, "-h"}, {"help", name}, {name, "x", "--help"}} {
			var out, errOut bytes.Buffer
			if err := run(context.Background(), args, &out, &errOut); err != nil {
				t.Errorf("%v: %v", args, err)
			}
			help := errOut.String()
			for _, want := range []string{"usage: shardwise " + name, "examples:\n  ", "Exit status: 0 success; 1 failure", "2 usage error"} {
				if !strings.Contains(help, want) {
					t.Errorf("%v: help lacks %q:\n%s", args, want, help)
				}
			}
			if out.Len() != 0 {
				t.Errorf("%v: wrote %q on stdout", args, out.String())
			}
		}
	}
	var errOut bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, &bytes.Buffer{}, &errOut); err != nil ||
		!strings.Contains(errOut.String(), "Run 'shardwise COMMAND --help'") || !strings.Contains(errOut.String(), "2 usage error") {
		t.Errorf("shardwise --help = %v:\n%s", err, errOut.String())
	}
}

// TestExitStatus: main reports an error in one line on stderr and exits with the status the help
// documents: 0 success, 1 failure, 2 usage error (silent when the usage was printed already).
func TestExitStatus(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	for _, tc := range []struct {
		name   string
		err    error
		status int
		line   string // the one stderr line; "" none
	}{
		{"success", nil, 0, ""},
		{"usage printed", errCLIUsage, 2, ""},
		{"usage error", usageError("put", "needs a STREAM"), 2, "shardwise: invalid usage: put needs a STREAM (see 'shardwise put --help')\n"},
		{"failure", errors.New("stream nosuch does not exist"), 1, "shardwise: stream nosuch does not exist\n"},
		{"joined", errors.Join(errors.New("read 3 of 5 records"), errors.New("deleting stream: timeout")), 1,
			"shardwise: read 3 of 5 records; deleting stream: timeout\n"},
	} {
		var errOut bytes.Buffer
		if got := exitStatus(tc.err, &errOut); got != tc.status || errOut.String() != tc.line {
			t.Errorf("%s: status %d, stderr %q; want %d, %q", tc.name, got, errOut.String(), tc.status, tc.line)
		}
	}
	// Through run: an unknown command, a bad flag and a missing argument are usage errors (2), with
	// the reason in one line; a command that cannot start (no AWS region) is a failure (1).
	for _, tc := range []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{"nosuch"}, 2, "unknown command"},
		{[]string{"put", "--nope", "s"}, 2, "flag provided but not defined: -nope"},
		{[]string{"put"}, 2, "put needs a STREAM"},
		{[]string{"tail", "s", "--format", "xml"}, 2, "--format must be raw or jsonl"},
		{[]string{"stream", "describe"}, 2, "describe takes 1 argument(s)"},
		{[]string{"stream", "create", "s"}, 2, "stream create needs --shards N"},
		{[]string{"consume", "s"}, 2, "needs --app APP"},
		{[]string{"leases", "app"}, 1, "shardwise: no AWS region configured"},
	} {
		var out, errOut bytes.Buffer
		status := exitStatus(run(context.Background(), tc.args, &out, &errOut), &errOut)
		if status != tc.status || !strings.Contains(errOut.String(), tc.want) || out.Len() != 0 {
			t.Errorf("%v: status %d, stdout %q, stderr:\n%s\nwant status %d and %q on stderr", tc.args, status, out.String(), errOut.String(), tc.status, tc.want)
		}
	}
}
