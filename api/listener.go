package api

import (
	"io"
	"net"
	"sync"
	"time"
)

// FirstByteListener wraps the server's listener so that a new connection waits for the first
// byte of its first request under the idle timeout, as a kept-alive connection waits for its
// next one, and the header timeout starts only when that byte has come.
//
// Why (issue 16): net/http starts ReadHeaderTimeout (10 s) at accept. A client transport that
// dials spare connections under load — Go's does when a request waiting for a dial is served by
// a connection freed first, and phones' HTTP stacks pre-connect — keeps them idle, sure of
// idle seconds it was never promised; ten seconds after the burst of dials the server closes
// them all at once, and the requests that take one of them at that moment fail with a broken
// pipe. No client can retry that safely by itself: Go's transport does not retry a request on a
// connection that never carried one, and a streamed upload cannot be replayed. In the load
// benchmark's end-of-day burst that was 16–33 of 4,000 photo uploads.
//
// A connection that sends nothing then costs what a kept-alive idle connection costs (the idle
// timeout, 2 min), and a slow sender of headers still gets the header timeout from its first
// byte: the protection against slow headers is unchanged.
func FirstByteListener(ln net.Listener, idle time.Duration) net.Listener {
	if idle <= 0 {
		return ln
	}
	return &firstByteListener{Listener: ln, idle: idle}
}

type firstByteListener struct {
	net.Listener
	idle time.Duration
}

func (l *firstByteListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	fc := &firstByteConn{Conn: c, idle: l.idle, waiting: true}
	if tc, ok := c.(*net.TCPConn); ok {
		// Keep what net/http uses a *net.TCPConn for (sendfile, half-close).
		return &firstByteTCPConn{firstByteConn: fc, tc: tc}, nil
	}
	return fc, nil
}

// firstByteConn holds back the read deadlines set before the first byte has arrived: it
// remembers how long the server gave (the header timeout) and waits the idle timeout instead;
// the first byte starts the server's time.
type firstByteConn struct {
	net.Conn
	idle time.Duration

	mu      sync.Mutex
	waiting bool          // nothing read yet
	header  time.Duration // the read time the server asked for while waiting (0: none)
}

func (c *firstByteConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if c.waiting {
			c.waiting = false
			var dl time.Time
			if c.header > 0 {
				dl = time.Now().Add(c.header)
			}
			_ = c.Conn.SetReadDeadline(dl)
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *firstByteConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	// A deadline in the past aborts a read (net/http does so to stop its background read): as
	// asked, waiting or not.
	if c.waiting && (t.IsZero() || time.Until(t) > 0) {
		c.header = 0
		if !t.IsZero() {
			c.header = time.Until(t)
		}
		return c.Conn.SetReadDeadline(time.Now().Add(c.idle))
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *firstByteConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

// firstByteTCPConn is a firstByteConn over TCP, with the methods net/http looks for.
type firstByteTCPConn struct {
	*firstByteConn
	tc *net.TCPConn
}

func (c *firstByteTCPConn) ReadFrom(r io.Reader) (int64, error) { return c.tc.ReadFrom(r) }
func (c *firstByteTCPConn) CloseWrite() error                   { return c.tc.CloseWrite() }
