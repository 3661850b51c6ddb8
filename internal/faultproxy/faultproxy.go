// Package faultproxy is a fault-injecting TCP proxy for HTTP/1.1 endpoints on loopback, used by the
// chaos suite (cmd/shardwise-chaos) to put the local DynamoDB and Kinesis engines behind a link that
// can be cut, slowed down or made to throttle while real client processes talk through it.
//
// Each accepted connection gets its own upstream connection (dialled at its first forwarded
// request). Requests are read one at a time (HTTP/1.1, no pipelining), so request-level faults act
// on whole calls:
//
//   - Latency delays each request before it is forwarded (every call takes that much longer);
//   - ResetRate resets the client's connection instead of forwarding the request;
//   - HangRate reads the request and never answers it, until the client gives up and closes;
//   - ThrottleRate answers the request itself with HTTP 400 and an AWS JSON error of type
//     ThrottleType (ProvisionedThroughputExceededException by default), as DynamoDB and Kinesis do
//     when throttling; the request is not forwarded.
//
// and the link as a whole can be partitioned:
//
//   - Blackhole: nothing moves either way, as when packets are dropped: requests and answers in
//     flight, and connections accepted meanwhile, are held (not failed) until the partition heals,
//     then go on, as TCP retransmission would deliver them; a client with no timeout waits for ever.
//   - Reject: every connection is reset at once, and new ones are reset as soon as they are
//     accepted (the peer's host answers, its service does not).
//
// Faults change at any time with SetFaults; draws use a seeded generator so a run can be replayed
// (the order of draws still depends on the order calls arrive in). The proxy does not speak HTTP/2.
//
// It is small on purpose: toxiproxy (github.com/Shopify/toxiproxy/v2) needs a separate server
// process driven over its HTTP API and brings Prometheus, zerolog, gorilla/mux and urfave/cli into
// the module graph, and it has no notion of an HTTP answer (an AWS throttling error) at all.
package faultproxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Partition says how the link is cut.
type Partition int

const (
	// Connected: no partition.
	Connected Partition = iota
	// Blackhole holds everything until the partition heals.
	Blackhole
	// Reject resets every connection.
	Reject
)

func (p Partition) String() string {
	switch p {
	case Connected:
		return "connected"
	case Blackhole:
		return "blackhole"
	case Reject:
		return "reject"
	}
	return "Partition(" + strconv.Itoa(int(p)) + ")"
}

// DefaultThrottleType is the AWS error type a throttled request is answered with.
const DefaultThrottleType = "ProvisionedThroughputExceededException"

// Faults is the state of the link. The zero value forwards everything untouched.
type Faults struct {
	Partition    Partition
	Latency      time.Duration // added before every forwarded request
	ResetRate    float64       // fraction of requests answered by a connection reset
	HangRate     float64       // fraction of requests never answered
	ThrottleRate float64       // fraction of requests answered with HTTP 400 ThrottleType
	ThrottleType string        // "" means DefaultThrottleType
}

// ErrInvalidFaults is returned for rates outside [0, 1] or summing to more than 1, or a negative
// latency.
var ErrInvalidFaults = errors.New("faultproxy: invalid faults")

func (f Faults) validate() error {
	for _, r := range []float64{f.ResetRate, f.HangRate, f.ThrottleRate} {
		if r < 0 || r > 1 || r != r {
			return fmt.Errorf("%w: rate %v not in [0, 1]", ErrInvalidFaults, r)
		}
	}
	if s := f.ResetRate + f.HangRate + f.ThrottleRate; s > 1 {
		return fmt.Errorf("%w: rates sum to %v > 1", ErrInvalidFaults, s)
	}
	if f.Latency < 0 {
		return fmt.Errorf("%w: negative latency %v", ErrInvalidFaults, f.Latency)
	}
	if f.Partition < Connected || f.Partition > Reject {
		return fmt.Errorf("%w: %v", ErrInvalidFaults, f.Partition)
	}
	return nil
}

// Stats counts what the proxy did since it started.
type Stats struct {
	Connections int64 // accepted
	Requests    int64 // read from clients
	Forwarded   int64 // answered by the upstream
	Resets      int64 // connections reset (ResetRate and Reject)
	Hung        int64 // requests never answered (HangRate)
	Throttled   int64 // requests answered with a throttling error
	Held        int64 // connections waiting for a Blackhole to heal right now
}

// Proxy forwards connections from its loopback listener to a target address.
type Proxy struct {
	target string
	ln     net.Listener
	done   chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	faults  Faults
	changed chan struct{} // closed and replaced whenever faults change
	rng     *rand.Rand
	conns   map[net.Conn]struct{}
	closed  bool

	nconns, requests, forwarded, resets, hung, throttled, held atomic.Int64
}

