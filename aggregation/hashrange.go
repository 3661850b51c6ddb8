package aggregation

import "math/bits"

// Hash range arithmetic: what resharding needs (equal parts, midpoints, split points, adjacency),
// exact over the whole key space [0, 2^128-1] without math/big. Decimal parsing and formatting are
// [ParseHashKey], [HashKey.String] and [ParseHashRange].

// Split divides r into n consecutive ranges of equal size, as CreateStream and UpdateShardCount
// divide the key space: part i starts at Start + floor(size*i/n), where size = End-Start+1, and ends
// where part i+1 starts, minus one; the last part ends at End. n must be between 1 and the number of
// keys in r, or Split returns nil. FullHashRange.Split(n) gives the ranges of a new n-shard stream.
func (r HashRange) Split(n int) []HashRange {
	if n < 1 {
		return nil
	}
	size := r.size()
	if size.hi == 0 && size.mid == 0 && size.lo < uint64(n) {
		return nil
	}
	out := make([]HashRange, n)
	for i := range n {
		off := size.mulDiv(uint64(i), uint64(n))
		out[i].Start = r.Start.add(off)
	}
	for i := range n - 1 {
		out[i].End = dec(out[i+1].Start)
	}
	out[n-1].End = r.End
	return out
}

// Midpoint returns the key at which SplitShard divides r in halves: Start + ceil(size/2) with size =
// End-Start+1, so that [Start, m-1] and [m, End] hold the same number of keys, or the lower one a
// key more when size is odd. For [FullHashRange] it is 2^127. A range of one key cannot be split and
// is its own midpoint.
func (r HashRange) Midpoint() HashKey {
	if r.Start == r.End {
		return r.Start
	}
	sh, sl := r.Start.Uint64s()
	eh, el := r.End.Uint64s()
	dl, borrow := bits.Sub64(el, sl, 0)
	dh, _ := bits.Sub64(eh, sh, borrow)
	// ceil(size/2) = floor((End-Start)/2) + 1, which fits in 128 bits.
	half := HashKeyFromUint64s(dh>>1, dl>>1|dh<<63).add(HashKeyFromUint64s(0, 1))
	return r.Start.add(half)
}

// SplitAt divides r at k, as SplitShard does with NewStartingHashKey k: [Start, k-1] and [k, End].
// ok is false, and the ranges zero, unless Start < k <= End.
func (r HashRange) SplitAt(k HashKey) (lower, upper HashRange, ok bool) {
	if k.Compare(r.Start) <= 0 || k.Compare(r.End) > 0 {
		return HashRange{}, HashRange{}, false
	}
	return HashRange{Start: r.Start, End: dec(k)}, HashRange{Start: k, End: r.End}, true
}

// Adjacent reports whether r and o touch without overlapping, in either order (one ends right
// before the other starts), as MergeShards requires of two shards.
func (r HashRange) Adjacent(o HashRange) bool {
	return (r.End != MaxHashKey && inc(r.End) == o.Start) || (o.End != MaxHashKey && inc(o.End) == r.Start)
}

// uint129 holds a range size, 1 to 2^128: hi is 0 or 1 (2^128 only).
type uint129 struct{ hi, mid, lo uint64 }

func (r HashRange) size() uint129 {
	sh, sl := r.Start.Uint64s()
	eh, el := r.End.Uint64s()
	dl, borrow := bits.Sub64(el, sl, 0)
	dh, _ := bits.Sub64(eh, sh, borrow)
	dl, carry := bits.Add64(dl, 1, 0)
	dh, carry = bits.Add64(dh, 0, carry)
	return uint129{hi: carry, mid: dh, lo: dl}
}

// mulDiv returns floor(s*m/d) for m < d, which is below s and so fits in 128 bits.
func (s uint129) mulDiv(m, d uint64) HashKey {
	// s*m as four words w3..w0 (s.hi*m < 2^64 since s.hi <= 1).
	h0, w0 := bits.Mul64(s.lo, m)
	h1, l1 := bits.Mul64(s.mid, m)
	w1, c := bits.Add64(l1, h0, 0)
	w2, _ := bits.Add64(h1, s.hi*m, c)
	// Long division by d, most significant word first; the top quotient word is 0 since s*m < 2^128*d.
	_, r := bits.Div64(0, w2, d)
	q1, r := bits.Div64(r, w1, d)
	q0, _ := bits.Div64(r, w0, d)
	return HashKeyFromUint64s(q1, q0)
}

// add returns k+d, wrapping at 2^128 (callers stay inside a range).
func (k HashKey) add(d HashKey) HashKey {
	kh, kl := k.Uint64s()
	dh, dl := d.Uint64s()
	lo, c := bits.Add64(kl, dl, 0)
	hi, _ := bits.Add64(kh, dh, c)
	return HashKeyFromUint64s(hi, lo)
}
