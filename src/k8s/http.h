/* http.h - the API server's HTTP layer on libcurl: one client per process, shared by every thread.
 *
 * Threads: every call blocks its calling thread and only it. Informers run their list/watch on their own
 * thread (informer.h), writers (the operator) on theirs; no gateway worker ever calls in here. Requests
 * from several threads share one libcurl connection cache (CURLSH), so writes reuse TLS connections.
 *
 * What every request gets: TLS verification (always on; the config's CA or the system store), the bearer
 * token (re-read from its file when the file changes, as service-account tokens rotate) or the client
 * certificate, a connect timeout, a total timeout (not for watches, which use a stall detector instead),
 * a response-size bound, and the client-side token bucket (client-go's QPS 5 / burst 10 by default).
 * Each call can be cancelled by an atomic flag, checked at least about once a second.
 */
#ifndef FIXGW_K8S_HTTP_H
#define FIXGW_K8S_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "k8s/config.h"

#define K8S_DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define K8S_DEFAULT_REQUEST_TIMEOUT_MS 60000u
#define K8S_DEFAULT_MAX_RESPONSE       (64u << 20) /* bytes in one non-streamed response body */

struct k8s_client;

/** Tunables; zero fields take the defaults. */
struct k8s_client_opts {
	double qps;     /* token bucket rate; 0 = K8S_DEFAULT_QPS, < 0 = unlimited */
	unsigned burst; /* 0 = K8S_DEFAULT_BURST */
	uint32_t connect_timeout_ms;
	uint32_t request_timeout_ms;
	size_t max_response_bytes;
	const char *user_agent; /* NULL = "fixgw/VERSION" */
};

/** A response: status and a body owned by the response (NUL-terminated). Free with k8s_response_free. */
struct k8s_response {
	long status; /* HTTP status, 0 when no response arrived */
	char *body;
	size_t len;
	uint64_t retry_after_ms; /* from Retry-After (seconds), 0 when absent */
	char error[256];         /* transport problem, for log lines ("" when none) */
};

/** Create a client. It takes ownership of *cfg (which is zeroed). Returns 0, FIXGW_EINVAL (with a message
 * in err) or FIXGW_ENOMEM. */
int k8s_client_new(struct k8s_config *cfg, const struct k8s_client_opts *opts, struct k8s_client **out,
                   char *err, size_t err_cap);
void k8s_client_free(struct k8s_client *c);
/** The configuration's origin ("kubeconfig PATH (context X)", "in-cluster") and default namespace. */
const char *k8s_client_origin(const struct k8s_client *c);
const char *k8s_client_namespace(const struct k8s_client *c);

/** One request. path starts with '/' and carries its query. body may be NULL. Returns 0 when a response
 * arrived (any status: check resp->status), FIXGW_ELIMIT when the body exceeded the bound, FIXGW_ETIMEOUT,
 * FIXGW_EAGAIN when cancelled, FIXGW_EIO on other transport failures (resp->error says which),
 * FIXGW_ENOMEM. resp is always initialised; free it with k8s_response_free. */
int k8s_request(struct k8s_client *c, const char *method, const char *path, const char *content_type,
                const char *body, size_t body_len, struct k8s_response *resp, const atomic_bool *cancel);

/** Receives streamed body bytes of a 2xx response; returns false to end the stream. */
typedef bool (*k8s_stream_fn)(void *arg, const char *data, size_t len);

/** A streamed GET (a watch). While the status is 2xx the body goes to fn as it arrives; other statuses
 * are collected into resp->body (bounded) like k8s_request. stall_ms: the stream is ended with
 * FIXGW_ETIMEOUT when no byte arrived for that long (0 = no stall detection). Returns 0 when the server
 * ended the response, or fn asked to stop, otherwise as k8s_request. */
int k8s_stream(struct k8s_client *c, const char *path, uint32_t stall_ms, k8s_stream_fn fn, void *arg,
               struct k8s_response *resp, const atomic_bool *cancel);

void k8s_response_free(struct k8s_response *resp);

/** The "message" of a Kubernetes Status body, or a short description of the response. Never NULL; the
 * text is copied into buf (at most cap bytes). */
const char *k8s_response_message(const struct k8s_response *resp, char *buf, size_t cap);

/** Milliseconds on the monotonic clock. */
uint64_t k8s_now_ms(void);

#endif
