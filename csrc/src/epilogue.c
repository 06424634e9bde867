/* Epilogue of a layer: out = act(out * scale + residual), in place, as one BSP superstep on
   the pool, with each plane's sum on the side (squeeze-excite's global average pool). Every
   worker takes whole planes (one image's channel) and makes a single pass over them: the
   residual addition, the activation and the pool cost one read and one write of the output,
   where numpy made one pass per operation (SiLU: five). Vectorised, exp() included. */
#include <stdlib.h>

#include "epilogue.h"
#include "internal.h"

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
