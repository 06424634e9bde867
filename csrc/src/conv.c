/* Convolution handles: create (validate, pack, choose the kernel), run on a pool in
   bulk-synchronous supersteps, destroy. */
#include "internal.h"
#include "vec.h"

#include <stdlib.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
int ipx_cpu_has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
int ipx_cpu_has_avx512(void) {
    __builtin_cpu_init();
    return ipx_cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512vl");
}
#else
int ipx_cpu_has_avx2(void) { return 0; }
int ipx_cpu_has_avx512(void) { return 0; }
#endif

/* The instruction set a handle's kernels use: the best the CPU has, unless the flag or
   IPX_FORCE_PORTABLE=1 asks for the portable path, or IPX_FORCE_AVX2=1 caps it at AVX2. */
static bool env_set(const char* name) {
    const char* v = getenv(name);
    return v && v[0] && v[0] != '0';
}
int32_t ipx__pick_isa(bool portable) {
    if (portable || env_set("IPX_FORCE_PORTABLE") || !ipx_cpu_has_avx2()) return IPX_ISA_PORTABLE;
    if (!env_set("IPX_FORCE_AVX2") && ipx_cpu_has_avx512()) return IPX_ISA_AVX512;
    return IPX_ISA_AVX2;
}

void ipx__fill_row(float* dst, const float* src, int64_t w, int64_t pl, int64_t uw, int64_t sw,
                   int64_t row_len) {
    if (src == NULL) {
        for (int64_t i = 0; i < sw * row_len; i++) dst[i] = 0.0f;
        return;
    }
    if (sw == 1 && uw == 1 && pl >= 0 && w >= 8 && pl + w <= row_len && row_len % 8 == 0) {
        /* Common case: zero the row in vectors, then copy the data in vectors (the last one
           overlapping). No per-element branches, no libc calls. */
        for (int64_t i = 0; i < row_len; i += 8) v8_store(dst + i, v8_zero());
        int64_t j = 0;
        for (; j + 8 <= w; j += 8) v8_store(dst + pl + j, v8_load(src + j));
        if (j < w) v8_store(dst + pl + w - 8, v8_load(src + w - 8));
        return;
    }
    if (sw == 1 && uw == 1 && pl >= 0) {
        /* Forward fast path. Short rows are common (7x7 to 56x56 maps): plain loops beat
           three libc calls (and -fno-tree-loop-distribute-patterns keeps them loops). */
        int64_t lead = ipx__min(pl, row_len);
        int64_t n = ipx__max(0, ipx__min(w, row_len - lead));
        int64_t i = 0;
        for (; i < lead; i++) dst[i] = 0.0f;
        for (int64_t j = 0; j < n; j++) dst[i + j] = src[j];
        for (i += n; i < row_len; i++) dst[i] = 0.0f;
        return;
    }
    if (uw == 1) {
        /* Strided forward: phase ph holds input columns ph - pl + idx * sw, a strided run of
           the row between zero ends (no per-element tests or divisions). */
        for (int64_t ph = 0; ph < sw; ph++) {
            float* out = dst + ph * row_len;
            const int64_t u0 = ph - pl; /* input column of index 0 */
            const int64_t lo = ipx__min(row_len, u0 >= 0 ? 0 : ipx__div_up(-u0, sw));
            const int64_t hi = ipx__max(lo, ipx__min(row_len, w - u0 <= 0 ? 0 : ipx__div_up(w - u0, sw)));
            int64_t i = 0;
            for (; i < lo; i++) out[i] = 0.0f;
            const float* in = src + u0 + lo * sw;
            for (; i < hi; i++, in += sw) out[i] = *in;
            for (; i < row_len; i++) out[i] = 0.0f;
        }
        return;
    }
    if (sw == 1) {
        /* Upsampled (backward data of a strided layer): zeros, input column c at c * uw + pl. */
        for (int64_t i = 0; i < row_len; i++) dst[i] = 0.0f;
        const int64_t c0 = pl >= 0 ? 0 : ipx__div_up(-pl, uw);
        const int64_t c1 = ipx__min(w, row_len - pl <= 0 ? 0 : ipx__div_up(row_len - pl, uw));
        for (int64_t c = c0; c < c1; c++) dst[c * uw + pl] = src[c];
        return;
    }
    for (int64_t ph = 0; ph < sw; ph++) {
        float* out = dst + ph * row_len;
        int64_t u = ph - pl; /* column of the upsampled input */
        for (int64_t idx = 0; idx < row_len; idx++, u += sw)
            out[idx] = (u >= 0 && u % uw == 0 && u / uw < w) ? src[u / uw] : 0.0f;
    }
}

