package mqtt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"

	packets5 "github.com/eclipse/paho.golang/packets"
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// Bounds of every wait on the broker.
const (
	// DialTimeout bounds the TCP connect.
	DialTimeout = 5 * time.Second
	// ConnackTimeout bounds the wait for a CONNACK (the broker asks the
	// API first; the plugin's own timeout is below this).
	ConnackTimeout = 10 * time.Second
	// CloseTimeout bounds the wait for the broker to close the
	// connection after a refusing CONNACK.
	CloseTimeout = 3 * time.Second
	// AckTimeout bounds SUBACK and PUBACK waits and message deliveries.
	AckTimeout = 5 * time.Second
)

// Outcome is what a CONNECT got.
type Outcome struct {
	// Version is the protocol level sent: 4 (MQTT 3.1.1) or 5 (MQTT 5.0).
	Version int
	// Accepted is true on CONNACK 0.
	Accepted bool
	// Code is the CONNACK return (3.1.1) or reason (5.0) code; -1 when no
	// CONNACK came (the broker closed the connection, or did not answer
	// within ConnackTimeout).
	Code int
	// Unreachable is true when no TCP connection to the broker could be
	// made at all: nothing can be judged from such an attempt.
	Unreachable bool
	// Closed is true when the broker closed the connection after refusing
	// it (a refusing CONNACK, or none), within CloseTimeout.
	Closed bool
	Err    error
}

func (o Outcome) String() string {
	v := "MQTT 3.1.1"
	if o.Version == 5 {
		v = "MQTT 5.0"
	}
	switch {
	case o.Unreachable:
		return fmt.Sprintf("%s: broker unreachable (%v)", v, o.Err)
	case o.Accepted:
		return v + ": CONNACK 0 (accepted)"
	case o.Code >= 0:
		return fmt.Sprintf("%s: CONNACK 0x%02x (refused), connection %s", v, o.Code, closedText(o.Closed))
	case o.Closed:
		return fmt.Sprintf("%s: connection closed without CONNACK (%v)", v, o.Err)
	default:
		return fmt.Sprintf("%s: no CONNACK and no close within %s (%v)", v, ConnackTimeout, o.Err)
	}
}

func closedText(closed bool) string {
	if closed {
		return "closed"
	}
	return fmt.Sprintf("NOT closed within %s", CloseTimeout)
}

// Refused reports a refusal as MQTT 3.1.1 §3.2.2.3 allows for bad
// credentials (0x04 bad user name or password, 0x05 not authorised).
func (o Outcome) Refused() bool { return o.Code == 4 || o.Code == 5 }

// Refused5 is MQTT 5.0's refusal for bad credentials (§3.2.2.2): 0x86 bad
// user name or password, 0x87 not authorized.
func (o Outcome) Refused5() bool { return o.Code == 0x86 || o.Code == 0x87 }

// Creds are MQTT credentials; empty User sends no username at all.
type Creds struct {
	ClientID, User, Password string
}

func hostOf(addr string) (string, error) {
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("mqtt: broker address %q is not tcp://host:port", addr)
	}
	return u.Host, nil
}

// Connect sends one MQTT 3.1.1 CONNECT and disconnects again when
// accepted.
func Connect(addr string, c Creds) Outcome { return RawConnect(addr, c, 4) }

// Connect5 is Connect with MQTT 5.0.
func Connect5(addr string, c Creds) Outcome { return RawConnect(addr, c, 5) }

// RawConnect writes one CONNECT of protocol level version (4 or 5), reads
// the CONNACK (bounded by ConnackTimeout) and, when it refuses, waits up to
// CloseTimeout for the broker to close the connection. An accepted
// connection is ended with DISCONNECT.
func RawConnect(addr string, c Creds, version int) Outcome {
	out, conn := open(addr, c, version, nil)
	if conn != nil {
		_, _ = conn.Write([]byte{0xE0, 0x00}) // DISCONNECT
		_ = conn.Close()
	}
	return out
}

// open dials, writes CONNECT (and extra, in the same write) and reads the
// CONNACK. It returns the open connection only when accepted.
func open(addr string, c Creds, version int, extra []byte) (Outcome, net.Conn) {
	out := Outcome{Version: version, Code: -1}
	host, err := hostOf(addr)
	if err != nil {
		out.Unreachable, out.Err = true, err
		return out, nil
	}
	conn, err := net.DialTimeout("tcp", host, DialTimeout)
	if err != nil {
		out.Unreachable, out.Err = true, err
		return out, nil
	}
	_ = conn.SetDeadline(time.Now().Add(ConnackTimeout))
	if _, err := conn.Write(append(connectPacket(c, version), extra...)); err != nil {
		// The broker may already have closed: read what it sent anyway.
		out.Err = err
	}
	code, err := readConnack(conn, version)
	if err != nil {
		out.Err = err
		out.Closed = isClosed(err)
		_ = conn.Close()
		return out, nil
	}
	out.Code = code
	if code == 0 {
		out.Accepted = true
		_ = conn.SetDeadline(time.Time{})
		return out, conn
	}
	// MQTT 3.1.1 §3.2.2.3 / 5.0 §3.2.2.2: after a refusing CONNACK the
	// server MUST close the network connection.
	_ = conn.SetDeadline(time.Now().Add(CloseTimeout))
	_, err = io.Copy(io.Discard, io.LimitReader(conn, 1<<16))
	out.Closed = err == nil || isClosed(err)
	_ = conn.Close()
	return out, nil
}

