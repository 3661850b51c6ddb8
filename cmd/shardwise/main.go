// Command shardwise is the Shardwise CLI: stream administration, put, tail, consume, lease inspection,
// a local Kinesis server, a demo and benchmarks. AWS settings come from the standard SDK chain.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, errCLIUsage):
		if msg := err.Error(); msg != errCLIUsage.Error() {
			fmt.Fprintln(os.Stderr, "shardwise:", msg)
		}
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "shardwise:", err)
		os.Exit(1)
	}
}
