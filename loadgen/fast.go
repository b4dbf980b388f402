package loadgen

// The fast engine: our own open-loop HTTP/1.1 hot path on net.Conn.
//
// Why not vegeta's attacker for every scenario: measured on the 2-core
// development machine against the reference (roboticks key-valid, 64
// kept-alive connections, same run), vegeta's attacker (net/http client,
// a goroutine per in-flight hit, a Request, header maps and a body buffer
// per hit) cost 58-70 µs of attacker CPU per request at 10k/s, wrk 6-12 µs.
// The attacker, not the server, set the limits `make bench` measured. This
// engine keeps vegeta as the results, metrics, pacing and plotting layer
// (every request still becomes a vegeta.Result with status, latency,
// timestamp, seq, bytes and error; the plan is the same Pace, so slip,
// `late` and --results files readable by vegeta are unchanged) and
// replaces only the hot path:
//
//   - requests are serialized once, before the attack (fixed targets);
//   - one scheduler goroutine hands planned send times, in order, to one
//     goroutine per connection through a channel; a connection that is
//     busy simply takes the next planned request late (open loop: the
//     plan never waits for answers, a late request shows as slip);
//   - a connection goroutine writes the bytes, parses the status line and
//     the few headers that frame the body (Content-Length,
//     Transfer-Encoding, Connection) from a bufio.Reader, and discards at
//     most MaxBody bytes of body: no allocation per request.
//
// Measured the same way (make bench-generator, quiet machine, ours open
// loop at 35000/s, wrk closed loop at 50-57k/s): wrk 10.4-11.7 µs, this
// engine 15.1-15.6 µs (ratio 1.38), vegeta's attacker at the same rate
// 119 µs and unable to keep it (11.8k/s achieved). It wins by 5-8x, so it
// is the default where it applies. About 3/4 of its CPU is the kernel's
// loopback TCP path (write(2) alone, which delivers to the server in
// our context, is ~45 %), the rest mostly Go scheduling of idle/wake-up
// transitions; our own code is a few per cent. (Waiting for readability
// before the first read(2) through syscall.RawConn, to save the EAGAIN
// read, does not work: RawRead resets the poller's readiness first, so an
// answer that came back before the wait is never noticed.)
//
// `make bench-generator` measures it against wrk in the same run. It is
// used for the scenarios whose requests are fixed (key-*, jwt-verify,
// login, ratelimit) on http:// targets; the others (refresh reads every
// answer, provisioning and MQTT build requests on the fly) and https
// targets use vegeta's attacker. Config.Engine chooses explicitly.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Engines.
const (
	EngineAuto   = "auto"
	EngineFast   = "fast"
	EngineVegeta = "vegeta"
)

// fastConnsUnlimited is the connection count of the fast engine when
// Config.Connections is 0 (unlimited): it keeps a fixed pool.
const fastConnsUnlimited = 1024

// fastRequest is one pre-serialized request.
type fastRequest struct {
	method, url string // the result's Method and URL (with any tag fragment)
	raw         []byte
	bodyLen     uint64
	head        bool
}

// serialize builds the HTTP/1.1 bytes of a target. The URL fragment (an
// analysis tag) is never sent.
func serialize(t vegeta.Target) (fastRequest, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return fastRequest{}, err
	}
	if u.Scheme != "http" {
		return fastRequest{}, fmt.Errorf("the fast engine speaks plain http, not %s", u.Scheme)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: authconform-load\r\n", t.Method, u.RequestURI(), u.Host)
	keys := make([]string, 0, len(t.Header))
	for k := range t.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if http.CanonicalHeaderKey(k) == "Host" {
			continue
		}
		for _, v := range t.Header[k] {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	if len(t.Body) > 0 || t.Method == http.MethodPost || t.Method == http.MethodPut || t.Method == http.MethodPatch {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(t.Body))
	}
	b.WriteString("\r\n")
	b.Write(t.Body)
	return fastRequest{method: t.Method, url: t.URL, raw: b.Bytes(), bodyLen: uint64(len(t.Body)), head: t.Method == http.MethodHead}, nil
}

// fastAttack is one run of the fast engine.
type fastAttack struct {
	reqs      []fastRequest
	addr      string
	pace      Pace
	conns     int
	timeout   time.Duration
	name      string
	keepHdrs  bool // parse every header into Result.Headers (ratelimit)
	results   chan []vegeta.Result
	pool      sync.Pool // of *[]vegeta.Result batches
	stop      chan struct{}
	stopOnce  sync.Once
	dialer    net.Dialer
	remaining sync.WaitGroup
	seqMu     sync.Mutex
	seq       uint64
	began     time.Time
	// the results batch being filled by every connection (see add)
	resMu      sync.Mutex
	batch      []vegeta.Result
	batchStart time.Time
}

