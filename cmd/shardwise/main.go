// Command shardwise is the Shardwise CLI: stream administration, put, tail, consume, lease inspection,
// a local Kinesis server, a demo and benchmarks. AWS settings come from the standard SDK chain.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitStatus(err, os.Stderr))
}

// exitStatus reports err on stderr in one line, "shardwise: reason", and returns the exit status
// the help documents (exitStatusHelp): 0 success, 1 failure, 2 usage error. A bare errCLIUsage says
// nothing more: the command has printed its usage.
func exitStatus(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errCLIUsage):
		if msg := err.Error(); msg != errCLIUsage.Error() {
			fmt.Fprintln(stderr, "shardwise:", oneLine(msg))
		}
		return 2
	default:
		fmt.Fprintln(stderr, "shardwise:", oneLine(err.Error()))
		return 1
	}
}

// oneLine joins the lines of a message (errors.Join makes several) with "; ".
func oneLine(msg string) string {
	return strings.Join(strings.FieldsFunc(msg, func(r rune) bool { return r == '\n' || r == '\r' }), "; ")
}