static bool in_dim_range(int64_t v, int64_t lo) { return v >= lo && v <= IPX_MAX_DIM; }

/* Checks every size of desc; on success sets *p, *q. */
static ipx_status validate(const ipx_conv_desc* d, int64_t* p, int64_t* q) {
    if (!in_dim_range(d->n, 1)) return IPX_STATUS_INVALID_BATCH;
    if (!in_dim_range(d->c, 1)) return IPX_STATUS_INVALID_CHANNELS;
    if (!in_dim_range(d->k, 1)) return IPX_STATUS_INVALID_OUTPUT_CHANNELS;
    if (!in_dim_range(d->g, 1) || d->c % d->g != 0 || d->k % d->g != 0)
        return IPX_STATUS_INVALID_GROUPS;
    if (!in_dim_range(d->h, 1) || !in_dim_range(d->w, 1)) return IPX_STATUS_INVALID_INPUT_SIZE;
    if (!in_dim_range(d->r, 1) || !in_dim_range(d->s, 1)) return IPX_STATUS_INVALID_KERNEL_SIZE;
    if (!in_dim_range(d->stride_h, 1) || !in_dim_range(d->stride_w, 1))
        return IPX_STATUS_INVALID_STRIDE;
    if (!in_dim_range(d->dilation_h, 1) || !in_dim_range(d->dilation_w, 1))
        return IPX_STATUS_INVALID_DILATION;
    if (!in_dim_range(d->pad_top, 0) || !in_dim_range(d->pad_bottom, 0) ||
        !in_dim_range(d->pad_left, 0) || !in_dim_range(d->pad_right, 0))
        return IPX_STATUS_INVALID_PADDING;
    if (d->algorithm < IPX_ALGORITHM_AUTO || d->algorithm > IPX_ALGORITHM_GEMM)
        return IPX_STATUS_INVALID_ALGORITHM;
    if (d->flags & ~(uint32_t)(IPX_FLAG_PORTABLE | IPX_FLAG_BACKWARD)) return IPX_STATUS_INVALID_FLAGS;
    /* Every term is <= 2^30, so these cannot overflow int64. */
    int64_t eff_h = d->h + d->pad_top + d->pad_bottom - d->dilation_h * (d->r - 1) - 1;
    int64_t eff_w = d->w + d->pad_left + d->pad_right - d->dilation_w * (d->s - 1) - 1;
    if (eff_h < 0 || eff_w < 0) return IPX_STATUS_EMPTY_OUTPUT;
    *p = eff_h / d->stride_h + 1;
    *q = eff_w / d->stride_w + 1;
    /* Element and byte counts of every tensor must fit size_t and int64_t. */
    int64_t t;
    const int64_t bytes_max = (int64_t)((SIZE_MAX / 4 < (uint64_t)INT64_MAX / 4) ? SIZE_MAX / 4 : INT64_MAX / 4);
    if (__builtin_mul_overflow(d->n, d->c, &t) || __builtin_mul_overflow(t, d->h, &t) ||
        __builtin_mul_overflow(t, d->w, &t) || t > bytes_max)
        return IPX_STATUS_SIZE_OVERFLOW;
    if (__builtin_mul_overflow(d->k, d->c / d->g, &t) || __builtin_mul_overflow(t, d->r, &t) ||
        __builtin_mul_overflow(t, d->s, &t) || __builtin_mul_overflow(t, 8, &t) || t > bytes_max)
        return IPX_STATUS_SIZE_OVERFLOW; /* x8: packed weights round channels up to 8 */
    if (__builtin_mul_overflow(d->n, d->k, &t) || __builtin_mul_overflow(t, *p, &t) ||
        __builtin_mul_overflow(t, *q, &t) || t > bytes_max)
        return IPX_STATUS_SIZE_OVERFLOW;
    /* FLOPs: 2 * n*k*p*q * (c/g)*r*s must fit uint64 for the statistics. */
    if (__builtin_mul_overflow(t, d->c / d->g, &t) || __builtin_mul_overflow(t, d->r, &t) ||
        __builtin_mul_overflow(t, d->s, &t) || __builtin_mul_overflow(t, 2, &t))
        return IPX_STATUS_SIZE_OVERFLOW;
    return IPX_STATUS_SUCCESS;
}

