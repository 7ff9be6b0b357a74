/* webhook.c - the admission webhook's HTTPS server (webhook.h). */
#include "operator/webhook.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/errors.h"
#include "core/http_head.h"
#include "net/reactor.h"
#include "net/sock.h"
#include "net/tls.h"
#include "net/transport.h"
#include "operator/admission.h"
#include "telemetry/log.h"

#define TLS_IDLE_MS 1000u /* a connection lives seconds at most: keep its record buffers until it ends */

static const struct log_ctx wh_log = {.component = "webhook"};

#define CONTAINER(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* One connection's life, top to bottom. */
enum conn_state {
	CONN_HANDSHAKE, /* TLS handshake */
	CONN_HEAD,      /* reading the request line and header fields */
	CONN_BODY,      /* reading Content-Length bytes of body */
	CONN_WRITE,     /* writing the answer, then close */
	CONN_DONE,      /* closed; freed after the current batch of events */
};

struct conn {
	struct conn *prev, *next; /* w->head..tail, oldest first */
	struct webhook *w;
	struct reactor_io io;
	struct reactor_timer deadline;
	struct reactor_deferred reaper;
	struct transport t;
	enum conn_state state;
	char peer[64];
	char *buf; /* the request: head, then body */
	size_t len, cap, need;
	struct http_head head;
	char *resp;
	size_t resp_len, resp_off;
};

struct file_sig {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	bool exists;
};

struct webhook {
	struct reactor r;
	pthread_t thread;
	bool started;
	struct reactor_io lio;
	struct reactor_timer tick; /* certificate files, cache warm-up */
	struct tls_pool pool;
	struct tls_server *tls;
	struct k8s_informer *fs;
	struct admission_cache *cache; /* the FIXSessions parsed, kept between reviews */
	bool warmed;                   /* the cache was filled once the informer had synced */
	char *cert_file, *key_file;
	struct file_sig cert_sig, key_sig;
	uint32_t timeout_ms, reload_ms;
	size_t max_body;
	struct conn *head, *tail;
	int nclients;
	uint64_t evicted;
};

/* ---- certificate reload ---- */

static struct file_sig file_sig(const char *path)
{
	struct stat st;
	struct file_sig s = {0};
	if (stat(path, &st) == 0)
		s = (struct file_sig){st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim, true};
	return s;
}

