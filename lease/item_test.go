package lease

import (
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The real client must satisfy the interface unchanged.
var _ DynamoDBAPI = (*dynamodb.Client)(nil)

func s(v string) types.AttributeValue     { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue     { return &types.AttributeValueMemberN{Value: v} }
func ss(v ...string) types.AttributeValue { return &types.AttributeValueMemberSS{Value: v} }
func bin(v ...byte) types.AttributeValue  { return &types.AttributeValueMemberB{Value: v} }

func TestDecodeJavaKCLItems(t *testing.T) {
	tests := []struct {
		name string
		item map[string]types.AttributeValue
		want Lease
	}{
		{
			name: "minimal unowned lease as createLeaseIfNotExists writes it",
			item: map[string]types.AttributeValue{
				"leaseKey": s("shardId-000000000000"), "leaseCounter": n("0"), "ownerSwitchesSinceCheckpoint": n("0"),
				"checkpoint": s("TRIM_HORIZON"), "checkpointSubSequenceNumber": n("0"),
			},
			want: Lease{Key: "shardId-000000000000", Checkpoint: TrimHorizon},
		},
		{
			name: "owned, aggregated checkpoint, merged child with two parents, hash range",
			item: map[string]types.AttributeValue{
				"leaseKey": s("shardId-000000000007"), "leaseOwner": s("host-a:1234"), "leaseCounter": n("4711"),
				"ownerSwitchesSinceCheckpoint": n("2"),
				"checkpoint":                   s("49590338271490256608559692538361571095921575989136588898"),
				"checkpointSubSequenceNumber":  n("17"),
				"parentShardId":                ss("shardId-000000000005", "shardId-000000000004"),
				"startingHashKey":              s("0"), "endingHashKey": s("170141183460469231731687303715884105727"),
				"throughputKBps": n("12.5"), // KCL 3.x extra attribute: ignored
			},
			want: Lease{
				Key: "shardId-000000000007", Owner: "host-a:1234", Counter: 4711, OwnerSwitchesSinceCheckpoint: 2,
				Checkpoint:            "49590338271490256608559692538361571095921575989136588898",
				CheckpointSubSequence: 17,
				ParentShardIDs:        []string{"shardId-000000000004", "shardId-000000000005"},
				StartingHashKey:       "0", EndingHashKey: "170141183460469231731687303715884105727",
			},
		},
		{
			name: "finished parent with children and a prepared checkpoint with state",
			item: map[string]types.AttributeValue{
				"leaseKey": s("shardId-000000000001"), "leaseOwner": s("w"), "leaseCounter": n("9"),
				"ownerSwitchesSinceCheckpoint": n("0"), "checkpoint": s("SHARD_END"), "checkpointSubSequenceNumber": n("0"),
				"pendingCheckpoint": s("123"), "pendingCheckpointSubSequenceNumber": n("3"), "pendingCheckpointState": bin(1, 2, 3),
				"childShardIds": ss("shardId-000000000003", "shardId-000000000002"),
			},
			want: Lease{
				Key: "shardId-000000000001", Owner: "w", Counter: 9, Checkpoint: ShardEnd,
				PendingCheckpoint: "123", PendingCheckpointSubSequence: 3, PendingCheckpointState: []byte{1, 2, 3},
				ChildShardIDs: []string{"shardId-000000000002", "shardId-000000000003"},
			},
		},
		{
			name: "pendingCheckpointState written as a number by the Java create path is ignored; half a range is no range",
			item: map[string]types.AttributeValue{
				"leaseKey": s("k"), "leaseCounter": n("1"), "checkpoint": s("LATEST"),
				"pendingCheckpointState": n("0"), "startingHashKey": s("5"),
			},
			want: Lease{Key: "k", Counter: 1, Checkpoint: Latest},
		},
		{
			name: "missing counter and switches (hand-made rows) read as zero",
			item: map[string]types.AttributeValue{"leaseKey": s("k"), "checkpoint": s("AT_TIMESTAMP")},
			want: Lease{Key: "k", Checkpoint: AtTimestamp},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeItem(tt.item)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("decodeItem = %+v, want %+v", got, tt.want)
			}
			// The struct tags document the same mapping; attributevalue must agree on every field it reads.
			var viaTags Lease
			if err := attributevalue.UnmarshalMap(tt.item, &viaTags); err == nil {
				viaTags.PendingCheckpointState = got.PendingCheckpointState // the tag path cannot skip a mistyped B
				slices.Sort(viaTags.ParentShardIDs)                         // sets have no order
				slices.Sort(viaTags.ChildShardIDs)
				if viaTags.StartingHashKey == "" || viaTags.EndingHashKey == "" {
					viaTags.StartingHashKey, viaTags.EndingHashKey = "", ""
				}
				if !viaTags.Equal(got) {
					t.Errorf("attributevalue.UnmarshalMap = %+v, decodeItem = %+v", viaTags, got)
				}
			}
		})
	}
}

