package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/kpl"
)

// demoAPI is what the demo calls; *kinesis.Client satisfies it.
type demoAPI interface {
	streamAPI
	tailAPI
	kpl.KinesisAPI
}

type demoConfig struct {
	records int
	shards  int
	keys    int
	keep    bool
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c demoConfig
	fs.IntVar(&c.records, "records", 20000, "user records to put")
	fs.IntVar(&c.shards, "shards", 4, "shards of the demo stream")
	fs.IntVar(&c.keys, "keys", 100, "distinct partition keys")
	fs.BoolVar(&c.keep, "keep", false, "keep the demo stream instead of deleting it")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return errCLIUsage
	}
	if c.records < 1 || c.shards < 1 || c.keys < 1 {
		return fmt.Errorf("%w: --records, --shards and --keys must be positive", errCLIUsage)
	}
	kc, err := newKinesisClient(ctx)
	if err != nil {
		return err
	}
	return demo(ctx, kc, c, stdout)
}

// demo creates a stream, puts records through the producer (aggregated, per-shard, rate-limited),
// reads every user record back through the consumer-side decoding, checks that each arrived exactly
// once and in per-key order, and deletes the stream.
func demo(ctx context.Context, kc demoAPI, c demoConfig, w io.Writer) (err error) {
	var suffix [4]byte
	rand.Read(suffix[:])
	stream := "shardwise-demo-" + hex.EncodeToString(suffix[:])

	fmt.Fprintf(w, "1. creating stream %s with %d shards\n", stream, c.shards)
	if err := streamCommand(ctx, kc, []string{"create", stream, "--shards", strconv.Itoa(c.shards)}, io.Discard, w); err != nil {
		return err
	}
	if !c.keep {
		defer func() {
			// Bounded, detached cleanup: the stream is deleted even when ctx was cancelled.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if _, derr := kc.DeleteStream(dctx, &kinesis.DeleteStreamInput{StreamName: aws.String(stream)}); derr != nil {
				err = errors.Join(err, fmt.Errorf("deleting demo stream: %w", derr))
			} else {
				fmt.Fprintf(w, "6. deleted stream %s\n", stream)
			}
		}()
	}

	fmt.Fprintf(w, "2. putting %d records over %d partition keys through the kpl producer (aggregation on, strict ordering)\n", c.records, c.keys)
	// StrictOrdering: step 5 checks per-key order, which retries (a slow or overloaded endpoint)
	// could otherwise change, as with the Java KPL.
	p, err := kpl.New(kc, stream, kpl.StrictOrdering())
	if err != nil {
		return err
	}
	start := time.Now()
	futures := make([]*kpl.Future, c.records)
	for i := range futures {
		key := "device-" + strconv.Itoa(i%c.keys)
		data := fmt.Sprintf(`{"device":%q,"seq":%d}`, key, i/c.keys)
		futures[i] = p.PutAsync(ctx, kpl.Record{PartitionKey: key, Data: []byte(data)})
	}
	if err := p.Flush(ctx); err != nil {
		p.Close()
		return fmt.Errorf("flushing the producer: %w", err)
	}
	failed := 0
	perShard := map[string]int{}
	for _, f := range futures {
		res, err := f.Wait(ctx)
		if err != nil {
			failed++
			continue
		}
		perShard[res.ShardID]++
	}
	p.Close()
	put := time.Since(start)
	fmt.Fprintf(w, "   %d delivered, %d failed in %v (%.0f records/s); per shard: %v\n",
		c.records-failed, failed, put.Round(time.Millisecond), float64(c.records)/put.Seconds(), perShard)
	if failed > 0 {
		return fmt.Errorf("%d records failed", failed)
	}

	fmt.Fprintln(w, "3. reading the stream back from TRIM_HORIZON (deaggregating, filtering by hash range)")
	counter := &demoChecker{next: map[string]int{}}
	n, err := tailStream(ctx, kc, stream, tailConfig{
		from: "trim-horizon", max: c.records, idleTimeout: 10 * time.Second, format: "raw", pollInterval: minPollInterval,
	}, counter)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "4. read %d user records back\n", n)
	if n != c.records || counter.bad != 0 {
		return fmt.Errorf("read %d of %d records, %d out of per-key order", n, c.records, counter.bad)
	}
	fmt.Fprintln(w, "5. every record arrived exactly once and in per-key order")
	return nil
}

// demoChecker receives tail's raw lines and checks per-key order ({"device":"device-N","seq":S}).
type demoChecker struct {
	next map[string]int
	bad  int
}

func (d *demoChecker) Write(line []byte) (int, error) {
	var dev string
	var seq int
	if _, err := fmt.Sscanf(string(line), `{"device":%q,"seq":%d}`, &dev, &seq); err != nil {
		d.bad++
		return len(line), nil
	}
	if seq != d.next[dev] {
		d.bad++
	}
	d.next[dev] = seq + 1
	return len(line), nil
}