ipx_status ipx_conv_output_size(const ipx_conv_desc* desc, int64_t* p, int64_t* q) {
    if (desc == NULL || p == NULL || q == NULL) return IPX_STATUS_NULL_POINTER;
    int64_t pp, qq;
    ipx_status st = validate(desc, &pp, &qq);
    if (st != IPX_STATUS_SUCCESS) return st;
    *p = pp;
    *q = qq;
    return IPX_STATUS_SUCCESS;
}

static void conv_free(struct ipx_conv* cv) {
    if (cv == NULL) return;
    conv_free(cv->bwd);
    free(cv->weight);
    free(cv->bias);
    free(cv);
}

static int32_t pick_kernel(int64_t cg, int64_t kg, int32_t algorithm) {
    if (algorithm == IPX_ALGORITHM_GEMM) return IPX_KERNEL_GEMM;
    /* measured (A/B/C = the benchmark's 3x3 shapes, 2 workers, Zen 4, interleaved A/B runs):
       at 8 channels per group the channel kernel's 3x3 block beats the row kernel (4
       channels x 3 rows per register block) on AVX-512 (A 0.40 -> 0.37 ms, B 0.74 -> 0.68,
       backward data A 0.39 -> 0.35) and on AVX2 (A 0.49 -> 0.40, B 0.94 -> 0.68, C 7.5 ->
       6.1); below 8 the row kernel has no rival. */
    return (cg >= 8 && kg >= 8) ? IPX_KERNEL_CHANNEL : IPX_KERNEL_ROW;
}

/* Bytes a handle with this geometry allocates for its packed weights and bias. */
static uint64_t weight_bytes(const ipx_conv_desc* d) {
    const int64_t cg = d->c / d->g, kg = d->k / d->g, taps = d->r * d->s;
    bool chan = pick_kernel(cg, kg, d->algorithm) == IPX_KERNEL_CHANNEL;
    int64_t kk = chan ? d->g * ipx__round_up(kg, 8) : d->k;
    return sizeof(struct ipx_conv) + (uint64_t)(kk * cg * taps + kk) * sizeof(float);
}

/* Fill a handle for geometry d (output p x q, input upsampling uh x uw) and PyTorch-layout
   weights; allocates the packed copies. */
static ipx_status conv_init(struct ipx_conv* cv, const ipx_conv_desc* d, int64_t p, int64_t q,
                            int64_t uh, int64_t uw, const float* weight, const float* bias) {
    const int64_t cg = d->c / d->g, kg = d->k / d->g, taps = d->r * d->s;
    cv->d = *d;
    cv->p = p;
    cv->q = q;
    cv->uh = uh;
    cv->uw = uw;
    cv->cg = cg;
    cv->kg = kg;
    cv->kg8 = ipx__round_up(kg, 8);
    cv->isa = ipx__pick_isa(d->flags & IPX_FLAG_PORTABLE);
    cv->kernel = pick_kernel(cg, kg, d->algorithm);
    cv->algorithm = cv->kernel == IPX_KERNEL_GEMM ? IPX_ALGORITHM_GEMM : IPX_ALGORITHM_DIRECT;
    atomic_init(&cv->in_use, 0);
    const bool chan = cv->kernel == IPX_KERNEL_CHANNEL;
    cv->weight_len = chan ? (size_t)(d->g * cv->kg8 * cg * taps) : (size_t)(d->k * cg * taps);
    cv->bias_len = chan ? (size_t)(d->g * cv->kg8) : (size_t)d->k;
    cv->weight = malloc(cv->weight_len * sizeof(float));
    cv->bias = malloc(cv->bias_len * sizeof(float));
    if (cv->weight == NULL || cv->bias == NULL) return IPX_STATUS_OUT_OF_MEMORY;
    if (chan) {
        ipx__chan_pack_weights(cv, weight, bias, cv->weight, cv->bias);
    } else {
        memcpy(cv->weight, weight, cv->weight_len * sizeof(float));
        if (bias) memcpy(cv->bias, bias, cv->bias_len * sizeof(float));
        else memset(cv->bias, 0, cv->bias_len * sizeof(float));
    }
    cv->allocated_bytes = sizeof(struct ipx_conv) + (cv->weight_len + cv->bias_len) * sizeof(float);
    cv->flops = 2u * (uint64_t)(d->n * d->k) * (uint64_t)(p * q) * (uint64_t)(cg * taps);
    return IPX_STATUS_SUCCESS;
}

