package localstack_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/internal/testenv"
)

// plannedShard is what the smoke test sends to one shard: the Kinesis records (aggregates and, for one
// shard, a lone unaggregated record) and the user records inside them, in order.
type plannedShard struct {
	id      string
	rng     aggregation.HashRange
	entries []aggregation.Record // Kinesis records as Flush returned them
	users   []aggregation.Record // user records in put order
}

// shardMap builds the aggregation.ShardMap for the stream's shards.
func shardMap(t *testing.T, shards []types.Shard) (*aggregation.ShardMap, []aggregation.ShardRange) {
	t.Helper()
	ranges := make([]aggregation.ShardRange, 0, len(shards))
	for _, s := range shards {
		r, err := aggregation.ParseHashRange(aws.ToString(s.HashKeyRange.StartingHashKey), aws.ToString(s.HashKeyRange.EndingHashKey))
		if err != nil {
			t.Fatalf("shard %s hash range: %v", aws.ToString(s.ShardId), err)
		}
		ranges = append(ranges, aggregation.ShardRange{ShardID: aws.ToString(s.ShardId), Range: r})
	}
	m, err := aggregation.NewShardMap(ranges)
	if err != nil {
		t.Fatalf("NewShardMap: %v", err)
	}
	return m, ranges
}

// planRecords makes perShard user records for every shard: most with random partition keys that hash
// into the shard, some with explicit hash keys at the shard's bounds, and packs them with a small
// aggregator so each shard gets several aggregates. Shard 0 also gets one record flushed alone, which
// the aggregator sends unaggregated.
func planRecords(t *testing.T, m *aggregation.ShardMap, ranges []aggregation.ShardRange, perShard int) []*plannedShard {
	t.Helper()
	rnd := rand.New(rand.NewPCG(1, 2))
	plans := make([]*plannedShard, len(ranges))
	byID := map[string]*plannedShard{}
	for i, r := range ranges {
		plans[i] = &plannedShard{id: r.ShardID, rng: r.Range}
		byID[r.ShardID] = plans[i]
		// Explicit hash keys on both bounds of the range route to this shard whatever the key.
		plans[i].users = append(plans[i].users,
			aggregation.Record{PartitionKey: "ehk-start-" + r.ShardID, ExplicitHashKey: r.Range.Start.String(), Data: []byte("at start of " + r.ShardID)},
			aggregation.Record{PartitionKey: "ehk-end-" + r.ShardID, ExplicitHashKey: r.Range.End.String(), Data: []byte("at end of " + r.ShardID)},
		)
	}
	for n := 0; ; n++ {
		full := true
		for _, p := range plans {
			if len(p.users) < perShard {
				full = false
			}
		}
		if full {
			break
		}
		if n > 100*perShard*len(plans) {
			t.Fatal("could not generate partition keys for every shard")
		}
		pk := fmt.Sprintf("user-%d-%08x", n, rnd.Uint32())
		_, owner, ok := m.Lookup(aggregation.PartitionKeyHash(pk))
		if !ok {
			t.Fatalf("no shard owns the hash key of %q", pk)
		}
		p := byID[owner.ShardID]
		if len(p.users) >= perShard {
			continue
		}
		data := make([]byte, 20+rnd.IntN(200))
		for j := range data {
			data[j] = byte(rnd.UintN(256))
		}
		p.users = append(p.users, aggregation.Record{PartitionKey: pk, Data: data})
	}

	for i, p := range plans {
		agg := aggregation.NewAggregator(2048)
		flush := func() {
			rec, _, err := agg.Flush()
			if err != nil {
				t.Fatalf("Flush: %v", err)
			}
			p.entries = append(p.entries, rec)
		}
		for _, u := range p.users {
			err := agg.Add(u)
			if errors.Is(err, aggregation.ErrFull) {
				flush()
				err = agg.Add(u)
			}
			if err != nil {
				t.Fatalf("Add(%q): %v", u.PartitionKey, err)
			}
		}
		flush()
		if i == 0 {
			lone := aggregation.Record{PartitionKey: keyInShard(t, m, p.id, "lone"), Data: []byte("sent unaggregated")}
			if err := agg.Add(lone); err != nil {
				t.Fatalf("Add(lone): %v", err)
			}
			flush()
			p.users = append(p.users, lone)
		}
	}
	return plans
}

