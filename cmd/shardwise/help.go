package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// isHelp reports whether arg asks for a command's help text.
func isHelp(arg string) bool { return arg == "help" || isHelpFlag(arg) }

// isHelpFlag reports whether arg is a help flag (-h, -help, --help).
func isHelpFlag(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

// exitStatusHelp ends every command's help: the exit codes main maps errors to.
const exitStatusHelp = `Exit status: 0 success; 1 failure (the reason on stderr, one line "shardwise: ..."); 2 usage error.
Errors and summaries go to stderr, records to stdout.
`

// commandHelp is each command's help: synopsis, what it does, examples, and exit-status notes
// beyond exitStatusHelp. Every command in commands has an entry (TestEveryCommandHasHelp).
var commandHelp = map[string]struct {
	synopsis, about string
	examples        []string
	exit            string
}{
	"stream": {synopsis: "shardwise stream COMMAND NAME [ARGUMENTS] [flags]",
		about: streamCommands,
		examples: []string{"shardwise stream create clicks --shards 4 --if-not-exists",
			"shardwise stream split clicks shardId-000000000000", "shardwise stream describe clicks"}},
	"put": {synopsis: "shardwise put STREAM [FILE...] [flags]",
		about: `Sends lines as records through the kpl producer: one line, newline stripped, is one user record.
Lines come from the FILEs in order, or from stdin without FILE (or for "-"). Records are aggregated
per predicted shard unless --no-aggregate; keys are random unless --key or --key-field. A summary
(records, bytes, failed, elapsed, records/s) goes to stderr; on a terminal a live progress line
(records delivered, records/s, MB/s, failed, buffered) too. A stream that does not exist, or a permission that is
missing, fails at once in one line.`,
		examples: []string{"tail -F /var/log/app.jsonl | shardwise put clicks --key-field user",
			"shardwise put clicks day1.jsonl day2.jsonl --compress zstd"},
		exit: "1 also when any line was not delivered (the failed lines are listed as ranges)."},
	"tail": {synopsis: "shardwise tail STREAM|STREAM_ARN [flags]",
		about: `Prints the stream's user records (deaggregated, decompressed) as they arrive, one line each,
following resharding parents first. No leases, no checkpoints: for a fleet, use consume.`,
		examples: []string{"shardwise tail clicks --from trim-horizon --max 10",
			"shardwise tail clicks --format jsonl --efo my-consumer"}},
	"consume": {synopsis: "shardwise consume STREAM|STREAM_ARN --app APP [flags]",
		about: `Runs a kcl worker printing records like tail (default --format jsonl), with leases and
checkpoints in the DynamoDB table APP; processes sharing --app share the shards. SIGINT/SIGTERM,
--max and --idle-timeout shut down gracefully (checkpoint, release the leases).`,
		examples: []string{"shardwise consume clicks --app clicks-printer --from trim-horizon",
			"shardwise consume clicks --app clicks-printer --max 1000 --format raw > out.txt"}},
	"leases": {synopsis: "shardwise leases APP|--app APP [--format table|jsonl]",
		about:    "Prints the lease table APP: shard, owner, counter, checkpoint, sub-sequence, parents.",
		examples: []string{"shardwise leases clicks-printer"}},
	"local-kinesis": {synopsis: "shardwise local-kinesis [flags]",
		about: `Serves an in-process Kinesis endpoint (the kinesistest package) until SIGINT or SIGTERM,
printing its URL on stdout when ready. Point clients at it with AWS_ENDPOINT_URL_KINESIS.
It logs on stderr (JSON); --log-level debug logs every call.`,
		examples: []string{"shardwise local-kinesis --addr 127.0.0.1:4575 --enforce-limits",
			"export AWS_ENDPOINT_URL_KINESIS=http://127.0.0.1:4575"}},
	"demo": {synopsis: "shardwise demo [--short] [flags]",
		about: `The whole toolkit at work, on an in-process Kinesis (kinesistest) and the local DynamoDB:
creates a stream; shardwise-agent tails a click-stream log that rotates while an in-process kpl
producer puts click events; three 'shardwise consume' workers, separate processes, share the shards
through a lease table; mid-run a shard is split and a worker is killed (SIGKILL). A summary line
follows the run; the last line is the verdict:

  produced N, consumed N, lost 0, duplicates D, order violations 0, put→process p50 X ms p99 Y ms

Needs the local DynamoDB (AWS_ENDPOINT_URL_DYNAMODB) and shardwise-agent beside this binary or on
PATH: 'make demo' builds both and starts the engines.`,
		examples: []string{`localstack-test/engines.sh start && eval "$(localstack-test/engines.sh env)"`,
			"go build -o /tmp/sw/ ./cmd/shardwise ./cmd/shardwise-agent && /tmp/sw/shardwise demo --short"},
		exit: "1 also when a record was lost or came out of per-key order."},
	"multilang": {synopsis: "shardwise multilang [-p|--properties|--properties-file] FILE [--print-config] [--log-level L]",
		about: `Runs a KCL MultiLangDaemon application (Python, Node.js, Ruby, .NET record processors) without a
JVM: reads the Java daemon's properties file, runs a kcl worker and one child process per leased
shard speaking the MultiLangDaemon protocol.`,
		examples: []string{"shardwise multilang -p app.properties", "shardwise multilang app.properties --print-config"}},
	"bench": {synopsis: "shardwise bench [flags]",
		about: `Puts records through the kpl producer into a new stream, then reads them all back with a kcl worker
(polling, leases kept in memory), and prints throughput and put latency. The stream is deleted
afterwards. --target local (the default) runs against an in-process kinesistest server and needs no
AWS settings; --target aws uses the configured endpoint (real Kinesis, LocalStack or the local
engines). On a terminal a live progress line (records/s, MB/s, failed, buffered) goes to stderr.`,
		examples: []string{"shardwise bench", "shardwise bench --records 1000000 --size 1000 --shards 8 --enforce-limits"}},
}

// writeCommandHelp writes name's help, then the flags of fs (nil: none).
func writeCommandHelp(w io.Writer, name string, fs *flag.FlagSet) {
	h := commandHelp[name]
	var b strings.Builder
	fmt.Fprintf(&b, "usage: %s\n\n%s\n", h.synopsis, h.about)
	if len(h.examples) > 0 {
		b.WriteString("\nexamples:\n")
		for _, e := range h.examples {
			b.WriteString("  " + e + "\n")
		}
	}
	io.WriteString(w, b.String())
	if fs != nil && visibleFlags(fs) {
		io.WriteString(w, "\nflags:\n")
		printFlags(w, fs)
	}
	io.WriteString(w, "\n"+exitStatusHelp)
	if h.exit != "" {
		io.WriteString(w, "Exit status "+h.exit+"\n")
	}
}

// usageError is a command-line mistake of command name: one line naming it and the help to read.
func usageError(name, format string, a ...any) error {
	return fmt.Errorf("%w: %s %s (see 'shardwise %s --help')", errCLIUsage, name, fmt.Sprintf(format, a...), name)
}

// newFlagSet returns the flag set of command name: errors and help go to stderr, and -h/--help
// prints the command's help (writeCommandHelp).
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { writeCommandHelp(stderr, name, fs) }
	if flagSetCreated != nil {
		flagSetCreated(name, fs)
	}
	return fs
}