func newFastAttack(targets []vegeta.Target, pace Pace, conns int, timeout time.Duration, keepHeaders bool) (*fastAttack, error) {
	if len(targets) == 0 {
		return nil, errors.New("no targets")
	}
	fa := &fastAttack{pace: pace, conns: conns, timeout: timeout, keepHdrs: keepHeaders,
		results: make(chan []vegeta.Result, 1024), stop: make(chan struct{})}
	for _, t := range targets {
		r, err := serialize(t)
		if err != nil {
			return nil, err
		}
		u, _ := url.Parse(t.URL)
		addr := u.Host
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
		if fa.addr == "" {
			fa.addr = addr
		} else if fa.addr != addr {
			return nil, fmt.Errorf("the fast engine attacks one host; %s and %s differ", fa.addr, addr)
		}
		fa.reqs = append(fa.reqs, r)
	}
	if fa.conns <= 0 {
		fa.conns = fastConnsUnlimited
	}
	fa.dialer = net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	return fa, nil
}

// Stop ends the attack: no more requests leave; those in flight finish.
func (fa *fastAttack) Stop() { fa.stopOnce.Do(func() { close(fa.stop) }) }

// fastJob is a planned request released by the scheduler. Which
// request it becomes (its Seq) is decided when a connection sends it,
// as in vegeta's attacker: Seq and Timestamp are taken together under
// seqMu, so timestamps increase with Seq (vegeta plot requires it) and
// the n-th request sent is measured against the n-th planned time.
type fastJob struct{}

// run starts the scheduler and the connections, with the schedule's
// origin at began; results is closed when every request is done. name is
// every result's Attack label.
func (fa *fastAttack) run(name string, began time.Time) {
	fa.name, fa.began = name, began
	jobs := make(chan fastJob, 4096)
	fa.remaining.Add(fa.conns)
	for i := 0; i < fa.conns; i++ {
		go fa.conn(jobs)
	}
	go func() {
		defer close(jobs)
		hits := fa.pace.Hits()
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		for seq := uint64(0); seq < hits; seq++ {
			if d := fa.pace.PlannedAt(seq) - time.Since(began); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-fa.stop:
					return
				}
			}
			select {
			case jobs <- fastJob{}:
			case <-fa.stop:
				return
			}
		}
	}()
	go func() {
		fa.remaining.Wait()
		if len(fa.batch) > 0 {
			fa.results <- fa.batch
		}
		close(fa.results)
	}()
}

// fastConn is one connection's state.
type fastConn struct {
	c        net.Conn
	br       *bufio.Reader
	deadline time.Time
	status   map[int]string // status line texts, for Result.Error on >= 400
}

func (fa *fastAttack) conn(jobs <-chan fastJob) {
	defer fa.remaining.Done()
	fc := &fastConn{status: map[int]string{}}
	defer func() {
		if fc.c != nil {
			fc.c.Close()
		}
	}()
	n := uint64(len(fa.reqs))
	for range jobs {
		select {
		case <-fa.stop: // planned requests still queued are not sent
			return
		default:
		}
		fa.seqMu.Lock()
		seq := fa.seq
		fa.seq++
		// from the monotonic clock, like vegeta's: wall timestamps in
		// results files keep the order and spacing of the sends
		ts := fa.began.Add(time.Since(fa.began))
		fa.seqMu.Unlock()
		req := &fa.reqs[seq%n]
		res := vegeta.Result{Attack: fa.name, Seq: seq, Timestamp: ts, Method: req.method, URL: req.url, BytesOut: req.bodyLen}
		code, in, hdr, err := fa.do(fc, req, ts)
		res.Latency = time.Since(ts)
		res.Code, res.BytesIn, res.Headers = uint16(code), in, hdr
		if err != nil {
			res.Code = 0
			res.Error = fmt.Sprintf("%s %q: %v", req.method, req.url, err)
			if fc.c != nil {
				fc.c.Close()
				fc.c = nil
			}
		} else if code < 200 || code >= 400 {
			res.Error = fc.statusText(code)
		}
		fa.add(&res, ts.Add(res.Latency))
	}
}

