package reference

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/authconform/authconform/spec"
)

// BenchmarkCallbackConn is one broker CONNECT check over a kept-alive
// loopback connection: the plugin's request, the reference's answer. The
// allocations reported are the server's (the client allocates nothing).
func BenchmarkCallbackConn(b *testing.B) {
	for _, first := range []string{"callback", "net/http"} {
		b.Run(first, func(b *testing.B) {
			r, err := Start(context.Background(), Config{Profile: spec.Iotistica}, "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			d := r.Target.Devices[0]
			addr := strings.TrimPrefix(r.URL, "http://")
			body := `{"clientid":"agent-` + d.UUID + `","password":"` + d.MQTTPassword + `","username":"` + d.APIKey + `"}`
			req := []byte(fmt.Sprintf("POST /api/v1/mosquitto-auth/user HTTP/1.1\r\nHost: %s\r\nUser-Agent: authconform-mqttauth\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body))
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			buf := make([]byte, 4096)
			readUntil := func(end string) []byte {
				n := 0
				for !bytes.HasSuffix(buf[:n], []byte(end)) {
					m, err := c.Read(buf[n:])
					if err != nil {
						b.Fatal(err)
					}
					n += m
				}
				return buf[:n]
			}
			roundTrip := func() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if a := readUntil("}\n"); !bytes.HasPrefix(a, []byte("HTTP/1.1 200 ")) {
					b.Fatalf("answer %q", a)
				}
			}
			if first == "net/http" {
				// A connection that starts with any other request stays with net/http.
				if _, err := c.Write([]byte("GET /api/v1/license HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
					b.Fatal(err)
				}
				readUntil("}\n")
			}
			roundTrip()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				roundTrip()
			}
		})
	}
}
