package kinesistest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"syscall"
)

// virtualHost is the host name of a server on the virtual network. The .invalid top-level domain
// never resolves (RFC 6761), so a client that was not given the server's dialer fails at once
// instead of reaching something else.
const virtualHost = "kinesis.kinesistest.invalid"

// VirtualNetwork makes the server listen on an in-memory network instead of a loopback socket. Its
// connections are synchronous in-memory pipes ([net.Pipe]), on which a blocked reader or writer is
// blocked on a channel: inside a [testing/synctest] bubble the server, the SDK clients and
// everything around them are then durably blocked when idle, so the bubble's fake clock advances
// through timers, backoffs, subscription heartbeats and lease expiries in no real time. Real sockets
// cannot do that: a goroutine waiting for the kernel is never durably blocked.
//
// The server is reached only through [Server.DialContext]: [Server.Client], [Server.HTTP2Client]
// and [Server.KinesisClient] use it; an HTTP transport built by hand needs it as its DialContext.
// [Server.URL] names a host under .invalid, which resolves nowhere. [Addr] and [AllowNonLoopback]
// are ignored; [TLS] works as on a socket.
//
// Inside a bubble, make the server in the bubble and close it there (t.Cleanup does): its
// goroutines belong to the bubble, and [Server.Close] ends them and the clients' connections.
func VirtualNetwork() Option {
	return optionFunc(func(c *config) { c.virtual = true })
}

// DialContext opens a connection to the server, for an HTTP transport's DialContext. On the
// [VirtualNetwork] it ignores network and address and returns one end of an in-memory pipe whose
// other end the server accepts; otherwise it dials the server's socket. It fails once the server is
// closed, or when ctx ends first.
func (s *Server) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if s.vln == nil {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", s.ln.Addr().String())
	}
	return s.vln.dial(ctx)
}

// memAddr is the address of both ends of a virtual connection and of the virtual listener.
type memAddr struct{}

func (memAddr) Network() string { return "kinesistest" }
func (memAddr) String() string  { return virtualHost + ":80" }

// memConn gives a pipe end the listener's address, so that logs and net/http see a host:port.
type memConn struct{ net.Conn }

func (memConn) LocalAddr() net.Addr  { return memAddr{} }
func (memConn) RemoteAddr() net.Addr { return memAddr{} }

// memListener is a net.Listener whose connections are made by dial. Accept, dial and Close only
// wait on channels, which a synctest bubble counts as durably blocked.
type memListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newMemListener() *memListener {
	return &memListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *memListener) Addr() net.Addr { return memAddr{} }

// dial hands the server one end of a new pipe and returns the other. A closed listener refuses
// the connection as a closed port does.
func (l *memListener) dial(ctx context.Context) (net.Conn, error) {
	client, server := net.Pipe()
	var err error
	select {
	case l.conns <- memConn{server}:
		return memConn{client}, nil
	case <-l.done:
		err = &net.OpError{Op: "dial", Net: "kinesistest", Addr: memAddr{}, Err: syscall.ECONNREFUSED}
	case <-ctx.Done():
		err = &net.OpError{Op: "dial", Net: "kinesistest", Addr: memAddr{}, Err: ctx.Err()}
	}
	client.Close()
	server.Close()
	return nil, err
}

// seed creates the streams of the [Stream] options.
func (s *Server) seed() error {
	for _, sd := range s.cfg.seeds {
		body, err := json.Marshal(createStreamInput{StreamName: sd.name, ShardCount: &sd.shards})
		if err != nil {
			return fmt.Errorf("kinesistest: %w: stream %q: %v", ErrInvalidConfig, sd.name, err)
		}
		if _, apiErr := s.createStream(&call{body: body, now: s.now()}); apiErr != nil {
			return fmt.Errorf("kinesistest: %w: stream %q: %v", ErrInvalidConfig, sd.name, apiErr)
		}
	}
	return nil
}
