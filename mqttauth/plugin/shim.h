// Shared by shim.c and plugin.go (cgo preamble). Values of <mosquitto.h>
// (Mosquitto 2.x ABI), which Debian's mosquitto-dev does not ship.
#ifndef AC_SHIM_H
#define AC_SHIM_H

#define AC_ERR_SUCCESS 0
#define AC_ERR_AUTH 11
#define AC_ERR_ACL_DENIED 12
#define AC_ERR_UNKNOWN 13

#define AC_LOG_INFO 0x01
#define AC_LOG_NOTICE 0x02
#define AC_LOG_WARNING 0x04
#define AC_LOG_ERR 0x08
#define AC_LOG_DEBUG 0x10

#define AC_ACL_READ 0x01
#define AC_ACL_WRITE 0x02
#define AC_ACL_SUBSCRIBE 0x04
#define AC_ACL_UNSUBSCRIBE 0x08

void ac_log(int level, const char *msg);

#endif
