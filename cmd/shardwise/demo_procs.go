package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// demoProc is one child process of the demo: a consume worker or the agent. Its stdout goes line by
// line to onLine (when set), its stderr to a log file; one goroutine owns the pipe and waits for the
// process, so done closes only once the process has exited and its output is read.
type demoProc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // the process's exit, valid once done is closed

	killOnce sync.Once
}

// startDemoProc starts path with args and env. logDir receives <name>.log with its stderr.
func startDemoProc(name, path string, args, env []string, logDir string, onLine func([]byte)) (*demoProc, error) {
	logPath := filepath.Join(logDir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own copy
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stderr = logf
	var stdout io.ReadCloser
	if onLine != nil {
		if stdout, err = cmd.StdoutPipe(); err != nil {
			return nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s (%s): %w", name, path, err)
	}
	p := &demoProc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		if stdout != nil {
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 0, 64<<10), maxLine*2)
			for sc.Scan() {
				onLine(sc.Bytes())
			}
			_, _ = io.Copy(io.Discard, stdout) // a line too long: drain so the child never blocks
		}
		p.err = cmd.Wait()
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *demoProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill stops the process at once (SIGKILL) and waits for it.
func (p *demoProc) kill() {
	p.killOnce.Do(func() { p.cmd.Process.Kill() })
	<-p.done
}

// stop asks the process to end (SIGTERM: a graceful shutdown for consume and the agent), waits up to
// grace, then kills it. It returns the process's exit error, nil for a clean exit.
func (p *demoProc) stop(grace time.Duration) error {
	if p.exited() {
		return p.err
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.kill()
		return p.err
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return p.err
	case <-t.C:
		p.kill()
		return fmt.Errorf("%s did not stop within %v after SIGTERM: killed", p.name, grace)
	}
}

// stopAll stops every process at once, each as stop does, and joins their errors.
func stopAll(procs []*demoProc, grace time.Duration) error {
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		if p == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.stop(grace); err != nil {
				errs[i] = fmt.Errorf("%s: %w (log: %s)", p.name, err, p.logPath)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
