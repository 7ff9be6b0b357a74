/* http.c - the HTTP layer on libcurl (see http.h). */
#include "k8s/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/errors.h"
#include "core/grow.h"
#include "k8s/ratelimit.h"

#define TOKEN_MAX 16384 /* bytes in a bearer token (projected tokens are about 1 KiB) */

struct k8s_client {
	struct k8s_config cfg;
	struct k8s_client_opts opts;
	char user_agent[64];
	pthread_mutex_t lock; /* bucket and token */
	struct k8s_bucket bucket;
	char *token; /* the bearer token in use; owned, wiped on change */
	struct stat token_st;
	CURLSH *share;
	pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
};

/* One transfer. */
struct xfer {
	struct k8s_response *resp;
	CURL *easy;
	size_t max;
	k8s_stream_fn fn; /* NULL: collect the body */
	void *arg;
	const atomic_bool *cancel;
	uint32_t stall_ms;     /* 0: no stall detection */
	uint64_t last_byte_ms; /* when the last body byte (or the start) was seen */
	bool stalled;
	bool too_big;
	bool stopped; /* fn asked to stop */
	bool nomem;
	size_t body_cap; /* bytes allocated at resp->body */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

uint64_t k8s_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
	struct k8s_client *c = arg;
	pthread_mutex_lock(&c->share_lock[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct k8s_client *c = arg;
	pthread_mutex_unlock(&c->share_lock[data]);
}

int k8s_client_new(struct k8s_config *cfg, const struct k8s_client_opts *opts, struct k8s_client **out,
                   char *err, size_t err_cap)
{
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		snprintf(err, err_cap, "libcurl initialisation failed: %s", curl_easy_strerror(curl_init_rc));
		return FIXGW_EINVAL;
	}
	if (!cfg->server) {
		snprintf(err, err_cap, "no API server address in the configuration");
		return FIXGW_EINVAL;
	}
	struct k8s_client *c = calloc(1, sizeof(*c));
	if (!c)
		return FIXGW_ENOMEM;
	c->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	if (opts)
		c->opts = *opts;
	if (c->opts.qps == 0)
		c->opts.qps = K8S_DEFAULT_QPS;
	if (!c->opts.burst)
		c->opts.burst = K8S_DEFAULT_BURST;
	if (!c->opts.connect_timeout_ms)
		c->opts.connect_timeout_ms = K8S_DEFAULT_CONNECT_TIMEOUT_MS;
	if (!c->opts.request_timeout_ms)
		c->opts.request_timeout_ms = K8S_DEFAULT_REQUEST_TIMEOUT_MS;
	if (!c->opts.max_response_bytes)
		c->opts.max_response_bytes = K8S_DEFAULT_MAX_RESPONSE;
	snprintf(c->user_agent, sizeof(c->user_agent), "%s",
	         c->opts.user_agent ? c->opts.user_agent : "fixgw/" FIXGW_VERSION);
	c->opts.user_agent = NULL;
	pthread_mutex_init(&c->lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_lock[i], NULL);
	k8s_bucket_init(&c->bucket, c->opts.qps, c->opts.burst, now_ns());
	c->share = curl_share_init();
	if (!c->share) {
		k8s_client_free(c);
		return FIXGW_ENOMEM;
	}
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	*out = c;
	return 0;
}

void k8s_client_free(struct k8s_client *c)
{
	if (!c)
		return;
	if (c->share)
		curl_share_cleanup(c->share);
	if (c->token) {
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	k8s_config_free(&c->cfg);
	pthread_mutex_destroy(&c->lock);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_lock[i]);
	free(c);
}

const char *k8s_client_origin(const struct k8s_client *c)
{
	return c->cfg.origin ? c->cfg.origin : c->cfg.server;
}

const char *k8s_client_namespace(const struct k8s_client *c)
{
	return c->cfg.namespace_;
}

/* Re-read the token file when it changed (a rotated service-account token). Called with c->lock held.
 * A file that cannot be read keeps the last good token, so a rotation in progress is not an outage. */
static void token_refresh(struct k8s_client *c)
{
	struct stat st;
	if (stat(c->cfg.token_file, &st) != 0)
		return;
	if (c->token && st.st_ino == c->token_st.st_ino && st.st_size == c->token_st.st_size &&
	    st.st_mtim.tv_sec == c->token_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == c->token_st.st_mtim.tv_nsec)
		return;
	FILE *f = fopen(c->cfg.token_file, "re");
	if (!f)
		return;
	char *buf = malloc(TOKEN_MAX + 1);
	size_t n = buf ? fread(buf, 1, TOKEN_MAX + 1, f) : 0;
	fclose(f);
	if (!buf)
		return;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	if (n == 0 || n > TOKEN_MAX) {
		free(buf);
		return;
	}
	buf[n] = '\0';
	if (c->token) {
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	c->token = buf;
	c->token_st = st;
}

/* "Authorization: Bearer ..." for this request, or NULL without a token. Caller wipes and frees it. */
static char *auth_header(struct k8s_client *c)
{
	pthread_mutex_lock(&c->lock);
	if (c->cfg.token_file)
		token_refresh(c);
	const char *tok = c->cfg.token ? c->cfg.token : c->token;
	char *h = NULL;
	if (tok) {
		size_t n = strlen(tok) + 32;
		h = malloc(n);
		if (h)
			snprintf(h, n, "Authorization: Bearer %s", tok);
	}
	pthread_mutex_unlock(&c->lock);
	return h;
}

/* Wait for a token of the bucket; false when cancelled while waiting. */
static bool rate_wait(struct k8s_client *c, const atomic_bool *cancel)
{
	pthread_mutex_lock(&c->lock);
	uint64_t wait = k8s_bucket_reserve(&c->bucket, now_ns());
	pthread_mutex_unlock(&c->lock);
	while (wait > 0) {
		if (cancel && atomic_load(cancel))
			return false;
		uint64_t slice = wait > 100000000u ? 100000000u : wait;
		struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)slice};
		nanosleep(&ts, NULL);
		wait -= slice;
	}
	return true;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		char tmp[32];
		size_t m = len - 12 < sizeof(tmp) - 1 ? len - 12 : sizeof(tmp) - 1;
		memcpy(tmp, p + 12, m);
		tmp[m] = '\0';
		char *end;
		unsigned long s = strtoul(tmp, &end, 10);
		if (end != tmp)
			x->resp->retry_after_ms = (uint64_t)(s > 3600 ? 3600 : s) * 1000u;
	}
	return len;
}

