package kcl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/lease"
)

// listShards returns every shard of the stream within the retention period. Pages after the first send
// only NextToken: Kinesis rejects NextToken combined with StreamName. Each page is bounded by timeout.
func listShards(ctx context.Context, kc KinesisAPI, stream streamRef, timeout time.Duration) ([]shardInfo, error) {
	var out []shardInfo
	in := &kinesis.ListShardsInput{StreamName: stream.nameField(), StreamARN: stream.arnField()}
	for {
		cctx, cancel := callCtx(ctx, timeout)
		page, err := kc.ListShards(cctx, in)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("kcl: ListShards %s: %w", stream, err)
		}
		for _, s := range page.Shards {
			si, err := shardInfoFrom(s)
			if err != nil {
				return nil, err
			}
			out = append(out, si)
		}
		if aws.ToString(page.NextToken) == "" {
			return out, nil
		}
		in = &kinesis.ListShardsInput{NextToken: page.NextToken}
	}
}

// syncShards runs one shard sync: list shards, check the hash key space is covered, create the leases
// the lineage rules ask for (lineage.go) and, when cleanup is set, delete finished leases whose children
// have progressed. It returns how many leases it created.
func (w *Worker) syncShards(ctx context.Context, cleanup bool) (int, error) {
	shards, err := listShards(ctx, w.kc, w.stream, w.cfg.callTimeout)
	if err != nil {
		return 0, err
	}
	if err := checkCoverage(shards); err != nil {
		return 0, err
	}
	leases, err := w.leases.List(ctx)
	if err != nil {
		return 0, err
	}
	created := 0
	for _, l := range planLeases(shards, leases, w.cfg.start) {
		switch err := w.leases.Create(ctx, l); {
		case err == nil:
			created++
			w.log.LogAttrs(ctx, slog.LevelInfo, "lease created", slog.String("lease_key", l.Key),
				slog.String("checkpoint", l.Checkpoint), slog.Any("parents", l.ParentShardIDs))
		case errors.Is(err, lease.ErrExists): // another worker created it first
		default:
			return created, err
		}
	}
	if cleanup && !w.cfg.keepFinished {
		for _, l := range planCleanup(shards, leases) {
			if err := w.leases.DeleteLease(ctx, l); err != nil && !errors.Is(err, lease.ErrConflict) {
				return created, err
			}
		}
	}
	return created, nil
}

// childShards returns a finished shard's children: from the last GetRecords answer, or (engines that do
// not send ChildShards) from ListShards.
func (w *Worker) childShards(ctx context.Context, parent string, children []types.ChildShard) ([]shardInfo, error) {
	infos := make([]shardInfo, 0, len(children))
	for _, c := range children {
		si := shardInfo{id: aws.ToString(c.ShardId), parents: slices.Clone(c.ParentShards)}
		slices.Sort(si.parents)
		if c.HashKeyRange != nil {
			si.startKey, si.endKey = aws.ToString(c.HashKeyRange.StartingHashKey), aws.ToString(c.HashKeyRange.EndingHashKey)
		}
		infos = append(infos, si)
	}
	if len(infos) == 0 {
		shards, err := listShards(ctx, w.kc, w.stream, w.cfg.callTimeout)
		if err != nil {
			return nil, err
		}
		for _, s := range shards {
			if slices.Contains(s.parents, parent) {
				infos = append(infos, s)
			}
		}
	}
	return infos, nil
}

// createChildLeases creates the leases of a finished shard's children at TRIM_HORIZON (ErrExists is
// fine: the other parent's worker or a shard sync was first).
func (w *Worker) createChildLeases(ctx context.Context, infos []shardInfo) error {
	for _, si := range infos {
		l := lease.Lease{
			Key: si.id, Checkpoint: lease.TrimHorizon, ParentShardIDs: si.parents,
			StartingHashKey: si.startKey, EndingHashKey: si.endKey,
		}
		if err := w.leases.Create(ctx, l); err != nil && !errors.Is(err, lease.ErrExists) {
			return err
		}
	}
	return nil
}

// childIDs returns the shard IDs of children, sorted.
func childIDs(children []shardInfo) []string {
	out := make([]string, 0, len(children))
	for _, c := range children {
		out = append(out, c.id)
	}
	slices.Sort(out)
	return out
}
