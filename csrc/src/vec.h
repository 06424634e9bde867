/* 8-wide float vectors for the kernels, written once with GCC/Clang vector extensions and
   compiled once per instruction-set build (IPX_FOR_EACH_ISA below); the portable build is
   the baseline one, which the compiler lowers to SSE2, NEON or scalar code. */
#ifndef IPX_VEC_H
#define IPX_VEC_H

#include <stdint.h>
#include <string.h>

typedef float ipx_v8 __attribute__((vector_size(32)));

#define IPX_INLINE static inline __attribute__((always_inline))

/* The kernels' instruction-set builds. Each kernel body is an always-inline function; a
   kernel file instantiates it once per build with IPX_FOR_EACH_ISA(X, ...), which expands
   X(isa, ISA, TARGET, COPY_TARGET, WIDE, ...) for every ipx_isa value ISA (the extra
   arguments passed through):
     isa          suffix of the build's function names (portable, avx2, avx512);
     TARGET       its function attribute for compute code;
     COPY_TARGET  the same for copies (exchange phases, GEMM lowering): they need nothing
                  wider than AVX2 (the AVX-512 build keeps the AVX2 code), but a baseline
                  build splits every 8-float vector into two SSE moves (the depthwise
                  exchange took 1.5x as long);
     WIDE         1 where 32 vector registers allow wider register blocks (AVX-512VL).
   A handle picks one build's table of operations at create (ipx__kernel, internal.h): the
   only place the ISA is tested. Off x86 every build is the baseline one, and
   ipx__pick_isa never asks for the others. */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define IPX_TARGET_AVX2 __attribute__((target("avx2,fma")))
/* Same vectors, with AVX-512F/VL encodings: 32 registers, broadcast-from-memory FMAs. */
#define IPX_TARGET_AVX512 __attribute__((target("avx2,fma,avx512f,avx512vl")))
#else
#define IPX_TARGET_AVX2
#define IPX_TARGET_AVX512
#endif
#define IPX_TARGET_PORTABLE
#define IPX_FOR_EACH_ISA(X, ...)                                                             \
    X(portable, IPX_ISA_PORTABLE, IPX_TARGET_PORTABLE, IPX_TARGET_PORTABLE, 0, __VA_ARGS__)  \
    X(avx2, IPX_ISA_AVX2, IPX_TARGET_AVX2, IPX_TARGET_AVX2, 0, __VA_ARGS__)                  \
    X(avx512, IPX_ISA_AVX512, IPX_TARGET_AVX512, IPX_TARGET_AVX2, 1, __VA_ARGS__)

/* A forward kernel's table NAME[IPX__ISA_COUNT] (ipx__kernel, internal.h) from its bodies:
   EXCHANGE(cv, plan, b, input, tile, loads) built as a copy (COPY_TARGET) and
   COMPUTE(cv, plan, b, tile, output, WIDE) built for IPX_COMPUTE_TARGET (the build's TARGET)
   or IPX_COPY_TARGET. */
#define IPX_COMPUTE_TARGET(TARGET, COPY_TARGET) TARGET
#define IPX_COPY_TARGET(TARGET, COPY_TARGET) COPY_TARGET
#define IPX__KERNEL_BUILD(isa, ISA, TARGET, COPY_TARGET, WIDE, NAME, EXCHANGE, COMPUTE, CTARGET)  \
    COPY_TARGET static uint64_t NAME##_exchange_##isa(const struct ipx_conv* cv,                 \
                                                      const ipx__plan* plan, const ipx__block* b,  \
                                                      const float* input, float* tile,            \
                                                      unsigned loads) {                           \
        return EXCHANGE(cv, plan, b, input, tile, loads);                                         \
    }                                                                                             \
    CTARGET(TARGET, COPY_TARGET) static void NAME##_compute_##isa(                                \
        const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b, float* tile,       \
        float* output) {                                                                          \
        COMPUTE(cv, plan, b, tile, output, WIDE);                                                 \
    }
