package lease

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// fuzzAttrs are the attributes decodeItem reads, in the order the fuzz input's kind bytes assign
// their types.
var fuzzAttrs = []string{
	attrKey, attrOwner, attrPendingOwner, attrShardwiseOwner, attrCounter, attrCheckpoint, attrCheckpointSub,
	attrPending, attrPendingSub, attrPendingState, attrOwnerSwitches, attrParents, attrChildren,
	attrStartingHashKey, attrEndingHashKey, attrEntityType, attrCheckpointOwner, "throughputKBps",
}

// fuzzItem builds a lease table item as DynamoDB can return it: for each attribute, kinds[i] picks
// absent, NULL, S, N, SS, B or BOOL, and the \x00-separated vals give the values (a string set
// takes its members from one value split at ','; DynamoDB returns sets without duplicates).
func fuzzItem(kinds []byte, vals string) map[string]types.AttributeValue {
	parts := strings.Split(vals, "\x00")
	it := map[string]types.AttributeValue{}
	for i, name := range fuzzAttrs {
		v := ""
		if i < len(parts) {
			v = parts[i]
		}
		k := byte(2) // S by default: a key-only item
		if i < len(kinds) {
			k = kinds[i] % 7
		} else if i > 0 {
			k = 0
		}
		switch k {
		case 0:
		case 1:
			it[name] = &types.AttributeValueMemberNULL{Value: true}
		case 2:
			it[name] = &types.AttributeValueMemberS{Value: v}
		case 3:
			it[name] = &types.AttributeValueMemberN{Value: v}
		case 4:
			members := slices.Compact(slices.Sorted(slices.Values(strings.Split(v, ","))))
			it[name] = &types.AttributeValueMemberSS{Value: members}
		case 5:
			it[name] = &types.AttributeValueMemberB{Value: []byte(v)}
		case 6:
			it[name] = &types.AttributeValueMemberBOOL{Value: v != ""}
		}
	}
	return it
}

// FuzzDecodeItem: any item (Shardwise's, the Java KCL's, or damaged) either decodes or fails with
// an error naming the attribute at fault; a decoded lease encodes to an item that decodes back to
// the same lease, and the item it was read from is left as it was.
func FuzzDecodeItem(f *testing.F) {
	// Java KCL 2.x layout: key, owner, counter, checkpoint with sub-sequence, parents, hash range.
	f.Add([]byte{2, 2, 0, 0, 3, 2, 3, 0, 0, 0, 3, 4, 0, 2, 2},
		"shardId-000000000001\x00worker-1\x00\x00\x0042\x0049600000000000000000000000000000000000000000000000000001\x000\x00\x00\x00\x001\x00shardId-000000000000\x00\x000\x00170141183460469231731687303715884105727")
	// Shardwise layout with a pending checkpoint, its state, children and entityType.
	f.Add([]byte{2, 2, 2, 2, 3, 2, 3, 2, 3, 5, 3, 0, 4, 0, 0, 2},
		"shardId-000000000002\x00w\x00w2\x00w\x007\x00SHARD_END\x000\x0049600000000000000000000000000000000000000000000000000009\x003\x00state\x000\x00\x00shardId-000000000004,shardId-000000000003\x00\x00\x00LEASE")
	// Damaged: counter not a number, a string set where a string belongs, a number pendingCheckpointState.
	f.Add([]byte{2, 4, 0, 0, 3, 1, 1, 0, 0, 3}, "k\x00a,b\x00\x00\x00NaN\x00\x00\x00\x00\x00123")
	f.Add([]byte{0}, "")
	f.Fuzz(func(t *testing.T, kinds []byte, vals string) {
		it := fuzzItem(kinds, vals)
		before := fuzzItem(kinds, vals)
		l, err := decodeItem(it)
		if !reflect.DeepEqual(it, before) {
			t.Fatal("decodeItem changed the item")
		}
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "lease: item") && !strings.Contains(msg, "attribute ") {
				t.Fatalf("error %q names no attribute", msg)
			}
			return
		}
		if l.Key == "" {
			t.Fatal("decoded a lease without a key")
		}
		if (l.StartingHashKey == "") != (l.EndingHashKey == "") {
			t.Fatalf("half a hash range: %q..%q", l.StartingHashKey, l.EndingHashKey)
		}
		again, err := decodeItem(encodeItem(l))
		if err != nil {
			t.Fatalf("re-decoding the encoded lease %+v: %v", l, err)
		}
		// encodeItem writes the sub-sequence numbers only beside their checkpoints, as the Java KCL does.
		want := l
		if want.Checkpoint == "" {
			want.CheckpointSubSequence = 0
		}
		if !reflect.DeepEqual(again, want) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", again, want)
		}
	})
}
