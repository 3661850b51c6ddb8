package aggregation

import (
	"math/big"
	"math/rand/v2"
	"testing"
)

func keyOfBig(t *testing.T, v *big.Int) HashKey {
	t.Helper()
	var k HashKey
	v.FillBytes(k[:])
	return k
}

func mustRange(t *testing.T, start, end string) HashRange {
	t.Helper()
	r, err := ParseHashRange(start, end)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const maxKeyDec = "340282366920938463463374607431768211455"

// splitBig is Split computed with math/big: part i starts at start + floor(size*i/n).
func splitBig(t *testing.T, r HashRange, n int) []HashRange {
	size := new(big.Int).Sub(bigOf(r.End), bigOf(r.Start))
	size.Add(size, big.NewInt(1))
	out := make([]HashRange, n)
	for i := range n {
		off := new(big.Int).Mul(size, big.NewInt(int64(i)))
		off.Quo(off, big.NewInt(int64(n)))
		out[i].Start = keyOfBig(t, off.Add(off, bigOf(r.Start)))
		if i > 0 {
			out[i-1].End = keyOfBig(t, new(big.Int).Sub(bigOf(out[i].Start), big.NewInt(1)))
		}
	}
	out[n-1].End = r.End
	return out
}

func TestHashRangeSplitEdges(t *testing.T) {
	tests := []struct {
		name       string
		start, end string
		n          int
		want       []string // starts of the parts; nil: Split returns nil
	}{
		{"full in 1", "0", maxKeyDec, 1, []string{"0"}},
		{"full in 2", "0", maxKeyDec, 2, []string{"0", "170141183460469231731687303715884105728"}},
		{"full in 3", "0", maxKeyDec, 3, []string{"0", "113427455640312821154458202477256070485", "226854911280625642308916404954512140970"}},
		{"last key alone", maxKeyDec, maxKeyDec, 1, []string{maxKeyDec}},
		{"last two keys", "340282366920938463463374607431768211454", maxKeyDec, 2, []string{"340282366920938463463374607431768211454", maxKeyDec}},
		{"key 0 alone", "0", "0", 1, []string{"0"}},
		{"more parts than keys", "0", "1", 3, nil},
		{"zero parts", "0", maxKeyDec, 0, nil},
		{"across the 64-bit boundary", "18446744073709551615", "18446744073709551618", 4,
			[]string{"18446744073709551615", "18446744073709551616", "18446744073709551617", "18446744073709551618"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRange(t, tt.start, tt.end)
			got := r.Split(tt.n)
			if tt.want == nil {
				if got != nil {
					t.Fatalf("Split(%d) = %v, want nil", tt.n, got)
				}
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Split(%d) = %d parts, want %d", tt.n, len(got), len(tt.want))
			}
			for i, w := range tt.want {
				if got[i].Start.String() != w {
					t.Errorf("part %d starts at %s, want %s", i, got[i].Start, w)
				}
			}
			checkPartition(t, r, got)
		})
	}
}

// checkPartition: the parts cover r exactly, in order, each adjacent to the next.
func checkPartition(t *testing.T, r HashRange, parts []HashRange) {
	t.Helper()
	if parts[0].Start != r.Start || parts[len(parts)-1].End != r.End {
		t.Errorf("parts %v do not span %v", parts, r)
	}
	for i := range parts {
		if parts[i].Start.Compare(parts[i].End) > 0 {
			t.Errorf("part %d %v is empty", i, parts[i])
		}
		if i > 0 && !parts[i-1].Adjacent(parts[i]) {
			t.Errorf("parts %d %v and %d %v are not adjacent", i-1, parts[i-1], i, parts[i])
		}
	}
}

func TestHashRangeSplitMatchesBig(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		a, b := randHashKey(rng), randHashKey(rng)
		if a.Compare(b) > 0 {
			a, b = b, a
		}
		r := HashRange{Start: a, End: b}
		if rng.IntN(4) == 0 {
			r = FullHashRange
		}
		n := 1 + rng.IntN(20)
		if rng.IntN(100) == 0 {
			n = 1 + rng.IntN(10000)
		}
		got, want := r.Split(n), splitBig(t, r, n)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%v.Split(%d) part %d = %v, want %v", r, n, i, got[i], want[i])
			}
		}
	}
}

