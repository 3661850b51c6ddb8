package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The flags several commands share, one definition per concept, so that every command spells,
// explains and (unless TestFlagConsistency lists a reason) defaults them alike. Durations are
// time.Duration flags everywhere (Go syntax: 500ms, 30s, 5m).
const (
	usageFrom         = "where a shard without a checkpoint starts (tail keeps none): trim-horizon, latest, or an RFC 3339 timestamp"
	usageMax          = "stop after N records (0: no limit); consume checkpoints and shuts down gracefully"
	usageIdleTimeout  = "stop after this long without a new record (0: never); consume shuts down gracefully"
	usagePollInterval = "time between the GetRecords calls of a shard that is caught up (>= 200ms)"
	usageEFO          = "read through enhanced fan-out as this registered consumer"
	usageStats        = "print the rates and lag (MillisBehindLatest) per shard on stderr every --stats-interval"
	usageStatsEvery   = "time between live stats lines on stderr"
	usageMetricsAddr  = "serve /metrics (Prometheus text) and /healthz on this host:port, e.g. 127.0.0.1:9101 (off when empty)"
	usageLogLevel     = "log level on stderr (JSON): debug, info, warn, error"
	usageFailover     = "lease failover time: a lease not renewed for this long is taken by another worker"
	usageNoAggregate  = "send each user record as its own Kinesis record (no KPL aggregation)"
	usageCompress     = "compress Kinesis record payloads: zstd (the Shardwise frame; kcl, tail and consume decompress it)"
	usageEnforce      = "the in-process Kinesis throttles and rejects like Kinesis: per-shard write and read rates, PutRecords entry count and size, record size"
	usageDrainTimeout = "how long to wait for the consumers to read the last records once producing has stopped"
	usageKeys         = "distinct partition keys"
	usageApp          = "application name: the lease table (consume: required)"
	usageRegion       = "AWS region (default: the SDK chain's, AWS_REGION or the profile's)"
	usageProfile      = "shared configuration profile (default: AWS_PROFILE, else default)"
)

// formatUsage is the --format help: "output format: " and the command's formats, the default first.
func formatUsage(formats ...string) string {
	return "output format: " + strings.Join(formats, " or ")
}

// compressValue is --compress: "" (off) or "zstd".
type compressValue string

func (c *compressValue) String() string {
	if c == nil {
		return ""
	}
	return string(*c)
}

func (c *compressValue) Set(s string) error {
	if s != "zstd" {
		return fmt.Errorf("takes zstd, not %q", s)
	}
	*c = compressValue(s)
	return nil
}

// aliasValue is a deprecated spelling of a flag, kept so that scripts written for it still work:
// setting it sets the flag that replaced it (to fixed, when the old spelling was a bool flag for
// one value of the new one) and warns once on the command's stderr. Command help does not list it.
type aliasValue struct {
	target   flag.Value
	fixed    string // non-empty: the old spelling was a bool flag meaning "target = fixed"
	old, use string // the deprecated spelling, and what to write instead
	warn     io.Writer
	warned   bool
}

func (a *aliasValue) String() string {
	if a == nil || a.target == nil {
		return ""
	}
	return a.target.String()
}

func (a *aliasValue) Set(s string) error {
	if !a.warned {
		a.warned = true
		fmt.Fprintf(a.warn, "shardwise: warning: %s is deprecated and will be removed: use %s\n", a.old, a.use)
	}
	if a.fixed != "" {
		on, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		if !on {
			return nil
		}
		s = a.fixed
	}
	return a.target.Set(s)
}

// IsBoolFlag makes an alias of the bool form take no value.
func (a *aliasValue) IsBoolFlag() bool { return a != nil && a.fixed != "" }

// deprecatedAlias registers old as a hidden, deprecated spelling of fs's flag canonical.
func deprecatedAlias(fs *flag.FlagSet, old, canonical string, warn io.Writer) {
	f := fs.Lookup(canonical)
	if f == nil {
		panic("deprecatedAlias: no flag " + canonical)
	}
	fs.Var(&aliasValue{target: f.Value, old: "--" + old, use: "--" + canonical, warn: warn}, old,
		"deprecated: use --"+canonical)
}

// deprecatedBoolAlias registers the bool flag old as a hidden, deprecated spelling of
// "--canonical value".
func deprecatedBoolAlias(fs *flag.FlagSet, old, canonical, value string, warn io.Writer) {
	f := fs.Lookup(canonical)
	if f == nil {
		panic("deprecatedBoolAlias: no flag " + canonical)
	}
	fs.Var(&aliasValue{target: f.Value, fixed: value, old: "-" + old, use: "--" + canonical + " " + value, warn: warn}, old,
		"deprecated: use --"+canonical+" "+value)
}

// isAlias reports whether f is a deprecated spelling (hidden from help).
func isAlias(f *flag.Flag) bool {
	_, ok := f.Value.(*aliasValue)
	return ok
}

// valueOnlyForm rewrites a bare "--name" (the bool form of an earlier version) to "--name=value"
// when no value follows it, warning once on warn; "--name value" and "--name=value" stay as they are.
func valueOnlyForm(args []string, name, value string, warn io.Writer) []string {
	out := make([]string, 0, len(args))
	warned := false
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if (a == "-"+name || a == "--"+name) && (i+1 == len(args) || strings.HasPrefix(args[i+1], "-")) {
			if !warned {
				warned = true
				fmt.Fprintf(warn, "shardwise: warning: --%s without a value is deprecated and will be removed: use --%s %s\n", name, name, value)
			}
			a = "--" + name + "=" + value
		}
		out = append(out, a)
	}
	return out
}

// printFlags writes the flags of fs as flag.PrintDefaults does, leaving out deprecated aliases.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	shown := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	shown.SetOutput(w)
	fs.VisitAll(func(f *flag.Flag) {
		if isAlias(f) {
			return
		}
		shown.Var(f.Value, f.Name, f.Usage)
		shown.Lookup(f.Name).DefValue = f.DefValue
	})
	shown.PrintDefaults()
}

// visibleFlags reports whether fs has a flag help lists.
func visibleFlags(fs *flag.FlagSet) bool {
	any := false
	fs.VisitAll(func(f *flag.Flag) { any = any || !isAlias(f) })
	return any
}

// flagSetCreated, when set (by tests), is called with each command's flag set as newFlagSet makes
// it; once the command returned (e.g. from --help) its flags are all defined: TestFlagConsistency
// walks them.
var flagSetCreated func(command string, fs *flag.FlagSet)
