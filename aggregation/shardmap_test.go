package aggregation

import (
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"
)

// evenShards splits the key space into n ranges the way CreateStream does (equal widths, the last
// range ending at 2^128-1), computed with math/big so the test does not trust the code under test.
func evenShards(t *testing.T, n int) []ShardRange {
	t.Helper()
	width := new(big.Int).Div(two128, big.NewInt(int64(n)))
	out := make([]ShardRange, n)
	for i := 0; i < n; i++ {
		start := new(big.Int).Mul(width, big.NewInt(int64(i)))
		end := new(big.Int).Sub(new(big.Int).Add(start, width), big.NewInt(1))
		if i == n-1 {
			end = new(big.Int).Sub(two128, big.NewInt(1))
		}
		r, err := ParseHashRange(start.String(), end.String())
		if err != nil {
			t.Fatal(err)
		}
		out[i] = ShardRange{ShardID: "shardId-" + strconv.Itoa(i), Range: r}
	}
	return out
}

func TestShardMapLookup(t *testing.T) {
	shards := evenShards(t, 16)
	// Shuffle: NewShardMap must sort.
	shuffled := append([]ShardRange(nil), shards...)
	rand.New(rand.NewPCG(5, 6)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	m, err := NewShardMap(shuffled)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range shards {
		for _, k := range []HashKey{s.Range.Start, s.Range.End} {
			_, got, ok := m.Lookup(k)
			if !ok || got.ShardID != s.ShardID {
				t.Errorf("Lookup(%s) = %s, %v; want %s", k, got.ShardID, ok, s.ShardID)
			}
		}
	}
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 10000; i++ {
		k := HashKeyFromUint64s(r.Uint64(), r.Uint64())
		want := new(big.Int).Div(bigOf(k), new(big.Int).Div(two128, big.NewInt(16))).Int64()
		_, got, ok := m.Lookup(k)
		if !ok || got.ShardID != "shardId-"+strconv.FormatInt(want, 10) {
			t.Fatalf("Lookup(%s) = %s, %v; want shardId-%d", k, got.ShardID, ok, want)
		}
	}
	if h := m.Holes(); len(h) != 0 {
		t.Errorf("Holes() = %v, want none", h)
	}
}

func TestShardMapHolesAndOverlap(t *testing.T) {
	shards := evenShards(t, 4)
	m, err := NewShardMap([]ShardRange{shards[0], shards[2]}) // 1 and 3 missing
	if err != nil {
		t.Fatal(err)
	}
	holes := m.Holes()
	if len(holes) != 2 || holes[0] != shards[1].Range || holes[1] != shards[3].Range {
		t.Errorf("Holes() = %v, want [%v %v]", holes, shards[1].Range, shards[3].Range)
	}
	if _, _, ok := m.Lookup(shards[1].Range.Start); ok {
		t.Errorf("Lookup in a hole found a shard")
	}
	empty, _ := NewShardMap(nil)
	if h := empty.Holes(); len(h) != 1 || h[0] != FullHashRange {
		t.Errorf("empty Holes() = %v, want the full range", h)
	}
	if _, _, ok := empty.Lookup(HashKey{}); ok {
		t.Errorf("Lookup in an empty map found a shard")
	}

	overlapping := shards[1]
	overlapping.ShardID = "other"
	overlapping.Range.Start = shards[0].Range.End
	if _, err := NewShardMap([]ShardRange{shards[0], overlapping}); err == nil {
		t.Errorf("NewShardMap with overlapping ranges: no error")
	}
	if _, err := ParseHashRange("10", "9"); err == nil {
		t.Errorf("ParseHashRange(10, 9): no error")
	}
}

// Lookup agrees with a scan of the shards for maps of 1 to 9 shards, with and without gaps (the
// first shard not starting at 0 included), at every boundary and at random keys.
func TestShardMapLookupMatchesScan(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for n := 1; n <= 9; n++ {
		for _, gaps := range []bool{false, true} {
			all := evenShards(t, 2*n)
			var shards []ShardRange
			for i, s := range all {
				if gaps && i%2 == 0 {
					continue // every other range missing, the first one included
				}
				shards = append(shards, s)
			}
			if !gaps {
				shards = evenShards(t, n)
			}
			m, err := NewShardMap(shards)
			if err != nil {
				t.Fatal(err)
			}
			scan := func(k HashKey) (string, bool) {
				for _, s := range shards {
					if s.Range.Contains(k) {
						return s.ShardID, true
					}
				}
				return "", false
			}
			keys := []HashKey{{}, MaxHashKey}
			for _, s := range all {
				keys = append(keys, s.Range.Start, s.Range.End, dec(s.Range.Start))
			}
			for range 2000 {
				keys = append(keys, HashKeyFromUint64s(r.Uint64(), r.Uint64()))
			}
			for _, k := range keys {
				wantID, wantOK := scan(k)
				i, got, ok := m.Lookup(k)
				if ok != wantOK || got.ShardID != wantID || (ok && m.Shards()[i].ShardID != wantID) {
					t.Fatalf("%d shards (gaps %v): Lookup(%s) = %d %q %v; want %q %v", len(shards), gaps, k, i, got.ShardID, ok, wantID, wantOK)
				}
			}
		}
	}
}
