/*
 * Streams: every transfer of a client runs on one thread, through one
 * libcurl multi handle, so that over HTTP/2 the watches, lists and writes
 * are streams of one connection (one TLS session, one set of connection
 * buffers) instead of a kept-alive connection per informer and worker.
 * Measured on the real API server: docs/performance.md, "Fifth round".
 *
 * The thread that makes a request (a reflector, a worker, the event
 * writer) sets the easy handle up as before, hands it over and waits until
 * it is done; meanwhile the handle's callbacks (the response buffer, the
 * watch decoder, the progress callback that aborts a cancelled transfer)
 * run on the streams thread. The multi handle is only ever touched by that
 * thread, apart from curl_multi_wakeup(), which libcurl allows from any.
 *
 * Over clear-text HTTP/1.1 (hack/local-cluster) every concurrent transfer
 * still has a connection of its own, in the multi handle's cache.
 */
#include <stdlib.h>

#include "kube-private.h"

/* How long the thread sleeps in curl_multi_poll() at most: idle transfers
 * get their progress callback (and so notice a cancel) this often. */
#define STREAMS_POLL_MS 1000

struct stream_job {
	CURL *h;
	CURLcode cc;
	bool done;
	struct stream_job *next;
};

struct kube_streams {
	pthread_mutex_t lock;
	pthread_cond_t done_cv;   /* a job finished */
	CURLM *multi;
	pthread_t thread;
	bool started;
	bool stopping;
	struct stream_job *pending; /* handed over, not yet in the multi */
	struct stream_job *active;  /* in the multi */
};

struct kube_streams *kube_streams_new(void)
{
	struct kube_streams *s = util_xcalloc(1, sizeof(*s));

	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->done_cv, NULL);
	return s;
}

/* Under s->lock. */
static void finish(struct kube_streams *s, struct stream_job *j, CURLcode cc)
{
	struct stream_job **p;

	for (p = &s->active; *p; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			break;
		}
	j->cc = cc;
	j->done = true;
	pthread_cond_broadcast(&s->done_cv);
}

/* Under s->lock: ends every transfer in the multi with cc. */
static void finish_all(struct kube_streams *s, CURLcode cc)
{
	while (s->active) {
		curl_multi_remove_handle(s->multi, s->active->h);
		finish(s, s->active, cc);
	}
}

static void *run(void *arg)
{
	struct kube_streams *s = arg;
	int running = 0;

	(void)pthread_setname_np(pthread_self(), "kube-streams");
	for (;;) {
		pthread_mutex_lock(&s->lock);
		while (s->pending) {
			struct stream_job *j = s->pending;

			s->pending = j->next;
			if (curl_multi_add_handle(s->multi, j->h) != CURLM_OK) {
				finish(s, j, CURLE_OUT_OF_MEMORY);
				continue;
			}
			j->next = s->active;
			s->active = j;
		}
		if (s->stopping) {
			/* The client is being freed: whatever still runs ends
			 * as a cancelled transfer. */
			finish_all(s, CURLE_ABORTED_BY_CALLBACK);
			pthread_mutex_unlock(&s->lock);
			break;
		}
		pthread_mutex_unlock(&s->lock);

		CURLMcode mc = curl_multi_perform(s->multi, &running);
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(s->multi, &left))) {
			struct stream_job *j = NULL;

			if (m->msg != CURLMSG_DONE)
				continue;
			CURL *h = m->easy_handle;
			CURLcode cc = m->data.result;
			curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&j);
			curl_multi_remove_handle(s->multi, h);
			pthread_mutex_lock(&s->lock);
			finish(s, j, cc);
			pthread_mutex_unlock(&s->lock);
		}
		if (mc == CURLM_OK)
			mc = curl_multi_poll(s->multi, NULL, 0, STREAMS_POLL_MS, NULL);
		if (mc != CURLM_OK) {
			/* The multi handle itself failed (out of memory): its
			 * transfers end as failed ones, which kube_exchange()
			 * retries or reports like any other. */
			pthread_mutex_lock(&s->lock);
			finish_all(s, mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY
							       : CURLE_RECV_ERROR);
			pthread_mutex_unlock(&s->lock);
		}
	}
	return NULL;
}

CURLcode kube_streams_perform(struct kube_streams *s, CURL *h)
{
	struct stream_job j = { .h = h };

	pthread_mutex_lock(&s->lock);
	if (s->stopping) {
		pthread_mutex_unlock(&s->lock);
		return CURLE_ABORTED_BY_CALLBACK;
	}
	if (s->started && pthread_equal(pthread_self(), s->thread)) {
		/* From a callback of another transfer (a handler should not
		 * make requests, but waiting here for this thread would never
		 * end): on this thread, outside the multi. */
		pthread_mutex_unlock(&s->lock);
		return curl_easy_perform(h);
	}
	if (!s->started) {
		s->multi = curl_multi_init();
		if (!s->multi)
			abort();
		curl_multi_setopt(s->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
		if (pthread_create(&s->thread, NULL, run, s) != 0) {
			/* No thread: this transfer runs on the caller's, as
			 * every transfer did before the streams thread. */
			curl_multi_cleanup(s->multi);
			s->multi = NULL;
			pthread_mutex_unlock(&s->lock);
			return curl_easy_perform(h);
		}
		s->started = true;
	}
	curl_easy_setopt(h, CURLOPT_PRIVATE, &j);
	j.next = s->pending;
	s->pending = &j;
	pthread_mutex_unlock(&s->lock);
	curl_multi_wakeup(s->multi);
	pthread_mutex_lock(&s->lock);
	while (!j.done)
		pthread_cond_wait(&s->done_cv, &s->lock);
	pthread_mutex_unlock(&s->lock);
	return j.cc;
}

void kube_streams_free(struct kube_streams *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	bool started = s->started;
	pthread_mutex_unlock(&s->lock);
	if (started) {
		curl_multi_wakeup(s->multi);
		pthread_join(s->thread, NULL);
		curl_multi_cleanup(s->multi);
	}
	pthread_cond_destroy(&s->done_cv);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
