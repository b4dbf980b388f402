// Package probe is a test helper of the broker packages: one MQTT 3.1.1
// CONNECT + DISCONNECT, to see whether a broker accepts credentials.
package probe

import (
	"context"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Connect dials addr (tcp://host:port) with the credentials and returns
// nil when the broker accepted them. Protocol version 4 is pinned: else
// paho retries a refused CONNECT with MQTT 3.1.
func Connect(addr, clientID, user, pass string) error {
	o := paho.NewClientOptions().AddBroker(addr).SetClientID(clientID).SetUsername(user).SetPassword(pass).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second)
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return context.DeadlineExceeded
	}
	if err := tok.Error(); err != nil {
		return err
	}
	c.Disconnect(50)
	return nil
}