// isClosed tells a connection closed (or reset) by the peer from a timeout.
func isClosed(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true
}

// readConnack reads one CONNACK and returns its return (3.1.1) or reason
// (5.0) code, decoded by paho.mqtt.golang's and paho.golang's packet
// readers.
func readConnack(conn net.Conn, version int) (int, error) {
	if version == 5 {
		cp, err := packets5.ReadPacket(conn)
		if err != nil {
			return -1, err
		}
		ca, ok := cp.Content.(*packets5.Connack)
		if !ok {
			return -1, fmt.Errorf("mqtt: first packet from the broker is %s, not CONNACK", cp.PacketType())
		}
		return int(ca.ReasonCode), nil
	}
	cp, err := packets.ReadPacket(conn)
	if err != nil {
		return -1, err
	}
	ca, ok := cp.(*packets.ConnackPacket)
	if !ok {
		return -1, fmt.Errorf("mqtt: first packet from the broker is %s, not CONNACK", cp.String())
	}
	return int(ca.ReturnCode), nil
}

// RawConnectThenPublish writes a 3.1.1 CONNECT and, in the same write, a
// retained QoS 0 PUBLISH, without waiting for the CONNACK (MQTT-007). When
// the CONNECT is accepted the connection is ended with DISCONNECT (which the
// broker handles after the PUBLISH).
func RawConnectThenPublish(addr string, c Creds, topic string, payload []byte) Outcome {
	out, conn := open(addr, c, 4, publishPacket(topic, payload, true))
	if conn != nil {
		_, _ = conn.Write([]byte{0xE0, 0x00})
		_ = conn.SetReadDeadline(time.Now().Add(CloseTimeout))
		_, _ = io.Copy(io.Discard, io.LimitReader(conn, 1<<16))
		_ = conn.Close()
	}
	return out
}

// Dial connects with paho (MQTT 3.1.1) and returns the client when
// accepted (the caller disconnects). onMsg receives every message.
func Dial(addr string, c Creds, onMsg paho.MessageHandler) (paho.Client, Outcome) {
	o := paho.NewClientOptions().AddBroker(addr).SetClientID(c.ClientID).
		SetProtocolVersion(4). // else paho retries a refused CONNECT with MQTT 3.1
		SetAutoReconnect(false).SetConnectRetry(false).SetCleanSession(true).
		SetConnectTimeout(ConnackTimeout).SetWriteTimeout(AckTimeout)
	if c.User != "" {
		o.SetUsername(c.User).SetPassword(c.Password)
	}
	if onMsg != nil {
		o.SetDefaultPublishHandler(onMsg)
	}
	cl := paho.NewClient(o)
	tok := cl.Connect()
	if !tok.WaitTimeout(ConnackTimeout + DialTimeout) {
		return nil, Outcome{Version: 4, Code: -1, Err: errors.New("no CONNACK in time")}
	}
	ct := tok.(*paho.ConnectToken)
	if err := tok.Error(); err != nil {
		code := int(ct.ReturnCode())
		if code == int(packets.ErrNetworkError) || code == int(packets.ErrProtocolViolation) || code == 0 {
			code = -1
		}
		return nil, Outcome{Version: 4, Code: code, Err: err}
	}
	return cl, Outcome{Version: 4, Accepted: true, Code: 0}
}

// connectPacket is a clean-session CONNECT of protocol level version (4:
// 3.1.1 via paho.mqtt.golang's packets, 5: 5.0 via paho.golang's packets,
// no properties), keep-alive 60 s. Built from the libraries' packet types
// rather than sent through a client because the checks need what a client hides: the exact
// CONNACK code, whether the broker closed the connection, and a PUBLISH
// in the same write as the CONNECT (MQTT-007).
func connectPacket(c Creds, version int) []byte {
	var b bytes.Buffer
	if version == 5 {
		cp := &packets5.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, CleanStart: true, KeepAlive: 60,
			ClientID: c.ClientID, Properties: &packets5.Properties{}}
		if c.User != "" {
			cp.UsernameFlag, cp.Username = true, c.User
			cp.PasswordFlag, cp.Password = true, []byte(c.Password)
		}
		_, _ = cp.WriteTo(&b)
		return b.Bytes()
	}
	cp := packets.NewControlPacket(packets.Connect).(*packets.ConnectPacket)
	cp.ProtocolName, cp.ProtocolVersion, cp.CleanSession, cp.Keepalive = "MQTT", 4, true, 60
	cp.ClientIdentifier = c.ClientID
	if c.User != "" {
		cp.UsernameFlag, cp.Username = true, c.User
		cp.PasswordFlag, cp.Password = true, []byte(c.Password)
	}
	_ = cp.Write(&b)
	return b.Bytes()
}

func publishPacket(topic string, payload []byte, retain bool) []byte {
	pp := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	pp.TopicName, pp.Payload, pp.Retain = topic, payload, retain
	var b bytes.Buffer
	_ = pp.Write(&b)
	return b.Bytes()
}
