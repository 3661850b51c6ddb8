package aggregation

import (
	"crypto/md5"
	"errors"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

var two128 = new(big.Int).Lsh(big.NewInt(1), 128)

func bigOf(k HashKey) *big.Int { return new(big.Int).SetBytes(k[:]) }

func TestParseHashKey(t *testing.T) {
	tests := []struct {
		in      string
		want    string // decimal via math/big, "" when an error is expected
		wantErr bool
	}{
		{in: "0", want: "0"},
		{in: "1", want: "1"},
		{in: "007", want: "7"},
		{in: "18446744073709551615", want: "18446744073709551615"},
		{in: "18446744073709551616", want: "18446744073709551616"},
		{in: "340282366920938463463374607431768211455", want: "340282366920938463463374607431768211455"},
		{in: "340282366920938463463374607431768211456", wantErr: true},
		{in: "999999999999999999999999999999999999999", wantErr: true},
		{in: "3402823669209384634633746074317682114550", wantErr: true},
		{in: "", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "+1", wantErr: true},
		{in: " 1", wantErr: true},
		{in: "1e5", wantErr: true},
		{in: strings.Repeat("1", 100), wantErr: true},
	}
	for _, tt := range tests {
		k, err := ParseHashKey(tt.in)
		if tt.wantErr {
			if !errors.Is(err, ErrInvalidHashKey) {
				t.Errorf("ParseHashKey(%q) error = %v, want ErrInvalidHashKey", tt.in, err)
			}
			var he *HashKeyError
			if !errors.As(err, &he) {
				t.Errorf("ParseHashKey(%q) error %T is not a *HashKeyError", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseHashKey(%q) error = %v", tt.in, err)
			continue
		}
		if got := bigOf(k).String(); got != tt.want {
			t.Errorf("ParseHashKey(%q) = %s, want %s", tt.in, got, tt.want)
		}
		if got := k.String(); got != tt.want {
			t.Errorf("ParseHashKey(%q).String() = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestHashKeyDecimalRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		var k HashKey
		switch i % 4 {
		case 0: // small values exercise the short paths
			k = HashKeyFromUint64s(0, r.Uint64()>>r.IntN(64))
		case 1: // values near chunk boundaries of 10^19
			k = HashKeyFromUint64s(r.Uint64()>>r.IntN(64), 10_000_000_000_000_000_000-uint64(r.IntN(3)))
		default:
			k = HashKeyFromUint64s(r.Uint64(), r.Uint64())
		}
		want := bigOf(k).String()
		if got := k.String(); got != want {
			t.Fatalf("String(%x) = %s, want %s", k, got, want)
		}
		back, err := ParseHashKey(want)
		if err != nil || back != k {
			t.Fatalf("ParseHashKey(%s) = %x, %v; want %x", want, back, err, k)
		}
	}
	if got, want := MaxHashKey.String(), new(big.Int).Sub(two128, big.NewInt(1)).String(); got != want {
		t.Errorf("MaxHashKey = %s, want %s", got, want)
	}
}

func TestHashKeyCompare(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 5000; i++ {
		a := HashKeyFromUint64s(r.Uint64()%4, r.Uint64()%4)
		b := HashKeyFromUint64s(r.Uint64()%4, r.Uint64()%4)
		if got, want := a.Compare(b), bigOf(a).Cmp(bigOf(b)); got != want {
			t.Fatalf("Compare(%s, %s) = %d, want %d", a, b, got, want)
		}
	}
}

func TestPartitionKeyHash(t *testing.T) {
	for _, pk := range []string{"a", "user-1", "日本語のキー", strings.Repeat("z", 256)} {
		sum := md5.Sum([]byte(pk))
		want := new(big.Int).SetBytes(sum[:]).String()
		if got := PartitionKeyHash(pk).String(); got != want {
			t.Errorf("PartitionKeyHash(%q) = %s, want %s", pk, got, want)
		}
	}
	// A known value: MD5("a") = 0cc175b9c0f1b6a831c399e269772661.
	if got, want := PartitionKeyHash("a").String(), "16955237001963240173058271559858726497"; got != want {
		t.Errorf(`PartitionKeyHash("a") = %s, want %s`, got, want)
	}
}

func TestValidatePartitionKey(t *testing.T) {
	tests := []struct {
		name string
		pk   string
		ok   bool
	}{
		{"one char", "x", true},
		{"256 ascii", strings.Repeat("k", 256), true},
		{"257 ascii", strings.Repeat("k", 257), false},
		{"256 three-byte chars", strings.Repeat("語", 256), true},
		{"257 three-byte chars", strings.Repeat("語", 257), false},
		{"256 four-byte chars", strings.Repeat("🙂", 256), true},
		{"empty", "", false},
		{"invalid utf8 short", "a\xffb", false},
		{"invalid utf8 long", strings.Repeat("a", 300) + "\xff", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePartitionKey(tt.pk)
			if tt.ok && err != nil {
				t.Fatalf("ValidatePartitionKey = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidPartitionKey) {
				t.Fatalf("ValidatePartitionKey = %v, want ErrInvalidPartitionKey", err)
			}
		})
	}
}

func TestEffectiveHashKey(t *testing.T) {
	k, err := EffectiveHashKey("pk", "12345")
	if err != nil || k.String() != "12345" {
		t.Errorf("EffectiveHashKey with explicit key = %s, %v; want 12345", k, err)
	}
	k, err = EffectiveHashKey("pk", "")
	if err != nil || k != PartitionKeyHash("pk") {
		t.Errorf("EffectiveHashKey without explicit key = %s, %v; want MD5 of pk", k, err)
	}
	if _, err := EffectiveHashKey("", "1"); !errors.Is(err, ErrInvalidPartitionKey) {
		t.Errorf("EffectiveHashKey with empty pk error = %v, want ErrInvalidPartitionKey", err)
	}
	if _, err := EffectiveHashKey("pk", "x"); !errors.Is(err, ErrInvalidHashKey) {
		t.Errorf("EffectiveHashKey with bad ehk error = %v, want ErrInvalidHashKey", err)
	}
}

func TestPartitionKeyHashEveryLength(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for n := 0; n <= 300; n++ {
		for rep := 0; rep < 20; rep++ {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			if got, want := PartitionKeyHash(string(b)), HashKey(md5.Sum(b)); got != want {
				t.Fatalf("PartitionKeyHash of %d bytes = %x, want %x", n, got, want)
			}
		}
	}
}
