/* The epilogue's vector body (epilogue.c), shared by ipx_epilogue_run and the forward passes'
   write phase (forward.c), and its per-vector activations, which kernels that apply the
   epilogue in their write (kernel_pointwise.c) inline with the activation a constant. */
#ifndef IPX_EPILOGUE_H
#define IPX_EPILOGUE_H

#include <stdint.h>

#include "internal.h"
#include "vec.h"

/* Planes [p0, p1) of len floats each: out = act(out * scale[p] + residual) and sums[p] = the
   plane's sum of results; scale, residual and sums may be NULL (1, nothing, not wanted);
   act an ipx_activation; built for the ipx_isa isa. */
#define IPX__EPILOGUE_PARAMS                                                                 \
    float *out, const float *residual, const float *scale, float *sums, int64_t p0, int64_t p1, \
        int64_t len, int32_t act
void ipx__epilogue_apply(int32_t isa, IPX__EPILOGUE_PARAMS);

typedef int32_t ipx_i8 __attribute__((vector_size(32)));

typedef int32_t ipx_i16 __attribute__((vector_size(64)));

/* The x86 max and min instructions for F(max) and F(min) (activations.h): MAXPS returns its
   first operand where it is greater than the second, else the second (NaN in either: the
   second), the select a > b ? a : b lane for lane, in one instruction where GCC compiles the
   select through the integer bits to a compare, an and and a blend, with the mask and both
   constants held in registers (in the pointwise kernel's fused write, ReLU6 cost 1.2-1.6x its
   plain write that way and 1.0-1.1x with vmaxps and vminps, one core, AVX2). GCC only: its
   builtins are checked after inlining, where the portable builds' calls are dead code (clang
   checks them per function, and turns the select into max and min itself); optimised builds
   only, since -O0 keeps dead code. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE__) && (defined(__x86_64__) || defined(__i386__))
#define IPX_X86_MINMAX 1
#include <immintrin.h> /* declares the builtins */
IPX_INLINE ipx_v8 v8_x86_max(ipx_v8 a, ipx_v8 b, const int ISA) {
    (void)ISA;
    return __builtin_ia32_maxps256(a, b);
}
IPX_INLINE ipx_v8 v8_x86_min(ipx_v8 a, ipx_v8 b, const int ISA) {
    (void)ISA;
    return __builtin_ia32_minps256(a, b);
}
/* 16 floats: one AVX-512 instruction, else one per 8-float half. */
#define IPX__X86_MINMAX16(NAME, OP8, OP16)                                                   \
    IPX_INLINE ipx_v16 NAME(ipx_v16 a, ipx_v16 b, const int ISA) {                           \
        if (ISA == IPX_ISA_AVX512) /* 4: the current rounding */                             \
            return OP16(a, b, a, (uint16_t)0xffff, 4);                                       \
        const ipx_v8 lo = OP8(__builtin_shufflevector(a, a, 0, 1, 2, 3, 4, 5, 6, 7),         \
                              __builtin_shufflevector(b, b, 0, 1, 2, 3, 4, 5, 6, 7));        \
        const ipx_v8 hi = OP8(__builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15),   \
                              __builtin_shufflevector(b, b, 8, 9, 10, 11, 12, 13, 14, 15));  \
        return __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, \
                                       14, 15);                                              \
    }
IPX__X86_MINMAX16(v16_x86_max, __builtin_ia32_maxps256, __builtin_ia32_maxps512_mask)
IPX__X86_MINMAX16(v16_x86_min, __builtin_ia32_minps256, __builtin_ia32_minps512_mask)
#undef IPX__X86_MINMAX16
#else
#define IPX_X86_MINMAX 0
#endif

/* v8_exp, v8_sigmoid, v8_activation... for the kernels' 8-float vectors; v16_ the same for 16
   (one AVX-512 register), which the separate pass uses: the same operations per lane, so the
   same bits. */
#define V ipx_v8
#define I ipx_i8
#define F(name) v8_##name
#include "activations.h"
#define V ipx_v16
#define I ipx_i16
#define F(name) v16_##name
#include "activations.h"

#endif