// add puts a result into the shared batch and hands the batch over when
// it holds fastBatch results or its first is fastFlush old. One channel
// hand-off per result would wake the consumer, often on another thread,
// for every request; a batch per connection would hold results back as
// long as its connection is idle.
func (fa *fastAttack) add(r *vegeta.Result, now time.Time) {
	fa.resMu.Lock()
	if fa.batch == nil {
		fa.batch, fa.batchStart = fa.newBatch(), now
	}
	fa.batch = append(fa.batch, *r)
	var full []vegeta.Result
	if len(fa.batch) >= fastBatch || now.Sub(fa.batchStart) >= fastFlush {
		full, fa.batch = fa.batch, nil
	}
	fa.resMu.Unlock()
	if full != nil {
		fa.results <- full
	}
}

// Result batches: size and age at which a connection hands them over.
const (
	fastBatch = 64
	fastFlush = 100 * time.Millisecond
)

func (fa *fastAttack) newBatch() []vegeta.Result {
	if b, ok := fa.pool.Get().(*[]vegeta.Result); ok {
		return (*b)[:0]
	}
	return make([]vegeta.Result, 0, fastBatch)
}

// recycle returns a consumed batch for reuse.
func (fa *fastAttack) recycle(b []vegeta.Result) {
	clear(b)
	fa.pool.Put(&b)
}

func (fc *fastConn) statusText(code int) string {
	if s, ok := fc.status[code]; ok {
		return s
	}
	s := strconv.Itoa(code) + " " + http.StatusText(code)
	fc.status[code] = s
	return s
}

var errBodyTooLong = errors.New("body beyond MaxBody")

// do sends one request on fc (dialling if needed) and reads the answer.
// A connection that cannot be reused is closed here (fc.c = nil).
func (fa *fastAttack) do(fc *fastConn, req *fastRequest, ts time.Time) (code int, bytesIn uint64, hdr http.Header, err error) {
	code, bytesIn, hdr, err = fa.try(fc, req, ts)
	if errors.Is(err, errStale) {
		// The server had closed this kept-alive connection before it
		// saw the request (an idle timeout, a request limit): like
		// net/http, send an idempotent request again on a new one.
		fc.c.Close()
		fc.c = nil
		if req.method == http.MethodGet || req.method == http.MethodHead {
			return fa.try(fc, req, ts)
		}
		err = errors.Unwrap(err)
	}
	return code, bytesIn, hdr, err
}

// errStale wraps the error of a request that failed on a reused
// connection before any byte of an answer came back.
var errStale = errors.New("kept-alive connection closed by the server")

type staleErr struct{ err error }

func (e staleErr) Error() string        { return e.err.Error() }
func (e staleErr) Unwrap() error        { return e.err }
func (e staleErr) Is(target error) bool { return target == errStale }

