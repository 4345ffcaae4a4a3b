//===----------------------------------------------------------------------===//
// COpenSSL: the system OpenSSL 3 (Debian's libssl-dev), as Swift sees it.
//
// Swift imports OpenSSL's functions directly, but not its function-like
// macros (most SSL_CTX_ctrl wrappers), its variadic helpers, its type-safe
// stack macros (sk_TYPE_*), or constants built from such macros
// (SSL_OP_BIT(n)). Each `static inline` below gives one of those a plain C
// signature and nothing more: no logic lives here, it lives in GatehouseTLS.
// Every wrapper is prefixed `gh_` so its origin is obvious at the call site.
//===----------------------------------------------------------------------===//
#ifndef GATEHOUSE_COPENSSL_SHIM_H
#define GATEHOUSE_COPENSSL_SHIM_H

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

// MARK: - SSL_CTX configuration (SSL_CTX_ctrl macros)

static inline int gh_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

static inline int gh_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}

static inline long gh_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}

static inline uint64_t gh_SSL_CTX_set_options(SSL_CTX *ctx, uint64_t options) {
    return (uint64_t)SSL_CTX_set_options(ctx, options);
}

static inline int gh_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) {
    return (int)SSL_CTX_set1_groups_list(ctx, list);
}

static inline long gh_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}

static inline long gh_SSL_CTX_sess_set_cache_size(SSL_CTX *ctx, long size) {
    return SSL_CTX_sess_set_cache_size(ctx, size);
}

// MARK: - Option and flag constants built from macros

static inline uint64_t gh_SSL_OP_NO_RENEGOTIATION(void) { return (uint64_t)SSL_OP_NO_RENEGOTIATION; }
static inline uint64_t gh_SSL_OP_NO_COMPRESSION(void) { return (uint64_t)SSL_OP_NO_COMPRESSION; }
static inline uint64_t gh_SSL_OP_CIPHER_SERVER_PREFERENCE(void) { return (uint64_t)SSL_OP_CIPHER_SERVER_PREFERENCE; }
static inline uint64_t gh_SSL_OP_NO_TLSv1_3(void) { return (uint64_t)SSL_OP_NO_TLSv1_3; }
static inline long gh_SSL_SESS_CACHE_SERVER(void) { return SSL_SESS_CACHE_SERVER; }
static inline long gh_SSL_SESS_CACHE_CLIENT_NO_INTERNAL(void) {
    return SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE;
}
static inline int gh_MBSTRING_UTF8(void) { return MBSTRING_UTF8; }
static inline unsigned long gh_XN_FLAG_RFC2253(void) { return XN_FLAG_RFC2253; }

// MARK: - Per-connection (SSL) macros

static inline int gh_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

/// A new ex-data index on SSL objects (SSL_get_ex_new_index is a macro).
static inline int gh_SSL_get_ex_new_index(void) {
    return SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

// MARK: - BIO macros

static inline size_t gh_BIO_pending(BIO *bio) {
    return (size_t)BIO_pending(bio);
}

static inline long gh_BIO_set_mem_eof_return(BIO *bio, int value) {
    return BIO_set_mem_eof_return(bio, value);
}

// MARK: - Memory and keys

static inline void gh_OPENSSL_free(void *pointer) {
    OPENSSL_free(pointer);
}

/// EVP_EC_gen is a macro over the variadic EVP_PKEY_Q_keygen, which Swift cannot call.
static inline EVP_PKEY *gh_EVP_EC_gen(const char *curve) {
    return EVP_EC_gen(curve);
}

// MARK: - Stacks (sk_TYPE_* are type-checked macros)

static inline GENERAL_NAMES *gh_sk_GENERAL_NAME_new_null(void) {
    return sk_GENERAL_NAME_new_null();
}

static inline int gh_sk_GENERAL_NAME_num(const GENERAL_NAMES *names) {
    return sk_GENERAL_NAME_num(names);
}

static inline GENERAL_NAME *gh_sk_GENERAL_NAME_value(const GENERAL_NAMES *names, int index) {
    return sk_GENERAL_NAME_value(names, index);
}

static inline int gh_sk_GENERAL_NAME_push(GENERAL_NAMES *names, GENERAL_NAME *name) {
    return sk_GENERAL_NAME_push(names, name);
}

static inline void gh_GENERAL_NAMES_free(GENERAL_NAMES *names) {
    sk_GENERAL_NAME_pop_free(names, GENERAL_NAME_free);
}

static inline int gh_sk_X509_NAME_ENTRY_num(const STACK_OF(X509_NAME_ENTRY) *entries) {
    return sk_X509_NAME_ENTRY_num(entries);
}

static inline X509_NAME_ENTRY *gh_sk_X509_NAME_ENTRY_value(const STACK_OF(X509_NAME_ENTRY) *entries, int index) {
    return sk_X509_NAME_ENTRY_value(entries, index);
}

#endif // GATEHOUSE_COPENSSL_SHIM_H
