package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// logWriter is the application of scenario e: it appends numbered lines of one size to its open
// file, which it keeps across renames until it reopens, as a logger does.
type logWriter struct {
	path string
	f    *os.File
	next int
	pre  string
	t    *tally
}

func (w *logWriter) reopen() error {
	if w.f != nil {
		w.f.Close()
	}
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	w.f = f
	return err
}

// write appends n lines, each counted as produced before it is written.
func (w *logWriter) write(n int) error {
	var b strings.Builder
	for range n {
		l := fmt.Sprintf("%s-%07d", w.pre, w.next)
		w.t.produce(l)
		b.WriteString(l + "\n")
		w.next++
	}
	_, err := w.f.WriteString(b.String())
	return err
}

// gzipHalves compresses src into dst in two writes, calling mid between them, and removes src (as
// logrotate's compress does).
func gzipHalves(src, dst string, mid func()) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write(data) // into a bytes.Buffer: cannot fail
	if err := zw.Close(); err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	gz := b.Bytes()
	if _, err := f.Write(gz[:len(gz)/2]); err != nil {
		f.Close()
		return err
	}
	mid()
	if _, err := f.Write(gz[len(gz)/2:]); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Remove(src)
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

// rotation is one row: during runs with the agent up and calls kill somewhere inside the rotation;
// down finishes it while the agent is down.
type rotation struct {
	name   string
	during func(w *logWriter, kill func(), delivered func() error) error
	down   func(w *logWriter) error
}

var rotations = []rotation{
	{
		name: "rename",
		during: func(w *logWriter, kill func(), _ func() error) error {
			w.f.Close()
			w.f = nil
			if err := os.Rename(w.path, w.path+".1"); err != nil {
				return err
			}
			kill()
			return nil
		},
		down: func(w *logWriter) error {
			if err := w.reopen(); err != nil {
				return err
			}
			return w.write(300)
		},
	},
	{
		name: "copytruncate",
		during: func(w *logWriter, kill func(), _ func() error) error {
			if err := copyFile(w.path, w.path+".1"); err != nil {
				return err
			}
			kill()
			return nil
		},
		down: func(w *logWriter) error {
			if err := os.Truncate(w.path, 0); err != nil {
				return err
			}
			return w.write(300) // O_APPEND: at the new end
		},
	},
	{
		name: "create",
		during: func(w *logWriter, kill func(), _ func() error) error {
			if err := os.Rename(w.path, w.path+".1"); err != nil {
				return err
			}
			if err := w.write(50); err != nil { // still into the renamed file
				return err
			}
			if err := os.WriteFile(w.path, nil, 0o644); err != nil {
				return err
			}
			kill()
			return nil
		},
		down: func(w *logWriter) error {
			if err := w.write(100); err != nil { // the logger has not reopened yet
				return err
			}
			if err := w.reopen(); err != nil {
				return err
			}
			return w.write(300)
		},
	},
	{
		name: "compress",
		during: func(w *logWriter, kill func(), delivered func() error) error {
			// delaycompress: the rotated file is delivered in full before it is compressed.
			if err := os.Rename(w.path, w.path+".1"); err != nil {
				return err
			}
			if err := w.reopen(); err != nil {
				return err
			}
			if err := w.write(40); err != nil {
				return err
			}
			if err := delivered(); err != nil {
				return err
			}
			return gzipHalves(w.path+".1", w.path+".1.gz", kill)
		},
		down: func(w *logWriter) error {
			if err := os.Rename(w.path, w.path+".1"); err != nil {
				return err
			}
			if err := w.reopen(); err != nil {
				return err
			}
			return w.write(300)
		},
	},
}

// e: the agent (a separate process, debug logging) killed -9 in the middle of rename, copytruncate,
// create and compress rotations; the rotation is finished while it is down and a new agent must
// deliver every line (duplicates allowed, nothing lost, no partial or junk line).
func runAgentKills(ctx context.Context, s *scen) (*result, error) {
	kurl, err := s.localKinesis(ctx)
	if err != nil {
		return nil, err
	}
	kc := s.kinesisClient(kurl)
	stream := "chaos-e"
	if err := createStream(ctx, kc, stream, 1); err != nil {
		return nil, err
	}
	t := newTally()
	res := &result{failover: -1}
	f, err := s.newFleet(ctx, 1, stream, kurl, t, false)
	if err != nil {
		return nil, err
	}
	env := s.childEnv("AWS_ENDPOINT_URL_KINESIS=" + kurl)
	wait := 40 * time.Second
	var killedAt []string
	for _, row := range rotations {
		dir := filepath.Join(s.dir, row.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		w := &logWriter{path: filepath.Join(dir, "app.log"), pre: s.r.dataMark + "-e-" + row.name, t: t}
		cp := filepath.Join(dir, "checkpoints.json")
		cfg := filepath.Join(dir, "agent.json")
		// No CloudWatch metrics: the agent publishes them by default, and there is no CloudWatch here.
		conf := fmt.Sprintf(`{"checkpointFile": %q, "cloudwatch.emitMetrics": false, "flows": [{"filePattern": %q, "kinesisStream": %q, "initialPosition": "START_OF_FILE"}]}`,
			cp, w.path+"*", stream)
		if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		if err := w.reopen(); err != nil {
			return nil, err
		}
		agent := func(n int) (*proc, error) {
			return s.start("agent-"+row.name+"-"+strconv.Itoa(n), "shardwise-agent", []string{"-c", cfg, "-L", "DEBUG"}, env, procOpts{})
		}
		a, err := agent(1)
		if err != nil {
			return nil, err
		}
		if err := w.write(500); err != nil {
			return nil, err
		}
		if !waitUntil(ctx, wait, func() bool {
			fi, err := os.Stat(cp)
			return t.allConsumed() && err == nil && fi.Size() > 0
		}) {
			return nil, fmt.Errorf("%s: the first agent did not deliver and checkpoint 500 lines in %v", row.name, wait)
		}
		if err := w.write(100); err != nil {
			return nil, err
		}
		killed := false
		kill := func() { a.kill(); killed = true; killedAt = append(killedAt, fmt.Sprintf("%s@%d", row.name, w.next)) }
		delivered := func() error {
			if !waitUntil(ctx, wait, t.allConsumed) {
				return fmt.Errorf("%s: lines not delivered in %v", row.name, wait)
			}
			return nil
		}
		if err := row.during(w, kill, delivered); err != nil {
			return nil, err
		}
		if !killed {
			return nil, fmt.Errorf("%s: the row did not kill the agent", row.name)
		}
		if err := row.down(w); err != nil {
			return nil, err
		}
		if a, err = agent(2); err != nil {
			return nil, err
		}
		if !waitUntil(ctx, wait, t.allConsumed) {
			res.breakf("%s: %d lines not delivered %v after the restart", row.name, t.counts().lost, wait)
		}
		if err := a.term(15 * time.Second); err != nil {
			res.breakf("%s: agent after SIGTERM: %v", row.name, err)
		}
		if w.f != nil {
			w.f.Close()
		}
	}
	s.endRun(ctx, res, t, nil, f)
	res.extra = append(res.extra, "rotations="+strings.Join(killedAt, ","))
	return res, nil
}