/* Backward data as a forward convolution: the output gradient, upsampled by the stride
   (zeros between rows and columns), convolved with the weights flipped in r and s and with
   input and output channels swapped within each group, padded so that the result has the
   input's h x w. */
static void backward_desc(const ipx_conv_desc* d, int64_t p, int64_t q, ipx_conv_desc* b) {
    memset(b, 0, sizeof(*b));
    b->n = d->n;
    b->c = d->k;
    b->h = p;
    b->w = q;
    b->k = d->c;
    b->r = d->r;
    b->s = d->s;
    b->g = d->g;
    b->stride_h = b->stride_w = 1;
    b->dilation_h = d->dilation_h;
    b->dilation_w = d->dilation_w;
    b->pad_top = d->dilation_h * (d->r - 1) - d->pad_top;
    b->pad_left = d->dilation_w * (d->s - 1) - d->pad_left;
    b->pad_bottom = b->pad_right = 0; /* unused: the output size is given (h x w) */
    b->flags = d->flags;
    b->algorithm = d->algorithm;
}

static ipx_status create_backward(struct ipx_conv* cv, const float* weight) {
    const ipx_conv_desc* d = &cv->d;
    const int64_t cg = cv->cg, kg = cv->kg, r = d->r, s = d->s;
    ipx_conv_desc bd;
    backward_desc(d, cv->p, cv->q, &bd);
    float* wt = malloc((size_t)(d->k * cg * r * s) * sizeof(float));
    cv->bwd = calloc(1, sizeof(*cv->bwd));
    if (wt == NULL || cv->bwd == NULL) {
        free(wt);
        return IPX_STATUS_OUT_OF_MEMORY;
    }
    /* W'[g*cg + ci][kk][r-1-ri][s-1-si] = W[g*kg + kk][ci][ri][si] */
    for (int64_t gi = 0; gi < d->g; gi++)
        for (int64_t kk = 0; kk < kg; kk++)
            for (int64_t ci = 0; ci < cg; ci++)
                for (int64_t ri = 0; ri < r; ri++)
                    for (int64_t si = 0; si < s; si++)
                        wt[(((gi * cg + ci) * kg + kk) * r + (r - 1 - ri)) * s + (s - 1 - si)] =
                            weight[(((gi * kg + kk) * cg + ci) * r + ri) * s + si];
    ipx_status st = conv_init(cv->bwd, &bd, d->h, d->w, d->stride_h, d->stride_w, wt, NULL);
    free(wt);
    return st;
}

