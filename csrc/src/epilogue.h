/* The epilogue's vector body (epilogue.c), shared by ipx_epilogue_run and the forward passes'
   write phase (forward.c), and its per-vector activations, which kernels that apply the
   epilogue in their write (kernel_pointwise.c, kernel_row.c, kernel_channel.c) inline with
   the activation a constant, with the helpers and the kernel-table macro they share. */
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

/* Lanes lo <= i < hi all ones (the rest zero): which lanes of a result vector are new
   results, for the channel sums of kernels whose stores overlap or spill. */
IPX_INLINE ipx_i8 v8_lanes(int64_t lo, int64_t hi) {
    const ipx_i8 i = {0, 1, 2, 3, 4, 5, 6, 7};
    return (i >= (int32_t)lo) & (i < (int32_t)hi);
}

/* The epilogue of result vector v in a kernel's write: the separate pass's operations
   (epilogue_body, epilogue.c: plus the residual r at the result's offset unless r is NULL,
   then the activation), so the same bits. Returns what to store. (Kernels add the results to
   their sums in a local vector: a sum behind a pointer went through memory, a store-to-load
   chain through every result.) */
IPX_INLINE ipx_v8 v8_epilogue(ipx_v8 v, const float* r, int32_t act) {
    if (r) v += v8_load(r);
    return v8_activation(v, act);
}

/* The same for lanes [0, n) of v (0 < n <= 8) stored to o: reads n floats of r and writes n
   of o. Returns the results, zero in lanes n and up (what a sum adds). */
IPX_INLINE ipx_v8 v8_epilogue_store_part(float* o, const float* r, ipx_v8 v, int64_t n, int32_t act) {
    float tmp[8] = {0};
    if (r) {
        memcpy(tmp, r, (size_t)n * sizeof(float));
        v += v8_load(tmp);
    }
    v = v8_select(v8_lanes(0, n), v8_activation(v, act), v8_zero());
    v8_store(tmp, v);
    memcpy(o, tmp, (size_t)n * sizeof(float));
    return v;
}

/* The horizontal sum of a channel's sum vector, added to the run's channel sum at s (other
   workers add theirs at the same time). */
IPX_INLINE void v8_add_channel_sum(float* s, ipx_v8 sum) {
    float total = 0.0f;
    for (int j = 0; j < 8; j++) total += sum[j];
    ipx__add_float(s, total);
}

/* IPX_DEFINE_KERNEL (vec.h) for a kernel that applies the epilogue in its write:
   FUSED(cv, plan, b, tile, output, e, WIDE, ACT) computes and writes a block with the
   epilogue e, the activation ACT a constant. Each build has one function per activation (no
   vector goes through a switch), each small enough for the register allocator (GCC's
   regional allocation covers a function's first ira-max-loops-num loops: one function with
   every activation's loop nests spilled the depthwise weights to the stack), and a compute_fused
   that picks one. */
#define IPX__FUSED_ACT(isa, TARGET, WIDE, NAME, FUSED, act, ACT)                                       \
    TARGET __attribute__((noinline)) static void NAME##_##act##_##isa(                                 \
        const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b, float* tile, float* output, \
        const ipx__epilogue* e) {                                                                      \
        FUSED(cv, plan, b, tile, output, e, WIDE, ACT);                                                \
    }
#define IPX__FUSED_BUILD(isa, ISA, TARGET, COPY_TARGET, WIDE, NAME, FUSED)                             \
    IPX__FUSED_ACT(isa, TARGET, WIDE, NAME, FUSED, none, IPX_ACTIVATION_NONE)                          \
    IPX__FUSED_ACT(isa, TARGET, WIDE, NAME, FUSED, relu, IPX_ACTIVATION_RELU)                          \
    IPX__FUSED_ACT(isa, TARGET, WIDE, NAME, FUSED, relu6, IPX_ACTIVATION_RELU6)                        \
    IPX__FUSED_ACT(isa, TARGET, WIDE, NAME, FUSED, sigmoid, IPX_ACTIVATION_SIGMOID)                    \
    IPX__FUSED_ACT(isa, TARGET, WIDE, NAME, FUSED, silu, IPX_ACTIVATION_SILU)                          \
    IPX__FUSED_ACT(isa, TARGET, WIDE, NAME, FUSED, hardswish, IPX_ACTIVATION_HARDSWISH)                \
    static void NAME##_compute_fused_##isa(const struct ipx_conv* cv, const ipx__plan* plan,           \
                                           const ipx__block* b, float* tile, float* output,            \
                                           const ipx__epilogue* e) {                                   \
        static void (*const by_act[])(const struct ipx_conv*, const ipx__plan*, const ipx__block*,     \
                                      float*, float*, const ipx__epilogue*) = {                        \
            [IPX_ACTIVATION_NONE] = NAME##_none_##isa, [IPX_ACTIVATION_RELU] = NAME##_relu_##isa,      \
            [IPX_ACTIVATION_RELU6] = NAME##_relu6_##isa, [IPX_ACTIVATION_SIGMOID] = NAME##_sigmoid_##isa, \
            [IPX_ACTIVATION_SILU] = NAME##_silu_##isa, [IPX_ACTIVATION_HARDSWISH] = NAME##_hardswish_##isa}; \
        by_act[e->activation](cv, plan, b, tile, output, e);                                           \
    }
#define IPX__FUSED_ENTRY(isa, ISA, TARGET, COPY_TARGET, WIDE, NAME, ID, K_VECTOR, PACK, PLAN)          \
    [ISA] = {ID, K_VECTOR, PACK, PLAN, NAME##_exchange_##isa, NAME##_compute_##isa,                     \
             NAME##_compute_fused_##isa},
#define IPX_DEFINE_FUSED_KERNEL(NAME, ID, K_VECTOR, PACK, PLAN, EXCHANGE, COMPUTE, FUSED)             \
    IPX_FOR_EACH_ISA(IPX__KERNEL_BUILD, NAME, EXCHANGE, COMPUTE, IPX_COMPUTE_TARGET)                 \
    IPX_FOR_EACH_ISA(IPX__FUSED_BUILD, NAME, FUSED)                                                  \
    const ipx__kernel NAME[IPX__ISA_COUNT] = {                                                       \
        IPX_FOR_EACH_ISA(IPX__FUSED_ENTRY, NAME, ID, K_VECTOR, PACK, PLAN)};

#endif
