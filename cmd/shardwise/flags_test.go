package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// commandFlagSets runs `shardwise COMMAND --help` for every command and returns the flag set each
// made (with all its flags defined), by command name.
func commandFlagSets(t *testing.T) map[string]*flag.FlagSet {
	t.Helper()
	t.Setenv("AWS_REGION", "")
	sets := map[string]*flag.FlagSet{}
	flagSetCreated = func(name string, fs *flag.FlagSet) { sets[name] = fs }
	t.Cleanup(func() { flagSetCreated = nil })
	for name := range commands {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), []string{name, "--help"}, &out, &errOut); err != nil {
			t.Fatalf("%s --help: %v", name, err)
		}
		if sets[name] == nil {
			t.Errorf("%s made no flag set through newFlagSet", name)
		}
	}
	return sets
}

// Same-named flags of different commands must agree in type, help text and default, except for
// these, each with the reason it differs.
var (
	usageVaries = map[string]string{
		"format":          "each command lists its own formats (records, leases, a report); all say 'output format: '",
		"shards":          "names the stream it sizes: the one created or scaled, the benchmark's, the demo's",
		"unhealthy-after": "/healthz follows what each command does: put's deliveries, consume's lease table",
		"region":          "local-kinesis serves a region (the one in its ARNs); the others choose the region they call",
	}
	defaultVaries = map[string]string{
		"from":          "tail follows new records like tail -f; consume reads every record once (its default since it was added: scripts rely on it)",
		"format":        "tail prints the data (raw) for people, consume JSON lines for programs; leases a table; bench a text report",
		"poll-interval": "tail is watched by a person (250ms); consume keeps kcl.DefaultPollInterval, a fleet pays for every call",
		"log-level":     "consume's stderr carries its summary and --stats lines (warn); the daemons (multilang, local-kinesis) log their life cycle (info)",
		"shards":        "stream create/scale have no default (required), bench and demo size their own stream",
		"region":        "local-kinesis must name a region for its ARNs (us-east-1); the others leave it to the SDK chain",
	}
	// defaultsArePresets: every default of these commands is a preset of the command itself.
	defaultsArePresets = map[string]string{
		"demo": "its defaults are the 70 s show's (and --short's) presets: a fast failover, a short drain",
	}
)

// synonyms are names meaning one concept: at most one of each group may be a visible flag of any
// command (deprecated aliases are hidden and do not count).
var synonyms = [][]string{
	{"app", "application", "application-name", "table", "lease-table", "table-name"},
	{"from", "initial-position", "start", "start-at", "position", "iterator-type", "shard-iterator-type"},
	{"format", "output", "output-format", "o"},
	{"drain-timeout", "drain", "drain-limit"},
	{"stats-interval", "summary-interval", "progress-interval"},
	{"log-level", "loglevel", "v", "verbose", "debug"},
	{"efo", "consumer", "consumer-name", "enhanced-fan-out"},
	{"shards", "shard-count", "target-shard-count"},
	{"owner", "worker", "worker-id", "worker-identifier"},
	{"call-timeout", "timeout", "request-timeout"},
	{"metrics-addr", "metrics-address", "metrics-listen"},
	{"idle-timeout", "idle"},
	{"max", "limit", "max-records", "count"},
	{"poll-interval", "poll", "idle-time-between-reads"},
	{"no-aggregate", "no-aggregation", "aggregate"},
	{"keys", "users", "partition-keys"},
	{"failover", "failover-time", "lease-duration"},
	{"region", "aws-region"},
	{"profile", "aws-profile"},
	{"endpoint-url", "endpoint"},
}

// durationNames are name endings and names of flags that hold a time span: they must be
// time.Duration flags (Go syntax: 500ms, 30s, 5m).
var (
	durationSuffixes = []string{"-timeout", "-interval", "-delay", "-after", "-duration", "-ttl", "-at"}
	durationNames    = []string{"linger", "wait", "grace", "failover", "duration"}
)

type flagUse struct {
	command string
	f       *flag.Flag
}