ipx_status ipx_conv_create(const ipx_conv_desc* desc, const float* weight, size_t weight_len,
                           const float* bias, size_t bias_len, ipx_conv_t* conv_out) {
    ipx_status status = IPX_STATUS_NULL_POINTER;
    struct ipx_conv* cv = NULL;
    if (conv_out == NULL) return status;
    *conv_out = NULL;
    if (desc == NULL || weight == NULL) goto error;
    int64_t p, q;
    status = validate(desc, &p, &q);
    if (status != IPX_STATUS_SUCCESS) goto error;
    const ipx_conv_desc* d = desc;
    const int64_t cg = d->c / d->g, taps = d->r * d->s;
    status = IPX_STATUS_INVALID_BUFFER_SIZE;
    if (weight_len != (size_t)(d->k * cg * taps)) goto error;
    if (bias != NULL && bias_len != (size_t)d->k) goto error;

    uint64_t alloc = weight_bytes(d);
    if (d->flags & IPX_FLAG_BACKWARD) {
        ipx_conv_desc bd;
        backward_desc(d, p, q, &bd);
        alloc += weight_bytes(&bd);
    }
    status = IPX_STATUS_MEMORY_LIMIT;
    if (d->memory_limit != 0 && alloc > d->memory_limit) goto error;

    status = IPX_STATUS_OUT_OF_MEMORY;
    cv = calloc(1, sizeof(*cv));
    if (cv == NULL) goto error;
    status = conv_init(cv, d, p, q, 1, 1, weight, bias);
    if (status != IPX_STATUS_SUCCESS) goto error;
    if (d->flags & IPX_FLAG_BACKWARD) {
        status = create_backward(cv, weight);
        if (status != IPX_STATUS_SUCCESS) goto error;
        cv->allocated_bytes += cv->bwd->allocated_bytes;
    }
    cv->min_bytes = 4u * ((uint64_t)(d->n * d->c * d->h * d->w) + (uint64_t)(d->k * cg * taps) +
                          (bias ? (uint64_t)d->k : 0u) + (uint64_t)(d->n * d->k * p * q));
    *conv_out = cv;
    return IPX_STATUS_SUCCESS;
error:
    conv_free(cv);
    return status;
}

static int64_t tile_floats(const struct ipx_conv* cv, int64_t gb, int64_t kb, int64_t pb,
                           ipx__plan* plan) {
    switch (cv->kernel) {
    case IPX_KERNEL_CHANNEL: return ipx__chan_tile_floats(cv, gb, kb, pb, plan);
    case IPX_KERNEL_GEMM: return ipx__gemm_tile_floats(cv, gb, kb, pb, plan);
    default: return ipx__row_tile_floats(cv, gb, pb, plan);
    }
}

static uint64_t min_tile_bytes(const struct ipx_conv* cv) {
    int64_t f = tile_floats(cv, 1, cv->kernel == IPX_KERNEL_CHANNEL ? 8 : 1, 1, NULL);
    return f >= INT64_MAX / 8 ? UINT64_MAX : (uint64_t)f * 4u;
}

ipx_status ipx_conv_get_info(ipx_conv_t conv, ipx_conv_info* info) {
    if (conv == NULL || info == NULL) return IPX_STATUS_NULL_POINTER;
    memset(info, 0, sizeof(*info));
    info->p = conv->p;
    info->q = conv->q;
    info->kernel = conv->kernel;
    info->isa = conv->isa;
    info->algorithm = conv->algorithm;
    info->flops = conv->flops;
    info->min_bytes = conv->min_bytes;
    info->min_tile_bytes = min_tile_bytes(conv);
    if (conv->bwd != NULL) {
        uint64_t b = min_tile_bytes(conv->bwd);
        if (b > info->min_tile_bytes) info->min_tile_bytes = b;
    }
    uint64_t bw = ipx__bwd_weights_min_tile_bytes(conv);
    if (bw > info->min_tile_bytes) info->min_tile_bytes = bw;
    info->allocated_bytes = conv->allocated_bytes;
    return IPX_STATUS_SUCCESS;
}

/* Block sizes for this layer on this pool: the largest blocks that fit tile memory (whole
   groups first), then smaller until every worker has several blocks (static balance). */