// New starts a proxy listening on 127.0.0.1 (a free port) that forwards to target (host:port). seed
// seeds the fault draws.
func New(target string, seed uint64) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	p := &Proxy{
		target:  target,
		ln:      ln,
		done:    make(chan struct{}),
		changed: make(chan struct{}),
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		conns:   map[net.Conn]struct{}{},
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's listening address (127.0.0.1:port).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is "http://" + Addr.
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// SetFaults replaces the link's faults. Healing a Blackhole releases what it held; Reject resets
// every open connection.
func (p *Proxy) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	p.mu.Lock()
	p.faults = f
	close(p.changed)
	p.changed = make(chan struct{})
	var reset []net.Conn
	if f.Partition == Reject {
		for c := range p.conns {
			reset = append(reset, c)
		}
	}
	p.mu.Unlock()
	for _, c := range reset {
		p.reset(c)
	}
	return nil
}

// Faults returns the current faults.
func (p *Proxy) Faults() Faults {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults
}

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	return Stats{
		Connections: p.nconns.Load(), Requests: p.requests.Load(), Forwarded: p.forwarded.Load(),
		Resets: p.resets.Load(), Hung: p.hung.Load(), Throttled: p.throttled.Load(), Held: p.held.Load(),
	}
}

// Close stops the listener, closes every connection and waits for the proxy's goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	conns := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.nconns.Add(1)
		if !p.track(c, true) {
			c.Close()
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.track(c, false)
			p.serve(c)
		}()
	}
}

// track adds (or removes) a client connection; it reports false once the proxy is closed.
func (p *Proxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !add {
		delete(p.conns, c)
		return true
	}
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

// reset closes c with an RST rather than a FIN.
func (p *Proxy) reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // best effort: a FIN instead of an RST is still a closed connection
	}
	p.resets.Add(1) // before Close: a client that saw the reset finds it counted
	c.Close()
}

// pass waits while the link is blackholed; it returns false when the connection must end (Reject,
// or the proxy closed), having reset c for Reject.
func (p *Proxy) pass(c net.Conn) bool {
	counted := false
	defer func() {
		if counted {
			p.held.Add(-1)
		}
	}()
	for {
		p.mu.Lock()
		f, changed := p.faults, p.changed
		p.mu.Unlock()
		switch f.Partition {
		case Connected:
			return true
		case Reject:
			p.reset(c)
			return false
		}
		if !counted {
			counted = true
			p.held.Add(1)
		}
		select {
		case <-changed:
		case <-p.done:
			return false
		}
	}
}

type action int

const (
	forward action = iota
	resetConn
	hang
	throttle
)

func (p *Proxy) draw() (action, Faults) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.faults
	if f.ResetRate+f.HangRate+f.ThrottleRate == 0 {
		return forward, f
	}
	x := p.rng.Float64()
	switch {
	case x < f.ResetRate:
		return resetConn, f
	case x < f.ResetRate+f.HangRate:
		return hang, f
	case x < f.ResetRate+f.HangRate+f.ThrottleRate:
		return throttle, f
	}
	return forward, f
}

// sleep waits d; false when the proxy closed meanwhile.
func (p *Proxy) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.done:
		return false
	}
}

func (p *Proxy) serve(c net.Conn) {
	defer c.Close()
	var up net.Conn
	var upr *bufio.Reader
	defer func() {
		if up != nil {
			up.Close()
		}
	}()
	br := bufio.NewReader(c)
	for {
		if !p.pass(c) {
			return
		}
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		p.requests.Add(1)
		act, f := p.draw()
		if !p.sleep(f.Latency) || !p.pass(c) {
			return
		}
		switch act {
		case resetConn:
			p.reset(c)
			return
		case hang:
			p.hung.Add(1)
			_, _ = io.Copy(io.Discard, req.Body)
			// The client sends nothing more on this connection until it is answered; the read
			// ends when it gives up and closes, or when the proxy closes.
			_, _ = br.Peek(1)
			return
		case throttle:
			p.throttled.Add(1)
			_, _ = io.Copy(io.Discard, req.Body)
			if writeThrottle(c, f.ThrottleType, req.Close) != nil || req.Close {
				return
			}
			continue
		}
		if up == nil {
			up, err = net.DialTimeout("tcp", p.target, 5*time.Second)
			if err != nil {
				p.reset(c) // the target is down: the client sees a broken connection
				return
			}
			upr = bufio.NewReader(up)
		}
		if err := req.Write(up); err != nil {
			p.reset(c)
			return
		}
		resp, err := http.ReadResponse(upr, req)
		if err != nil {
			p.reset(c)
			return
		}
		// A partition that began while the call was upstream holds its answer.
		if !p.pass(c) {
			resp.Body.Close()
			return
		}
		// Counted before the answer is relayed: a client that has read it sees it counted.
		p.forwarded.Add(1)
		err = resp.Write(c)
		resp.Body.Close()
		if err != nil {
			return
		}
		if resp.Close || req.Close {
			return
		}
	}
}

func writeThrottle(w io.Writer, typ string, closeConn bool) error {
	if typ == "" {
		typ = DefaultThrottleType
	}
	body := fmt.Sprintf(`{"__type":"%s","message":"Rate exceeded (injected by faultproxy)"}`, typ)
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 400 Bad Request\r\n")
	b.WriteString("Content-Type: application/x-amz-json-1.0\r\n")
	b.WriteString("X-Amzn-Errortype: " + typ + ":\r\n")
	b.WriteString("X-Amzn-Requestid: faultproxy-throttle\r\n")
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	if closeConn {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	_, err := w.Write(b.Bytes())
	return err
}
