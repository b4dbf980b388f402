package reference

// Broker callback connections: a lean HTTP/1.1 loop for the connections
// of a Mosquitto auth plugin, on the reference's one port.
//
// Why by hand: Mosquitto calls the API synchronously, on its only thread,
// for every CONNECT (docs/mqtt.md), so the latency of one
// /mosquitto-auth/* exchange sets the broker's CONNECT rate. net/http's
// per-request machinery (a background read goroutine armed and cancelled
// through a read deadline and a sync.Cond for every request, header maps,
// the response writer's buffering) costs about as much there as the
// decision itself. Measured with `make bench-mqtt` on the 2-core CI
// machine, one client, plugin ÷ password_file, with backends that answer
// 200 without looking: net/http 0.86–0.88, github.com/valyala/fasthttp
// 0.95–0.98, a plain read/write loop 0.98–1.00; the reference behind
// net/http 0.79–0.90. fasthttp parses and answers its own way, so a client
// that ended up on it would meet a different server than on every other
// connection; this loop instead serves only the exact shape of request
// the plugin sends and hands the connection, with its unread bytes, to
// net/http at the first request of any other shape, so everything else
// is answered by net/http exactly as before. The decision is the same
// function as net/http's handlers call (callbackAllows, faults included).
//
// The shape: a connection whose first bytes are
// "POST {base}/mosquitto-auth/"; each request the line
// "POST {one of the three callback paths} HTTP/1.1" (no query), header
// lines "Name: value" of token names and printable values, exactly one
// Host (valid as net/http checks it), exactly one Content-Length of at
// most MaxBodyBytes, Connection only "keep-alive" or "close", no
// Transfer-Encoding, Expect or Upgrade, the header block within
// callbackMaxHeader bytes. Waits are bounded as net/http's are here: the
// first byte of a request within IdleTimeout (the first request:
// ReadHeaderTimeout), the rest of the request within ReadHeaderTimeout.
// A fault that acts in the middleware (panic-on-long-header) turns this
// loop off.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

const (
	callbackMaxHeader = 4 << 10
	callbackBufSize   = 8 << 10
)

// The server's ReadHeaderTimeout and IdleTimeout, for both loops; read
// when a server starts (variables so that tests can shorten them).
var (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 120 * time.Second
)

// callbackShape tells the broker's requests apart: the first bytes of a
// broker connection and the request lines of the three callbacks.
type callbackShape struct {
	prefix []byte
	paths  [3]string // by callback
	lines  [3][]byte // their request lines
}

func newCallbackShape(s *Server) callbackShape {
	user, superuser, acl := s.callbackPaths()
	sh := callbackShape{
		prefix: []byte("POST " + s.profile.BasePath + "/mosquitto-auth/"),
		paths:  [3]string{callbackUser: user, callbackSuperuser: superuser, callbackACL: acl},
	}
	for i, p := range sh.paths {
		sh.lines[i] = []byte("POST " + p + " HTTP/1.1")
	}
	return sh
}

// splitListener accepts on the real listener and gives net/http (through
// its own Accept) every connection that is not a broker's.
type splitListener struct {
	callbackShape
	ln     net.Listener
	s      *Server
	header time.Duration // readHeaderTimeout and idleTimeout when made
	idle   time.Duration

	conns chan net.Conn
	done  chan struct{}
	once  sync.Once

	mu   sync.Mutex
	fast map[net.Conn]struct{}
}

func newSplitListener(ln net.Listener, s *Server) *splitListener {
	l := &splitListener{
		callbackShape: newCallbackShape(s),
		ln:            ln, s: s, header: readHeaderTimeout, idle: idleTimeout,
		conns: make(chan net.Conn), done: make(chan struct{}),
		fast: map[net.Conn]struct{}{},
	}
	go l.acceptLoop()
	return l
}

// Accept returns the next connection for net/http.
func (l *splitListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting and closes the broker connections (net/http's
// Shutdown closes its own).
func (l *splitListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.ln.Close()
		l.mu.Lock()
		for c := range l.fast {
			_ = c.Close()
		}
		l.mu.Unlock()
	})
	return err
}

func (l *splitListener) Addr() net.Addr { return l.ln.Addr() }

