package main

import (
	"bytes"
	"context"
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
