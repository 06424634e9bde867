/* Epilogue of a layer: out = act(out * scale + residual), in place, as one BSP superstep on
   the pool, with each plane's sum on the side (squeeze-excite's global average pool). Every
   worker takes whole planes (one image's channel) and makes a single pass over them: the
   residual addition, the activation and the pool cost one read and one write of the output,
   where numpy made one pass per operation (SiLU: five). Vectorised, exp() included. */
#include <stdlib.h>

#include "epilogue.h"
#include "internal.h"
#include "vec.h"

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

/* One plane of len floats: out = act(out * scale + residual) (scale 1 / residual NULL: left
   out), and the sum of the results when sum is not NULL; the tail goes through a padded vector. */
IPX_INLINE void epilogue_body(float* out, const float* residual, float scale, int64_t len, int32_t act,
                              float* sum) {
    ipx_v8 acc = v8_zero(), s = v8_splat(scale);
    const bool store = act != IPX_ACTIVATION_NONE || residual != NULL || scale != 1.0f; /* else: sums only */
    int64_t i = 0;
    for (; i + 8 <= len; i += 8) {
        ipx_v8 v = v8_load(out + i) * s;
        if (residual) v += v8_load(residual + i);
        v = v8_activation(v, act);
        acc += v;
        if (store) v8_store(out + i, v);
    }
    if (i < len) {
        float tmp[8] = {0}, res[8] = {0};
        memcpy(tmp, out + i, (size_t)(len - i) * sizeof(float));
        if (residual) memcpy(res, residual + i, (size_t)(len - i) * sizeof(float));
        ipx_v8 v = v8_activation(v8_load(tmp) * s + v8_load(res), act);
        v8_store(tmp, v);
        memcpy(out + i, tmp, (size_t)(len - i) * sizeof(float));
        for (int64_t j = 0; j < len - i; j++) acc[j] += tmp[j];
    }
    if (sum) {
        float total = 0.0f;
        for (int j = 0; j < 8; j++) total += acc[j];
        *sum = total;
    }
}

/* Planes [p0, p1) of the epilogue (epilogue.h). */
IPX_INLINE void epilogue_planes(IPX__EPILOGUE_PARAMS) {
    for (int64_t p = p0; p < p1; p++)
        epilogue_body(out + p * len, residual ? residual + p * len : NULL, scale ? scale[p] : 1.0f, len, act,
                      sums ? sums + p : NULL);
}

/* One build per instruction set (IPX_FOR_EACH_ISA, vec.h), chosen per call from the caller's
   ISA. */
#define EPILOGUE_BUILD(isa, ISA, TARGET, COPY_TARGET, WIDE, ...)                              \
    TARGET static void epilogue_##isa(IPX__EPILOGUE_PARAMS) {                                \
        epilogue_planes(out, residual, scale, sums, p0, p1, len, act);                       \
    }
IPX_FOR_EACH_ISA(EPILOGUE_BUILD, )
#undef EPILOGUE_BUILD
#define EPILOGUE_ENTRY(isa, ISA, ...) [ISA] = epilogue_##isa,
static void (*const epilogue_by_isa[IPX__ISA_COUNT])(IPX__EPILOGUE_PARAMS) = {IPX_FOR_EACH_ISA(EPILOGUE_ENTRY, )};
#undef EPILOGUE_ENTRY

void ipx__epilogue_apply(int32_t isa, IPX__EPILOGUE_PARAMS) {
    epilogue_by_isa[isa](out, residual, scale, sums, p0, p1, len, act);
}

/* ---- ipx_epilogue_run: its own pass on the superstep driver, one block per worker ---- */

typedef struct epilogue_pass {
    ipx__pass pass; /* first: the driver hands it back to the phases */
    float* out;
    const float* residual;
    const float* scale;
    float* sums;
    int64_t planes, plane_len;
    int32_t act, isa;
} epilogue_pass;

/* Nothing to copy: the block's planes are read once, in place. */
static void epilogue_exchange(const ipx__pass* pass, ipx__step* s) {
    (void)pass;
    (void)s;
}

static void epilogue_compute(const ipx__pass* pass, ipx__step* s) {
    const epilogue_pass* ep = (const epilogue_pass*)pass;
    const int64_t p0 = ep->planes * s->block / pass->blocks, p1 = ep->planes * (s->block + 1) / pass->blocks;
    ipx__epilogue_apply(ep->isa, ep->out, ep->residual, ep->scale, ep->sums, p0, p1, ep->plane_len, ep->act);
    const uint64_t bytes = 4u * (uint64_t)((p1 - p0) * ep->plane_len);
    s->stats->bytes_in += ep->residual ? 2 * bytes : bytes;
    s->stats->bytes_out += bytes;
}

ipx_status ipx_epilogue_run(ipx_pool_t pool, const ipx_epilogue_desc* desc, float* data, size_t data_len,
                            const float* residual, size_t residual_len, const float* plane_scale,
                            float* plane_sums) {
    if (pool == NULL || desc == NULL || data == NULL) return IPX_STATUS_NULL_POINTER;
    if (desc->activation < IPX_ACTIVATION_NONE || desc->activation > IPX_ACTIVATION_HARDSWISH)
        return IPX_STATUS_UNSUPPORTED;
    if ((desc->flags & ~(int32_t)IPX_FLAG_PORTABLE) != 0) return IPX_STATUS_INVALID_FLAGS;
    if (desc->planes < 1 || desc->plane_len < 1 || desc->planes > INT64_MAX / desc->plane_len ||
        (uint64_t)data_len != (uint64_t)(desc->planes * desc->plane_len) ||
        (residual != NULL && residual_len != data_len))
        return IPX_STATUS_INVALID_BUFFER_SIZE;
    if (!ipx__try_acquire(&pool->in_use)) return IPX_STATUS_BUSY;
    epilogue_pass ep = {
        .pass = {.pool = pool, .chunks = 1, .blocks = ipx__min(desc->planes, pool->workers),
                 .exchange = epilogue_exchange, .compute = epilogue_compute},
        .out = data, .residual = residual, .scale = plane_scale, .sums = plane_sums,
        .planes = desc->planes, .plane_len = desc->plane_len, .act = desc->activation,
        .isa = ipx__pick_isa(desc->flags & IPX_FLAG_PORTABLE),
    };
    ipx_status status = ipx__pool_run_pass(&ep.pass, IPX_STATUS_SUCCESS);
    ipx__release(&pool->in_use);
    return status;
}