// keyInShard returns a partition key starting with prefix whose hash key the shard owns.
func keyInShard(t *testing.T, m *aggregation.ShardMap, shardID, prefix string) string {
	t.Helper()
	for i := range 10000 {
		pk := fmt.Sprintf("%s-%d", prefix, i)
		if _, owner, ok := m.Lookup(aggregation.PartitionKeyHash(pk)); ok && owner.ShardID == shardID {
			return pk
		}
	}
	t.Fatalf("no partition key %s-N hashes into %s", prefix, shardID)
	return ""
}

func TestSmokeAggregatedRecordsRoundTrip(t *testing.T) {
	ctx := testenv.Context(t, 2*time.Minute)
	kc := testenv.Kinesis(t)
	stream := testenv.CreateStream(t, ctx, 4)
	shards := testenv.Shards(t, ctx, kc, stream)
	if len(shards) != 4 {
		t.Fatalf("stream has %d shards, want 4", len(shards))
	}
	m, ranges := shardMap(t, shards)
	plans := planRecords(t, m, ranges, 60)

	// Every Kinesis record's explicit hash key must route it to its planned shard. Entries are interleaved
	// across shards (routing, not request order, decides where each lands) and keep plan order per shard.
	var entries []types.PutRecordsRequestEntry
	var want []*plannedShard // planned shard per entry, positional
	for _, p := range plans {
		if len(p.entries) < 2 {
			t.Fatalf("shard %s: %d Kinesis records planned, want several aggregates", p.id, len(p.entries))
		}
		for _, e := range p.entries {
			k, err := aggregation.EffectiveHashKey(e.PartitionKey, e.ExplicitHashKey)
			if err != nil {
				t.Fatalf("hash key of a Kinesis record: %v", err)
			}
			if !p.rng.Contains(k) {
				t.Fatalf("Kinesis record hash key %s outside shard %s %s", k, p.id, p.rng)
			}
		}
	}
	for i := 0; len(entries) < totalEntries(plans); i++ {
		for _, p := range plans {
			if i >= len(p.entries) {
				continue
			}
			e := p.entries[i]
			entry := types.PutRecordsRequestEntry{PartitionKey: aws.String(e.PartitionKey), Data: e.Data}
			if e.ExplicitHashKey != "" {
				entry.ExplicitHashKey = aws.String(e.ExplicitHashKey)
			}
			entries = append(entries, entry)
			want = append(want, p)
		}
	}

	out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
	if err != nil {
		t.Fatalf("PutRecords: %v", err)
	}
	if n := aws.ToInt32(out.FailedRecordCount); n != 0 {
		t.Fatalf("PutRecords: %d failed entries", n)
	}
	for i, r := range out.Records {
		if got := aws.ToString(r.ShardId); got != want[i].id {
			t.Errorf("entry %d landed on %s, want %s", i, got, want[i].id)
		}
	}

	t.Run("GetRecords", func(t *testing.T) {
		for _, p := range plans {
			checkShard(t, p, readShard(t, ctx, kc, stream, p.id, len(p.entries)))
		}
	})
	t.Run("SubscribeToShard", func(t *testing.T) {
		fc := testenv.FanOutKinesis(t)
		reg, err := fc.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{
			StreamARN:    aws.String(testenv.StreamARN(t, ctx, kc, stream)),
			ConsumerName: aws.String(testenv.UniqueName(t, "smoke")),
		})
		if err != nil {
			t.Fatalf("RegisterStreamConsumer: %v", err)
		}
		consumerARN := aws.ToString(reg.Consumer.ConsumerARN)
		testenv.WaitConsumerActive(t, ctx, kc, consumerARN)
		for _, p := range plans {
			checkShard(t, p, subscribeShard(t, ctx, fc, consumerARN, p.id, len(p.entries)))
		}
	})
}