func randHashKey(rng *rand.Rand) HashKey {
	switch rng.IntN(4) {
	case 0:
		return HashKeyFromUint64s(0, rng.Uint64())
	case 1:
		return HashKeyFromUint64s(^uint64(0), rng.Uint64())
	default:
		return HashKeyFromUint64s(rng.Uint64(), rng.Uint64())
	}
}

func TestHashRangeMidpoint(t *testing.T) {
	tests := []struct{ start, end, want string }{
		{"0", maxKeyDec, "170141183460469231731687303715884105728"},
		{"5", "6", "6"},
		{"5", "7", "7"},
		{"5", "8", "7"},
		{"0", "0", "0"},
		{maxKeyDec, maxKeyDec, maxKeyDec},
		{"340282366920938463463374607431768211454", maxKeyDec, maxKeyDec},
		{"0", "18446744073709551616", "9223372036854775809"},
		{"18446744073709551615", "18446744073709551618", "18446744073709551617"},
	}
	for _, tt := range tests {
		r := mustRange(t, tt.start, tt.end)
		if got := r.Midpoint().String(); got != tt.want {
			t.Errorf("[%s, %s].Midpoint() = %s, want %s", tt.start, tt.end, got, tt.want)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		a, b := randHashKey(rng), randHashKey(rng)
		if a.Compare(b) > 0 {
			a, b = b, a
		}
		r := HashRange{Start: a, End: b}
		size := new(big.Int).Sub(bigOf(b), bigOf(a))
		size.Add(size, big.NewInt(1))
		want := new(big.Int).Add(bigOf(a), size.Add(size, big.NewInt(1)).Rsh(size, 1)) // start + ceil(size/2)
		if a == b {
			want = bigOf(a)
		}
		if got := bigOf(r.Midpoint()); got.Cmp(want) != 0 {
			t.Fatalf("%v.Midpoint() = %s, want %s", r, got, want)
		}
		if a != b {
			if _, _, ok := r.SplitAt(r.Midpoint()); !ok {
				t.Fatalf("%v: cannot split at its midpoint %s", r, r.Midpoint())
			}
		}
	}
}

func TestHashRangeSplitAt(t *testing.T) {
	r := mustRange(t, "10", "20")
	for _, tt := range []struct {
		k      string
		ok     bool
		lo, hi string
	}{
		{"10", false, "", ""},
		{"9", false, "", ""},
		{"21", false, "", ""},
		{"11", true, "[10, 10]", "[11, 20]"},
		{"20", true, "[10, 19]", "[20, 20]"},
	} {
		k, _ := ParseHashKey(tt.k)
		lo, hi, ok := r.SplitAt(k)
		if ok != tt.ok || (ok && (lo.String() != tt.lo || hi.String() != tt.hi)) {
			t.Errorf("SplitAt(%s) = %v %v %v, want %s %s %v", tt.k, lo, hi, ok, tt.lo, tt.hi, tt.ok)
		}
	}
	lo, hi, ok := FullHashRange.SplitAt(MaxHashKey)
	if !ok || lo.End.String() != "340282366920938463463374607431768211454" || hi.Start != MaxHashKey || hi.End != MaxHashKey {
		t.Errorf("full range split at 2^128-1 = %v %v %v", lo, hi, ok)
	}
}

func TestHashRangeAdjacent(t *testing.T) {
	for _, tt := range []struct {
		a, b [2]string
		want bool
	}{
		{[2]string{"0", "9"}, [2]string{"10", "20"}, true},
		{[2]string{"10", "20"}, [2]string{"0", "9"}, true},
		{[2]string{"0", "9"}, [2]string{"11", "20"}, false},
		{[2]string{"0", "10"}, [2]string{"10", "20"}, false},
		{[2]string{"0", "0"}, [2]string{"1", maxKeyDec}, true},
		{[2]string{"5", maxKeyDec}, [2]string{"0", "4"}, true},
		{[2]string{"0", maxKeyDec}, [2]string{"0", maxKeyDec}, false},
		{[2]string{maxKeyDec, maxKeyDec}, [2]string{"0", "0"}, false}, // no wrap at 2^128
	} {
		a, b := mustRange(t, tt.a[0], tt.a[1]), mustRange(t, tt.b[0], tt.b[1])
		if got := a.Adjacent(b); got != tt.want {
			t.Errorf("%v.Adjacent(%v) = %v, want %v", a, b, got, tt.want)
		}
	}
}
