//go:build mosquittoplugin

package main

/*
#cgo CFLAGS: -O2 -Wall
#include <stdlib.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/authconform/authconform/mqttauth"
)

// client is set once by acInit, before the broker accepts any client.
var client atomic.Pointer[mqttauth.Client]

var logger = slog.New(&mosqHandler{level: slog.LevelWarn})

//export acInit
func acInit(opts *C.struct_mosquitto_opt, n C.int) C.int {
	m := map[string]string{}
	if n > 0 && opts != nil {
		for _, o := range unsafe.Slice(opts, int(n)) {
			m[C.GoString(o.key)] = C.GoString(o.value)
		}
	}
	copts, level, err := mqttauth.ParsePluginOptions(m)
	if err != nil {
		cLog(C.AC_LOG_ERR, "auth-http: "+err.Error())
		return 1
	}
	logger = slog.New(&mosqHandler{level: level})
	c, err := mqttauth.New(append(copts, mqttauth.WithLogger(logger))...)
	if err != nil {
		cLog(C.AC_LOG_ERR, "auth-http: "+err.Error())
		return 1
	}
	client.Store(c)
	cLog(C.AC_LOG_INFO, "auth-http: ready (go-auth HTTP protocol, fail closed, no cache)")
	if c.FailOpen() {
		cLog(C.AC_LOG_WARNING, "auth-http: WARNING plugin_opt_fail_open is true: clients are ALLOWED when the backend fails (mutant only)")
	}
	if c.StickyRefusals() {
		cLog(C.AC_LOG_WARNING, "auth-http: WARNING plugin_opt_sticky_refusals is true: a refused client's next CONNECT is refused without asking (mutant only)")
	}
	return 0
}

//export acCleanup
func acCleanup() {
	if c := client.Swap(nil); c != nil {
		c.CloseIdleConnections()
	}
}

//export acBasicAuth
func acBasicAuth(username, password, clientID *C.char) C.int {
	c := client.Load()
	if c == nil {
		return C.AC_ERR_UNKNOWN
	}
	d, err := c.CheckUser(context.Background(), C.GoString(username), C.GoString(password), C.GoString(clientID))
	switch {
	case d == mqttauth.Allow:
		return C.AC_ERR_SUCCESS // includes fail_open on error (the mutant)
	case err != nil:
		return C.AC_ERR_UNKNOWN // backend error: close without CONNACK
	default:
		return C.AC_ERR_AUTH
	}
}

//export acACLCheck
func acACLCheck(username, clientID, topic *C.char, access C.int) C.int {
	c := client.Load()
	if c == nil {
		return C.AC_ERR_UNKNOWN
	}
	if access == C.AC_ACL_UNSUBSCRIBE {
		return C.AC_ERR_SUCCESS // dropping a subscription never grants anything
	}
	user := C.GoString(username)
	ctx := context.Background()
	// As go-auth: a superuser may do anything.
	d, err := c.CheckSuperuser(ctx, user)
	if err != nil && d != mqttauth.Allow {
		return C.AC_ERR_UNKNOWN
	}
	if d == mqttauth.Allow && err == nil {
		return C.AC_ERR_SUCCESS
	}
	d, err = c.CheckACL(ctx, user, C.GoString(clientID), C.GoString(topic), int(access))
	switch {
	case d == mqttauth.Allow:
		return C.AC_ERR_SUCCESS
	case err != nil:
		return C.AC_ERR_UNKNOWN
	default:
		return C.AC_ERR_ACL_DENIED
	}
}

func cLog(level C.int, msg string) {
	cs := C.CString(msg)
	C.ac_log(level, cs)
	C.free(unsafe.Pointer(cs))
}

// mosqHandler sends slog records to Mosquitto's log. The records come from
// package mqttauth, which never puts a username or password in them.
type mosqHandler struct{ level slog.Level }

func (h *mosqHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *mosqHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("auth-http: ")
	b.WriteString(strings.TrimPrefix(r.Message, "mqttauth: "))
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" ")
		b.WriteString(a.Key)
		b.WriteString("=")
		b.WriteString(a.Value.String())
		return true
	})
	lv := C.int(C.AC_LOG_INFO)
	switch {
	case r.Level >= slog.LevelError:
		lv = C.AC_LOG_ERR
	case r.Level >= slog.LevelWarn:
		lv = C.AC_LOG_WARNING
	case r.Level < slog.LevelInfo:
		lv = C.AC_LOG_DEBUG
	}
	cLog(lv, b.String())
	return nil
}

func (h *mosqHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *mosqHandler) WithGroup(string) slog.Handler      { return h }
