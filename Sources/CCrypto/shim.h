#ifndef RRSTORE_CCRYPTO_SHIM_H
#define RRSTORE_CCRYPTO_SHIM_H
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <openssl/err.h>
#include <openssl/crypto.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>

/* Typed wrappers for the OpenSSL 3 calls Swift cannot make directly (variadic functions,
   macros, OSSL_PARAM arrays): public keys from JWK parameters, SHA-256 signatures with
   them, and the JWS <-> DER forms of ECDSA signatures. NULL or 0 means failure. */

/* A public key of `type` ("RSA", "EC") from the parameters pushed to `build`. */
static inline EVP_PKEY *rr_public_key_from(const char *type, OSSL_PARAM_BLD *build) {
    EVP_PKEY *key = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(build);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params && ctx && EVP_PKEY_fromdata_init(ctx) > 0
        && EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0) key = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return key;
}

/* An RSA public key from its modulus and exponent (big-endian, unsigned). */
static inline EVP_PKEY *rr_rsa_public_key(const unsigned char *n, size_t n_len, const unsigned char *e, size_t e_len) {
    EVP_PKEY *key = NULL;
    BIGNUM *bn_n = BN_bin2bn(n, (int)n_len, NULL), *bn_e = BN_bin2bn(e, (int)e_len, NULL);
    OSSL_PARAM_BLD *build = OSSL_PARAM_BLD_new();
    if (bn_n && bn_e && build
        && OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_N, bn_n)
        && OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_E, bn_e)) key = rr_public_key_from("RSA", build);
    OSSL_PARAM_BLD_free(build);
    BN_free(bn_n);
    BN_free(bn_e);
    return key;
}

/* A P-256 public key from its uncompressed point (0x04 || x || y, 65 bytes). */
static inline EVP_PKEY *rr_p256_public_key(const unsigned char *point, size_t point_len) {
    EVP_PKEY *key = NULL;
    OSSL_PARAM_BLD *build = OSSL_PARAM_BLD_new();
    if (build
        && OSSL_PARAM_BLD_push_utf8_string(build, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0)
        && OSSL_PARAM_BLD_push_octet_string(build, OSSL_PKEY_PARAM_PUB_KEY, point, point_len)) key = rr_public_key_from("EC", build);
    OSSL_PARAM_BLD_free(build);
    return key;
}

/* 1 if `sig` is a valid SHA-256 signature of `data` by `key` (RSA PKCS#1 v1.5, or ECDSA
   with a DER signature), 0 if not. */
static inline int rr_verify_sha256(EVP_PKEY *key, const unsigned char *data, size_t data_len, const unsigned char *sig, size_t sig_len) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1
        && EVP_DigestVerify(ctx, sig, sig_len, data, data_len) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

/* A JWS ECDSA signature (r || s, 32 bytes each) as DER; the DER length, or 0. */
static inline int rr_ecdsa_raw_to_der(const unsigned char *raw, unsigned char *der, int der_capacity) {
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
    int length = 0;
    if (sig && r && s && ECDSA_SIG_set0(sig, r, s)) {
        r = s = NULL; /* owned by sig now */
        if (i2d_ECDSA_SIG(sig, NULL) <= der_capacity) length = i2d_ECDSA_SIG(sig, &der);
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return length > 0 ? length : 0;
}

/* For tests and tools that mint tokens: key generation, signing, and public parameters. */

static inline EVP_PKEY *rr_generate_rsa(unsigned int bits) { return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits); }
static inline EVP_PKEY *rr_generate_p256(void) { return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1"); }

/* Signs `data` with SHA-256; the signature's length (DER for ECDSA), or 0. */
static inline size_t rr_sign_sha256(EVP_PKEY *key, const unsigned char *data, size_t data_len, unsigned char *sig, size_t sig_capacity) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t length = sig_capacity;
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1
        && EVP_DigestSign(ctx, sig, &length, data, data_len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? length : 0;
}

/* A DER ECDSA signature as r || s (32 bytes each); 1 on success. */
static inline int rr_ecdsa_der_to_raw(const unsigned char *der, long der_len, unsigned char *raw) {
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, der_len);
    if (!sig) return 0;
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG_get0(sig, &r, &s);
    int ok = BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32;
    ECDSA_SIG_free(sig);
    return ok;
}

/* A big-number parameter of a key ("n", "e"), big-endian; its length, or 0. */
static inline int rr_key_bn_param(EVP_PKEY *key, const char *name, unsigned char *out, int capacity) {
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) return 0;
    int length = BN_num_bytes(bn) <= capacity ? BN_bn2bin(bn, out) : 0;
    BN_free(bn);
    return length;
}

/* An EC key's uncompressed public point (0x04 || x || y); its length, or 0. */
static inline size_t rr_ec_public_point(EVP_PKEY *key, unsigned char *out, size_t capacity) {
    size_t length = 0;
    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out, capacity, &length) != 1) return 0;
    return length;
}
#endif
