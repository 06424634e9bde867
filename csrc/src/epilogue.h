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

IPX_INLINE ipx_v8 v8_splat(float x) { return v8_bcast(x); }
/* a where mask (all ones) else b: C has no vector ?:, so select through the bits. */
IPX_INLINE ipx_v8 v8_select(ipx_i8 mask, ipx_v8 a, ipx_v8 b) {
    ipx_i8 ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    ia = (ia & mask) | (ib & ~mask);
    memcpy(&a, &ia, sizeof a);
    return a;
}
IPX_INLINE ipx_v8 v8_max(ipx_v8 a, ipx_v8 b) { return v8_select(a > b, a, b); }
IPX_INLINE ipx_v8 v8_min(ipx_v8 a, ipx_v8 b) { return v8_select(a < b, a, b); }

/* exp(x) for x in [-87.3, 88.7] (callers clamp): x = n ln2 + r, |r| <= ln2/2, exp(r) by the
   degree-6 minimax polynomial of Cephes' expf (relative error about 1e-7), 2^n by building
   the float's exponent bits. */
IPX_INLINE ipx_v8 v8_exp(ipx_v8 x) {
    ipx_v8 t = x * v8_splat(1.44269504088896341f) + v8_splat(0.5f);
    ipx_i8 n = __builtin_convertvector(t, ipx_i8); /* truncates toward zero: fix to floor */
    n += (ipx_i8)(__builtin_convertvector(n, ipx_v8) > t); /* a true compare is -1 */
    ipx_v8 fn = __builtin_convertvector(n, ipx_v8);
    ipx_v8 r = x - fn * v8_splat(0.693359375f) - fn * v8_splat(-2.12194440e-4f);
    ipx_v8 p = v8_splat(1.9875691500e-4f);
    p = p * r + v8_splat(1.3981999507e-3f);
    p = p * r + v8_splat(8.3334519073e-3f);
    p = p * r + v8_splat(4.1665795894e-2f);
    p = p * r + v8_splat(1.6666665459e-1f);
    p = p * r + v8_splat(5.0000001201e-1f);
    p = p * r * r + r + v8_splat(1.0f);
    ipx_i8 bits = (n + 127) << 23;
    ipx_v8 scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* 1 / (1 + exp(-x)); the clamp keeps exp finite (sigmoid(-87) is 1.6e-38, the limit 0 to
   within float's normal range). */
IPX_INLINE ipx_v8 v8_sigmoid(ipx_v8 x) {
    ipx_v8 e = v8_exp(v8_min(v8_max(-x, v8_splat(-87.0f)), v8_splat(87.0f)));
    return v8_splat(1.0f) / (v8_splat(1.0f) + e);
}

IPX_INLINE ipx_v8 v8_activation(ipx_v8 x, int32_t act) {
    switch (act) {
    case IPX_ACTIVATION_RELU: return v8_max(x, v8_splat(0.0f));
    case IPX_ACTIVATION_RELU6: return v8_min(v8_max(x, v8_splat(0.0f)), v8_splat(6.0f));
    case IPX_ACTIVATION_SIGMOID: return v8_sigmoid(x);
    case IPX_ACTIVATION_SILU: return x * v8_sigmoid(x);
    case IPX_ACTIVATION_HARDSWISH:
        return x * v8_min(v8_max(x + v8_splat(3.0f), v8_splat(0.0f)), v8_splat(6.0f)) *
               v8_splat(1.0f / 6.0f);
    default: return x;
    }
}

#endif
