package kinesistest

import (
	"testing"
	"time"
)

func TestSequenceNumberFormat(t *testing.T) {
	st := &stream{created: time.UnixMilli(1764100000123)}
	sh := st.newShard(uniformRanges(1)[0], "", "", st.created)
	for _, counter := range []uint64{0, 1, 42, 1<<63 + 5, ^uint64(0)} {
		full := string(appendSeq(nil, counter, sh.index, st.created.UnixMilli()))
		fast := string(appendSeqSuffix(nil, counter, &sh.seqSuffix))
		if full != fast || len(full) != seqLen {
			t.Errorf("counter %d: appendSeq %s, appendSeqSuffix %s", counter, full, fast)
		}
		got, err := st.parseSeq(full, sh)
		if err != nil || got != counter {
			t.Errorf("parseSeq(%s) = %d, %v; want %d", full, got, err, counter)
		}
	}
	if _, err := st.parseSeq("49"+string(make([]byte, 54)), sh); err == nil {
		t.Error("parseSeq accepted non-digits")
	}
}
