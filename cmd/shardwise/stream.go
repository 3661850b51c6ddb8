package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
)

// streamAPI is what the stream subcommands call; *kinesis.Client satisfies it.
type streamAPI interface {
	CreateStream(context.Context, *kinesis.CreateStreamInput, ...func(*kinesis.Options)) (*kinesis.CreateStreamOutput, error)
	DeleteStream(context.Context, *kinesis.DeleteStreamInput, ...func(*kinesis.Options)) (*kinesis.DeleteStreamOutput, error)
	DescribeStreamSummary(context.Context, *kinesis.DescribeStreamSummaryInput, ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
	ListShards(context.Context, *kinesis.ListShardsInput, ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	SplitShard(context.Context, *kinesis.SplitShardInput, ...func(*kinesis.Options)) (*kinesis.SplitShardOutput, error)
	MergeShards(context.Context, *kinesis.MergeShardsInput, ...func(*kinesis.Options)) (*kinesis.MergeShardsOutput, error)
	UpdateShardCount(context.Context, *kinesis.UpdateShardCountInput, ...func(*kinesis.Options)) (*kinesis.UpdateShardCountOutput, error)
}

// streamCommands is the list of stream subcommands in stream's help.
const streamCommands = `Administers streams. Commands:
  create NAME --shards N [--on-demand] [--if-not-exists]
                               create a stream and wait until it is ACTIVE; with --if-not-exists
                               a stream of that name is no error
  describe NAME                status, mode, and every shard with parents, hash range, open/closed
  split NAME SHARD             split SHARD at the middle of its hash range
  merge NAME SHARD ADJACENT    merge two adjacent shards
  scale NAME --shards N        UpdateShardCount (uniform scaling)
  delete NAME                  delete the stream`

// defaultCallTimeout bounds each stream admin call: they answer within a second or two, so an
// endpoint that does not answer (hung, blackholed, a proxy holding the connection) is reported
// instead of waited for forever.
const defaultCallTimeout = 20 * time.Second

// CallTimeoutError says a Kinesis call got no answer within the per-call limit.
type CallTimeoutError struct {
	Op    string        // the operation, e.g. "CreateStream"
	Limit time.Duration // --call-timeout
}

func (e *CallTimeoutError) Error() string {
	return fmt.Sprintf("%s: no answer from the Kinesis endpoint within %v (is it reachable and answering? --call-timeout sets the limit)", e.Op, e.Limit)
}

// Unwrap returns context.DeadlineExceeded.
func (e *CallTimeoutError) Unwrap() error { return context.DeadlineExceeded }

// timedStreamAPI bounds every call of api by limit, reporting a *CallTimeoutError when the limit (not
// the caller's context) ended it.
type timedStreamAPI struct {
	api   streamAPI
	limit time.Duration
}

func timedCall[I, O any](t timedStreamAPI, ctx context.Context, op string, in I, optFns []func(*kinesis.Options),
	call func(context.Context, I, ...func(*kinesis.Options)) (O, error)) (O, error) {
	cctx, cancel := context.WithTimeout(ctx, t.limit)
	defer cancel()
	out, err := call(cctx, in, optFns...)
	if err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		var zero O
		return zero, &CallTimeoutError{Op: op, Limit: t.limit}
	}
	return out, err
}

func (t timedStreamAPI) CreateStream(ctx context.Context, in *kinesis.CreateStreamInput, o ...func(*kinesis.Options)) (*kinesis.CreateStreamOutput, error) {
	return timedCall(t, ctx, "CreateStream", in, o, t.api.CreateStream)
}

func (t timedStreamAPI) DeleteStream(ctx context.Context, in *kinesis.DeleteStreamInput, o ...func(*kinesis.Options)) (*kinesis.DeleteStreamOutput, error) {
	return timedCall(t, ctx, "DeleteStream", in, o, t.api.DeleteStream)
}

func (t timedStreamAPI) DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, o ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error) {
	return timedCall(t, ctx, "DescribeStreamSummary", in, o, t.api.DescribeStreamSummary)
}

func (t timedStreamAPI) ListShards(ctx context.Context, in *kinesis.ListShardsInput, o ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	return timedCall(t, ctx, "ListShards", in, o, t.api.ListShards)
}

func (t timedStreamAPI) SplitShard(ctx context.Context, in *kinesis.SplitShardInput, o ...func(*kinesis.Options)) (*kinesis.SplitShardOutput, error) {
	return timedCall(t, ctx, "SplitShard", in, o, t.api.SplitShard)
}

func (t timedStreamAPI) MergeShards(ctx context.Context, in *kinesis.MergeShardsInput, o ...func(*kinesis.Options)) (*kinesis.MergeShardsOutput, error) {
	return timedCall(t, ctx, "MergeShards", in, o, t.api.MergeShards)
}

func (t timedStreamAPI) UpdateShardCount(ctx context.Context, in *kinesis.UpdateShardCountInput, o ...func(*kinesis.Options)) (*kinesis.UpdateShardCountOutput, error) {
	return timedCall(t, ctx, "UpdateShardCount", in, o, t.api.UpdateShardCount)
}

