package aggregation

import "hash/maphash"

// keyTable assigns table indices to distinct keys: an open-addressing hash set, cheaper than a Go map
// on the aggregator's hot path (one probe serves both the lookup and the insert, and reset clears a
// flat slice). It is not safe for concurrent use.
type keyTable struct {
	seed  maphash.Seed
	slots []uint64 // 0 = empty, else hash<<32 | (index+1)
	keys  []string
}

func newKeyTable() keyTable {
	return keyTable{seed: maphash.MakeSeed(), slots: make([]uint64, 64)}
}

// find returns the index of s, or found=false and the slot where s would be inserted and its hash.
func (t *keyTable) find(s string) (idx uint64, slot int, h uint64, found bool) {
	h = maphash.String(t.seed, s)
	tag := h >> 32
	mask := len(t.slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		v := t.slots[i]
		if v == 0 {
			return uint64(len(t.keys)), i, h, false
		}
		if v>>32 == tag {
			j := v&0xffffffff - 1
			if t.keys[j] == s {
				return j, i, h, true
			}
		}
	}
}

// insert adds s at the slot find returned, with the hash it returned; no other insert may come
// between the two calls.
func (t *keyTable) insert(s string, slot int, h uint64) {
	t.keys = append(t.keys, s)
	t.slots[slot] = h>>32<<32 | uint64(len(t.keys))
	if 2*len(t.keys) > len(t.slots) {
		t.grow()
	}
}

func (t *keyTable) grow() {
	t.slots = make([]uint64, 2*len(t.slots))
	mask := len(t.slots) - 1
	for j, s := range t.keys {
		h := maphash.String(t.seed, s)
		i := int(h) & mask
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = h>>32<<32 | uint64(j+1)
	}
}

// reset empties the table for reuse; its memory is cleared later, by clean (see Aggregator.reset).
func (t *keyTable) reset() {
	t.keys = t.keys[:0]
}

// clean clears the slots and the keys' backing array (dropping references to the caller's strings)
// after a reset; no find may come between a reset and a clean.
func (t *keyTable) clean() {
	clear(t.slots)
	clear(t.keys[:cap(t.keys)])
}