static ipx_status make_plan(const struct ipx_conv* cv, ipx_pool_t pool, ipx__plan* plan) {
    const int64_t tile = (int64_t)(pool->tile_bytes / sizeof(float));
    const int64_t W = pool->workers, p = cv->p, n = cv->d.n, g = cv->d.g;
    const bool chan = cv->kernel == IPX_KERNEL_CHANNEL, gemm = cv->kernel == IPX_KERNEL_GEMM;
    const bool ksplit = chan || gemm;       /* blocks may hold part of a group's channels */
    const int64_t kmin = chan ? 8 : 1;      /* channel kernel: whole vectors of 8 */
    const int64_t k_all = chan ? cv->kg8 : cv->kg;
    int64_t gb = g, kb = k_all, pb = p;
#define HALVE_KB(kb) ((kb) = chan ? ipx__round_up(ipx__div_up((kb), 2), 8) : ipx__div_up((kb), 2))
    for (;;) {
        if (tile_floats(cv, gb, kb, pb, plan) <= tile) break;
        const int64_t in_rows = (pb - 1) * cv->d.stride_h + (cv->d.r - 1) * cv->d.dilation_h + 1;
        /* Split output channels when the weights dominate the tile. */
        bool weights_big = gemm ? kb >= pb * cv->q
                                : chan && kb * cv->d.r * cv->d.s >= in_rows * cv->q;
        if (gb > 1)
            gb = ipx__div_up(gb, 2);
        else if (ksplit && kb > kmin && (weights_big || pb == 1))
            HALVE_KB(kb);
        else if (pb > 1)
            pb = ipx__div_up(pb, 2);
        else
            return IPX_STATUS_TILE_TOO_SMALL;
    }
    for (;;) {
        int64_t blocks = n * ipx__div_up(g, gb) * ipx__div_up(k_all, kb) * ipx__div_up(p, pb);
        if (blocks >= 4 * W) break;
        /* A superstep costs a barrier (about a microsecond): keep blocks of at least
           ~256 kFLOP rather than splitting tiny layers into tinier supersteps. */
        int64_t kblock = chan || gemm ? kb : cv->kg;
        if (blocks >= W && 2 * gb * kblock * pb * cv->q * cv->cg * cv->d.r * cv->d.s < (1 << 18)) break;
        /* Split groups first (no input re-read), then rows, then output channels. */
        if (gb > 1) gb = ipx__div_up(gb, 2);
        else if (pb > 1 && (pb >= 4 || !ksplit || kb == kmin)) pb = ipx__div_up(pb, 2);
        else if (ksplit && kb > kmin) HALVE_KB(kb);
        else break;
    }
#undef HALVE_KB
    tile_floats(cv, gb, kb, pb, plan);
    plan->gb = gb;
    plan->kb = kb;
    plan->pb = pb;
    plan->n_gblk = ipx__div_up(g, gb);
    plan->n_kblk = ipx__div_up(k_all, kb);
    plan->n_pblk = ipx__div_up(p, pb);
    plan->blocks = n * plan->n_gblk * plan->n_kblk * plan->n_pblk;
    return IPX_STATUS_SUCCESS;
}

typedef struct run_ctx {
    const struct ipx_conv* cv;
    ipx_pool_t pool;
    ipx__plan plan;
    const float* input;
    float* output;
    int64_t supersteps;
} run_ctx;

static void decode(const struct ipx_conv* cv, const ipx__plan* pl, int64_t idx, ipx__block* b,
                   int64_t* in_key, int64_t* w_key) {
    int64_t kblk = idx % pl->n_kblk;
    idx /= pl->n_kblk;
    int64_t pblk = idx % pl->n_pblk;
    idx /= pl->n_pblk;
    int64_t gblk = idx % pl->n_gblk;
    b->n = idx / pl->n_gblk;
    b->g0 = gblk * pl->gb;
    b->gb = ipx__min(pl->gb, cv->d.g - b->g0);
    b->k0 = kblk * pl->kb;
    b->kb = cv->kernel == IPX_KERNEL_CHANNEL ? ipx__min(pl->kb, cv->kg8 - b->k0)
          : cv->kernel == IPX_KERNEL_GEMM    ? ipx__min(pl->kb, cv->kg - b->k0)
                                             : cv->kg;
    b->p0 = pblk * pl->pb;
    b->pb = ipx__min(pl->pb, cv->p - b->p0);
    *in_key = (b->n * pl->n_gblk + gblk) * pl->n_pblk + pblk;
    *w_key = gblk * pl->n_kblk + kblk;
}