static bool sig_equal(const struct file_sig *a, const struct file_sig *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static void log_diags(enum log_level lvl, const char *event, const struct diag_list *dl, const char *what)
{
	for (size_t i = 0; i < dl->count; i++) {
		char line[1024];
		diag_format(&dl->items[i], line, sizeof(line));
		log_msg(dl->items[i].severity == DIAG_ERROR ? lvl : LOG_WARN, event, &wh_log, "%s: %s", what,
		        line);
	}
}

static int sync_cache(struct webhook *w);

/* A Secret volume is updated by swapping a symlink: both files change at once. A pair that does not
 * load (caught between two writes of a hand-made update) keeps the old certificate and is tried again
 * when the files change next. */
static void on_tick(struct reactor_timer *t)
{
	struct webhook *w = CONTAINER(t, struct webhook, tick);
	struct file_sig c = file_sig(w->cert_file), k = file_sig(w->key_file);
	if (!sig_equal(&c, &w->cert_sig) || !sig_equal(&k, &w->key_sig)) {
		w->cert_sig = c;
		w->key_sig = k;
		struct diag_list dl;
		diag_list_init(&dl);
		if (tls_server_reload(w->tls, NULL, &dl) == 0) {
			log_diags(LOG_WARN, "webhook_cert_warning", &dl, "webhook certificate");
			log_msg(LOG_INFO, "webhook_cert_reloaded", &wh_log,
			        "the certificate files changed: new connections get %s", w->cert_file);
		} else {
			log_diags(LOG_ERROR, "webhook_cert_reload_failed", &dl,
			          "keeping the previous webhook certificate");
		}
		diag_list_free(&dl);
	}
	/* parse the whole set once it is there, so the first review does not pay for it (1 s at 10,000) */
	if (!w->warmed && k8s_informer_synced(w->fs))
		w->warmed = sync_cache(w) == 0;
	reactor_timer_arm(&w->r, t, w->reload_ms);
}

/* ---- connections ---- */

static void conn_reap(struct reactor_deferred *d)
{
	struct conn *c = CONTAINER(d, struct conn, reaper);
	free(c->buf);
	free(c->resp);
	free(c);
}

static void conn_close(struct conn *c)
{
	if (c->state == CONN_DONE)
		return;
	struct webhook *w = c->w;
	c->state = CONN_DONE;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		w->tail = c->prev;
	w->nclients--;
	reactor_timer_cancel(&w->r, &c->deadline);
	reactor_forget(&c->io);
	transport_fini(&c->t);
	close(c->io.fd);
	reactor_defer(&w->r, &c->reaper);
}

static void on_deadline(struct reactor_timer *t)
{
	struct conn *c = CONTAINER(t, struct conn, deadline);
	struct log_line l;
	log_begin(&l, LOG_WARN, "webhook_client_timeout", &wh_log);
	log_str(&l, "peer", c->peer);
	log_end(&l, "no complete exchange within %u ms: closed", c->w->timeout_ms);
	conn_close(c);
}

/* Queue the answer; the body is copied. */
static void respond(struct conn *c, int status, const char *reason, const char *ctype, const char *body,
                    size_t blen)
{
	size_t cap = blen + 256;
	free(c->resp);
	c->resp = malloc(cap);
	if (!c->resp) {
		conn_close(c);
		return;
	}
	int n = snprintf(c->resp, cap,
	                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                 "Connection: close\r\nCache-Control: no-store\r\n\r\n",
	                 status, reason, ctype, blen);
	memcpy(c->resp + n, body, blen);
	c->resp_len = (size_t)n + blen;
	c->resp_off = 0;
	c->state = CONN_WRITE;
}

static void respond_text(struct conn *c, int status, const char *reason, const char *text)
{
	char body[600];
	int n = snprintf(body, sizeof(body), "%s\n", text);
	respond(c, status, reason, "text/plain; charset=utf-8", body,
	        n < (int)sizeof(body) ? (size_t)n : sizeof(body) - 1);
}

static void log_decision(const struct conn *c, const struct admission_request *rq,
                         const struct admission_verdict *v)
{
	json_t *md = json_object_get(rq->object, "metadata");
	const char *name = json_string_value(json_object_get(md, "name"));
	const char *ns = json_string_value(json_object_get(md, "namespace"));
	struct log_line l;
	log_begin(&l, v->allowed ? LOG_DEBUG : LOG_WARN,
	          v->allowed ? "admission_allowed" : "admission_denied", &wh_log);
	log_str(&l, "operation", rq->operation);
	log_str(&l, "namespace", ns ? ns : rq->namespace_);
	log_str(&l, "name", name);
	log_str(&l, "uid", rq->uid);
	log_str(&l, "peer", c->peer);
	if (v->allowed)
		log_end(&l, "admitted");
	else
		log_end(&l, "refused: %s", v->message);
}

struct sync_ctx {
	struct admission_cache *cache;
	struct fs_vec changed;
};

/* Under the informer's lock: keep what is parsed already, copy what changed (parsed after the lock). */
static bool sync_entry(void *arg, const struct k8s_store_entry *e)
{
	struct sync_ctx *s = arg;
	return admission_cache_fresh(s->cache, e->key, e->rv) || fs_vec_take(&s->changed, e);
}

/* Bring the parsed set up to the informer's cache: only objects with a new resourceVersion are parsed. */
static int sync_cache(struct webhook *w)
{
	struct sync_ctx s = {.cache = w->cache};
	admission_cache_begin(w->cache);
	k8s_informer_foreach(w->fs, sync_entry, &s);
	int rc = s.changed.nomem ? FIXGW_ENOMEM : admission_cache_end(w->cache, &s.changed);
	if (s.changed.nomem)
		admission_cache_end(w->cache, &(struct fs_vec){0}); /* dropped: parsed again next time */
	fs_vec_free(&s.changed);
	return rc;
}

/* The whole request is in c->buf: answer it. */
static void handle(struct conn *c)
{
	struct webhook *w = c->w;
	struct http_head *h = &c->head;
	/* the API server adds its timeout as a query ("?timeout=10s") */
	const char *q = memchr(h->target.p, '?', h->target.len);
	struct http_view path = {h->target.p, q ? (size_t)(q - h->target.p) : h->target.len};
	bool validate = path.len == strlen(WEBHOOK_PATH) && !memcmp(path.p, WEBHOOK_PATH, path.len);
	bool health = path.len == 8 && !memcmp(path.p, "/healthz", 8);
	if (health && http_view_eq_ci(h->method, "GET")) {
		respond_text(c, 200, "OK", "ok");
		return;
	}
	if (!validate) {
		respond_text(c, 404, "Not Found", "not found: POST an AdmissionReview to " WEBHOOK_PATH);
		return;
	}
	if (!http_view_eq_ci(h->method, "POST")) {
		respond_text(c, 405, "Method Not Allowed", "only POST");
		return;
	}
	if (!k8s_informer_synced(w->fs)) {
		respond_text(c, 503, "Service Unavailable",
		             "the operator's FIXSession cache is not synced yet: try again");
		return;
	}
	struct admission_request rq;
	char err[256];
	int rc = admission_parse(c->buf + h->head_len, (size_t)h->content_length, &rq, err, sizeof(err));
	if (rc == FIXGW_EINVAL) {
		struct log_line l;
		log_begin(&l, LOG_WARN, "webhook_bad_request", &wh_log);
		log_str(&l, "peer", c->peer);
		log_end(&l, "%s", err);
		respond_text(c, 400, "Bad Request", err);
		return;
	}
	struct admission_verdict *v = malloc(sizeof(*v));
	char *text = NULL;
	size_t len = 0;
	if (!rc && v)
		rc = sync_cache(w);
	if (!rc && v)
		rc = admission_decide(&rq, w->cache, v);
	if (!rc && v)
		text = admission_response(rq.uid, v, &len);
	if (text) {
		log_decision(c, &rq, v);
		respond(c, 200, "OK", "application/json", text, len);
	} else {
		log_msg(LOG_ERROR, "webhook_out_of_memory", &wh_log,
		        "cannot review a request: out of memory");
		respond_text(c, 500, "Internal Server Error", "out of memory");
	}
	free(text);
	free(v);
	admission_request_free(&rq);
}

/* The head is complete: check it and size the buffer for the body. */
static void head_done(struct conn *c)
{
	struct http_head *h = &c->head;
	if (h->has_transfer_encoding) {
		respond_text(c, 411, "Length Required", "send the body with Content-Length");
		return;
	}
	if (h->content_length > c->w->max_body) {
		char msg[96];
		snprintf(msg, sizeof(msg), "the body is larger than %zu bytes", c->w->max_body);
		respond_text(c, 413, "Content Too Large", msg);
		return;
	}
	c->need = h->head_len + (size_t)h->content_length;
	if (c->need > c->cap) {
		char *b = realloc(c->buf, c->need);
		if (!b) {
			respond_text(c, 500, "Internal Server Error", "out of memory");
			return;
		}
		c->buf = b;
		c->cap = c->need;
	}
	c->state = CONN_BODY;
}

/* Read what the socket has; false when the step must wait (or the connection ended). */
static bool read_more(struct conn *c, size_t upto)
{
	ssize_t n = transport_read(&c->t, c->buf + c->len, upto - c->len);
	if (n > 0) {
		c->len += (size_t)n;
		return true;
	}
	if (n == -EAGAIN)
		return false;
	conn_close(c); /* EOF before the request was whole, or a TLS error */
	return false;
}

static uint32_t want_events(uint8_t want)
{
	return want == TRANSPORT_WANT_WRITE ? EPOLLOUT : EPOLLIN;
}

/* Run the connection's state machine as far as the socket lets it. */
static void conn_step(struct conn *c)
{
	struct webhook *w = c->w;
	for (;;) {
		switch (c->state) {
		case CONN_HANDSHAKE: {
			int rc = transport_handshake(&c->t);
			if (rc == -EAGAIN) {
				reactor_set_events(&w->r, &c->io, want_events(c->t.handshake_want));
				return;
			}
			if (rc < 0) {
				struct log_line l;
				log_begin(&l, LOG_DEBUG, "webhook_handshake_failed", &wh_log);
				log_str(&l, "peer", c->peer);
				log_end(&l, "TLS handshake failed: %s", c->t.reason ? c->t.reason : "?");
				conn_close(c);
				return;
			}
			c->state = CONN_HEAD;
			break;
		}
		case CONN_HEAD: {
			const char *why = NULL;
			enum http_head_status st = http_head_parse(c->buf, c->len, &c->head, &why);
			if (st == HTTP_HEAD_INVALID) {
				respond_text(c, 400, "Bad Request", why);
			} else if (st == HTTP_HEAD_DONE) {
				head_done(c);
			} else if (c->len == WEBHOOK_MAX_HEAD) {
				respond_text(c, 431, "Request Header Fields Too Large",
				             "request head too large");
			} else if (!read_more(c, WEBHOOK_MAX_HEAD)) {
				if (c->state != CONN_DONE)
					reactor_set_events(&w->r, &c->io, want_events(c->t.read_want));
				return;
			}
			break;
		}
		case CONN_BODY:
			if (c->len >= c->need) {
				handle(c);
			} else if (!read_more(c, c->need)) {
				if (c->state != CONN_DONE)
					reactor_set_events(&w->r, &c->io, want_events(c->t.read_want));
				return;
			}
			break;
		case CONN_WRITE: {
			if (c->resp_off == c->resp_len) {
				transport_close_notify(&c->t);
				conn_close(c);
				return;
			}
			ssize_t n = transport_write(&c->t, c->resp + c->resp_off, c->resp_len - c->resp_off);
			if (n == -EAGAIN) {
				reactor_set_events(&w->r, &c->io, want_events(c->t.write_want));
				return;
			}
			if (n < 0) {
				conn_close(c);
				return;
			}
			c->resp_off += (size_t)n;
			break;
		}
		case CONN_DONE:
			return;
		}
	}
}

static void on_conn(struct reactor_io *io, uint32_t events)
{
	struct conn *c = CONTAINER(io, struct conn, io);
	(void)events;
	transport_readable(&c->t);
	conn_step(c);
}

/* At the cap, the oldest connection still sending its request makes room (the API server sends its
 * request at once; a connection that sends nothing cannot lock the API server out). */
static bool make_room(struct webhook *w)
{
	for (struct conn *c = w->head; c; c = c->next)
		if (c->state != CONN_WRITE) {
			conn_close(c);
			if (w->evicted++ % 100 == 0)
				log_msg(LOG_WARN, "webhook_flood", &wh_log,
				        "%d connections open: closed the oldest unfinished one (%llu so far)",
				        WEBHOOK_MAX_CLIENTS, (unsigned long long)w->evicted);
			return true;
		}
	return false;
}

static void on_accept(struct reactor_io *io, uint32_t events)
{
	struct webhook *w = CONTAINER(io, struct webhook, lio);
	(void)events;
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd = net_accept(io->fd, &peer, &plen);
		if (fd < 0)
			return;
		struct conn *c = NULL;
		if (w->nclients < WEBHOOK_MAX_CLIENTS || make_room(w))
			c = calloc(1, sizeof(*c));
		if (c)
			c->buf = malloc(WEBHOOK_MAX_HEAD);
		if (!c || !c->buf || tls_transport_init(&c->t, w->tls, fd, &w->pool) != 0) {
			if (c)
				free(c->buf);
			free(c);
			close(fd);
			continue;
		}
		c->w = w;
		c->cap = WEBHOOK_MAX_HEAD;
		c->state = CONN_HANDSHAKE;
		c->io = (struct reactor_io){.fd = fd, .on_event = on_conn};
		c->deadline.on_timer = on_deadline;
		c->reaper.run = conn_reap;
		net_addr_format((struct sockaddr *)&peer, plen, c->peer, sizeof(c->peer));
		if (reactor_add(&w->r, &c->io, EPOLLIN) < 0 ||
		    reactor_timer_arm(&w->r, &c->deadline, w->timeout_ms) < 0) {
			reactor_del(&w->r, &c->io);
			transport_fini(&c->t);
			close(fd);
			free(c->buf);
			free(c);
			continue;
		}
		w->nclients++;
		c->prev = w->tail;
		if (w->tail)
			w->tail->next = c;
		else
			w->head = c;
		w->tail = c;
		conn_step(c); /* the ClientHello may already be there */
	}
}

