package api

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serveFirstByte serves 200 "ok" with the header timeout given, on a FirstByteListener when
// wrapped, and returns the address.
func serveFirstByte(t *testing.T, header time.Duration, wrapped bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		ReadHeaderTimeout: header,
		IdleTimeout:       time.Minute,
	}
	l := ln
	if wrapped {
		l = FirstByteListener(ln, time.Minute)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// getOn sends a GET on conn and returns the status line, or the read error.
func getOn(conn net.Conn) (string, error) {
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return "", err
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSpace(line), err
}

// TestFirstByteListenerKeepsSpareConnections (issue 16): a connection opened and left unused
// for longer than the header timeout (as client transports leave their spare dials) still
// serves its first request; the plain server has closed it by then (the broken pipes of the
// load benchmark's burst). The header timeout still holds from the first byte on.
func TestFirstByteListenerKeepsSpareConnections(t *testing.T) {
	const header = 200 * time.Millisecond
	for _, wrapped := range []bool{false, true} {
		conn, err := net.Dial("tcp", serveFirstByte(t, header, wrapped))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		time.Sleep(5 * header) // the spare connection idles, past the header timeout
		line, err := getOn(conn)
		switch {
		case wrapped && line != "HTTP/1.1 200 OK":
			t.Fatalf("spare connection after %s: %q, %v; want 200 OK", 5*header, line, err)
		case !wrapped && err == nil:
			t.Fatalf("plain server answered %q on a connection idle past its header timeout: the test shows nothing", line)
		}
	}

	// Slow headers: the first bytes come, the rest never; the header timeout closes it.
	conn, err := net.Dial("tcp", serveFirstByte(t, header, true))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost"); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // far beyond the header timeout
	if n, err := conn.Read(make([]byte, 1)); err == nil && n > 0 {
		// net/http may answer 408 before closing; then the connection must close next.
		if _, err := io.Copy(io.Discard, conn); err != nil {
			t.Fatalf("slow headers: connection not closed: %v", err)
		}
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("slow headers were not cut off by the header timeout")
	}
}
