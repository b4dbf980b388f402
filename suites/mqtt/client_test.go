package mqtt

import (
	"io"
	"net"
	"testing"
)

// fakeBroker accepts one connection, reads the CONNECT and answers with
// reply (nil: nothing), then closes unless keepOpen.
func fakeBroker(t *testing.T, reply []byte, keepOpen bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 512)
		_, _ = c.Read(buf)
		if reply != nil {
			_, _ = c.Write(reply)
		}
		if keepOpen {
			_, _ = io.Copy(io.Discard, c) // until the client gives up
		}
		_ = c.Close()
	}()
	return "tcp://" + ln.Addr().String()
}

func TestRawConnectOutcomes(t *testing.T) {
	cr := Creds{ClientID: "agent-x", User: "iotsk_live_x", Password: "p"}

	// Nothing listens: unreachable, which no spec may count as refused.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "tcp://" + ln.Addr().String()
	_ = ln.Close()
	if o := RawConnect(dead, cr, 4); !o.Unreachable || o.Accepted {
		t.Errorf("closed port: %+v, want unreachable", o)
	}

	if o := RawConnect(fakeBroker(t, []byte{0x20, 0x02, 0x00, 0x00}, true), cr, 4); !o.Accepted || o.Code != 0 {
		t.Errorf("CONNACK 0: %s", o)
	}
	if o := RawConnect(fakeBroker(t, []byte{0x20, 0x02, 0x00, 0x05}, false), cr, 4); o.Accepted || o.Code != 5 || !o.Closed || !o.Refused() {
		t.Errorf("CONNACK 5 and close: %s", o)
	}
	// MQTT 5.0 CONNACK: flags, reason 0x87, properties length 0.
	if o := RawConnect(fakeBroker(t, []byte{0x20, 0x03, 0x00, 0x87, 0x00}, false), cr, 5); o.Code != 0x87 || !o.Closed || !o.Refused5() {
		t.Errorf("5.0 CONNACK 0x87 and close: %s", o)
	}
	if o := RawConnect(fakeBroker(t, nil, false), cr, 4); o.Accepted || o.Code != -1 || !o.Closed || o.Unreachable {
		t.Errorf("closed without CONNACK: %s", o)
	}
	// A refusing CONNACK without the close MQTT 3.1.1 §3.2.2.3 requires.
	if o := RawConnect(fakeBroker(t, []byte{0x20, 0x02, 0x00, 0x05}, true), cr, 4); o.Code != 5 || o.Closed {
		t.Errorf("CONNACK 5 without close: %s, want Closed false", o)
	}
}

func TestConnectPacket(t *testing.T) {
	p := connectPacket(Creds{ClientID: "c", User: "u", Password: "pw"}, 5)
	// 0x10, len, 00 04 MQTT, level 5, flags C2, keepalive 00 3C, props 0,
	// then "c", "u", "pw" with 2-byte lengths.
	want := []byte{0x10, 21, 0, 4, 'M', 'Q', 'T', 'T', 5, 0xC2, 0, 60, 0, 0, 1, 'c', 0, 1, 'u', 0, 2, 'p', 'w'}
	if string(p) != string(want) {
		t.Errorf("connect 5.0 = % x\nwant          % x", p, want)
	}
	if p := connectPacket(Creds{ClientID: "c"}, 4); p[9] != 0x02 {
		t.Errorf("no username: flags %#x, want 0x02", p[9])
	}
}
