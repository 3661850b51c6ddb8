package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
)

// command is one subcommand: it parses its own flags from args and writes to stdout and stderr.
type command struct {
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	summary string
}

// commands is the subcommand table. Each subcommand lives in its own file; add it here with one line.
var commands = map[string]command{
	"stream":        {runStream, "create, describe, split, merge, scale and delete streams"},
	"put":           {runPut, "send stdin lines as records through the kpl producer"},
	"tail":          {runTail, "print a stream's user records as they arrive"},
	"local-kinesis": {runLocalKinesis, "serve an in-process Kinesis endpoint (kinesistest) until SIGINT/SIGTERM"},
	"demo":          {runDemo, "end-to-end show on the configured endpoints: create, put, read back, delete"},
	"consume":       {runConsume, "run a kcl worker printing records; processes sharing --app share the shards"},
	"leases":        {runLeases, "print an application's lease table"},
	"multilang":     {runMultilang, "run KCL MultiLangDaemon applications (Python, Node, Ruby, .NET) without a JVM"},
	"bench":         {runBench, "put records through kpl and read them back with kcl; print throughput and latency"},
}

// run dispatches to a subcommand; main maps its error to the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 2 && args[0] == "help" {
		args = []string{args[1], "--help"} // shardwise help put = shardwise put --help
	}
	if len(args) == 0 || isHelp(args[0]) {
		usage(stderr)
		if len(args) == 0 {
			return errCLIUsage
		}
		return nil
	}
	c, ok := commands[args[0]]
	if !ok {
		usage(stderr)
		return fmt.Errorf("unknown command %q: %w", args[0], errCLIUsage)
	}
	if slices.ContainsFunc(args[1:], isHelpFlag) {
		// Only the help: the command sees nothing but the flag, so it does nothing else.
		if err := c.run(ctx, []string{"--help"}, stdout, stderr); err != nil && !errors.Is(err, errCLIUsage) {
			return err
		}
		return nil
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: shardwise <command> [arguments]\n\ncommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-14s %s\n", n, commands[n].summary)
	}
	b.WriteString("\nRun 'shardwise COMMAND --help' for a command's flags and examples.\n")
	b.WriteString("AWS settings come from the standard SDK chain (AWS_REGION, AWS_PROFILE, credentials,\n")
	b.WriteString("AWS_ENDPOINT_URL_KINESIS, ...); --region and --profile override the first two.\n")
	b.WriteString(exitStatusHelp)
	io.WriteString(w, b.String())
}
