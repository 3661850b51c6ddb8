package kcl

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/internal/fanout"
)

// distState is what the worker knows of the stream's record distribution strategy. Under AUTO
// (service-managed distribution, ON_DEMAND streams) Kinesis places records itself, ignoring partition
// and explicit hash keys, so the user records of an aggregate land outside the receiving shard's hash
// range by design and must all be delivered.
type distState struct {
	mu      sync.Mutex
	auto    bool      // guarded by mu
	checked time.Time // when last described; zero: never; guarded by mu
}

// filterSubRecords reports whether sub-records outside the shard's hash range are dropped: false on
// an AUTO stream. The strategy is described (DescribeStreamSummary) at most once per
// ShardSyncInterval, as it can be switched at run time; when it cannot be described the last known
// answer stands (USER_PARTITION_KEY before any), and every drop is logged and reported anyway.
func (w *Worker) filterSubRecords(ctx context.Context) bool {
	w.dist.mu.Lock()
	defer w.dist.mu.Unlock()
	if !w.dist.checked.IsZero() && time.Since(w.dist.checked) < w.cfg.shardSyncInterval {
		return !w.dist.auto
	}
	w.dist.checked = time.Now()
	sa, ok := w.kc.(fanout.StreamAPI)
	if !ok {
		return !w.dist.auto
	}
	cctx, cancel := callCtx(ctx, w.cfg.callTimeout)
	defer cancel()
	out, err := sa.DescribeStreamSummary(cctx, &kinesis.DescribeStreamSummaryInput{
		StreamName: w.stream.nameField(), StreamARN: w.stream.arnField(),
	})
	if err != nil || out.StreamDescriptionSummary == nil {
		w.log.LogAttrs(ctx, slog.LevelWarn, "DescribeStreamSummary failed; keeping the last known record distribution",
			slog.Any("err", err), slog.Bool("auto", w.dist.auto))
		return !w.dist.auto
	}
	auto := out.StreamDescriptionSummary.RecordDistributionStrategy == types.RecordDistributionStrategyAuto
	if auto != w.dist.auto {
		w.log.LogAttrs(ctx, slog.LevelInfo, "record distribution strategy",
			slog.String("strategy", string(out.StreamDescriptionSummary.RecordDistributionStrategy)),
			slog.Bool("hash_range_filter", !auto))
	}
	w.dist.auto = auto
	return !auto
}