static void conv_job(void* vctx, uint32_t wi) {
    const run_ctx* ctx = vctx;
    const struct ipx_conv* cv = ctx->cv;
    const ipx__plan* pl = &ctx->plan;
    ipx_pool_t pool = ctx->pool;
    float* tile = ipx__pool_tile(pool, wi);
    ipx_worker_stats* st = ipx__pool_stats(pool, wi);
    const int64_t W = pool->workers, T = pl->blocks;
    const int64_t first = T * wi / W, last = T * (wi + 1) / W;
    const uint64_t macs_per = (uint64_t)(cv->cg * cv->d.r * cv->d.s);
    int64_t in_res = -1, w_res = -1; /* what the tile already holds */
    for (int64_t step = 0; step < ctx->supersteps; step++) {
        int64_t idx = first + step;
        if (idx < last) {
            ipx__block b;
            int64_t in_key, w_key;
            decode(cv, pl, idx, &b, &in_key, &w_key);
            uint64_t t0 = ipx__now_ns();
            bool load_in = in_key != in_res, load_w = w_key != w_res;
            uint64_t rows = (uint64_t)((b.pb - 1) * cv->d.stride_h + (cv->d.r - 1) * cv->d.dilation_h + 1);
            uint64_t kout;
            if (cv->kernel == IPX_KERNEL_CHANNEL) {
                ipx__chan_exchange(cv, pl, &b, ctx->input, tile, load_in, load_w);
                if (load_in) st->bytes_in += 4u * (uint64_t)(b.gb * cv->cg) * rows * (uint64_t)pl->row_len;
                if (load_w) st->bytes_in += 4u * (uint64_t)(b.gb * b.kb * (cv->cg * cv->d.r * cv->d.s + 1));
                kout = (uint64_t)(b.gb * ipx__min(b.kb, cv->kg - b.k0));
            } else if (cv->kernel == IPX_KERNEL_GEMM) {
                ipx__gemm_exchange(cv, pl, &b, ctx->input, tile, load_in, load_w);
                /* im2col: every input element enters the tile once per kernel tap */
                if (load_in) st->bytes_in += 4u * (uint64_t)(b.gb * pl->rows_in) * (uint64_t)pl->row_len;
                if (load_w) st->bytes_in += 4u * (uint64_t)(b.gb * b.kb * (pl->rows_in + 1));
                kout = (uint64_t)(b.gb * b.kb);
            } else {
                ipx__row_exchange(cv, pl, &b, ctx->input, tile, load_w, step == 0);
                load_in = true; /* the row kernel always refreshes its input */
                st->bytes_in += 4u * (uint64_t)(b.gb * cv->cg) * rows *
                                (uint64_t)(cv->d.stride_w * pl->row_len);
                if (load_w) st->bytes_in += 4u * (uint64_t)(b.gb * cv->kg * (cv->cg * cv->d.r * cv->d.s + 1));
                kout = (uint64_t)(b.gb * cv->kg);
            }
            in_res = in_key;
            w_res = w_key;
            uint64_t t1 = ipx__now_ns();
            if (cv->kernel == IPX_KERNEL_CHANNEL)
                ipx__chan_compute(cv, pl, &b, tile, ctx->output);
            else if (cv->kernel == IPX_KERNEL_GEMM)
                ipx__gemm_compute(cv, pl, &b, tile, ctx->output);
            else
                ipx__row_compute(cv, pl, &b, tile, ctx->output);
            uint64_t t2 = ipx__now_ns();
            uint64_t pix = (uint64_t)(b.pb * cv->q);
            st->flops += 2u * kout * pix * macs_per;
            st->bytes_out += 4u * kout * pix;
            st->exchange_ns += t1 - t0;
            st->compute_ns += t2 - t1;
            st->supersteps++;
        }
        uint64_t t3 = ipx__now_ns();
        bool stop = ipx__pool_sync(pool);
        st->wait_ns += ipx__now_ns() - t3;
        if (stop) break;
    }
}

/* Totals of the pool's last run from its workers' counters. */
void ipx__pool_finish_stats(ipx_pool_t pool, uint64_t t0, uint64_t t1, int64_t supersteps) {
    ipx_run_stats* last = &pool->last;
    memset(last, 0, sizeof(*last));
    last->wall_s = (double)(t1 - t0) * 1e-9;
    for (uint32_t i = 0; i < pool->workers; i++) {
        const ipx_worker_stats* s = &pool->slots[i].stats;
        last->flops += s->flops;
        last->bytes_in += s->bytes_in;
        last->bytes_out += s->bytes_out;
    }
    if (last->wall_s > 0) {
        last->gflop_s = (double)last->flops / last->wall_s * 1e-9;
        last->gb_s = (double)(last->bytes_in + last->bytes_out) / last->wall_s * 1e-9;
    }
    last->supersteps = (uint64_t)supersteps;
}

