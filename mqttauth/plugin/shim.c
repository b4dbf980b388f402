//go:build mosquittoplugin

// Thin C shim between Mosquitto's plugin API v5 and the Go exports of
// plugin.go. It only registers the two callbacks and forwards strings.

#include <stddef.h>
#include <stdlib.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include "shim.h"
#include "_cgo_export.h"

// The MOSQ_ERR_* values live in <mosquitto.h> (libmosquitto-dev), which
// mosquitto-dev does not ship. They are part of the stable 2.x ABI; when the
// header is present the values are checked at compile time.
#if defined(__has_include)
#if __has_include(<mosquitto.h>)
#include <mosquitto.h>
_Static_assert(AC_ERR_SUCCESS == MOSQ_ERR_SUCCESS, "MOSQ_ERR_SUCCESS");
_Static_assert(AC_ERR_AUTH == MOSQ_ERR_AUTH, "MOSQ_ERR_AUTH");
_Static_assert(AC_ERR_ACL_DENIED == MOSQ_ERR_ACL_DENIED, "MOSQ_ERR_ACL_DENIED");
_Static_assert(AC_ERR_UNKNOWN == MOSQ_ERR_UNKNOWN, "MOSQ_ERR_UNKNOWN");
_Static_assert(AC_LOG_ERR == MOSQ_LOG_ERR, "MOSQ_LOG_ERR");
#endif
#endif

static mosquitto_plugin_id_t *ac_plugin_id;

void ac_log(int level, const char *msg)
{
	mosquitto_log_printf(level, "%s", msg);
}

static int ac_on_basic_auth(int event, void *event_data, void *userdata)
{
	(void)event;
	(void)userdata;
	struct mosquitto_evt_basic_auth *ed = event_data;
	if (ed == NULL || ed->username == NULL || ed->username[0] == '\0') {
		return AC_ERR_AUTH; /* no username: deny without asking */
	}
	const char *cid = mosquitto_client_id(ed->client);
	return acBasicAuth(ed->username, ed->password, (char *)cid);
}

static int ac_on_acl_check(int event, void *event_data, void *userdata)
{
	(void)event;
	(void)userdata;
	struct mosquitto_evt_acl_check *ed = event_data;
	if (ed == NULL) {
		return AC_ERR_ACL_DENIED;
	}
	const char *user = mosquitto_client_username(ed->client);
	const char *cid = mosquitto_client_id(ed->client);
	return acACLCheck((char *)user, (char *)cid, (char *)ed->topic, ed->access);
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for (int i = 0; i < supported_version_count; i++) {
		if (supported_versions[i] == 5) {
			return 5;
		}
	}
	return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
			  struct mosquitto_opt *options, int option_count)
{
	(void)userdata;
	ac_plugin_id = identifier;
	int rc = acInit(options, option_count);
	if (rc != 0) {
		return rc;
	}
	rc = mosquitto_callback_register(ac_plugin_id, MOSQ_EVT_BASIC_AUTH, ac_on_basic_auth, NULL, NULL);
	if (rc != AC_ERR_SUCCESS) {
		ac_log(AC_LOG_ERR, "auth-http: cannot register MOSQ_EVT_BASIC_AUTH");
		return rc;
	}
	rc = mosquitto_callback_register(ac_plugin_id, MOSQ_EVT_ACL_CHECK, ac_on_acl_check, NULL, NULL);
	if (rc != AC_ERR_SUCCESS) {
		ac_log(AC_LOG_ERR, "auth-http: cannot register MOSQ_EVT_ACL_CHECK");
		return rc;
	}
	return AC_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
	(void)userdata;
	(void)options;
	(void)option_count;
	if (ac_plugin_id != NULL) {
		mosquitto_callback_unregister(ac_plugin_id, MOSQ_EVT_BASIC_AUTH, ac_on_basic_auth, NULL);
		mosquitto_callback_unregister(ac_plugin_id, MOSQ_EVT_ACL_CHECK, ac_on_acl_check, NULL);
	}
	acCleanup();
	return AC_ERR_SUCCESS;
}
