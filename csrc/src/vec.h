/* 8-wide float vectors for the kernels, written once with GCC/Clang vector extensions.
   Each kernel body is an always-inline function instantiated twice: inside a function built
   for AVX2+FMA (chosen at run time) and inside a baseline one (the portable path, which the
   compiler lowers to SSE2, NEON or scalar code). */
#ifndef IPX_VEC_H
#define IPX_VEC_H

#include <string.h>

typedef float ipx_v8 __attribute__((vector_size(32)));

#define IPX_INLINE static inline __attribute__((always_inline))

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define IPX_HAVE_AVX2_PATH 1
#define IPX_TARGET_AVX2 __attribute__((target("avx2,fma")))
/* Same vectors, with AVX-512F/VL encodings: 32 registers, broadcast-from-memory FMAs. */
#define IPX_TARGET_AVX512 __attribute__((target("avx2,fma,avx512f,avx512vl")))
#else
#define IPX_HAVE_AVX2_PATH 0
#define IPX_TARGET_AVX2
#define IPX_TARGET_AVX512
#endif

IPX_INLINE ipx_v8 v8_load(const float* p) {
    ipx_v8 v;
    memcpy(&v, p, sizeof v); /* unaligned load */
    return v;
}
IPX_INLINE void v8_store(float* p, ipx_v8 v) { memcpy(p, &v, sizeof v); }

/* Streaming (non-temporal) store of 8 floats to a 16-byte aligned address: two SSE movntps,
   which every x86-64 has, so the same code serves both builds; plain store elsewhere. Needs a
   store fence (v8_stream_fence) before other threads may read the data. */
typedef float ipx_v4 __attribute__((vector_size(16)));
IPX_INLINE void v8_stream(float* p, ipx_v8 v) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    ipx_v4 lo, hi;
    memcpy(&lo, &v, sizeof lo);
    memcpy(&hi, (const char*)&v + sizeof lo, sizeof hi);
#if defined(__clang__) /* clang has no __builtin_ia32_movntps; this is its movntps */
    __builtin_nontemporal_store(lo, (ipx_v4*)p);
    __builtin_nontemporal_store(hi, (ipx_v4*)(p + 4));
#else
    __builtin_ia32_movntps(p, lo);
    __builtin_ia32_movntps(p + 4, hi);
#endif
#else
    v8_store(p, v);
#endif
}
IPX_INLINE void v8_stream_fence(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_ia32_sfence();
#endif
}
/* Scalar-to-vector conversion by arithmetic: GCC turns a {x, x, ...} constructor into
   element inserts but `vector op scalar` into one vbroadcastss. Kernels therefore write
   `acc += v * scalar` directly; this helper is for initialisation only (0 + x == x except
   for the sign of zero). */
IPX_INLINE ipx_v8 v8_bcast(float x) { return (ipx_v8){0, 0, 0, 0, 0, 0, 0, 0} + x; }
IPX_INLINE ipx_v8 v8_zero(void) { return (ipx_v8){0, 0, 0, 0, 0, 0, 0, 0}; }

#endif
