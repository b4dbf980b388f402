package mqttauth

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// rawClient is the fast path for plain-http backends: HTTP/1.1 keep-alive
// connections driven by blocking read/write system calls on the calling
// thread.
//
// Why not net/http: the plugin is called from Mosquitto's own thread
// through cgo, so the calling goroutine is locked to that thread. net/http
// hands every request to two transport goroutines (writeLoop, readLoop),
// and each hand-off between them and the locked thread is a futex
// wake-up and a context switch. On a small machine that doubled the cost
// of a CONNECT. Here the thread writes the request and blocks in read(2)
// itself, which is what a C plugin would do.
//
// Scope: POST with a small body, status line + headers parsed, body
// drained (Content-Length, chunked, or until close). Anything odd closes
// the connection instead of guessing. https uses net/http.
//
// The timeout is a hard bound on one call (dial, write, every read of the
// answer, a retry on a fresh connection): each blocking read gets only the
// time left until the call's deadline (SO_RCVTIMEO set before it), so a
// backend that trickles its answer byte by byte cannot stretch the call.
// Writes go out with MSG_DONTWAIT first (a small request fits the socket
// buffer, so the common case costs no extra system call) and block with
// the time left only when the buffer is full; MSG_NOSIGNAL keeps a closed
// peer from raising SIGPIPE on Mosquitto's thread.
type rawClient struct {
	addr    string // host:port to dial
	host    string // Host header
	timeout time.Duration
	maxIdle int

	mu   sync.Mutex
	idle []*rawConn
}

type rawConn struct {
	f   *os.File // owns the descriptor; keeps it from being finalized
	fd  int
	buf []byte // read buffer
	n   int    // valid bytes in buf
}

// setTimeout sets the socket option opt (SO_RCVTIMEO, SO_SNDTIMEO) to the
// time left until deadline; it fails with a timeout when none is left. A
// zero timeval would mean "no timeout", so at least 1 µs is set.
func (rc *rawConn) setTimeout(opt int, deadline time.Time) error {
	left := time.Until(deadline)
	if left <= 0 {
		return timeoutError{}
	}
	if left < time.Microsecond {
		left = time.Microsecond
	}
	tv := syscall.NsecToTimeval(left.Nanoseconds())
	return syscall.SetsockoptTimeval(rc.fd, syscall.SOL_SOCKET, opt, &tv)
}

var errRawProtocol = errors.New("malformed HTTP response")

const (
	rawMaxHeader = 16 << 10
	rawMaxDrain  = 64 << 10
)

func (c *rawClient) dial(deadline time.Time) (*rawConn, error) {
	left := time.Until(deadline)
	if left <= 0 {
		return nil, fmt.Errorf("dial: %w", timeoutError{})
	}
	conn, err := net.DialTimeout("tcp", c.addr, left)
	if err != nil {
		return nil, err
	}
	tc := conn.(*net.TCPConn)
	_ = tc.SetNoDelay(true)
	f, err := tc.File() // a duplicate descriptor in blocking mode
	_ = tc.Close()
	if err != nil {
		return nil, err
	}
	return &rawConn{f: f, fd: int(f.Fd()), buf: make([]byte, 4096)}, nil
}

func (rc *rawConn) close() { _ = rc.f.Close() }

func (c *rawClient) get(deadline time.Time) (*rawConn, bool, error) {
	c.mu.Lock()
	if n := len(c.idle); n > 0 {
		rc := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return rc, true, nil
	}
	c.mu.Unlock()
	rc, err := c.dial(deadline)
	return rc, false, err
}

func (c *rawClient) put(rc *rawConn) {
	c.mu.Lock()
	if len(c.idle) < c.maxIdle {
		c.idle = append(c.idle, rc)
		rc = nil
	}
	c.mu.Unlock()
	if rc != nil {
		rc.close()
	}
}

func (c *rawClient) closeIdle() {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, rc := range idle {
		rc.close()
	}
}

// post sends one request and returns the status. A pooled connection that
// fails before any byte of the answer arrived (the server closed it while
// idle) is replaced by a fresh one once: the checks have no side effects.
func (c *rawClient) post(req []byte) (int, error) {
	deadline := time.Now().Add(c.timeout)
	for attempt := 0; ; attempt++ {
		rc, reused, err := c.get(deadline)
		if err != nil {
			return 0, err
		}
		status, keep, gotBytes, err := rc.roundTrip(req, deadline)
		if err != nil {
			rc.close()
			if reused && !gotBytes && attempt == 0 && time.Now().Before(deadline) {
				continue
			}
			return 0, err
		}
		if keep {
			c.put(rc)
		} else {
			rc.close()
		}
		return status, nil
	}
}

type timeoutError struct{}

func (timeoutError) Error() string { return "timeout" }

func ioErr(op string, err error) error {
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("%s: %w", op, timeoutError{})
	}
	return fmt.Errorf("%s: %w", op, err)
}

func (rc *rawConn) write(b []byte, deadline time.Time) error {
	flags := syscall.MSG_DONTWAIT | syscall.MSG_NOSIGNAL
	for len(b) > 0 {
		n, err := syscall.SendmsgN(rc.fd, b, nil, nil, flags)
		switch {
		case (err == syscall.EINTR || err == syscall.EAGAIN || err == syscall.EWOULDBLOCK) && flags&syscall.MSG_DONTWAIT != 0,
			err == syscall.EINTR:
			// The socket buffer is full (or a signal came): block, with
			// the time left.
			if err := rc.setTimeout(syscall.SO_SNDTIMEO, deadline); err != nil {
				return ioErr("write", err)
			}
			flags = syscall.MSG_NOSIGNAL
			continue
		case err != nil:
			return ioErr("write", err)
		}
		b = b[n:]
	}
	return nil
}