func runStream(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) || slices.ContainsFunc(args, isHelpFlag) {
		fs := newFlagSet("stream", stderr)
		defineStreamFlags(fs)
		defineAWSFlags(fs)
		fs.Usage()
		if len(args) == 0 {
			return errCLIUsage
		}
		return nil
	}
	var settings awsSettings
	return streamRun(ctx, &settings, func(ctx context.Context) (streamAPI, error) { return newKinesisClient(ctx, settings) }, args, stdout, stderr)
}

// streamCommand runs one stream subcommand against kc.
func streamCommand(ctx context.Context, kc streamAPI, args []string, stdout, stderr io.Writer) error {
	return streamRun(ctx, &awsSettings{}, func(context.Context) (streamAPI, error) { return kc, nil }, args, stdout, stderr)
}

// streamRun checks the subcommand's arguments, then runs it against the client connect returns: a
// usage mistake is reported as one (exit status 2) before any AWS setting is looked at. The
// --region and --profile flags are parsed into settings before connect is called.
func streamRun(ctx context.Context, settings *awsSettings, connect func(context.Context) (streamAPI, error), args []string, stdout, stderr io.Writer) error {
	sub, args := args[0], args[1:]
	fs := newFlagSet("stream", stderr)
	f := defineStreamFlags(fs)
	fs.StringVar(&settings.region, "region", "", usageRegion)
	fs.StringVar(&settings.profile, "profile", "", usageProfile)
	shards, onDemand, ifNotExists, wait, callTimeout := f.shards, f.onDemand, f.ifNotExists, f.wait, f.callTimeout
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return errCLIUsage
	}
	if *callTimeout <= 0 {
		return fmt.Errorf("stream %s: --call-timeout must be positive: %w", sub, errCLIUsage)
	}
	need := map[string]int{"create": 1, "describe": 1, "split": 2, "merge": 3, "scale": 1, "delete": 1}
	n, ok := need[sub]
	if !ok {
		return usageError("stream", "has no command %q", sub)
	}
	if len(pos) != n {
		return usageError("stream", "%s takes %d argument(s), got %d", sub, n, len(pos))
	}
	switch {
	case sub == "create" && !*onDemand && *shards < 1:
		return fmt.Errorf("stream create needs --shards N (N >= 1) or --on-demand: %w", errCLIUsage)
	case sub == "scale" && *shards < 1:
		return fmt.Errorf("stream scale needs --shards N: %w", errCLIUsage)
	}
	api, err := connect(ctx)
	if err != nil {
		return err
	}
	kc := timedStreamAPI{api: api, limit: *callTimeout}
	name := pos[0]
	switch sub {
	case "create":
		in := &kinesis.CreateStreamInput{StreamName: aws.String(name)}
		if *onDemand {
			in.StreamModeDetails = &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}
		} else {
			in.ShardCount = aws.Int32(int32(*shards))
		}
		_, err := kc.CreateStream(ctx, in)
		var inUse *types.ResourceInUseException
		existed := *ifNotExists && errors.As(err, &inUse)
		if err != nil && !existed {
			return fmt.Errorf("creating stream %s: %w", name, err)
		}
		if err := waitActive(ctx, kc, name, *wait); err != nil {
			return err
		}
		if existed {
			fmt.Fprintf(stdout, "stream %s already exists and is ACTIVE\n", name)
			return nil
		}
		fmt.Fprintf(stdout, "stream %s is ACTIVE\n", name)
		return nil
	case "describe":
		return describeStream(ctx, kc, name, stdout)
	case "split":
		return splitShard(ctx, kc, name, pos[1], *wait, stdout)
	case "merge":
		if _, err := kc.MergeShards(ctx, &kinesis.MergeShardsInput{
			StreamName: aws.String(name), ShardToMerge: aws.String(pos[1]), AdjacentShardToMerge: aws.String(pos[2]),
		}); err != nil {
			return fmt.Errorf("merging %s and %s: %w", pos[1], pos[2], err)
		}
		if err := waitActive(ctx, kc, name, *wait); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "merged %s and %s\n", pos[1], pos[2])
		return nil
	case "scale":
		if _, err := kc.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{
			StreamName: aws.String(name), TargetShardCount: aws.Int32(int32(*shards)), ScalingType: types.ScalingTypeUniformScaling,
		}); err != nil {
			return fmt.Errorf("scaling %s: %w", name, err)
		}
		if err := waitActive(ctx, kc, name, *wait); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "stream %s scaled to %d shards\n", name, *shards)
		return nil
	default: // delete
		if _, err := kc.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(name), EnforceConsumerDeletion: aws.Bool(true)}); err != nil {
			return fmt.Errorf("deleting stream %s: %w", name, err)
		}
		fmt.Fprintf(stdout, "stream %s deleted\n", name)
		return nil
	}
}

// streamFlags are the flags of the stream subcommands.
type streamFlags struct {
	shards                *int
	onDemand, ifNotExists *bool
	wait, callTimeout     *time.Duration
}