static bool collect(struct xfer *x, const char *p, size_t len)
{
	struct k8s_response *r = x->resp;
	if (r->len + len > x->max) {
		x->too_big = true;
		return false;
	}
	/* Doubling, not exact-size: a large list arrives in many small chunks. */
	if (GROW_ARRAY(r->body, x->body_cap, r->len + len + 1, 4096) != 0) {
		x->nomem = true;
		return false;
	}
	memcpy(r->body + r->len, p, len);
	r->len += len;
	r->body[r->len] = '\0';
	return true;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	x->last_byte_ms = k8s_now_ms();
	if (x->fn) {
		long code = 0;
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
		if (code >= 200 && code < 300) {
			if (!x->fn(x->arg, p, len)) {
				x->stopped = true;
				return 0;
			}
			return len;
		}
	}
	return collect(x, p, len) ? len : 0;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct xfer *x = arg;
	if (x->cancel && atomic_load(x->cancel))
		return 1;
	/* libcurl calls this about once a second even when nothing arrives, so a silent stream is noticed
	 * within a second of its deadline (CURLOPT_LOW_SPEED_TIME averages over seconds of history) */
	if (x->stall_ms && k8s_now_ms() - x->last_byte_ms > x->stall_ms) {
		x->stalled = true;
		return 1;
	}
	return 0;
}

/* A PEM input from a blob (kubeconfig *-data, copied by libcurl) or a file; type_opt 0 when none. */
static void set_pem(CURL *e, const struct k8s_blob *blob, const char *file, CURLoption blob_opt,
                    CURLoption file_opt, CURLoption type_opt)
{
	if (blob->data) {
		struct curl_blob b = {.data = blob->data, .len = blob->len, .flags = CURL_BLOB_COPY};
		curl_easy_setopt(e, blob_opt, &b);
		if (type_opt)
			curl_easy_setopt(e, type_opt, "PEM");
	} else if (file) {
		curl_easy_setopt(e, file_opt, file);
	}
}

