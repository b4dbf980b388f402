package mqtt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// Outcome is what a CONNECT got.
type Outcome struct {
	// Accepted is true on CONNACK 0.
	Accepted bool
	// Code is the CONNACK return code; -1 when the broker closed the
	// connection without a CONNACK (or never answered).
	Code int
	Err  error
}

func (o Outcome) String() string {
	switch {
	case o.Accepted:
		return "CONNACK 0 (accepted)"
	case o.Code >= 0:
		return fmt.Sprintf("CONNACK %d (refused)", o.Code)
	default:
		return fmt.Sprintf("closed without CONNACK (%v)", o.Err)
	}
}

// Refused reports a refusal as MQTT 3.1.1 §3.2.2.3 allows for bad
// credentials (0x04 bad user name or password, 0x05 not authorised).
func (o Outcome) Refused() bool { return o.Code == 4 || o.Code == 5 }

// NotAccepted is refused or closed: what fail-closed requires.
func (o Outcome) NotAccepted() bool { return !o.Accepted }

// Creds are MQTT credentials; empty User sends no username at all.
type Creds struct {
	ClientID, User, Password string
}

func options(addr string, c Creds) *paho.ClientOptions {
	o := paho.NewClientOptions().AddBroker(addr).SetClientID(c.ClientID).
		SetProtocolVersion(4). // else paho retries a refused CONNECT with MQTT 3.1
		SetAutoReconnect(false).SetConnectRetry(false).SetCleanSession(true).
		SetConnectTimeout(8 * time.Second).SetWriteTimeout(5 * time.Second)
	if c.User != "" {
		o.SetUsername(c.User).SetPassword(c.Password)
	}
	return o
}

// Connect sends one CONNECT and disconnects again when accepted.
func Connect(addr string, c Creds) Outcome {
	cl, out := Dial(addr, c, nil)
	if cl != nil {
		cl.Disconnect(0)
	}
	return out
}

// Dial connects and returns the client when accepted (caller disconnects).
func Dial(addr string, c Creds, onMsg paho.MessageHandler) (paho.Client, Outcome) {
	o := options(addr, c)
	if onMsg != nil {
		o.SetDefaultPublishHandler(onMsg)
	}
	cl := paho.NewClient(o)
	tok := cl.Connect()
	if !tok.WaitTimeout(12 * time.Second) {
		return nil, Outcome{Code: -1, Err: errors.New("no CONNACK within 12s")}
	}
	ct := tok.(*paho.ConnectToken)
	if err := tok.Error(); err != nil {
		code := int(ct.ReturnCode())
		if code == int(packets.ErrNetworkError) || code == int(packets.ErrProtocolViolation) || code == 0 {
			code = -1
		}
		return nil, Outcome{Code: code, Err: err}
	}
	return cl, Outcome{Accepted: true, Code: 0}
}

// RawConnectThenPublish writes a CONNECT and, in the same write, a
// retained QoS 0 PUBLISH, without waiting for the CONNACK (MQTT-007). It
// returns what came back before the broker closed the connection.
func RawConnectThenPublish(addr string, c Creds, topic string, payload []byte) (Outcome, error) {
	u, err := url.Parse(addr)
	if err != nil {
		return Outcome{}, err
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		return Outcome{}, err
	}
	defer conn.Close()
	var buf bytes.Buffer
	buf.Write(connectPacket(c))
	buf.Write(publishPacket(topic, payload, true))
	if _, err := conn.Write(buf.Bytes()); err != nil {
		return Outcome{Code: -1, Err: err}, nil
	}
	_ = conn.SetReadDeadline(time.Now().Add(8 * time.Second))
	b := make([]byte, 4)
	n, err := io.ReadFull(conn, b)
	if n == 4 && b[0] == 0x20 && b[1] == 0x02 {
		// Wait for the close (or give the broker a moment to act on the
		// PUBLISH if it accepted).
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, _ = io.Copy(io.Discard, conn)
		return Outcome{Accepted: b[3] == 0, Code: int(b[3])}, nil
	}
	return Outcome{Code: -1, Err: err}, nil
}

func str(b *bytes.Buffer, s string) {
	b.WriteByte(byte(len(s) >> 8))
	b.WriteByte(byte(len(s)))
	b.WriteString(s)
}

func remaining(n int) []byte {
	var out []byte
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		out = append(out, d)
		if n == 0 {
			return out
		}
	}
}

func connectPacket(c Creds) []byte {
	var vh bytes.Buffer
	str(&vh, "MQTT")
	vh.WriteByte(4) // 3.1.1
	flags := byte(0x02)
	if c.User != "" {
		flags |= 0x80 | 0x40
	}
	vh.WriteByte(flags)
	vh.Write([]byte{0, 60})
	str(&vh, c.ClientID)
	if c.User != "" {
		str(&vh, c.User)
		str(&vh, c.Password)
	}
	return append(append([]byte{0x10}, remaining(vh.Len())...), vh.Bytes()...)
}

func publishPacket(topic string, payload []byte, retain bool) []byte {
	var vh bytes.Buffer
	str(&vh, topic)
	vh.Write(payload)
	h := byte(0x30)
	if retain {
		h |= 0x01
	}
	return append(append([]byte{h}, remaining(vh.Len())...), vh.Bytes()...)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
