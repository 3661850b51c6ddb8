package multilang

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// The test binary doubles as a fake child: with MULTILANG_FAKE_CHILD set, TestMain runs fakeChild
// instead of the tests. The fake speaks the protocol like the Node client (checkpoints without
// subSequenceNumber, "\n"+json+"\n" framing) and appends every line it receives to MULTILANG_FAKE_LOG.
// MULTILANG_FAKE_CHILD selects a behaviour:
//
//	normal        status for everything; checkpoints the last record of each batch; checkpoints null at
//	              shardEnded and shutdownRequested
//	nocheckpoint  like normal, but never checkpoints at shardEnded
//	crash         exits 3 on the first processRecords
//	crashonce     exits 3 on the first processRecords of the first child (a file marks it)
//	wrongstatus   answers processRecords with a status for initialize
//	noisy         like normal, with blank, stray and long lines on stdout and a line on stderr
//	silent        never answers processRecords
//	badcheckpoint like normal, but checkpoints "abc", then sub -1, then a valid one; checkpoints at leaseLost
func TestMain(m *testing.M) {
	if mode := os.Getenv("MULTILANG_FAKE_CHILD"); mode != "" {
		os.Exit(fakeChild(mode))
	}
	os.Exit(m.Run())
}

func fakeChild(mode string) int {
	logf, err := os.OpenFile(os.Getenv("MULTILANG_FAKE_LOG"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer logf.Close()
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriter(os.Stdout)
	send := func(v map[string]any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(out, "\n%s\n", b)
		out.Flush()
	}
	read := func() map[string]any {
		for {
			line, err := in.ReadString('\n')
			if strings.TrimSpace(line) != "" {
				fmt.Fprint(logf, line)
				var m map[string]any
				if json.Unmarshal([]byte(line), &m) != nil {
					fmt.Fprintln(os.Stderr, "bad line", line)
					os.Exit(4)
				}
				return m
			}
			if err != nil {
				return nil
			}
		}
	}
	checkpoint := func(seq any, sub ...any) map[string]any {
		m := map[string]any{"action": "checkpoint", "sequenceNumber": seq}
		if len(sub) > 0 {
			m["subSequenceNumber"] = sub[0]
		}
		send(m)
		return read()
	}
	for {
		m := read()
		if m == nil {
			return 0 // EOF: the Node and Python clients exit
		}
		action, _ := m["action"].(string)
		switch action {
		case "processRecords":
			switch mode {
			case "crash":
				return 3
			case "crashonce":
				if f, err := os.OpenFile(os.Getenv("MULTILANG_FAKE_LOG")+".crashed", os.O_CREATE|os.O_EXCL, 0o644); err == nil {
					f.Close()
					return 3
				}
			case "wrongstatus":
				send(map[string]any{"action": "status", "responseFor": "initialize"})
				continue
			case "silent":
				continue
			case "noisy":
				fmt.Fprint(out, "\n\nnot json\n{\"action\":\"unknown\"}\n"+strings.Repeat("x", 200<<10)+"\n")
				out.Flush()
				fmt.Fprintln(os.Stderr, "a line on stderr")
			case "badcheckpoint":
				checkpoint("abc")
				checkpoint("1", -1)
			}
			recs, _ := m["records"].([]any)
			if len(recs) > 0 {
				last := recs[len(recs)-1].(map[string]any)
				checkpoint(last["sequenceNumber"])
			}
		case "shardEnded":
			if mode != "nocheckpoint" {
				checkpoint(nil)
			}
		case "shutdownRequested":
			checkpoint(nil)
		case "leaseLost":
			if mode == "badcheckpoint" {
				checkpoint(nil)
			}
		case "checkpoint":
			fmt.Fprintln(os.Stderr, "unexpected checkpoint response")
			return 5
		}
		send(map[string]any{"action": "status", "responseFor": action})
	}
}