static int perform(struct k8s_client *c, const char *method, const char *path, const char *content_type,
                   const char *body, size_t body_len, uint32_t stall_ms, k8s_stream_fn fn, void *arg,
                   struct k8s_response *resp, const atomic_bool *cancel)
{
	memset(resp, 0, sizeof(*resp));
	if (!rate_wait(c, cancel)) {
		snprintf(resp->error, sizeof(resp->error), "cancelled");
		return FIXGW_EAGAIN;
	}
	size_t url_len = strlen(c->cfg.server) + strlen(path) + 1;
	char *url = malloc(url_len);
	CURL *e = curl_easy_init();
	char *auth = auth_header(c);
	struct curl_slist *hdrs = NULL;
	int rc = FIXGW_ENOMEM;
	if (!url || !e || ((c->cfg.token || c->cfg.token_file) && !auth))
		goto free_all;
	snprintf(url, url_len, "%s%s", c->cfg.server, path);
	struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
	if (!h)
		goto free_all;
	hdrs = h;
	char ct[96];
	const char *extra[3] = {auth, "Expect:", NULL};
	if (content_type) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
		extra[2] = ct;
	}
	for (size_t i = 0; i < 3; i++) {
		if (!extra[i])
			continue;
		if (!(h = curl_slist_append(hdrs, extra[i])))
			goto free_all;
		hdrs = h;
	}

	struct xfer x = {.resp = resp,
	                 .easy = e,
	                 .max = c->opts.max_response_bytes,
	                 .fn = fn,
	                 .arg = arg,
	                 .cancel = cancel,
	                 .stall_ms = stall_ms,
	                 .last_byte_ms = k8s_now_ms()};
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_SHARE, c->share);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	set_pem(e, &c->cfg.ca_pem, c->cfg.ca_file, CURLOPT_CAINFO_BLOB, CURLOPT_CAINFO, 0);
	set_pem(e, &c->cfg.cert_pem, c->cfg.cert_file, CURLOPT_SSLCERT_BLOB, CURLOPT_SSLCERT,
	        CURLOPT_SSLCERTTYPE);
	set_pem(e, &c->cfg.key_pem, c->cfg.key_file, CURLOPT_SSLKEY_BLOB, CURLOPT_SSLKEY, CURLOPT_SSLKEYTYPE);
	curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->opts.connect_timeout_ms);
	if (!fn)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->opts.request_timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(e, CURLOPT_XFERINFODATA, &x);
	if (body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);

	CURLcode cr = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
	if (cr == CURLE_OK || (cr == CURLE_WRITE_ERROR && x.stopped)) {
		rc = 0;
	} else if (x.nomem) {
		rc = FIXGW_ENOMEM;
	} else if (x.too_big) {
		snprintf(resp->error, sizeof(resp->error), "response larger than %zu bytes", x.max);
		rc = FIXGW_ELIMIT;
	} else if (x.stalled) {
		snprintf(resp->error, sizeof(resp->error), "stalled: no bytes for %u ms", stall_ms);
		rc = FIXGW_ETIMEOUT;
	} else if (cr == CURLE_ABORTED_BY_CALLBACK) {
		snprintf(resp->error, sizeof(resp->error), "cancelled");
		rc = FIXGW_EAGAIN;
	} else {
		snprintf(resp->error, sizeof(resp->error), "%s%s%s", curl_easy_strerror(cr),
		         errbuf[0] ? ": " : "", errbuf);
		rc = cr == CURLE_OPERATION_TIMEDOUT ? FIXGW_ETIMEOUT : FIXGW_EIO;
	}
free_all:
	if (rc == FIXGW_ENOMEM && !resp->error[0])
		snprintf(resp->error, sizeof(resp->error), "out of memory");
	curl_slist_free_all(hdrs);
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	if (e)
		curl_easy_cleanup(e);
	free(url);
	return rc;
}

int k8s_request(struct k8s_client *c, const char *method, const char *path, const char *content_type,
                const char *body, size_t body_len, struct k8s_response *resp, const atomic_bool *cancel)
{
	return perform(c, method, path, content_type, body, body_len, 0, NULL, NULL, resp, cancel);
}

int k8s_stream(struct k8s_client *c, const char *path, uint32_t stall_ms, k8s_stream_fn fn, void *arg,
               struct k8s_response *resp, const atomic_bool *cancel)
{
	return perform(c, "GET", path, NULL, NULL, 0, stall_ms, fn, arg, resp, cancel);
}

void k8s_response_free(struct k8s_response *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
}

const char *k8s_response_message(const struct k8s_response *resp, char *buf, size_t cap)
{
	if (resp->error[0]) {
		snprintf(buf, cap, "%s", resp->error);
		return buf;
	}
	json_t *j = resp->body ? json_loadb(resp->body, resp->len, 0, NULL) : NULL;
	const char *m = j ? json_string_value(json_object_get(j, "message")) : NULL;
	if (m)
		snprintf(buf, cap, "%s", m);
	else
		snprintf(buf, cap, "HTTP %ld (%zu bytes of body)", resp->status, resp->len);
	json_decref(j);
	return buf;
}