func (fa *fastAttack) try(fc *fastConn, req *fastRequest, ts time.Time) (code int, bytesIn uint64, hdr http.Header, err error) {
	reused := fc.c != nil
	if fc.c == nil {
		c, err := fa.dialer.Dial("tcp", fa.addr)
		if err != nil {
			return 0, 0, nil, err
		}
		fc.c = c
		if fc.br == nil {
			fc.br = bufio.NewReaderSize(c, 16<<10)
		} else {
			fc.br.Reset(c)
		}
		fc.deadline = time.Time{}
	}
	// One deadline per request would cost a timer update each; refresh
	// it only when less than 90 % of the timeout is left (a request gets
	// 0.9..1 × timeout).
	if fc.deadline.Before(ts.Add(fa.timeout * 9 / 10)) {
		fc.deadline = ts.Add(fa.timeout)
		if err := fc.c.SetDeadline(fc.deadline); err != nil {
			return 0, 0, nil, err
		}
	}
	if _, err := fc.c.Write(req.raw); err != nil {
		if reused {
			return 0, 0, nil, staleErr{err}
		}
		return 0, 0, nil, err
	}
	keep := true
	var cl int64 = -1
	chunked := false
	for first := true; ; first = false {
		line, err := fc.br.ReadSlice('\n')
		if err != nil {
			if reused && first && len(line) == 0 && (err == io.EOF || errors.Is(err, syscall.ECONNRESET)) {
				return 0, 0, nil, staleErr{readErr(err)}
			}
			return 0, 0, nil, readErr(err)
		}
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
			return 0, 0, nil, fmt.Errorf("malformed status line %q", snippet(trimCRLF(line)))
		}
		code = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
		if code < 100 || code > 999 || line[9] < '0' || line[9] > '9' || line[10] < '0' || line[10] > '9' || line[11] < '0' || line[11] > '9' {
			return 0, 0, nil, fmt.Errorf("malformed status line %q", snippet(trimCRLF(line)))
		}
		if line[7] == '0' {
			keep = false // HTTP/1.0: close unless it says keep-alive
		}
		if fa.keepHdrs {
			hdr = http.Header{}
		}
		for {
			h, err := fc.br.ReadSlice('\n')
			if err != nil {
				return 0, 0, nil, readErr(err)
			}
			h = trimCRLF(h)
			if len(h) == 0 {
				break
			}
			i := bytes.IndexByte(h, ':')
			if i <= 0 {
				return 0, 0, nil, fmt.Errorf("malformed header line %q", snippet(h))
			}
			name, val := h[:i], bytes.TrimSpace(h[i+1:])
			switch {
			case asciiEqualFold(name, "content-length"):
				n, err := strconv.ParseInt(string(val), 10, 64)
				if err != nil || n < 0 {
					return 0, 0, nil, fmt.Errorf("bad Content-Length %q", snippet(val))
				}
				cl = n
			case asciiEqualFold(name, "transfer-encoding"):
				chunked = bytes.Contains(bytes.ToLower(val), []byte("chunked"))
			case asciiEqualFold(name, "connection"):
				if asciiEqualFold(val, "close") {
					keep = false
				} else if asciiEqualFold(val, "keep-alive") {
					keep = true
				}
			}
			if hdr != nil {
				k := textproto.CanonicalMIMEHeaderKey(string(name))
				hdr[k] = append(hdr[k], string(val))
			}
		}
		if code >= 100 && code < 200 && code != 101 {
			continue // an interim answer; the real one follows
		}
		break
	}
	switch {
	case req.head || code == 204 || code == 304 || (code >= 100 && code < 200):
	case chunked:
		bytesIn, err = readChunked(fc.br)
	case cl >= 0:
		n := cl
		if n > MaxBody {
			n, keep = MaxBody, false
		}
		var d int
		d, err = fc.br.Discard(int(n))
		bytesIn = uint64(d)
	default: // delimited by the end of the connection
		var d int64
		d, err = io.CopyN(io.Discard, fc.br, MaxBody)
		bytesIn, keep = uint64(d), false
		if err == io.EOF {
			err = nil
		}
	}
	if err == errBodyTooLong {
		err, keep = nil, false
	}
	if err != nil {
		return 0, bytesIn, nil, readErr(err)
	}
	if !keep {
		fc.c.Close()
		fc.c = nil
	}
	return code, bytesIn, hdr, nil
}

// readChunked discards a chunked body, at most MaxBody bytes of it
// (errBodyTooLong beyond: the caller drops the connection).
func readChunked(br *bufio.Reader) (uint64, error) {
	var total uint64
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return total, err
		}
		line = trimCRLF(line)
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseUint(string(bytes.TrimSpace(line)), 16, 63)
		if err != nil {
			return total, fmt.Errorf("bad chunk size %q", snippet(line))
		}
		if size == 0 {
			for { // trailers
				t, err := br.ReadSlice('\n')
				if err != nil {
					return total, err
				}
				if len(trimCRLF(t)) == 0 {
					return total, nil
				}
			}
		}
		if total+size > MaxBody {
			d, err := br.Discard(int(MaxBody - total))
			total += uint64(d)
			if err != nil {
				return total, err
			}
			return total, errBodyTooLong
		}
		d, err := br.Discard(int(size))
		total += uint64(d)
		if err != nil {
			return total, err
		}
		if _, err := br.Discard(2); err != nil { // CRLF
			return total, err
		}
	}
}

func readErr(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	if err == bufio.ErrBufferFull {
		return errors.New("header line longer than 16 KiB")
	}
	return err
}

// snippet keeps an error about a malformed answer short (and its error
// set small: a server's garbage is not worth 16 KiB per distinct line).
func snippet(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

func trimCRLF(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		d := s[i]
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// fastUsable says whether the fast engine can run these targets ("" if it
// can, else why not).
func fastUsable(pl *plan) string {
	switch {
	case pl.fixed == nil:
		return "the scenario builds its requests during the attack"
	case pl.transport != nil:
		return "the scenario reads its answers"
	}
	for _, t := range pl.fixed {
		if u, err := url.Parse(t.URL); err != nil || u.Scheme != "http" {
			return "the target is not plain http"
		}
	}
	return ""
}
