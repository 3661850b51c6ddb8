package kinesistest

import (
	"math/big"
	"math/bits"

	"github.com/shardwise/shardwise/aggregation"
)

// Hash key arithmetic for resharding (not on hot paths).

var two128 = new(big.Int).Lsh(big.NewInt(1), 128)

// splitPoint returns floor(2^128 * i / n).
func splitPoint(i, n int) aggregation.HashKey {
	v := new(big.Int).Mul(two128, big.NewInt(int64(i)))
	v.Quo(v, big.NewInt(int64(n)))
	return keyFromBig(v)
}

func keyFromBig(v *big.Int) aggregation.HashKey {
	var k aggregation.HashKey
	v.FillBytes(k[:])
	return k
}

func minusOne(k aggregation.HashKey) aggregation.HashKey {
	hi, lo := k.Uint64s()
	lo, borrow := bits.Sub64(lo, 1, 0)
	hi, _ = bits.Sub64(hi, 0, borrow)
	return aggregation.HashKeyFromUint64s(hi, lo)
}
