/*
 * The kubeconfig's CA and static client certificate, parsed once.
 *
 * Given as PEM blobs (CURLOPT_CAINFO_BLOB, CURLOPT_SSLCERT_BLOB,
 * CURLOPT_SSLKEY_BLOB), libcurl parses them again for every new
 * connection: a new SSL_CTX, the CA certificates, the client certificate
 * and the private key through OpenSSL 3's decoders, and a new RSA blinding
 * for each copy of the key. A profile of the operator's start-up put a
 * third of its CPU time there (docs/performance.md, "Start-up: parse the
 * TLS material once"). Here they are parsed once, when the client is made,
 * and CURLOPT_SSL_CTX_FUNCTION hands the same objects to each new
 * connection's SSL_CTX: SSL_CTX_set1_cert_store(), SSL_CTX_use_certificate()
 * and SSL_CTX_use_PrivateKey() take references, so every connection shares
 * one store, one certificate and one key (OpenSSL's objects are reference
 * counted and safe to share between threads once built).
 *
 * Only for libcurl built with OpenSSL, the backend whose SSL_CTX the
 * callback receives. Credentials that change while the client runs (an
 * exec plugin's certificate) keep the blobs: client.c decides per request.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "kube-private.h"

/* A client certificate's chain, at most: the leaf and a few issuers. */
#define KUBE_TLS_MAX_CHAIN 8

struct kube_tls {
	X509_STORE *store;     /* the CA's certificates; NULL: none given */
	X509 *cert;            /* the client certificate; NULL: none */
	X509 *chain[KUBE_TLS_MAX_CHAIN];
	size_t nchain;
	EVP_PKEY *key;
};

/* No prompt for a passphrase (OpenSSL's default reads the terminal). */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

static BIO *blob_bio(const struct kube_blob *b)
{
	BIO *bio = BIO_new_mem_buf(b->data, (int)b->len);

	if (!bio)
		abort();
	return bio;
}

/* Every certificate in the PEM blob, into a new store. */
static int load_store(struct kube_tls *t, const struct kube_blob *ca,
		      struct log *log)
{
	BIO *bio = blob_bio(ca);
	X509 *x;
	int n = 0, rc = 0;

	t->store = X509_STORE_new();
	if (!t->store)
		abort();
	while ((x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL))) {
		if (X509_STORE_add_cert(t->store, x) != 1)
			rc = -EINVAL;
		X509_free(x);
		n++;
	}
	ERR_clear_error(); /* the end of the blob reads as "no start line" */
	BIO_free(bio);
	if (rc == 0 && n == 0)
		rc = -EINVAL;
	if (rc)
		log_debug(log, "kube: the CA data holds no usable PEM certificate; libcurl parses it per connection");
	return rc;
}

/* The client certificate (the first one), its chain and its key. */
static int load_client(struct kube_tls *t, const struct kube_blob *cert,
		       const struct kube_blob *key, struct log *log)
{
	BIO *bio = blob_bio(cert);
	X509 *x;
	int rc = 0;

	t->cert = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
	while (t->cert && (x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL))) {
		if (t->nchain == KUBE_TLS_MAX_CHAIN) {
			X509_free(x);
			rc = -E2BIG;
			break;
		}
		t->chain[t->nchain++] = x;
	}
	ERR_clear_error();
	BIO_free(bio);
	bio = blob_bio(key);
	t->key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	ERR_clear_error();
	BIO_free(bio);
	if (rc == 0 && (!t->cert || !t->key || X509_check_private_key(t->cert, t->key) != 1))
		rc = -EINVAL;
	ERR_clear_error();
	if (rc)
		log_debug(log, "kube: the client certificate or key did not parse here (or do not match); libcurl parses them per connection and reports why");
	return rc;
}

/* Frees the client certificate, its chain and its key. */
static void drop_client(struct kube_tls *t)
{
	X509_free(t->cert);
	EVP_PKEY_free(t->key);
	while (t->nchain)
		X509_free(t->chain[--t->nchain]);
	t->cert = NULL;
	t->key = NULL;
}

void kube_tls_free(struct kube_tls *t)
{
	if (!t)
		return;
	X509_STORE_free(t->store);
	drop_client(t);
	free(t);
}

static bool curl_uses_openssl(void)
{
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

	return v && v->ssl_version && !strncmp(v->ssl_version, "OpenSSL/", 8);
}

int kube_tls_new(const struct kube_blob *ca, const struct kube_blob *cert,
		 const struct kube_blob *key, struct log *log,
		 struct kube_tls **out)
{
	struct kube_tls *t;

	*out = NULL;
	if (!curl_uses_openssl())
		return -ENOTSUP;
	if (!ca->len && !(cert->len && key->len))
		return -ENOENT;
	t = calloc(1, sizeof(*t));
	if (!t)
		abort();
	/* What does not parse is left to libcurl, which then says why. */
	if (ca->len && load_store(t, ca, log) < 0) {
		X509_STORE_free(t->store);
		t->store = NULL;
	}
	if (cert->len && key->len && load_client(t, cert, key, log) < 0)
		drop_client(t);
	if (!t->store && !t->cert) {
		kube_tls_free(t);
		return -EINVAL;
	}
	*out = t;
	return 0;
}

bool kube_tls_has_ca(const struct kube_tls *t)
{
	return t && t->store;
}

bool kube_tls_has_client(const struct kube_tls *t)
{
	return t && t->cert;
}

static CURLcode install(SSL_CTX *ctx, const struct kube_tls *t, bool client)
{
	size_t i;

	if (t->store)
		SSL_CTX_set1_cert_store(ctx, t->store);
	if (!client)
		return CURLE_OK;
	if (SSL_CTX_use_certificate(ctx, t->cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, t->key) != 1)
		return CURLE_SSL_CERTPROBLEM;
	for (i = 0; i < t->nchain; i++)
		if (SSL_CTX_add1_chain_cert(ctx, t->chain[i]) != 1)
			return CURLE_SSL_CERTPROBLEM;
	return CURLE_OK;
}

CURLcode kube_tls_ctx_ca(CURL *h, void *ssl_ctx, void *userdata)
{
	(void)h;
	return install(ssl_ctx, userdata, false);
}

CURLcode kube_tls_ctx_all(CURL *h, void *ssl_ctx, void *userdata)
{
	(void)h;
	return install(ssl_ctx, userdata, true);
}