/* ---- lifecycle ---- */

static void *webhook_thread(void *arg)
{
	struct webhook *w = arg;
	reactor_run(&w->r);
	return NULL;
}

static void webhook_free(struct webhook *w)
{
	while (w->head)
		conn_close(w->head);
	reactor_flush(&w->r);
	reactor_timer_cancel(&w->r, &w->tick);
	if (w->lio.registered)
		reactor_del(&w->r, &w->lio);
	if (w->lio.fd > 0)
		close(w->lio.fd);
	tls_pool_fini(&w->pool);
	reactor_fini(&w->r);
	tls_server_free(w->tls);
	admission_cache_free(w->cache);
	free(w->cert_file);
	free(w->key_file);
	free(w);
}

static int load_tls(struct webhook *w)
{
	struct tls_config cfg = {.enabled = true, .ncerts = 1, .min_version = TLS1_2_VERSION};
	cfg.certs[0].cert_file = w->cert_file;
	cfg.certs[0].key_file = w->key_file;
	struct diag_list dl;
	diag_list_init(&dl);
	w->cert_sig = file_sig(w->cert_file);
	w->key_sig = file_sig(w->key_file);
	int rc = tls_server_new("webhook", &cfg, &w->tls, &dl); /* copies cfg */
	log_diags(LOG_ERROR, rc ? "webhook_cert_failed" : "webhook_cert_warning", &dl, "webhook certificate");
	diag_list_free(&dl);
	return rc;
}

