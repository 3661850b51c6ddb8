package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// proc is one child process of a scenario: its stderr goes to NAME.log in the scenario's
// directory (the logs the log check greps), its stdout either to a line callback or to
// NAME.out, and its peak resident set size (VmHWM) is sampled while it runs.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser // nil unless asked for
	peakKB atomic.Int64
	exited chan struct{} // closed once the process was waited for
	err    error         // Wait's error, valid after exited
	killed atomic.Bool   // SIGKILLed by the runner
}

type procOpts struct {
	stdin  bool
	onLine func(line []byte, at time.Time) // each stdout line (without the newline)
}

// childEnv is the environment of every child: PATH and HOME only from the runner's, the test
// credentials, no shared AWS files, and the given extra variables.
func (s *scen) childEnv(extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(),
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=" + s.r.accessKey, "AWS_SECRET_ACCESS_KEY=" + s.r.secretKey,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true",
	}
	return append(env, extra...)
}

// start runs bin (a name in the runner's binary directory) with args and env.
func (s *scen) start(name, bin string, args, env []string, o procOpts) (*proc, error) {
	cmd := exec.Command(filepath.Join(s.r.binDir, bin), args...)
	cmd.Env = env
	cmd.Dir = s.dir
	logf, err := os.OpenFile(filepath.Join(s.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	p := &proc{name: name, cmd: cmd, exited: make(chan struct{})}
	var stdout io.ReadCloser
	if o.onLine != nil {
		if stdout, err = cmd.StdoutPipe(); err != nil {
			logf.Close()
			return nil, err
		}
	} else {
		outf, err := os.OpenFile(filepath.Join(s.dir, name+".out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			logf.Close()
			return nil, err
		}
		defer outf.Close() // the child has its own copy once started
		cmd.Stdout = outf
	}
	if o.stdin {
		if p.stdin, err = cmd.StdinPipe(); err != nil {
			logf.Close()
			return nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	var readers sync.WaitGroup
	if stdout != nil {
		readers.Add(1)
		go func() {
			defer readers.Done()
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
			for sc.Scan() {
				o.onLine(sc.Bytes(), time.Now())
			}
			_, _ = io.Copy(io.Discard, stdout) // a too-long line: keep the child from blocking
		}()
	}
	go func() {
		readers.Wait()
		p.err = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	go p.sampleRSS()
	return p, nil
}

// sampleRSS keeps the largest VmHWM seen until the process exits.
func (p *proc) sampleRSS() {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		if kb := vmHWM(p.cmd.Process.Pid); kb > p.peakKB.Load() {
			p.peakKB.Store(kb)
		}
		select {
		case <-p.exited:
			return
		case <-t.C:
		}
	}
}

// vmHWM reads a process's peak resident set size in KiB (0 when it is gone).
func vmHWM(pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range bytes.Split(data, []byte("\n")) {
		if v, ok := bytes.CutPrefix(l, []byte("VmHWM:")); ok {
			n, _ := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))), 10, 64)
			return n
		}
	}
	return 0
}

// kill sends SIGKILL and waits for the process.
func (p *proc) kill() {
	if kb := vmHWM(p.cmd.Process.Pid); kb > p.peakKB.Load() {
		p.peakKB.Store(kb)
	}
	p.killed.Store(true)
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// term sends SIGTERM and waits up to grace for the process to exit, then kills it. It returns the
// exit error (nil for exit code 0).
func (p *proc) term(grace time.Duration) error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	return p.wait(grace)
}

// wait waits up to d for the process to exit on its own, then kills it.
func (p *proc) wait(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.exited:
		return p.err
	case <-t.C:
		p.kill()
		return fmt.Errorf("%s still running after %v: killed", p.name, d)
	}
}

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}