/* Runs the forward geometry of cv (a handle or its backward-data handle). The caller holds
   the in-use guards. */
static ipx_status run_direct(const struct ipx_conv* cv, ipx_pool_t pool, const float* input,
                             float* output) {
    run_ctx ctx = {.cv = cv, .pool = pool, .input = input, .output = output};
    ipx_status status = make_plan(cv, pool, &ctx.plan);
    if (status == IPX_STATUS_SUCCESS) {
        ctx.supersteps = ipx__div_up(ctx.plan.blocks, pool->workers);
        uint64_t t0 = ipx__now_ns();
        bool cancelled = ipx__pool_run(pool, conv_job, &ctx);
        ipx__pool_finish_stats(pool, t0, ipx__now_ns(), ctx.supersteps);
        status = cancelled ? IPX_STATUS_CANCELLED : IPX_STATUS_SUCCESS;
    } else {
        memset(&pool->last, 0, sizeof(pool->last));
    }
    pool->last.workers = pool->workers;
    pool->last.algorithm = cv->algorithm;
    pool->last.kernel = cv->kernel;
    pool->last.status = status;
    return status;
}

ipx_status ipx__acquire_pair(ipx_conv_t conv, ipx_pool_t pool) {
    if (!ipx__try_acquire(&conv->in_use)) return IPX_STATUS_BUSY;
    if (!ipx__try_acquire(&pool->in_use)) {
        ipx__release(&conv->in_use);
        return IPX_STATUS_BUSY;
    }
    return IPX_STATUS_SUCCESS;
}

void ipx__release_pair(ipx_conv_t conv, ipx_pool_t pool) {
    ipx__release(&pool->in_use);
    ipx__release(&conv->in_use);
}

ipx_status ipx_conv_run(ipx_conv_t conv, ipx_pool_t pool, const float* input, size_t input_len,
                        float* output, size_t output_len) {
    if (conv == NULL || pool == NULL || input == NULL || output == NULL)
        return IPX_STATUS_NULL_POINTER;
    const ipx_conv_desc* d = &conv->d;
    if (input_len != (size_t)(d->n * d->c * d->h * d->w) ||
        output_len != (size_t)(d->n * d->k * conv->p * conv->q))
        return IPX_STATUS_INVALID_BUFFER_SIZE;
    ipx_status status = ipx__acquire_pair(conv, pool);
    if (status != IPX_STATUS_SUCCESS) return status;
    status = run_direct(conv, pool, input, output);
    ipx__release_pair(conv, pool);
    return status;
}

ipx_status ipx_conv_run_backward_data(ipx_conv_t conv, ipx_pool_t pool, const float* grad_output,
                                      size_t grad_output_len, float* grad_input,
                                      size_t grad_input_len) {
    if (conv == NULL || pool == NULL || grad_output == NULL || grad_input == NULL)
        return IPX_STATUS_NULL_POINTER;
    if (conv->bwd == NULL) return IPX_STATUS_UNSUPPORTED;
    const ipx_conv_desc* d = &conv->d;
    if (grad_output_len != (size_t)(d->n * d->k * conv->p * conv->q) ||
        grad_input_len != (size_t)(d->n * d->c * d->h * d->w))
        return IPX_STATUS_INVALID_BUFFER_SIZE;
    ipx_status status = ipx__acquire_pair(conv, pool);
    if (status != IPX_STATUS_SUCCESS) return status;
    status = run_direct(conv->bwd, pool, grad_output, grad_input);
    ipx__release_pair(conv, pool);
    return status;
}

ipx_status ipx_conv_destroy(ipx_conv_t conv) {
    if (conv == NULL) return IPX_STATUS_SUCCESS;
    if (!ipx__try_acquire(&conv->in_use)) return IPX_STATUS_BUSY;
    conv_free(conv);
    return IPX_STATUS_SUCCESS;
}
