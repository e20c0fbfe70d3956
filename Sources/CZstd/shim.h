#ifndef RRSTORE_CZSTD_SHIM_H
#define RRSTORE_CZSTD_SHIM_H
#include <zstd.h>

/* ZSTD_isError and friends are plain functions, but the error codes are an enum of
   unsigned size_t values; these wrappers give Swift what it needs without casts. */
static inline int rr_zstd_is_error(size_t code) { return ZSTD_isError(code) ? 1 : 0; }
static inline const char *rr_zstd_error_name(size_t code) { return ZSTD_getErrorName(code); }
/* ZSTD_CONTENTSIZE_UNKNOWN / _ERROR are macros of (0ULL - 1) and (0ULL - 2). */
static inline int rr_zstd_content_size_known(unsigned long long size) {
    return size != ZSTD_CONTENTSIZE_UNKNOWN && size != ZSTD_CONTENTSIZE_ERROR;
}
#endif