func defineStreamFlags(fs *flag.FlagSet) streamFlags {
	return streamFlags{
		shards:      fs.Int("shards", 0, "number of shards (create without --on-demand; scale: the new count)"),
		onDemand:    fs.Bool("on-demand", false, "create an on-demand stream"),
		ifNotExists: fs.Bool("if-not-exists", false, "create: a stream of that name already there is no error (it is waited for until ACTIVE)"),
		wait:        fs.Duration("wait", 5*time.Minute, "how long create, split, merge and scale wait for the stream to become ACTIVE"),
		callTimeout: fs.Duration("call-timeout", defaultCallTimeout, "how long each Kinesis call may take, retries included"),
	}
}

// parseInterleaved parses flags that may come before, between or after positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// waitActive polls DescribeStreamSummary until the stream is ACTIVE.
func waitActive(ctx context.Context, kc streamAPI, name string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	delay := 100 * time.Millisecond
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for stream %s to become ACTIVE: %w", name, ctx.Err())
		case <-t.C:
		}
		out, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			var rnf *types.ResourceNotFoundException
			if !errors.As(err, &rnf) {
				return fmt.Errorf("describing stream %s: %w", name, err)
			}
		} else if out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return nil
		}
		t.Reset(delay)
		delay = min(2*delay, 2*time.Second)
	}
}

// listAllShards returns every shard of the stream, closed ones included, following NextToken (sent
// without the stream name, as the API requires).
func listAllShards(ctx context.Context, kc interface {
	ListShards(context.Context, *kinesis.ListShardsInput, ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
}, name string) ([]types.Shard, error) {
	var shards []types.Shard
	sn, sa := streamFields(name)
	in := &kinesis.ListShardsInput{StreamName: sn, StreamARN: sa}
	for {
		out, err := kc.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("listing shards of %s: %w", name, err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil || *out.NextToken == "" {
			return shards, nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

func describeStream(ctx context.Context, kc streamAPI, name string, stdout io.Writer) error {
	sum, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	if err != nil {
		return fmt.Errorf("describing stream %s: %w", name, err)
	}
	d := sum.StreamDescriptionSummary
	shards, err := listAllShards(ctx, kc, name)
	if err != nil {
		return err
	}
	mode := "PROVISIONED"
	if d.StreamModeDetails != nil {
		mode = string(d.StreamModeDetails.StreamMode)
	}
	fmt.Fprintf(stdout, "stream:     %s\narn:        %s\nstatus:     %s\nmode:       %s\nretention:  %dh\nencryption: %s\nopen shards: %d of %d\n\n",
		aws.ToString(d.StreamName), aws.ToString(d.StreamARN), d.StreamStatus, mode,
		aws.ToInt32(d.RetentionPeriodHours), d.EncryptionType, aws.ToInt32(d.OpenShardCount), len(shards))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tSTATE\tPARENTS\tSTARTING HASH KEY\tENDING HASH KEY")
	for _, s := range shards {
		state := "open"
		if s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil {
			state = "closed"
		}
		var parents []string
		if s.ParentShardId != nil {
			parents = append(parents, *s.ParentShardId)
		}
		if s.AdjacentParentShardId != nil {
			parents = append(parents, *s.AdjacentParentShardId)
		}
		p := strings.Join(parents, ",")
		if p == "" {
			p = "-"
		}
		var start, end string
		if s.HashKeyRange != nil {
			start, end = aws.ToString(s.HashKeyRange.StartingHashKey), aws.ToString(s.HashKeyRange.EndingHashKey)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", aws.ToString(s.ShardId), state, p, start, end)
	}
	return tw.Flush()
}

// splitShard splits a shard at the middle of its hash range.
func splitShard(ctx context.Context, kc streamAPI, name, shardID string, wait time.Duration, stdout io.Writer) error {
	shards, err := listAllShards(ctx, kc, name)
	if err != nil {
		return err
	}
	for _, s := range shards {
		if aws.ToString(s.ShardId) != shardID || s.HashKeyRange == nil {
			continue
		}
		r, err := aggregation.ParseHashRange(aws.ToString(s.HashKeyRange.StartingHashKey), aws.ToString(s.HashKeyRange.EndingHashKey))
		if err != nil {
			return fmt.Errorf("shard %s: %w", shardID, err)
		}
		if r.Start == r.End {
			return fmt.Errorf("shard %s owns a single hash key and cannot be split", shardID)
		}
		mid := r.Midpoint()
		if _, err := kc.SplitShard(ctx, &kinesis.SplitShardInput{
			StreamName: aws.String(name), ShardToSplit: aws.String(shardID), NewStartingHashKey: aws.String(mid.String()),
		}); err != nil {
			return fmt.Errorf("splitting %s: %w", shardID, err)
		}
		if err := waitActive(ctx, kc, name, wait); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "split %s at %s\n", shardID, mid)
		return nil
	}
	return fmt.Errorf("stream %s has no shard %s", name, shardID)
}
