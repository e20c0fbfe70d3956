#ifndef RRSTORE_CZLIB_SHIM_H
#define RRSTORE_CZLIB_SHIM_H
#include <zlib.h>

/* zlib's init functions are macros that Swift cannot import; these typed wrappers stand in. */
static inline int rr_inflateInit2(z_streamp stream, int windowBits) {
    return inflateInit2(stream, windowBits);
}
static inline int rr_deflateInit2(z_streamp stream, int level, int windowBits, int memLevel) {
    return deflateInit2(stream, level, Z_DEFLATED, windowBits, memLevel, Z_DEFAULT_STRATEGY);
}
#endif