int webhook_start(const struct webhook_opts *o, struct k8s_informer *fs, struct webhook **out)
{
	*out = NULL;
	struct net_addr addr;
	if (net_addr_parse(o->listen, &addr) != 0) {
		log_msg(LOG_ERROR, "webhook_bad_address", &wh_log, "cannot listen on '%s': want host:port",
		        o->listen);
		return FIXGW_EINVAL;
	}
	struct webhook *w = calloc(1, sizeof(*w));
	if (!w)
		return FIXGW_ENOMEM;
	w->lio.fd = -1;
	w->fs = fs;
	w->timeout_ms = o->client_timeout_ms ? o->client_timeout_ms : WEBHOOK_CLIENT_TIMEOUT_MS;
	w->reload_ms = o->reload_check_ms ? o->reload_check_ms : WEBHOOK_RELOAD_CHECK_MS;
	w->max_body = o->max_body ? o->max_body : WEBHOOK_MAX_BODY;
	w->cert_file = strdup(o->cert_file);
	w->key_file = strdup(o->key_file);
	int rc = reactor_init(&w->r);
	if (rc) {
		free(w->cert_file);
		free(w->key_file);
		free(w);
		return rc;
	}
	if (!w->cert_file || !w->key_file || admission_cache_new(&w->cache))
		rc = FIXGW_ENOMEM;
	if (!rc)
		rc = load_tls(w);
	if (!rc)
		rc = tls_pool_init(&w->pool, &w->r, TLS_IDLE_MS);
	if (!rc) {
		w->lio = (struct reactor_io){.fd = net_listen(&addr, false, 256), .on_event = on_accept};
		rc = w->lio.fd < 0 ? w->lio.fd : reactor_add(&w->r, &w->lio, EPOLLIN);
		if (w->lio.fd < 0)
			log_msg(LOG_ERROR, "webhook_listen_failed", &wh_log, "cannot listen on %s: %s",
			        addr.text, strerror(-w->lio.fd));
	}
	w->tick.on_timer = on_tick;
	if (!rc)
		rc = reactor_timer_arm(&w->r, &w->tick, w->reload_ms);
	if (!rc)
		rc = -pthread_create(&w->thread, NULL, webhook_thread, w);
	if (rc) {
		webhook_free(w);
		return rc;
	}
	w->started = true;
	log_msg(LOG_INFO, "webhook_started", &wh_log, "admission webhook on https://%s%s (certificate %s)",
	        addr.text, WEBHOOK_PATH, w->cert_file);
	*out = w;
	return 0;
}

void webhook_stop(struct webhook *w)
{
	if (!w)
		return;
	if (w->started) {
		reactor_stop(&w->r);
		pthread_join(w->thread, NULL);
	}
	webhook_free(w);
}