// fill reads more bytes into buf; io.EOF-like closes are errors. The read
// blocks for at most the time left until deadline (re-armed after an
// interrupted read: a socket with SO_RCVTIMEO is not restarted on a signal).
func (rc *rawConn) fill(deadline time.Time) error {
	if rc.n == len(rc.buf) {
		if len(rc.buf) >= rawMaxHeader {
			return fmt.Errorf("%w: header too large", errRawProtocol)
		}
		nb := make([]byte, 2*len(rc.buf))
		copy(nb, rc.buf[:rc.n])
		rc.buf = nb
	}
	for {
		if err := rc.setTimeout(syscall.SO_RCVTIMEO, deadline); err != nil {
			return ioErr("read", err)
		}
		n, err := syscall.Read(rc.fd, rc.buf[rc.n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return ioErr("read", err)
		}
		if n == 0 {
			return errors.New("read: connection closed by the backend")
		}
		rc.n += n
		return nil
	}
}

// consume drops the first k buffered bytes.
func (rc *rawConn) consume(k int) {
	copy(rc.buf, rc.buf[k:rc.n])
	rc.n -= k
}

func (rc *rawConn) roundTrip(req []byte, deadline time.Time) (status int, keep, gotBytes bool, err error) {
	rc.n = 0
	if err := rc.write(req, deadline); err != nil {
		return 0, false, false, err
	}
	for {
		// Header block.
		var end int
		for {
			if i := bytes.Index(rc.buf[:rc.n], []byte("\r\n\r\n")); i >= 0 {
				end = i + 4
				break
			}
			if err := rc.fill(deadline); err != nil {
				return 0, false, rc.n > 0, err
			}
		}
		gotBytes = true
		status, keep, length, chunked, err := parseHead(rc.buf[:end])
		if err != nil {
			return 0, false, true, err
		}
		rc.consume(end)
		if status >= 100 && status < 200 {
			continue // 100 Continue and friends: the real answer follows
		}
		noBody := status == 204 || status == 304
		switch {
		case noBody:
		case chunked:
			if err := rc.drainChunked(deadline); err != nil {
				return 0, false, true, err
			}
		case length >= 0:
			if length > rawMaxDrain {
				return status, false, true, nil
			}
			for rc.n < length {
				if err := rc.fill(deadline); err != nil {
					return 0, false, true, err
				}
			}
			rc.consume(length)
		default:
			// Body until close: the status is known, do not wait for it.
			return status, false, true, nil
		}
		if rc.n != 0 {
			keep = false // unexpected extra bytes
		}
		return status, keep, true, nil
	}
}

func (rc *rawConn) line(deadline time.Time) ([]byte, error) {
	for {
		if i := bytes.Index(rc.buf[:rc.n], []byte("\r\n")); i >= 0 {
			l := append([]byte(nil), rc.buf[:i]...)
			rc.consume(i + 2)
			return l, nil
		}
		if err := rc.fill(deadline); err != nil {
			return nil, err
		}
	}
}

func (rc *rawConn) drainChunked(deadline time.Time) error {
	total := 0
	for {
		l, err := rc.line(deadline)
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(l, ';'); i >= 0 {
			l = l[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(l)), 16, 32)
		if err != nil || size < 0 {
			return fmt.Errorf("%w: bad chunk size", errRawProtocol)
		}
		total += int(size)
		if total > rawMaxDrain {
			return fmt.Errorf("%w: body too large", errRawProtocol)
		}
		if size == 0 {
			for { // trailers up to the empty line
				t, err := rc.line(deadline)
				if err != nil {
					return err
				}
				if len(t) == 0 {
					return nil
				}
			}
		}
		for rc.n < int(size)+2 {
			if err := rc.fill(deadline); err != nil {
				return err
			}
		}
		rc.consume(int(size) + 2)
	}
}

// parseHead reads the status line and the headers that frame the body.
// length is -1 when there is no Content-Length.
func parseHead(h []byte) (status int, keep bool, length int, chunked bool, err error) {
	lines := bytes.Split(h[:len(h)-4], []byte("\r\n"))
	sl := lines[0]
	if len(sl) < 12 || !bytes.HasPrefix(sl, []byte("HTTP/1.")) || sl[8] != ' ' {
		return 0, false, 0, false, fmt.Errorf("%w: status line", errRawProtocol)
	}
	status, err = strconv.Atoi(string(sl[9:12]))
	if err != nil || status < 100 || status > 999 {
		return 0, false, 0, false, fmt.Errorf("%w: status code", errRawProtocol)
	}
	keep = sl[7] == '1' // HTTP/1.1 keeps alive by default, 1.0 does not
	length = -1
	for _, l := range lines[1:] {
		k, v, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			return 0, false, 0, false, fmt.Errorf("%w: header line", errRawProtocol)
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			n, err := strconv.Atoi(string(v))
			if err != nil || n < 0 || (length >= 0 && n != length) {
				return 0, false, 0, false, fmt.Errorf("%w: Content-Length", errRawProtocol)
			}
			length = n
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(v, []byte("chunked")) {
				return 0, false, 0, false, fmt.Errorf("%w: Transfer-Encoding", errRawProtocol)
			}
			chunked = true
		case bytes.EqualFold(k, []byte("Connection")):
			if bytes.Contains(bytes.ToLower(v), []byte("close")) {
				keep = false
			} else if bytes.Contains(bytes.ToLower(v), []byte("keep-alive")) {
				keep = true
			}
		}
	}
	if chunked {
		length = -1
	}
	return status, keep, length, chunked, nil
}
