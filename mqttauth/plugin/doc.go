// Command plugin is the Mosquitto auth plugin (plugin API v5) of
// authconform: a -buildmode=c-shared library that asks an HTTP API, in the
// mosquitto-go-auth HTTP backend protocol, whether a client may connect
// (MOSQ_EVT_BASIC_AUTH) and use a topic (MOSQ_EVT_ACL_CHECK). The HTTP
// client and the option parsing live in package mqttauth; this package is
// only the cgo glue.
//
// The cgo files are behind the build tag mosquittoplugin because they need
// the headers of Debian's mosquitto-dev package; without the tag the
// package is this file only, so `go build ./...` and `go vet ./...` work
// anywhere. Build the plugin with `make plugin`:
//
//	CGO_ENABLED=1 go build -tags mosquittoplugin -buildmode=c-shared \
//	    -o bin/mosquitto_auth_http.so ./mqttauth/plugin
//
// and load it from mosquitto.conf:
//
//	plugin /path/to/mosquitto_auth_http.so
//	plugin_opt_http_host api
//	plugin_opt_http_port 8080
//
// It fails closed: a backend that is down, slow or answering 5xx makes the
// broker refuse the client (MOSQ_ERR_UNKNOWN: the socket is closed without
// a CONNACK). Only plugin_opt_fail_open true, which exists for the mutant
// `--fault mqtt-fail-open`, lets clients in on a backend error. The device
// key (MQTT username) and the MQTT password are never logged.
package main

// main is required by -buildmode=c-shared and never runs.
func main() {}