// checkShard deaggregates the Kinesis records read from a shard and compares them with the plan.
func checkShard(t *testing.T, p *plannedShard, got []types.Record) {
	t.Helper()
	var users []aggregation.UserRecord
	aggregated := 0
	for _, r := range got {
		if aggregation.IsAggregated(r.Data) {
			aggregated++
		}
		recs, err := aggregation.Deaggregate(r.Data)
		if err != nil {
			t.Fatalf("shard %s: Deaggregate(record %s): %v", p.id, aws.ToString(r.SequenceNumber), err)
		}
		for j, u := range recs {
			if u.SubSequenceNumber != j {
				t.Errorf("shard %s: record %s sub-record %d has sub-sequence %d", p.id, aws.ToString(r.SequenceNumber), j, u.SubSequenceNumber)
			}
			if !aggregation.IsAggregated(r.Data) { // a plain record: its key is the Kinesis record's
				u.PartitionKey = aws.ToString(r.PartitionKey)
			}
			users = append(users, u)
		}
	}
	if wantAgg := len(p.entries) - loneCount(p); aggregated != wantAgg {
		t.Errorf("shard %s: %d aggregated Kinesis records, want %d", p.id, aggregated, wantAgg)
	}
	compareUsers(t, p, users)
}

// subscribeShard reads a shard through SubscribeToShard (enhanced fan-out) from TRIM_HORIZON until it has
// want Kinesis records, bounded by ctx.
func subscribeShard(t *testing.T, ctx context.Context, fc *kinesis.Client, consumerARN, shardID string, want int) []types.Record {
	t.Helper()
	sub, err := fc.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{
		ConsumerARN:      aws.String(consumerARN),
		ShardId:          aws.String(shardID),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon},
	}, testenv.OwnEventStreamProtocol)
	if err != nil {
		t.Fatalf("SubscribeToShard(%s): %v", shardID, err)
	}
	es := sub.GetStream()
	defer es.Close()
	var got []types.Record
	for len(got) < want {
		select {
		case ev, ok := <-es.Events():
			if !ok {
				t.Fatalf("shard %s: event stream ended after %d of %d records: %v", shardID, len(got), want, es.Err())
			}
			e, isRecords := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
			if !isRecords {
				t.Fatalf("shard %s: unexpected event %T", shardID, ev)
			}
			got = append(got, e.Value.Records...)
		case <-ctx.Done():
			t.Fatalf("shard %s: %d of %d records before the deadline", shardID, len(got), want)
		}
	}
	if len(got) != want {
		t.Errorf("shard %s: received %d Kinesis records, want %d", shardID, len(got), want)
	}
	return got
}

func totalEntries(plans []*plannedShard) int {
	n := 0
	for _, p := range plans {
		n += len(p.entries)
	}
	return n
}

func loneCount(p *plannedShard) int {
	n := 0
	for _, e := range p.entries {
		if !aggregation.IsAggregated(e.Data) {
			n++
		}
	}
	return n
}

func compareUsers(t *testing.T, p *plannedShard, got []aggregation.UserRecord) {
	t.Helper()
	if len(got) != len(p.users) {
		t.Errorf("shard %s: %d user records read, want %d", p.id, len(got), len(p.users))
	}
	for i := range min(len(got), len(p.users)) {
		g, w := got[i], p.users[i]
		if g.PartitionKey != w.PartitionKey || g.ExplicitHashKey != w.ExplicitHashKey || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("shard %s: user record %d = {%q %q %d bytes}, want {%q %q %d bytes}", p.id, i,
				g.PartitionKey, g.ExplicitHashKey, len(g.Data), w.PartitionKey, w.ExplicitHashKey, len(w.Data))
			continue
		}
		k, err := aggregation.EffectiveHashKey(g.PartitionKey, g.ExplicitHashKey)
		if err != nil || !p.rng.Contains(k) {
			t.Errorf("shard %s: user record %d hash key %s (err %v) outside %s", p.id, i, k, err, p.rng)
		}
	}
}