func (l *splitListener) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				_ = l.Close()
				return
			}
			// As net/http does for temporary errors (EMFILE and the like).
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.s.log.Warn("accept failed; retrying", "err", err, "in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		go l.route(c)
	}
}

// route reads just enough of the first request to tell a broker's
// connection from any other.
func (l *splitListener) route(c net.Conn) {
	br := bufio.NewReaderSize(c, callbackBufSize)
	_ = c.SetReadDeadline(time.Now().Add(l.header))
	broker, err := l.sniff(br)
	if err != nil && br.Buffered() == 0 {
		_ = c.Close() // as net/http: no request, no answer
		return
	}
	if !broker || err != nil {
		// Not a broker's, or cut short: net/http answers as it would (it
		// gets the same bytes and then the same end or silence).
		l.handOff(c, br)
		return
	}
	l.mu.Lock()
	select {
	case <-l.done:
		l.mu.Unlock()
		_ = c.Close()
		return
	default:
	}
	l.fast[c] = struct{}{}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.fast, c)
		l.mu.Unlock()
	}()
	l.serve(c, br)
}

// sniff waits for bytes until they either match the callback prefix in
// full or differ from it; it never waits for more than the prefix.
func (l *splitListener) sniff(br *bufio.Reader) (broker bool, err error) {
	err = peekUntil(br, func(b []byte) bool {
		m := min(len(b), len(l.prefix))
		if !bytes.Equal(b[:m], l.prefix[:m]) {
			return true
		}
		broker = m == len(l.prefix)
		return broker
	})
	return broker, err
}

// peekUntil looks at what br holds, reading more (within the read
// deadline, never more than is there) until done says so; the error is
// that of the read that ended the wait otherwise. Nothing is consumed.
func peekUntil(br *bufio.Reader, done func(buffered []byte) bool) error {
	for {
		b, _ := br.Peek(br.Buffered())
		if done(b) {
			return nil
		}
		if _, err := br.Peek(len(b) + 1); err != nil {
			return err
		}
	}
}

// handOff gives c to net/http with whatever br holds unread.
func (l *splitListener) handOff(c net.Conn, br *bufio.Reader) {
	_ = c.SetReadDeadline(time.Time{})
	var hc net.Conn = c
	if br.Buffered() > 0 {
		hc = &bufferedConn{Conn: c, r: br}
	}
	select {
	case l.conns <- hc:
	case <-l.done:
		_ = c.Close()
	}
}

// serve answers the broker's requests on c until it closes, asks to close,
// or sends a request outside the shape (then net/http takes over).
func (l *splitListener) serve(c net.Conn, br *bufio.Reader) {
	var (
		out    []byte
		body   []byte
		remote = c.RemoteAddr().String()
	)
	for first := true; ; first = false {
		if !first {
			_ = c.SetReadDeadline(time.Now().Add(l.idle))
			if _, err := br.Peek(1); err != nil {
				_ = c.Close()
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(l.header))
		}
		block, ok := headerBlock(br)
		var req callbackRequest
		if ok {
			req, ok = l.parse(block)
		}
		if !ok {
			l.handOff(c, br)
			return
		}
		_, _ = br.Discard(len(block))
		body = slices.Grow(body[:0], req.length)[:req.length]
		if _, err := io.ReadFull(br, body); err != nil {
			_ = c.Close()
			return
		}
		start := time.Now()
		allow := l.s.callbackAllows(req.cb, req.contentType, body)
		out = appendCallbackAnswer(out[:0], allow, start, req.close)
		if l.s.log.Enabled(context.Background(), slog.LevelDebug) {
			status := http.StatusForbidden
			if allow {
				status = http.StatusOK
			}
			l.s.log.Debug("request", "method", http.MethodPost, "path", l.paths[req.cb], "status", status, "duration", time.Since(start), "remote", remote, "conn", "broker")
		}
		if _, err := c.Write(out); err != nil || req.close {
			_ = c.Close()
			return
		}
	}
}

// headerBlock waits (within the read deadline) until br holds a whole
// header block, and returns it without consuming it; false when none ends
// within callbackMaxHeader bytes or the wait ends first (net/http then
// gets the same bytes and the same end).
func headerBlock(br *bufio.Reader) ([]byte, bool) {
	var block []byte
	err := peekUntil(br, func(b []byte) bool {
		if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
			block = b[:i+4]
			return true
		}
		return len(b) >= callbackMaxHeader
	})
	return block, err == nil && block != nil
}