#define IPX__KERNEL_ENTRY(isa, ISA, TARGET, COPY_TARGET, WIDE, NAME, ID, K_VECTOR, PACK, PLAN)    \
    [ISA] = {ID, K_VECTOR, PACK, PLAN, NAME##_exchange_##isa, NAME##_compute_##isa},
#define IPX_DEFINE_KERNEL(NAME, ID, K_VECTOR, PACK, PLAN, EXCHANGE, COMPUTE, CTARGET)             \
    IPX_FOR_EACH_ISA(IPX__KERNEL_BUILD, NAME, EXCHANGE, COMPUTE, CTARGET)                         \
    const ipx__kernel NAME[IPX__ISA_COUNT] = {                                                    \
        IPX_FOR_EACH_ISA(IPX__KERNEL_ENTRY, NAME, ID, K_VECTOR, PACK, PLAN)};

IPX_INLINE ipx_v8 v8_load(const float* p) {
    ipx_v8 v;
    memcpy(&v, p, sizeof v); /* unaligned load */
    return v;
}
IPX_INLINE void v8_store(float* p, ipx_v8 v) { memcpy(p, &v, sizeof v); }

/* 16 floats: one AVX-512 register, two AVX2 ones (the separate epilogue pass's vectors). */
typedef float ipx_v16 __attribute__((vector_size(64)));
IPX_INLINE ipx_v16 v16_load(const float* p) {
    ipx_v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}
IPX_INLINE void v16_store(float* p, ipx_v16 v) { memcpy(p, &v, sizeof v); }

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

/* Horizontal sums of eight vectors at once: lane i of the result is the sum of v[i]'s lanes,
   by a transposing add tree (3 rounds of shuffle pairs) instead of eight scalar chains. The
   order of the additions is fixed, so a sum does not depend on its neighbours. */
IPX_INLINE ipx_v8 v8_reduce8(const ipx_v8 v[8]) {
    ipx_v8 b[4], c[2];
    for (int i = 0; i < 4; i++)
        b[i] = __builtin_shufflevector(v[2 * i], v[2 * i + 1], 0, 8, 2, 10, 4, 12, 6, 14) +
               __builtin_shufflevector(v[2 * i], v[2 * i + 1], 1, 9, 3, 11, 5, 13, 7, 15);
    for (int i = 0; i < 2; i++)
        c[i] = __builtin_shufflevector(b[2 * i], b[2 * i + 1], 0, 1, 8, 9, 4, 5, 12, 13) +
               __builtin_shufflevector(b[2 * i], b[2 * i + 1], 2, 3, 10, 11, 6, 7, 14, 15);
    return __builtin_shufflevector(c[0], c[1], 0, 1, 2, 3, 8, 9, 10, 11) +
           __builtin_shufflevector(c[0], c[1], 4, 5, 6, 7, 12, 13, 14, 15);
}

/* An 8x8 transpose of registers in place (v[i] lane j <-> v[j] lane i), in three rounds of
   shuffles. */
IPX_INLINE void v8_transpose8_regs(ipx_v8 v[8]) {
    ipx_v8 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = __builtin_shufflevector(v[i], v[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[i + 1] = __builtin_shufflevector(v[i], v[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int i = 0; i < 8; i += 4)
        for (int h = 0; h < 2; h++) {
            u[i + 2 * h] = __builtin_shufflevector(t[i + h], t[i + h + 2], 0, 1, 8, 9, 4, 5, 12, 13);
            u[i + 2 * h + 1] = __builtin_shufflevector(t[i + h], t[i + h + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        }
    for (int c = 0; c < 4; c++) {
        v[c] = __builtin_shufflevector(u[c], u[c + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        v[c + 4] = __builtin_shufflevector(u[c], u[c + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    }
}

/* 8 rows of 8 floats (src, sstride apart) -> their 8 columns as rows (dst, dstride apart)
   (channel-last <-> NCHW blocks). */
IPX_INLINE void v8_transpose8(const float* src, int64_t sstride, float* dst, int64_t dstride) {
    ipx_v8 v[8];
    for (int i = 0; i < 8; i++) v[i] = v8_load(src + i * sstride);
    v8_transpose8_regs(v);
    for (int i = 0; i < 8; i++) v8_store(dst + i * dstride, v[i]);
}

#endif
