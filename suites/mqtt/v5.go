package mqtt

import (
	"context"
	"net"
	"net/url"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
)

// Connect5 sends one MQTT 5.0 CONNECT with paho.golang and returns the
// CONNACK reason code (-1: closed without CONNACK), disconnecting when
// accepted.
func Connect5(addr string, c Creds) Outcome {
	u, err := url.Parse(addr)
	if err != nil {
		return Outcome{Code: -1, Err: err}
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		return Outcome{Code: -1, Err: err}
	}
	cl := paho5.NewClient(paho5.ClientConfig{Conn: conn})
	cp := &paho5.Connect{ClientID: c.ClientID, KeepAlive: 30, CleanStart: true}
	if c.User != "" {
		cp.Username, cp.UsernameFlag = c.User, true
		cp.Password, cp.PasswordFlag = []byte(c.Password), true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ca, err := cl.Connect(ctx, cp)
	if ca == nil {
		_ = conn.Close()
		return Outcome{Code: -1, Err: err}
	}
	if err != nil || ca.ReasonCode >= 0x80 {
		_ = conn.Close()
		return Outcome{Code: int(ca.ReasonCode), Err: err}
	}
	_ = cl.Disconnect(&paho5.Disconnect{ReasonCode: 0})
	return Outcome{Accepted: true, Code: 0}
}

// Refused5 is MQTT 5.0's refusal for bad credentials: 0x86 bad user name
// or password, 0x87 not authorized.
func (o Outcome) Refused5() bool { return o.Code == 0x86 || o.Code == 0x87 }
