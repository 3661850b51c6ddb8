// Package md5x computes the MD5 digests of several messages at once: on amd64 with AVX-512 (F, VL)
// eight of them side by side, one per lane of a vector, which costs about what one costs alone;
// elsewhere, or for fewer messages, one after the other with crypto/md5. The producer uses it
// for the checksums of the aggregates a PutRecords call carries.
package md5x

import (
	"crypto/md5"
	"encoding/binary"
)

// lanes is how many messages the vector code hashes at once.
const lanes = 8

// minLanes is the fewest messages worth the vector code: below it crypto/md5 is as fast.
const minLanes = 3

// Sum sets sums[i] to the MD5 digest of msgs[i]. len(sums) must be at least len(msgs).
func Sum(msgs [][]byte, sums [][md5.Size]byte) {
	if !useAVX512 || len(msgs) < minLanes {
		for i, m := range msgs {
			sums[i] = md5.Sum(m)
		}
		return
	}
	sumLanes(msgs, sums)
}

// lane is one message being hashed by the vector code.
type lane struct {
	msg  int // index in msgs; -1: idle
	done int // bytes hashed (whole blocks)
}

// sumLanes runs up to eight messages through the vector code at a time: each round hashes as many
// blocks as the shortest remainder among the busy lanes has, then lanes whose messages have less
// than a block left finish with crypto/md5 (from the state reached) and take the next message.
// When fewer than minLanes messages are left with a block to go, they finish with crypto/md5.
func sumLanes(msgs [][]byte, sums [][md5.Size]byte) {
	var st [4][lanes]uint32
	var ptrs [lanes]uintptr
	var ls [lanes]lane
	next := 0
	load := func(l int) { // the next message with at least one block into lane l (or idle)
		for next < len(msgs) {
			i := next
			next++
			if len(msgs[i]) < md5.BlockSize {
				sums[i] = md5.Sum(msgs[i])
				continue
			}
			ls[l] = lane{msg: i}
			st[0][l], st[1][l], st[2][l], st[3][l] = init0, init1, init2, init3
			ptrs[l] = addr(msgs[i])
			return
		}
		ls[l] = lane{msg: -1}
	}
	for l := range ls {
		load(l)
	}
	for {
		busy, n := 0, -1
		for l := range ls {
			if ls[l].msg < 0 {
				continue
			}
			busy++
			if k := (len(msgs[ls[l].msg]) - ls[l].done) / md5.BlockSize; n < 0 || k < n {
				n = k
			}
		}
		if busy == 0 {
			return
		}
		if busy < minLanes {
			for l := range ls {
				if ls[l].msg >= 0 {
					finish(msgs, sums, &st, &ls[l], l)
					load(l)
				}
			}
			continue
		}
		// Idle lanes read the first busy lane's blocks (their results are dropped).
		first := 0
		for ls[first].msg < 0 {
			first++
		}
		for l := range ls {
			if ls[l].msg < 0 {
				ptrs[l] = ptrs[first]
			}
		}
		blocks8(&st, &ptrs, n)
		keep(msgs) // the messages stay alive while the vector code reads them through uintptrs
		for l := range ls {
			if ls[l].msg < 0 {
				continue
			}
			ls[l].done += n * md5.BlockSize
			if len(msgs[ls[l].msg])-ls[l].done < md5.BlockSize {
				finish(msgs, sums, &st, &ls[l], l)
				load(l)
			}
		}
	}
}

// finish completes lane l's message from the state the vector code reached, with crypto/md5.
func finish(msgs [][]byte, sums [][md5.Size]byte, st *[4][lanes]uint32, ln *lane, l int) {
	var b [4 + 16 + md5.BlockSize + 8]byte
	copy(b[:], "md5\x01")
	for w := range 4 {
		binary.BigEndian.PutUint32(b[4+4*w:], st[w][l])
	}
	binary.BigEndian.PutUint64(b[len(b)-8:], uint64(ln.done))
	h := md5.New()
	if err := h.(interface{ UnmarshalBinary([]byte) error }).UnmarshalBinary(b[:]); err != nil {
		panic("md5x: crypto/md5 state format changed: " + err.Error())
	}
	m := msgs[ln.msg]
	h.Write(m[ln.done:])
	h.Sum(sums[ln.msg][:0])
	ln.msg = -1
}

// MD5's initial state.
const (
	init0 = 0x67452301
	init1 = 0xefcdab89
	init2 = 0x98badcfe
	init3 = 0x10325476
)