type callbackRequest struct {
	cb          callback
	length      int
	contentType string
	close       bool
}

// parse reads a header block in the shape served here; false hands the
// request to net/http.
func (sh *callbackShape) parse(block []byte) (callbackRequest, bool) {
	var r callbackRequest
	lineEnd := bytes.Index(block, []byte("\r\n"))
	found := false
	for i, line := range sh.lines {
		if bytes.Equal(block[:lineEnd], line) {
			r.cb, found = callback(i), true
			break
		}
	}
	if !found {
		return r, false
	}
	hosts, lengths := 0, 0
	rest := block[lineEnd+2 : len(block)-2] // header lines, each ending in CRLF
	for len(rest) > 0 {
		i := bytes.Index(rest, []byte("\r\n"))
		line := rest[:i]
		rest = rest[i+2:]
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return r, false // also an obs-fold continuation (leading space)
		}
		name, value := line[:colon], bytes.Trim(line[colon+1:], " \t")
		if !isPrintable(value) {
			return r, false
		}
		switch {
		case bytes.EqualFold(name, []byte("Host")):
			hosts++
			if len(value) == 0 || !httpguts.ValidHostHeader(string(value)) {
				return r, false
			}
		case bytes.EqualFold(name, []byte("Content-Length")):
			lengths++
			n, ok := parseLength(value)
			if !ok {
				return r, false
			}
			r.length = n
		case bytes.EqualFold(name, []byte("Content-Type")):
			r.contentType = contentTypeString(value)
		case bytes.EqualFold(name, []byte("Connection")):
			switch {
			case bytes.EqualFold(value, []byte("close")):
				r.close = true
			case bytes.EqualFold(value, []byte("keep-alive")):
			default:
				return r, false
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")), bytes.EqualFold(name, []byte("Expect")), bytes.EqualFold(name, []byte("Upgrade")):
			return r, false
		}
	}
	return r, hosts == 1 && lengths == 1
}

func contentTypeString(v []byte) string {
	for _, known := range []string{"application/json", "application/x-www-form-urlencoded"} {
		if string(v) == known { // no allocation for the common values
			return known
		}
	}
	return string(v)
}

// parseLength accepts 1*DIGIT up to MaxBodyBytes.
func parseLength(v []byte) (int, bool) {
	if len(v) == 0 || len(v) > 7 {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= MaxBodyBytes
}

// isToken: RFC 9110 tchar.
func isToken(b []byte) bool {
	for _, c := range b {
		if !httpguts.IsTokenRune(rune(c)) {
			return false
		}
	}
	return true
}

// isPrintable admits visible ASCII, space and tab.
func isPrintable(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}

var (
	callbackAllowHead = []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: ")
	callbackDenyHead  = []byte("HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nDate: ")
)

// appendCallbackAnswer writes what net/http writes for mqttAnswer: the
// same status, headers and body.
func appendCallbackAnswer(out []byte, allow bool, now time.Time, closing bool) []byte {
	head, body := callbackDenyHead, mqttDeny
	if allow {
		head, body = callbackAllowHead, mqttAllow
	}
	out = append(out, head...)
	out = now.UTC().AppendFormat(out, http.TimeFormat)
	out = append(out, "\r\nContent-Length: "...)
	out = strconv.AppendInt(out, int64(len(body)), 10)
	out = append(out, "\r\n"...)
	if closing {
		out = append(out, "Connection: close\r\n"...)
	}
	out = append(out, "\r\n"...)
	return append(out, body...)
}

// bufferedConn is a connection handed to net/http with bytes already read
// from it; once those are consumed, reads go straight to the connection.
type bufferedConn struct {
	net.Conn
	mu sync.Mutex
	r  *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	r := c.r
	if r != nil && r.Buffered() == 0 {
		c.r, r = nil, nil
	}
	c.mu.Unlock()
	if r != nil {
		return r.Read(p)
	}
	return c.Conn.Read(p)
}

// CloseWrite keeps net/http's half-close after an error answer.
func (c *bufferedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
