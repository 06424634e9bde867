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

/* x clamped to [lo, hi]; NaN stays NaN (it fails both tests and passes through). */
IPX_INLINE ipx_v8 v8_clamp(ipx_v8 x, float lo, float hi) {
    x = v8_select(x < lo, v8_splat(lo), x);
    return v8_select(x > hi, v8_splat(hi), x);
}

/* exp(x) for x in [-88, 88] (callers clamp; NaN gives NaN). x = n ln2 + r with n the nearest
   integer to x / ln2: adding 1.5 * 2^23 rounds x / ln2 to an integer, which lands in the low
   bits of the sum's mantissa (with the exponent bias 127 added alongside), and a shift by 23
   moves those bits into a float's exponent field: 2^n, no conversion instructions. r = x - n ln2
   in two steps (ln2's first 9 bits times n is exact), |r| <= ln2/2, and exp(r) = 1 + r + ... by
   a degree-6 polynomial whose coefficients were fitted for the least maximum relative error
   on that interval (scripts/fit_exp_poly.py: 3.8e-9 in exact arithmetic, below float's 6e-8
   rounding); n + 127 = 0 at x = -88 gives 2^n = 0, exp's underflow. */
IPX_INLINE ipx_v8 v8_exp(ipx_v8 x) {
    const float shifter = 12582912.0f + 127.0f; /* 1.5 * 2^23, bias included */
    ipx_v8 t = x * v8_splat(1.44269504088896341f) + v8_splat(shifter);
    ipx_v8 fn = t - v8_splat(shifter);
    ipx_v8 r = x - fn * v8_splat(0.693359375f) - fn * v8_splat(-2.12194440e-4f);
    ipx_v8 p = v8_splat(1.381461276e-3f);
    p = p * r + v8_splat(8.368710056e-3f);
    p = p * r + v8_splat(4.166838899e-2f);
    p = p * r + v8_splat(1.666652113e-1f);
    p = p * r + v8_splat(4.999999404e-1f);
    p = p * r + v8_splat(1.0f);
    p = p * r + v8_splat(1.0f);
    ipx_i8 bits;
    memcpy(&bits, &t, sizeof bits);
    bits <<= 23; /* n + 127 into the exponent; the shifter's own bits leave at the top */
    ipx_v8 scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* 1 + exp(-x), the sigmoid's denominator; the clamp keeps exp finite (sigmoid(-87) is 1.6e-38,
   the limit 0 to within float's normal range). A division, not a reciprocal estimate refined
   by Newton steps: on this Zen 4 the divider runs beside the FMA pipes and the estimate's two
   extra FMAs cost more than the division (SiLU loop 0.52 vs 0.57 ns per float). */
IPX_INLINE ipx_v8 v8_sigmoid_denominator(ipx_v8 x) {
    return v8_splat(1.0f) + v8_exp(-v8_clamp(x, -87.0f, 87.0f));
}

/* 1 / (1 + exp(-x)) (v8_sigmoid_denominator). */
IPX_INLINE ipx_v8 v8_sigmoid(ipx_v8 x) { return v8_splat(1.0f) / v8_sigmoid_denominator(x); }

IPX_INLINE ipx_v8 v8_activation(ipx_v8 x, int32_t act) {
    switch (act) {
    case IPX_ACTIVATION_RELU: return v8_max(x, v8_splat(0.0f));
    case IPX_ACTIVATION_RELU6: return v8_min(v8_max(x, v8_splat(0.0f)), v8_splat(6.0f));
    case IPX_ACTIVATION_SIGMOID: return v8_sigmoid(x);
    case IPX_ACTIVATION_SILU: return x / v8_sigmoid_denominator(x); /* one rounding */
    case IPX_ACTIVATION_HARDSWISH:
        return x * v8_min(v8_max(x + v8_splat(3.0f), v8_splat(0.0f)), v8_splat(6.0f)) *
               v8_splat(1.0f / 6.0f);
    default: return x;
    }
}

#endif
