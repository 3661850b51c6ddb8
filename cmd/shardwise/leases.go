package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/shardwise/shardwise/lease"
)

// leasesAPI is what `shardwise leases` needs: a lease table listing.
type leasesAPI interface {
	List(ctx context.Context) ([]lease.Lease, error)
}

func runLeases(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("leases", stderr)
	format := fs.String("format", "table", formatUsage("table", "jsonl (one JSON object per lease)"))
	app := fs.String("app", "", usageApp)
	settings := defineAWSFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return errCLIUsage
	}
	if *app != "" {
		pos = append([]string{*app}, pos...)
	}
	if len(pos) != 1 {
		return usageError("leases", "takes one APP (or --app APP), got %d", len(pos))
	}
	if *format != "table" && *format != "jsonl" {
		return usageError("leases", "--format must be table or jsonl, not %q", *format)
	}
	cfg, err := loadAWSConfig(ctx, *settings)
	if err != nil {
		return err
	}
	// A read-only Manager: its owner ID is never written.
	m, err := lease.NewManager(dynamodb.NewFromConfig(cfg), pos[0], "shardwise-leases-cli")
	if err != nil {
		return fmt.Errorf("%w: %w", errCLIUsage, err)
	}
	return printLeases(ctx, m, *format, stdout)
}

type leaseLine struct {
	Shard                 string   `json:"shard"`
	Owner                 string   `json:"owner"`
	Counter               int64    `json:"counter"`
	Checkpoint            string   `json:"checkpoint"`
	CheckpointSubSequence int64    `json:"subSequence"`
	Parents               []string `json:"parents"`
	PendingCheckpoint     string   `json:"pendingCheckpoint,omitempty"`
}

// printLeases prints the lease table: shard, owner, counter, checkpoint, sub-sequence and parents.
func printLeases(ctx context.Context, m leasesAPI, format string, w io.Writer) error {
	ls, err := m.List(ctx)
	if err != nil {
		return err
	}
	if format == "jsonl" {
		for _, l := range ls {
			b, err := json.Marshal(leaseLine{Shard: l.Key, Owner: l.Owner, Counter: l.Counter, Checkpoint: l.Checkpoint,
				CheckpointSubSequence: l.CheckpointSubSequence, Parents: nonNil(l.ParentShardIDs), PendingCheckpoint: l.PendingCheckpoint})
			if err != nil {
				return err
			}
			if _, err := w.Write(append(b, '\n')); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tOWNER\tCOUNTER\tCHECKPOINT\tSUBSEQ\tPARENTS")
	for _, l := range ls {
		owner := l.Owner
		if owner == "" {
			owner = "-"
		}
		parents := strings.Join(l.ParentShardIDs, ",")
		if parents == "" {
			parents = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", l.Key, owner, l.Counter, orDash(l.Checkpoint),
			strconv.FormatInt(l.CheckpointSubSequence, 10), parents)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}
