package multilang

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrChildFailed is wrapped by every error about a child process: it could not start, its stdout ended,
// it answered with the wrong status, or it did not answer in time.
var ErrChildFailed = errors.New("multilang: child process failed")

// maxStderrLine bounds one relayed stderr line (kclpy's sample writes a batch's log without line ends).
const maxStderrLine = 1 << 20

// pipeDrainDelay is how long the readers of a child's stdout and stderr may go on after the child
// exited, for a grandchild that keeps the pipes open; then they are closed.
const pipeDrainDelay = 2 * time.Second

// child is one running child process: the record processor of one shard, spoken to over its stdin and
// stdout. Its goroutines (stdout reader, stderr drainer, waiter) all end once the process exited and
// its pipes closed (kill closes them at the latest after pipeDrainDelay).
type child struct {
	cmd   *exec.Cmd
	stdin *os.File
	log   *slog.Logger

	msgs     chan childMessage // recognised stdout messages; closed at stdout EOF
	quit     chan struct{}     // closed by kill: the reader stops delivering
	exited   chan struct{}     // closed when the process was reaped
	waitErr  error             // cmd.Wait's result; read after exited
	pipesOut chan struct{}     // closed when stdout and stderr readers ended
	quitOnce sync.Once
	closeIn  sync.Once
}

// startChild starts argv with env added to the daemon's environment, in its own process group (so a
// terminal's Ctrl-C reaches the daemon only, which then shuts the child down through the protocol).
func startChild(argv []string, env []string, log *slog.Logger) (*child, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("%w: empty command", ErrChildFailed)
	}
	path := argv[0]
	if !strings.Contains(path, "/") {
		p, err := exec.LookPath(path)
		if err != nil {
			// Java's ProcessBuilder does not run a bare name from the current directory either
			// (exec.ErrDot): both mean "not found".
			return nil, fmt.Errorf("%w: starting %q: %w", ErrChildFailed, path, err)
		}
		path = p
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrChildFailed, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("%w: %w", ErrChildFailed, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("%w: %w", ErrChildFailed, err)
	}
	cmd := &exec.Cmd{Path: path, Args: argv, Env: append(os.Environ(), env...),
		Stdin: inR, Stdout: outW, Stderr: errW, SysProcAttr: &syscall.SysProcAttr{Setpgid: true}}
	err = cmd.Start()
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("%w: starting %q: %w", ErrChildFailed, argv[0], err)
	}
	c := &child{cmd: cmd, stdin: inW, log: log.With("pid", cmd.Process.Pid),
		msgs: make(chan childMessage, 16), quit: make(chan struct{}), exited: make(chan struct{}),
		pipesOut: make(chan struct{})}
	var readers sync.WaitGroup
	readers.Add(2)
	go func() { defer readers.Done(); c.readStdout(outR) }()
	go func() { defer readers.Done(); c.drainStderr(errR) }()
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
		// A grandchild may hold the pipes open: close them after a grace so the readers end.
		t := time.NewTimer(pipeDrainDelay)
		defer t.Stop()
		done := make(chan struct{})
		go func() { readers.Wait(); close(done) }()
		select {
		case <-done:
		case <-t.C:
			outR.Close()
			errR.Close()
			<-done
		}
		close(c.pipesOut)
	}()
	c.log.LogAttrs(context.Background(), slog.LevelInfo, "child started", slog.String("command", strings.Join(argv, " ")))
	return c, nil
}

// readStdout parses the child's stdout line by line (no line length limit: a child may print long lines)
// and delivers status and checkpoint messages; other lines are logged and skipped, as the Java daemon
// does.
func (c *child) readStdout(r *os.File) {
	defer r.Close()
	defer close(c.msgs)
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if m, ok := parseChildLine(line); ok {
				select {
				case c.msgs <- m:
				case <-c.quit:
					return
				}
			} else if s := strings.TrimSpace(string(line)); s != "" {
				// Its length only: a child's stray print() often prints a record, and record data
				// never reaches the logs (the child's stderr is the place for its own logging).
				c.log.LogAttrs(context.Background(), slog.LevelInfo, "skipping unexpected line on child stdout (stdout carries the protocol; a child logs on stderr)", slog.Int("bytes", len(s)))
			}
		}
		if err != nil {
			return
		}
	}
}

// drainStderr relays every stderr line to the log at Error, as the Java daemon does.
func (c *child) drainStderr(r *os.File) {
	defer r.Close()
	br := bufio.NewReaderSize(r, 16<<10)
	for {
		line, err := br.ReadBytes('\n')
		if s := strings.TrimRight(string(line), "\r\n"); s != "" {
			c.log.LogAttrs(context.Background(), slog.LevelError, "child stderr", slog.String("line", truncate(s, maxStderrLine)))
		}
		if err != nil {
			return
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// write writes b to the child's stdin on its own goroutine; the result arrives on the returned channel
// (capacity 1, so the goroutine never blocks on it). A write blocked on a child that stopped reading
// ends when kill closes stdin.
func (c *child) write(b []byte) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := c.stdin.Write(b)
		done <- err
	}()
	return done
}

// exitStatus describes how the child ended, for errors ("" while it runs).
func (c *child) exitStatus() string {
	select {
	case <-c.exited:
		if c.waitErr != nil {
			return c.waitErr.Error()
		}
		return "exit status 0"
	default:
		return ""
	}
}

// close closes stdin (the child sees EOF and exits, as the Node and Python clients do) and waits for the
// exit until ctx ends; then it kills the process group.
func (c *child) close(ctx context.Context) error {
	c.closeIn.Do(func() { c.stdin.Close() })
	select {
	case <-c.exited:
		c.stopDelivery()
		<-c.pipesOut
		return nil
	case <-ctx.Done():
		c.kill()
		return fmt.Errorf("%w: did not exit after its stdin closed: %w", ErrChildFailed, ctx.Err())
	}
}

// kill kills the child's process group and waits until the process was reaped and its pipes closed.
func (c *child) kill() {
	// The process group has the child's pid (Setpgid); kill the group, so a wrapper's children die too.
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	c.closeIn.Do(func() { c.stdin.Close() })
	c.stopDelivery()
	<-c.exited
	<-c.pipesOut
}

func (c *child) stopDelivery() { c.quitOnce.Do(func() { close(c.quit) }) }
