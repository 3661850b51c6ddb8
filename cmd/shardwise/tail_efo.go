package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/internal/fanout"
	"github.com/shardwise/shardwise/kinesisrecord"
)

// efoAPI is what tail --efo calls; *kinesis.Client satisfies it.
type efoAPI interface {
	ListShards(context.Context, *kinesis.ListShardsInput, ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	fanout.API
}

// consumerReadyTimeout bounds the wait for a newly registered consumer to become ACTIVE.
const consumerReadyTimeout = 2 * time.Minute

// runTailEFO is tail's --efo branch.
func runTailEFO(ctx context.Context, s awsSettings, stream, consumer string, c tailConfig, stdout, stderr io.Writer) error {
	kc, err := newFanOutKinesisClient(ctx, s)
	if err != nil {
		return err
	}
	n, err := tailEFO(ctx, kc, stream, consumer, c, stdout)
	fmt.Fprintf(stderr, "shardwise tail: %d records\n", n)
	return err
}

// newFanOutKinesisClient returns a Kinesis client from the standard configuration that can carry
// SubscribeToShard: the SDK's default HTTP client negotiates HTTP/2 by ALPN with HTTPS endpoints (AWS),
// and a plain-HTTP endpoint (a local server such as `shardwise local-kinesis`) gets an h2c client.
// `consume --efo` can use it too.
func newFanOutKinesisClient(ctx context.Context, s awsSettings) (*kinesis.Client, error) {
	cfg, err := loadAWSConfig(ctx, s)
	if err != nil {
		return nil, err
	}
	kc := kinesis.NewFromConfig(cfg)
	if ep := aws.ToString(kc.Options().BaseEndpoint); strings.HasPrefix(strings.ToLower(ep), "http://") {
		kc = kinesis.NewFromConfig(cfg, func(o *kinesis.Options) { o.HTTPClient = fanout.UnencryptedHTTP2Client() })
	}
	return kc, nil
}

// efoStart maps --from to a SubscribeToShard starting position.
func efoStart(from string) (types.StartingPosition, error) {
	itType, ts, err := startPosition(from)
	if err != nil {
		return types.StartingPosition{}, err
	}
	return types.StartingPosition{Type: itType, Timestamp: ts}, nil
}

// tailEFO is tailStream through enhanced fan-out as the consumer named consumer (registered when
// missing): every shard gets a subscriber, in lineage order (a child starts once every parent it has in
// the stream has ended), and user records are printed as they are pushed. It returns how many records
// it printed.
func tailEFO(ctx context.Context, kc efoAPI, stream, consumer string, c tailConfig, w io.Writer, opts ...fanout.Option) (int, error) {
	start, err := efoStart(c.from)
	if err != nil {
		return 0, err
	}
	streamARN, err := fanout.StreamARN(ctx, kc, stream)
	if err != nil {
		return 0, err
	}
	readyCtx, cancelReady := context.WithTimeout(ctx, consumerReadyTimeout)
	consumerARN, err := fanout.EnsureConsumer(readyCtx, kc, streamARN, consumer)
	cancelReady()
	if err != nil {
		return 0, err
	}
	shards, err := listAllShards(ctx, kc, stream)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	t := &efoTailer{kc: kc, stream: stream, consumerARN: consumerARN, start: start, opts: opts, stats: c.stats,
		lineage: newShardLineage(shards, start.Type == types.ShardIteratorTypeLatest),
		records: make(chan []outRecord, 16), ended: make(chan shardEnded, len(shards)+16), errs: make(chan error, 1),
		auto: autoDistribution(ctx, kc, stream)}
	var wg sync.WaitGroup
	defer wg.Wait() // readers exit once ctx is cancelled (the deferred cancel below runs first)
	defer cancel()
	if err := t.startReady(ctx, &wg); err != nil {
		return 0, err
	}

	out := newTailPrinter(w, c)
	defer out.stop()
	for {
		select {
		case <-ctx.Done():
			return out.printed, nil
		case <-out.idle():
			return out.printed, nil
		case err := <-t.errs:
			return out.printed, err
		case end := <-t.ended:
			t.lineage.finish(end.id)
			if err := t.addChildren(ctx, end.children); err != nil {
				return out.printed, err
			}
			if err := t.startReady(ctx, &wg); err != nil {
				return out.printed, err
			}
		case batch := <-t.records:
			if done, err := out.print(batch); done || err != nil {
				return out.printed, err
			}
		}
	}
}

type shardEnded struct {
	id       string
	children []types.ChildShard
}

type efoTailer struct {
	kc          efoAPI
	stream      string
	consumerARN string
	start       types.StartingPosition
	opts        []fanout.Option
	stats       *shardStats // --stats; nil: off
	auto        bool        // AUTO record distribution: sub-records are not filtered by hash range

	lineage *shardLineage // owned by the tailEFO goroutine

	records chan []outRecord
	ended   chan shardEnded
	errs    chan error
}

// addChildren records the children a shard-end event named; without any (an engine that omits them) it
// lists the stream again.
func (t *efoTailer) addChildren(ctx context.Context, children []types.ChildShard) error {
	if len(children) == 0 {
		shards, err := listAllShards(ctx, t.kc, t.stream)
		if err != nil {
			return err
		}
		t.lineage.add(shards...)
		return nil
	}
	t.lineage.addChildren(children)
	return nil
}

// startReady subscribes to every shard whose known parents have all ended.
func (t *efoTailer) startReady(ctx context.Context, wg *sync.WaitGroup) error {
	shards, first := t.lineage.ready()
	for _, s := range shards {
		id := aws.ToString(s.ShardId)
		rng, err := shardRange(s, t.auto)
		if err != nil {
			return err
		}
		start := t.start
		if !first {
			start = types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}
		}
		sub, err := fanout.Subscribe(ctx, t.kc, t.consumerARN, id, start, t.opts...)
		if err != nil {
			return err
		}
		wg.Go(func() {
			defer sub.Close()
			t.read(ctx, sub, id, rng)
		})
	}
	return nil
}

// read forwards one shard's user records until its shard end, a fatal error, or ctx ends.
func (t *efoTailer) read(ctx context.Context, sub *fanout.Subscriber, id string, rng *aggregation.HashRange) {
	var dec kinesisrecord.Decoder
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, fanout.ErrDone) {
				select {
				case t.errs <- fmt.Errorf("reading %s through fan-out: %w", id, err):
				default:
				}
			}
			return
		}
		t.stats.behind(id, ev.MillisBehindLatest)
		var batch []outRecord
		for _, r := range ev.Records {
			batch = append(batch, userRecords(&dec, id, rng, r)...)
		}
		if len(batch) > 0 {
			select {
			case t.records <- batch:
			case <-ctx.Done():
				return
			}
		}
		if ev.ShardEnd {
			select {
			case t.ended <- shardEnded{id: id, children: ev.ChildShards}:
			case <-ctx.Done():
			}
			return
		}
	}
}