// readShard reads a shard from TRIM_HORIZON until it has want Kinesis records, bounded by ctx.
func readShard(t *testing.T, ctx context.Context, kc *kinesis.Client, stream, shardID string, want int) []types.Record {
	t.Helper()
	it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName:        aws.String(stream),
		ShardId:           aws.String(shardID),
		ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatalf("GetShardIterator(%s): %v", shardID, err)
	}
	iter := it.ShardIterator
	var got []types.Record
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for len(got) < want {
		out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(1000)})
		if err != nil {
			t.Fatalf("GetRecords(%s) after %d records: %v", shardID, len(got), err)
		}
		got = append(got, out.Records...)
		iter = out.NextShardIterator
		if iter == nil {
			break
		}
		if len(out.Records) == 0 {
			select { // nothing yet: pace the polling (GetRecords allows 5 calls/s/shard)
			case <-ctx.Done():
				t.Fatalf("shard %s: %d of %d records before the deadline", shardID, len(got), want)
			case <-tick.C:
			}
		}
	}
	if len(got) != want {
		t.Errorf("shard %s: read %d Kinesis records, want %d", shardID, len(got), want)
	}
	return got
}

func TestSmokeDynamoDBConditionalUpdate(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	dc := testenv.DynamoDB(t)
	table := testenv.CreateTable(t, ctx, &dynamodb.CreateTableInput{
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("leaseKey"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("leaseKey"), KeyType: ddbtypes.KeyTypeHash}},
	})
	key := map[string]ddbtypes.AttributeValue{"leaseKey": &ddbtypes.AttributeValueMemberS{Value: "shardId-000000000000"}}
	_, err := dc.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item: map[string]ddbtypes.AttributeValue{
			"leaseKey":     key["leaseKey"],
			"leaseOwner":   &ddbtypes.AttributeValueMemberS{Value: "worker-a"},
			"leaseCounter": &ddbtypes.AttributeValueMemberN{Value: "1"},
		},
		ConditionExpression: aws.String("attribute_not_exists(leaseKey)"),
	})
	if err != nil {
		t.Fatalf("PutItem: %v", err)
	}

	update := func(expectCounter, owner string) error {
		_, err := dc.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:           aws.String(table),
			Key:                 key,
			UpdateExpression:    aws.String("SET leaseOwner = :owner ADD leaseCounter :one"),
			ConditionExpression: aws.String("leaseCounter = :expect"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
				":owner":  &ddbtypes.AttributeValueMemberS{Value: owner},
				":one":    &ddbtypes.AttributeValueMemberN{Value: "1"},
				":expect": &ddbtypes.AttributeValueMemberN{Value: expectCounter},
			},
		})
		return err
	}
	if err := update("1", "worker-b"); err != nil {
		t.Fatalf("conditional UpdateItem with the right counter: %v", err)
	}
	err = update("1", "worker-c") // the counter is 2 now
	var ccf *ddbtypes.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("conditional UpdateItem with a stale counter: %v, want ConditionalCheckFailedException", err)
	}

	got, err := dc.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("GetItem: %v", err)
	}
	owner, _ := got.Item["leaseOwner"].(*ddbtypes.AttributeValueMemberS)
	counter, _ := got.Item["leaseCounter"].(*ddbtypes.AttributeValueMemberN)
	if owner == nil || owner.Value != "worker-b" || counter == nil || counter.Value != "2" {
		t.Errorf("item after updates = %v, want leaseOwner worker-b and leaseCounter 2", got.Item)
	}
}
