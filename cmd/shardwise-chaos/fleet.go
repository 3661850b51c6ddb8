package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/internal/faultproxy"
)

// localKinesis starts `shardwise local-kinesis` with extra flags and returns its URL.
func (s *scen) localKinesis(ctx context.Context, extra ...string) (string, error) {
	urls := make(chan string, 1)
	var once sync.Once
	args := append([]string{"local-kinesis", "--addr", "127.0.0.1:0", "--log-level", "debug"}, extra...)
	p, err := s.start("local-kinesis", "shardwise", args, s.childEnv(), procOpts{onLine: func(l []byte, _ time.Time) {
		once.Do(func() { urls <- string(l) })
	}})
	if err != nil {
		return "", err
	}
	select {
	case u := <-urls:
		return u, nil
	case <-p.exited:
		return "", fmt.Errorf("local-kinesis exited: %v", p.err)
	case <-time.After(20 * time.Second):
		return "", fmt.Errorf("local-kinesis printed no URL in 20s")
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func hostPort(url string) string {
	return strings.TrimPrefix(strings.TrimPrefix(url, "http://"), "https://")
}

// proxy starts a fault proxy to url's host:port, closed at cleanup.
func (s *scen) proxy(url string) (*faultproxy.Proxy, error) {
	p, err := faultproxy.New(hostPort(url), s.rng.Uint64())
	if err != nil {
		return nil, err
	}
	s.onCleanup(func() { p.Close() })
	return p, nil
}

func (s *scen) kinesisClient(url string) *kinesis.Client {
	return kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("runner", "runner", "")})
}

// createStream creates a provisioned stream and waits until it is ACTIVE.
func createStream(ctx context.Context, kc *kinesis.Client, name string, shards int32) error {
	_, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) { // in use: an injected reset after the create, retried
		return err
	}
	ok := waitUntil(ctx, 30*time.Second, func() bool {
		out, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		return err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive
	})
	if !ok {
		return fmt.Errorf("stream %s not ACTIVE after 30s", name)
	}
	return nil
}

// openShards lists the open shards ordered by starting hash key.
func openShards(ctx context.Context, kc *kinesis.Client, stream string) ([]types.Shard, error) {
	var out []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(stream)}
	for {
		page, err := kc.ListShards(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, sh := range page.Shards {
			if sh.SequenceNumberRange == nil || sh.SequenceNumberRange.EndingSequenceNumber == nil {
				out = append(out, sh)
			}
		}
		if page.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: page.NextToken}
	}
	sort.Slice(out, func(i, j int) bool {
		return hashKey(out[i].HashKeyRange.StartingHashKey).Cmp(hashKey(out[j].HashKeyRange.StartingHashKey)) < 0
	})
	return out, nil
}

func hashKey(s *string) *big.Int {
	n, _ := new(big.Int).SetString(aws.ToString(s), 10)
	if n == nil {
		n = new(big.Int)
	}
	return n
}

// reshard splits a random open shard (split true) or merges a random adjacent pair; it returns what
// it did.
func (s *scen) reshard(ctx context.Context, kc *kinesis.Client, stream string, split bool) (string, error) {
	shards, err := openShards(ctx, kc, stream)
	if err != nil {
		return "", err
	}
	if split || len(shards) < 2 {
		sh := shards[s.rng.IntN(len(shards))]
		lo, hi := hashKey(sh.HashKeyRange.StartingHashKey), hashKey(sh.HashKeyRange.EndingHashKey)
		mid := new(big.Int).Add(lo, hi)
		mid.Rsh(mid, 1)
		_, err := kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(stream), ShardToSplit: sh.ShardId,
			NewStartingHashKey: aws.String(mid.String())})
		return "split " + aws.ToString(sh.ShardId), err
	}
	i := s.rng.IntN(len(shards) - 1)
	_, err = kc.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String(stream),
		ShardToMerge: shards[i].ShardId, AdjacentShardToMerge: shards[i+1].ShardId})
	return "merge " + aws.ToString(shards[i].ShardId) + "+" + aws.ToString(shards[i+1].ShardId), err
}