func TestDecodeRejectsWrongTypes(t *testing.T) {
	bad := []map[string]types.AttributeValue{
		{"leaseCounter": n("1")}, // no key
		{"leaseKey": s("k"), "leaseCounter": s("1")},
		{"leaseKey": s("k"), "leaseCounter": n("1.5")},
		{"leaseKey": s("k"), "parentShardId": s("shardId-0")},
		{"leaseKey": s("k"), "leaseOwner": n("3")},
	}
	for _, it := range bad {
		if l, err := decodeItem(it); err == nil {
			t.Errorf("decodeItem(%v) = %+v, want an error", it, l)
		}
	}
}

func TestEncodeLikeJavaKCL(t *testing.T) {
	l := Lease{Key: "shardId-1", Checkpoint: TrimHorizon}
	it := encodeItem(l)
	for _, name := range []string{attrKey, attrCounter, attrOwnerSwitches, attrCheckpoint, attrCheckpointSub} {
		if it[name] == nil {
			t.Errorf("encodeItem omitted %s", name)
		}
	}
	for _, name := range []string{attrOwner, attrShardwiseOwner, attrPending, attrPendingSub, attrPendingState, attrParents, attrChildren, attrStartingHashKey} {
		if it[name] != nil {
			t.Errorf("encodeItem wrote empty optional attribute %s = %v", name, it[name])
		}
	}
	// Java KCL >= 3.5 writes entityType LEASE on every lease it creates (DynamoDBLeaseSerializer).
	if et, ok := it[attrEntityType].(*types.AttributeValueMemberS); !ok || et.Value != "LEASE" {
		t.Errorf("entityType = %v, want S LEASE", it[attrEntityType])
	}

	full := Lease{
		Key: "shardId-2", Owner: "w", Counter: 3, Checkpoint: "100", CheckpointSubSequence: 2,
		PendingCheckpoint: "200", PendingCheckpointSubSequence: 1, PendingCheckpointState: []byte("state"),
		OwnerSwitchesSinceCheckpoint: 1, ParentShardIDs: []string{"p2", "p1", "p1"}, ChildShardIDs: []string{"c1"},
		StartingHashKey: "1", EndingHashKey: "2", ShardwiseOwner: "w",
	}
	got, err := decodeItem(encodeItem(full))
	if err != nil {
		t.Fatal(err)
	}
	want := full.clone()
	want.ParentShardIDs = []string{"p1", "p2"} // a set: sorted, de-duplicated
	if !got.Equal(want) {
		t.Errorf("round trip = %+v, want %+v", got, want)
	}
	if p := encodeItem(full)[attrParents].(*types.AttributeValueMemberSS); len(p.Value) != 2 {
		t.Errorf("parentShardId = %v, want a de-duplicated SS", p.Value)
	}
}

func TestIsLeaseItem(t *testing.T) {
	tests := []struct {
		item map[string]types.AttributeValue
		want bool
	}{
		{map[string]types.AttributeValue{attrKey: s("shardId-1")}, true}, // written before Java KCL 3.5
		{map[string]types.AttributeValue{attrKey: s("shardId-1"), attrEntityType: s("LEASE")}, true},
		{map[string]types.AttributeValue{attrKey: s("worker-1"), attrEntityType: s("WORKER_METRIC_STATS")}, false},
		{map[string]types.AttributeValue{attrKey: s("Leader"), attrEntityType: s("LEADER")}, false},
		{map[string]types.AttributeValue{attrKey: s("Migration3.0"), attrEntityType: s("CLIENT_VERSION_MIGRATION")}, false},
		{map[string]types.AttributeValue{attrKey: s("x"), attrEntityType: n("1")}, false}, // not ours to read either
	}
	for _, tt := range tests {
		if got := isLeaseItem(tt.item); got != tt.want {
			t.Errorf("isLeaseItem(%v) = %v, want %v", tt.item, got, tt.want)
		}
	}
	for key, want := range map[string]bool{
		"123456789012:orders:1700000000:shardId-000000000001": true,
		"shardId-000000000001":                                false,
		"orders:shardId-000000000001":                         false,
		"12345:orders:1700000000:shardId-1":                   false, // not an account ID
		"123456789012:orders:abc:shardId-1":                   false,
	} {
		if got := isMultiStreamKey(key); got != want {
			t.Errorf("isMultiStreamKey(%q) = %v, want %v", key, got, want)
		}
	}
}
