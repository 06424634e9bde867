/* Epilogue of a layer: out = act(out * scale + residual), in place, as one BSP superstep on
   the pool, with each plane's sum on the side (squeeze-excite's global average pool). Every
   worker takes whole planes (one image's channel) and makes a single pass over them: the
   residual addition, the activation and the pool cost one read and one write of the output,
   where numpy made one pass per operation (SiLU: five). Vectorised, exp() included. */
#include <stdlib.h>

#include "epilogue.h"
#include "internal.h"

/* The last n < 16 floats of a plane through padded vectors, act chosen at run time (one copy per
   build, not one per loop: a tail is short); returns their results' sum. */
IPX_INLINE float epilogue_tail(float* out, const float* residual, float scale, int64_t n, int32_t act, bool store,
                                const int ISA) {
    float tmp[16] = {0}, res[16] = {0};
    memcpy(tmp, out, (size_t)n * sizeof(float));
    if (residual) memcpy(res, residual, (size_t)n * sizeof(float));
    float total = 0.0f;
    for (int64_t i = 0; i < n; i += 8) {
        v8_store(tmp + i, v8_activation(v8_load(tmp + i) * scale + v8_load(res + i), act, ISA));
        for (int64_t j = i; j < n && j < i + 8; j++) total += tmp[j];
    }
    if (store) memcpy(out, tmp, (size_t)n * sizeof(float));
    return total;
}
typedef float epilogue_tail_fn(float* out, const float* residual, float scale, int64_t n, int32_t act, bool store);

/* One plane of len floats: out = act(out * scale + residual) (residual NULL: left out), stored
   unless store is false (act none, no residual, scale 1: sums only), and the sum of the results
   when sum is not NULL. act, store, ISA and whether residual is NULL are constants where
   epilogue_planes_act inlines this, so the loop tests nothing but its bound. The exp-based
   activations take 16-float vectors where they fill one register (AVX-512): as many
   operations for twice the floats; the others keep two 8-float sums, which alternate (one
   would chain every vector's addition to the last). */
IPX_INLINE void epilogue_body(float* out, const float* residual, float scale, int64_t len, const int32_t act,
                              const bool store, float* sum, epilogue_tail_fn* tail, const int ISA) {
    ipx_v8 acc[2] = {v8_zero(), v8_zero()};
    int64_t i = 0;
    if (ISA == IPX_ISA_AVX512 && (act == IPX_ACTIVATION_SIGMOID || act == IPX_ACTIVATION_SILU)) {
        ipx_v16 acc16 = v16_splat(0.0f);
        for (; i + 16 <= len; i += 16) {
            ipx_v16 v = v16_load(out + i) * scale;
            if (residual) v += v16_load(residual + i);
            v = v16_activation(v, act, ISA);
            acc16 += v;
            if (store) v16_store(out + i, v);
        }
        acc[0] = __builtin_shufflevector(acc16, acc16, 0, 1, 2, 3, 4, 5, 6, 7);
        acc[1] = __builtin_shufflevector(acc16, acc16, 8, 9, 10, 11, 12, 13, 14, 15);
    } else {
        for (; i + 16 <= len; i += 16)
            for (int h = 0; h < 2; h++) {
                ipx_v8 v = v8_load(out + i + 8 * h) * scale;
                if (residual) v += v8_load(residual + i + 8 * h);
                v = v8_activation(v, act, ISA);
                acc[h] += v;
                if (store) v8_store(out + i + 8 * h, v);
            }
    }
    const float rest = i < len ? tail(out + i, residual ? residual + i : NULL, scale, len - i, act, store) : 0.0f;
    if (sum) {
        const ipx_v8 both = acc[0] + acc[1];
        float total = rest;
        for (int j = 0; j < 8; j++) total += both[j];
        *sum = total;
    }
}

/* Planes [p0, p1) for one activation: the residual's and the store's tests hoisted out of the
   loop, one loop per case. */
IPX_INLINE void epilogue_planes_act(float* out, const float* residual, const float* scale, float* sums, int64_t p0,
                                    int64_t p1, int64_t len, const int32_t act, epilogue_tail_fn* tail,
                                    const int ISA) {
    for (int64_t p = p0; p < p1; p++) {
        const float s = scale ? scale[p] : 1.0f;
        float *o = out + p * len, *sum = sums ? sums + p : NULL;
        if (residual) epilogue_body(o, residual + p * len, s, len, act, true, sum, tail, ISA);
        else if (act != IPX_ACTIVATION_NONE || s != 1.0f) epilogue_body(o, NULL, s, len, act, true, sum, tail, ISA);
        else epilogue_body(o, NULL, s, len, IPX_ACTIVATION_NONE, false, sum, tail, ISA);
    }
}

/* Planes [p0, p1) of the epilogue (epilogue.h): the activation chosen once, outside the loops. */
IPX_INLINE void epilogue_planes(IPX__EPILOGUE_PARAMS, epilogue_tail_fn* tail, const int ISA) {
#define EPILOGUE_CASE(ACT)                                                                   \
    case ACT: epilogue_planes_act(out, residual, scale, sums, p0, p1, len, ACT, tail, ISA); break;
    switch (act) {
        EPILOGUE_CASE(IPX_ACTIVATION_RELU)
        EPILOGUE_CASE(IPX_ACTIVATION_RELU6)
        EPILOGUE_CASE(IPX_ACTIVATION_SIGMOID)
        EPILOGUE_CASE(IPX_ACTIVATION_SILU)
        EPILOGUE_CASE(IPX_ACTIVATION_HARDSWISH)
        default: epilogue_planes_act(out, residual, scale, sums, p0, p1, len, IPX_ACTIVATION_NONE, tail, ISA);
    }
#undef EPILOGUE_CASE
}

/* One build per instruction set (IPX_FOR_EACH_ISA, vec.h), chosen per call from the caller's
   ISA. */
#define EPILOGUE_BUILD(isa, ISA, TARGET, COPY_TARGET, WIDE, ...)                              \
    TARGET __attribute__((noinline)) static float epilogue_tail_##isa(                        \
        float* out, const float* residual, float scale, int64_t n, int32_t act, bool store) { \
        return epilogue_tail(out, residual, scale, n, act, store, ISA);                           \
    }                                                                                        \
    TARGET static void epilogue_##isa(IPX__EPILOGUE_PARAMS) {                                \
        epilogue_planes(out, residual, scale, sums, p0, p1, len, act, epilogue_tail_##isa, ISA); \
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