// consumer starts `shardwise consume` as worker name (lease owner = owner) with its stdout counted
// by t. dynamoURL is the DynamoDB endpoint it uses (a proxy or dynalite itself).
func (s *scen) consumer(name, owner, stream, app, kinesisURL, dynamoURL string, t *tally, extra ...string) (*proc, error) {
	args := append([]string{"consume", stream, "--app", app, "--owner", owner, "--log-level", "debug",
		"--poll-interval", "200ms", "--shard-sync-interval", "2s", "--grace", "10s"}, extra...)
	env := s.childEnv("AWS_ENDPOINT_URL_KINESIS="+kinesisURL, "AWS_ENDPOINT_URL_DYNAMODB="+dynamoURL)
	return s.start("consume-"+owner, "shardwise", args, env, procOpts{onLine: func(l []byte, at time.Time) { t.line(name, l, at) }})
}

// producer feeds `shardwise put` lines at a steady rate.
type producer struct {
	id   int
	p    *proc
	stop chan struct{}
	done chan struct{}
	sent int64
}

type producerOpts struct {
	strict, noAggregate bool
	rate                int // records per second
	keys                int
}

// producer starts `shardwise put --key-field k` against kinesisURL and a goroutine writing rate
// records/s of keys distinct keys to it, each counted as produced by t before it is written.
func (s *scen) producer(id int, stream, kinesisURL string, t *tally, o producerOpts) (*producer, error) {
	args := []string{"put", stream, "--key-field", "k"}
	if o.strict {
		args = append(args, "--strict-ordering")
		t.setOrdered(id)
	}
	if o.noAggregate {
		args = append(args, "--no-aggregate")
	}
	env := s.childEnv("AWS_ENDPOINT_URL_KINESIS=" + kinesisURL)
	p, err := s.start("put-p"+strconv.Itoa(id), "shardwise", args, env, procOpts{stdin: true})
	if err != nil {
		return nil, err
	}
	pr := &producer{id: id, p: p, stop: make(chan struct{}), done: make(chan struct{})}
	keys := make([]string, max(o.keys, 1))
	for i := range keys {
		keys[i] = fmt.Sprintf("%s-p%d-%d", s.r.keyMark, id, i)
	}
	rng := newRand(s.rng.Uint64())
	go func() {
		defer close(pr.done)
		const tick = 20 * time.Millisecond
		tk := time.NewTicker(tick)
		defer tk.Stop()
		perTick := float64(o.rate) * tick.Seconds()
		owed := 0.0
		var buf bytes.Buffer
		for {
			select {
			case <-pr.stop:
				return
			case <-p.exited:
				return
			case <-tk.C:
			}
			owed += perTick
			buf.Reset()
			for ; owed >= 1; owed-- {
				t.produce(recordID(id, pr.sent))
				buf.Write(recordLine(keys[rng.IntN(len(keys))], id, pr.sent, s.r.dataMark))
				pr.sent++
			}
			if _, err := p.stdin.Write(buf.Bytes()); err != nil {
				return
			}
		}
	}()
	return pr, nil
}

// finish stops writing, closes put's stdin and waits up to d for it to deliver and exit; the
// error is put's (non-zero exit: some record failed). A put that stopped reading its input (the
// writer is blocked on the pipe) is killed after d too, rather than holding up the run.
func (pr *producer) finish(d time.Duration) error {
	close(pr.stop)
	deadline := time.Now().Add(d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-pr.done:
	case <-t.C:
		pr.p.kill() // the pipe breaks, so the blocked write returns
		<-pr.done
		return fmt.Errorf("put p%d stopped reading its input (blocked for %v): killed", pr.id, d)
	}
	pr.p.stdin.Close()
	if err := pr.p.wait(max(time.Until(deadline), time.Second)); err != nil {
		return fmt.Errorf("put p%d: %w", pr.id, err)
	}
	return nil
}

// peaks returns the largest peak RSS per role (the part of a process name before the first '-').
func (s *scen) peaks() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{}
	for _, p := range s.procs {
		role, _, _ := strings.Cut(p.name, "-")
		if role == "local" {
			continue // the fake Kinesis server is not under test
		}
		if kb := p.peakKB.Load(); kb > out[role] {
			out[role] = kb
		}
	}
	return out
}

// drain waits up to d for every produced record to be consumed.
func drain(ctx context.Context, t *tally, d time.Duration) bool {
	return waitUntil(ctx, d, t.allConsumed)
}

// fill completes a result from the tally and the scenario's processes.
func (s *scen) fill(res *result, t *tally) {
	res.c = t.counts()
	res.peak = s.peaks()
	if res.c.lost > 0 {
		res.missingSample = t.missing(5)
	}
}