// TestFlagConsistency walks every command's flags: a flag has help text; the same name means the
// same type, help and default everywhere (the exceptions above say why); no two commands spell one
// concept differently; a time span is a Go duration. Every command's help has an example (and
// TestEveryCommandHasHelp checks how it is printed).
func TestFlagConsistency(t *testing.T) {
	sets := commandFlagSets(t)
	byName := map[string][]flagUse{}
	for _, cmd := range slices.Sorted(maps.Keys(sets)) {
		if len(commandHelp[cmd].examples) == 0 {
			t.Errorf("%s: no example in its help", cmd)
		}
		sets[cmd].VisitAll(func(f *flag.Flag) {
			if strings.TrimSpace(f.Usage) == "" {
				t.Errorf("%s --%s: no help text", cmd, f.Name)
			}
			if isAlias(f) {
				if !strings.HasPrefix(f.Usage, "deprecated: use --") {
					t.Errorf("%s --%s: an alias whose help does not name its replacement: %q", cmd, f.Name, f.Usage)
				}
				return
			}
			byName[f.Name] = append(byName[f.Name], flagUse{cmd, f})
			if isDurationName(f.Name) {
				if _, ok := f.Value.(flag.Getter).Get().(time.Duration); !ok {
					t.Errorf("%s --%s: a time span that is not a Go duration flag (%T)", cmd, f.Name, f.Value)
				}
			}
		})
	}
	for name, uses := range byName {
		first := uses[0]
		for _, u := range uses[1:] {
			if reflect.TypeOf(u.f.Value) != reflect.TypeOf(first.f.Value) {
				t.Errorf("--%s is a %T in %s but a %T in %s", name, first.f.Value, first.command, u.f.Value, u.command)
			}
			if u.f.Usage != first.f.Usage {
				if _, ok := usageVaries[name]; !ok {
					t.Errorf("--%s help differs:\n  %s: %q\n  %s: %q", name, first.command, first.f.Usage, u.command, u.f.Usage)
				}
			}
			if u.f.DefValue != first.f.DefValue {
				_, ok := defaultVaries[name]
				_, preset1 := defaultsArePresets[first.command]
				_, preset2 := defaultsArePresets[u.command]
				if !ok && !preset1 && !preset2 {
					t.Errorf("--%s default differs: %s %q, %s %q", name, first.command, first.f.DefValue, u.command, u.f.DefValue)
				}
			}
		}
		if _, ok := usageVaries[name]; ok && name == "format" {
			for _, u := range uses {
				if !strings.HasPrefix(u.f.Usage, "output format: ") {
					t.Errorf("%s --format help %q does not start with 'output format: '", u.command, u.f.Usage)
				}
			}
		}
	}
	for _, group := range synonyms {
		var seen []string
		for _, n := range group {
			for _, u := range byName[n] {
				seen = append(seen, fmt.Sprintf("%s --%s", u.command, n))
			}
		}
		names := map[string]bool{}
		for _, s := range seen {
			names[s[strings.Index(s, "--"):]] = true
		}
		if len(names) > 1 {
			t.Errorf("one concept, several names: %s", strings.Join(seen, ", "))
		}
	}
	// The exception lists name only flags that exist in more than one command.
	for _, m := range []map[string]string{usageVaries, defaultVaries} {
		for name := range m {
			if len(byName[name]) < 2 {
				t.Errorf("exception for --%s, which %d command(s) have", name, len(byName[name]))
			}
		}
	}
}

func isDurationName(name string) bool {
	if slices.Contains(durationNames, name) {
		return true
	}
	for _, s := range durationSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// TestDeprecatedFlagsStillWork: each earlier spelling sets what replaced it and warns once on
// stderr; help lists only the new spelling.
func TestDeprecatedFlagsStillWork(t *testing.T) {
	var stderr bytes.Buffer
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(&stderr)
	drain := fs.Duration("drain-timeout", time.Minute, usageDrainTimeout)
	deprecatedAlias(fs, "drain", "drain-timeout", &stderr)
	level := fs.String("log-level", "info", usageLogLevel)
	deprecatedBoolAlias(fs, "v", "log-level", "debug", &stderr)
	if err := fs.Parse([]string{"--drain", "5s", "-v", "--drain=7s"}); err != nil {
		t.Fatal(err)
	}
	if *drain != 7*time.Second || *level != "debug" {
		t.Errorf("--drain-timeout %v, --log-level %q; want 7s and debug", *drain, *level)
	}
	warn := stderr.String()
	if strings.Count(warn, "--drain is deprecated") != 1 || strings.Count(warn, "-v is deprecated and will be removed: use --log-level debug") != 1 {
		t.Errorf("warnings:\n%s", warn)
	}
	var help bytes.Buffer
	printFlags(&help, fs)
	if strings.Contains(help.String(), "-drain ") || strings.Contains(help.String(), "  -v") || !strings.Contains(help.String(), "-drain-timeout") {
		t.Errorf("help lists a deprecated spelling or lacks the new one:\n%s", help.String())
	}

	// bench's --compress was a bool flag.
	stderr.Reset()
	got := valueOnlyForm([]string{"--records", "5", "--compress", "--no-consume", "--compress"}, "compress", "zstd", &stderr)
	if want := []string{"--records", "5", "--compress=zstd", "--no-consume", "--compress=zstd"}; !slices.Equal(got, want) {
		t.Errorf("valueOnlyForm = %q, want %q", got, want)
	}
	if strings.Count(stderr.String(), "deprecated") != 1 {
		t.Errorf("warnings:\n%s", stderr.String())
	}
	if got := valueOnlyForm([]string{"--compress", "zstd"}, "compress", "zstd", &stderr); !slices.Equal(got, []string{"--compress", "zstd"}) {
		t.Errorf("valueOnlyForm changed the current form: %q", got)
	}

	// Through the commands: the old spellings parse (and fail later, on what they were given).
	for _, args := range [][]string{
		{"demo", "--drain", "1s", "--summary-interval", "1s", "--users", "3", "--rate", "-1"},
		{"local-kinesis", "-v", "--ca-file", "x"},
		{"bench", "--compress", "--records", "0"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, &out, &errOut)
		if err == nil || strings.Contains(errOut.String(), "flag provided but not defined") || !strings.Contains(errOut.String(), "deprecated") {
			t.Errorf("%v = %v, stderr:\n%s", args, err, errOut.String())
		}
	}
}
