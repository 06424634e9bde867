/* Fully connected layers over a batch of vectors ([n][c] -> [n][k]) as one superstep pass on
   the pool (ipx_fc_*): the classifier (one layer) and squeeze-excite's excitation (two:
   channel sums -> means -> hidden -> gates, ipx_se_create). A block is some images x a range
   of the last layer's output vectors. Exchange: the images' input rows into tile memory
   (scaled: sums -> means). Compute: each layer from the tile, 8 outputs to a vector with
   several images and vectors in registers, bias and activation applied before the store; the
   block's outputs written once. A two-layer block computes its images' whole hidden layer
   into the tile itself, so blocks never wait for each other: the hidden layer costs as much
   as the output layer (c x hidden multiply-adds each), and the output range is split only
   when there are fewer image blocks than workers.
   The weights are read where create packed them, not copied into the tile: each is used once
   per image, so a copy would only add to its traffic. */
#include <math.h>
#include <stdlib.h>

#include "desc.h"
#include "epilogue.h"
#include "internal.h"
#include "vec.h"

#define FC_V 8
/* The first published layouts: all of them. */
#define FC_DESC_SIZE_0_1 sizeof(ipx_fc_desc)
#define SE_DESC_SIZE_0_1 sizeof(ipx_se_desc)
/* A block's work floor (multiply-adds) before the output range is split further. */
#define FC_MIN_BLOCK_MACS 16384

typedef struct fc_layer {
    int64_t c, k, kv;    /* inputs, outputs, output vectors (k / 8 rounded up) */
    float* weight;       /* [kv][c][8], lanes past k zero */
    float* bias;         /* kv * 8 floats, zeros past k (and without a bias) */
    int32_t act;         /* an ipx_activation */
    float alpha, beta;   /* IPX_ACTIVATION_HARDSIGMOID's */
} fc_layer;

struct ipx_fc {
    int64_t n;
    int32_t layers; /* 1, or 2 for squeeze-excite's excitation */
    fc_layer layer[2];
    float input_scale;
    int32_t isa;
    uint64_t flops, allocated_bytes;
    _Atomic int in_use;
};

static bool in_dim_range(int64_t v, int64_t lo) { return v >= lo && v <= IPX_MAX_DIM; }

static bool activation_ok(int32_t act, bool hardsigmoid, float alpha, float beta) {
    if (act == IPX_ACTIVATION_HARDSIGMOID) return hardsigmoid && isfinite(alpha) && isfinite(beta);
    return act >= IPX_ACTIVATION_NONE && act <= IPX_ACTIVATION_HARDSWISH;
}

/* Every element count (n*c, n*k, the packed weights) fits int64 and size_t as bytes. */
static bool sizes_fit(int64_t n, int64_t c, int64_t k) {
    const int64_t max = (int64_t)((SIZE_MAX / 4 < (uint64_t)INT64_MAX / 4) ? SIZE_MAX / 4 : INT64_MAX / 4);
    int64_t t;
    return !(__builtin_mul_overflow(n, c, &t) || t > max || __builtin_mul_overflow(n, k, &t) || t > max ||
             __builtin_mul_overflow(ipx__round_up(k, FC_V), c, &t) || t > max);
}

static uint64_t layer_bytes(int64_t c, int64_t k) {
    const uint64_t k8 = (uint64_t)ipx__round_up(k, FC_V);
    return 4u * (k8 * (uint64_t)c + k8);
}

static void fc_free(struct ipx_fc* fc) {
    if (fc == NULL) return;
    for (int i = 0; i < 2; i++) {
        free(fc->layer[i].weight);
        free(fc->layer[i].bias);
    }
    free(fc);
}

/* Packs weight [k][c] (and bias [k], or NULL) into L's vectors of 8 outputs. */
static ipx_status layer_init(fc_layer* L, int64_t c, int64_t k, const float* weight, const float* bias,
                             int32_t act, float alpha, float beta) {
    L->c = c;
    L->k = k;
    L->kv = ipx__div_up(k, FC_V);
    L->act = act;
    L->alpha = alpha;
    L->beta = beta;
    L->weight = calloc((size_t)(L->kv * FC_V * c), sizeof(float));
    L->bias = calloc((size_t)(L->kv * FC_V), sizeof(float));
    if (L->weight == NULL || L->bias == NULL) return IPX_STATUS_OUT_OF_MEMORY;
    for (int64_t o = 0; o < k; o++) {
        float* dst = L->weight + (o / FC_V) * c * FC_V + o % FC_V;
        for (int64_t i = 0; i < c; i++) dst[i * FC_V] = weight[o * c + i];
        if (bias) L->bias[o] = bias[o];
    }
    return IPX_STATUS_SUCCESS;
}

static ipx_status fc_new(int64_t n, int isa_portable, uint64_t alloc, uint64_t memory_limit, struct ipx_fc** out) {
    if (memory_limit != 0 && alloc > memory_limit) return IPX_STATUS_MEMORY_LIMIT;
    struct ipx_fc* fc = calloc(1, sizeof(*fc));
    if (fc == NULL) return IPX_STATUS_OUT_OF_MEMORY;
    fc->n = n;
    fc->isa = ipx__pick_isa(isa_portable);
    fc->input_scale = 1.0f;
    fc->allocated_bytes = alloc;
    atomic_init(&fc->in_use, 0);
    *out = fc;
    return IPX_STATUS_SUCCESS;
}

ipx_status ipx_fc_create(const ipx_fc_desc* desc, const float* weight, size_t weight_len, const float* bias,
                         size_t bias_len, ipx_fc_t* fc_out) {
    struct ipx_fc* fc = NULL;
    if (fc_out == NULL) return IPX_STATUS_NULL_POINTER;
    *fc_out = NULL;
    if (desc == NULL || weight == NULL) return IPX_STATUS_NULL_POINTER;
    ipx_fc_desc d;
    ipx_status status = ipx__read_desc(&d, sizeof d, FC_DESC_SIZE_0_1, desc);
    if (status != IPX_STATUS_SUCCESS) return status;
    if (!in_dim_range(d.n, 1)) return IPX_STATUS_INVALID_BATCH;
    if (!in_dim_range(d.c, 1)) return IPX_STATUS_INVALID_CHANNELS;
    if (!in_dim_range(d.k, 1)) return IPX_STATUS_INVALID_OUTPUT_CHANNELS;
    if (!activation_ok(d.activation, true, d.alpha, d.beta)) return IPX_STATUS_INVALID_ACTIVATION;
    if (d.flags & ~(uint32_t)IPX_FLAG_PORTABLE) return IPX_STATUS_INVALID_FLAGS;
    if (!sizes_fit(d.n, d.c, d.k)) return IPX_STATUS_SIZE_OVERFLOW;
    if (weight_len != (size_t)(d.k * d.c) || (bias != NULL && bias_len != (size_t)d.k))
        return IPX_STATUS_INVALID_BUFFER_SIZE;
    status = fc_new(d.n, d.flags & IPX_FLAG_PORTABLE, layer_bytes(d.c, d.k), d.memory_limit, &fc);
    if (status != IPX_STATUS_SUCCESS) goto error;
    fc->layers = 1;
    status = layer_init(&fc->layer[0], d.c, d.k, weight, bias, d.activation, d.alpha, d.beta);
    if (status != IPX_STATUS_SUCCESS) goto error;
    fc->flops = 2u * (uint64_t)d.n * (uint64_t)d.c * (uint64_t)d.k;
    *fc_out = fc;
    return IPX_STATUS_SUCCESS;
error:
    fc_free(fc);
    return status;
}

ipx_status ipx_se_create(const ipx_se_desc* desc, const float* w1, size_t w1_len, const float* b1, size_t b1_len,
                         const float* w2, size_t w2_len, const float* b2, size_t b2_len, ipx_fc_t* fc_out) {
    struct ipx_fc* fc = NULL;
    if (fc_out == NULL) return IPX_STATUS_NULL_POINTER;
    *fc_out = NULL;
    if (desc == NULL || w1 == NULL || w2 == NULL) return IPX_STATUS_NULL_POINTER;
    ipx_se_desc d;
    ipx_status status = ipx__read_desc(&d, sizeof d, SE_DESC_SIZE_0_1, desc);
    if (status != IPX_STATUS_SUCCESS) return status;
    if (!in_dim_range(d.n, 1)) return IPX_STATUS_INVALID_BATCH;
    if (!in_dim_range(d.c, 1)) return IPX_STATUS_INVALID_CHANNELS;
    if (!in_dim_range(d.hidden, 1)) return IPX_STATUS_INVALID_HIDDEN;
    if (!in_dim_range(d.h, 1) || !in_dim_range(d.w, 1)) return IPX_STATUS_INVALID_INPUT_SIZE;
    if (!activation_ok(d.activation, false, 0.0f, 0.0f) || !activation_ok(d.gate, true, d.gate_alpha, d.gate_beta))
        return IPX_STATUS_INVALID_ACTIVATION;
    if (d.flags & ~(uint32_t)IPX_FLAG_PORTABLE) return IPX_STATUS_INVALID_FLAGS;
    if (!sizes_fit(d.n, d.c, d.hidden) || !sizes_fit(d.n, d.hidden, d.c)) return IPX_STATUS_SIZE_OVERFLOW;
    const size_t wlen = (size_t)(d.hidden * d.c);
    if (w1_len != wlen || w2_len != wlen || (b1 != NULL && b1_len != (size_t)d.hidden) ||
        (b2 != NULL && b2_len != (size_t)d.c))
        return IPX_STATUS_INVALID_BUFFER_SIZE;
    status = fc_new(d.n, d.flags & IPX_FLAG_PORTABLE, layer_bytes(d.c, d.hidden) + layer_bytes(d.hidden, d.c),
                    d.memory_limit, &fc);
    if (status != IPX_STATUS_SUCCESS) goto error;
    fc->layers = 2;
    fc->input_scale = (float)(1.0 / ((double)d.h * (double)d.w));
    status = layer_init(&fc->layer[0], d.c, d.hidden, w1, b1, d.activation, 0.0f, 0.0f);
    if (status == IPX_STATUS_SUCCESS)
        status = layer_init(&fc->layer[1], d.hidden, d.c, w2, b2, d.gate, d.gate_alpha, d.gate_beta);
    if (status != IPX_STATUS_SUCCESS) goto error;
    fc->flops = 4u * (uint64_t)d.n * (uint64_t)d.c * (uint64_t)d.hidden;
    *fc_out = fc;
    return IPX_STATUS_SUCCESS;
error:
    fc_free(fc);
    return status;
}

/* ---- the pass ---- */

typedef struct fc_pass {
    ipx__pass pass; /* first: the driver hands it back to the phases */
    const struct ipx_fc* fc;
    const float* input;
    float* output;
    int64_t nb, n_iblk;        /* images per block, image blocks */
    int64_t kvb, n_kblk;       /* the last layer's output vectors per block, blocks per image block */
    int64_t in_stride;         /* tile floats per image: input row, then (two layers) hidden row */
    int64_t hid_off;
} fc_pass;

static int64_t tile_floats(const struct ipx_fc* fc, int64_t nb, int64_t* hid_off) {
    const int64_t in = (int64_t)ipx__align_floats(fc->layer[0].c);
    const int64_t hid = fc->layers == 2 ? (int64_t)ipx__align_floats(fc->layer[0].kv * FC_V) : 0;
    if (hid_off) *hid_off = in;
    return ipx__smul(nb, in + hid);
}

/* Image blocks as large as the tile allows and the workers' share needs; the last layer's
   output vectors split until there are enough blocks (one layer: 4 per worker, for balance;
   two: one per worker, as each extra split recomputes the hidden layer). */
static ipx_status plan(fc_pass* fp, int64_t tile, int64_t workers) {
    const struct ipx_fc* fc = fp->fc;
    const fc_layer* last = &fc->layer[fc->layers - 1];
    const int64_t n = fc->n;
    int64_t nb = fc->layers == 2 ? ipx__min(4, ipx__div_up(n, workers)) : ipx__max(4, ipx__div_up(n, 4 * workers));
    nb = ipx__min(nb, n);
    while (nb > 1 && tile_floats(fc, nb, NULL) > tile) nb = ipx__div_up(nb, 2);
    if (tile_floats(fc, nb, &fp->hid_off) > tile) return IPX_STATUS_TILE_TOO_SMALL;
    fp->nb = nb;
    fp->n_iblk = ipx__div_up(n, nb);
    fp->in_stride = tile_floats(fc, 1, NULL);
    const int64_t want = fc->layers == 2 ? workers : 4 * workers;
    int64_t splits = fp->n_iblk >= want ? 1 : ipx__div_up(want, fp->n_iblk);
    const int64_t macs_per_vector = nb * last->c * FC_V;
    splits = ipx__min(splits, ipx__max(1, last->kv * macs_per_vector / FC_MIN_BLOCK_MACS));
    fp->kvb = ipx__div_up(last->kv, ipx__max(1, splits));
    fp->n_kblk = ipx__div_up(last->kv, fp->kvb);
    fp->pass.blocks = fp->n_iblk * fp->n_kblk;
    return IPX_STATUS_SUCCESS;
}

/* The block's input rows into the tile (scaled), unless the tile already holds them. */
static void fc_exchange(const ipx__pass* pass, ipx__step* s) {
    const fc_pass* fp = (const fc_pass*)pass;
    const struct ipx_fc* fc = fp->fc;
    const int64_t iblk = s->block / fp->n_kblk;
    if (s->in_key == iblk) return;
    const int64_t c = fc->layer[0].c, i0 = iblk * fp->nb, ni = ipx__min(fp->nb, fc->n - i0);
    const float scale = fc->input_scale;
    for (int64_t i = 0; i < ni; i++) {
        const float* src = fp->input + (i0 + i) * c;
        float* dst = s->tile + i * fp->in_stride;
        if (scale == 1.0f)
            memcpy(dst, src, (size_t)c * sizeof(float));
        else
            for (int64_t j = 0; j < c; j++) dst[j] = src[j] * scale;
    }
    s->in_key = iblk;
    s->stats->bytes_in += 4u * (uint64_t)(ni * c);
}

/* The generic select for max and min in every build (a few thousand outputs per image). */
IPX_INLINE ipx_v8 fc_activation(ipx_v8 v, const fc_layer* L) {
    const int ISA = IPX_ISA_PORTABLE;
    if (L->act == IPX_ACTIVATION_HARDSIGMOID)
        return v8_min(v8_max(v * L->alpha + L->beta, v8_splat(0.0f), ISA), v8_splat(1.0f), ISA);
    return v8_activation(v, L->act, ISA);
}

/* NB images x KV output vectors from vector kv0: y[i][8 kv + l] = act(bias + sum over ci of
   x[i][ci] w[kv][ci][l]), summed in input order; x rows xs floats apart, y rows ys apart.
   Lanes past the layer's k are not stored. */
IPX_INLINE void fc_tile(const fc_layer* L, const float* x, int64_t xs, int64_t kv0, float* y, int64_t ys,
                        const int NB, const int KV) {
    const int64_t c = L->c;
    const float* w = L->weight + kv0 * c * FC_V;
    ipx_v8 acc[4][8]; /* fixed sizes (NB <= 4, KV <= 8): a VLA would live on the stack */
    for (int j = 0; j < KV; j++) {
        const ipx_v8 b = v8_load(L->bias + (kv0 + j) * FC_V);
        for (int i = 0; i < NB; i++) acc[i][j] = b;
    }
    for (int64_t ci = 0; ci < c; ci++) {
        ipx_v8 wv[8];
        for (int j = 0; j < KV; j++) wv[j] = v8_load(w + (j * c + ci) * FC_V);
        for (int i = 0; i < NB; i++) {
            const float xv = x[i * xs + ci];
            for (int j = 0; j < KV; j++) acc[i][j] += wv[j] * xv;
        }
    }
    for (int j = 0; j < KV; j++) {
        const int64_t o = (kv0 + j) * FC_V, left = L->k - o;
        for (int i = 0; i < NB; i++) {
            const ipx_v8 v = fc_activation(acc[i][j], L);
            if (left >= FC_V) {
                v8_store(y + i * ys + o, v);
            } else {
                float tmp[FC_V];
                v8_store(tmp, v);
                memcpy(y + i * ys + o, tmp, (size_t)left * sizeof(float));
            }
        }
    }
}

/* Output vectors [kv0, kv1) of ni images, 8 of them at a time: 4 images x 2 vectors, 2 x 4
   or 1 x 8 in registers (8 independent sums: enough to hide the FMA latency; each weight
   vector loaded once per tile, each input once per vector it meets). Every output is one
   chain in input order from its bias, whatever the tile, so results do not depend on how the
   pool cut the blocks. */
IPX_INLINE void fc_rows(const fc_layer* L, const float* x, int64_t xs, int64_t ni, int64_t kv0, int64_t kv1,
                        float* y, int64_t ys) {
    for (int64_t kv = kv0; kv < kv1; kv += 8) {
        const int64_t kvn = ipx__min(8, kv1 - kv);
        int64_t i = 0;
        for (; i + 4 <= ni; i += 4)
            for (int64_t j = 0; j < kvn; j += 2) {
                if (kvn - j >= 2) fc_tile(L, x + i * xs, xs, kv + j, y + i * ys, ys, 4, 2);
                else fc_tile(L, x + i * xs, xs, kv + j, y + i * ys, ys, 4, 1);
            }
        for (; i + 2 <= ni; i += 2)
            for (int64_t j = 0; j < kvn; j += 4) switch (ipx__min(4, kvn - j)) {
                case 4: fc_tile(L, x + i * xs, xs, kv + j, y + i * ys, ys, 2, 4); break;
                case 3: fc_tile(L, x + i * xs, xs, kv + j, y + i * ys, ys, 2, 3); break;
                case 2: fc_tile(L, x + i * xs, xs, kv + j, y + i * ys, ys, 2, 2); break;
                default: fc_tile(L, x + i * xs, xs, kv + j, y + i * ys, ys, 2, 1); break;
                }
        if (i < ni) switch (kvn) {
            case 8: fc_tile(L, x + i * xs, xs, kv, y + i * ys, ys, 1, 8); break;
            case 7: fc_tile(L, x + i * xs, xs, kv, y + i * ys, ys, 1, 7); break;
            case 6: fc_tile(L, x + i * xs, xs, kv, y + i * ys, ys, 1, 6); break;
            case 5: fc_tile(L, x + i * xs, xs, kv, y + i * ys, ys, 1, 5); break;
            case 4: fc_tile(L, x + i * xs, xs, kv, y + i * ys, ys, 1, 4); break;
            case 3: fc_tile(L, x + i * xs, xs, kv, y + i * ys, ys, 1, 3); break;
            case 2: fc_tile(L, x + i * xs, xs, kv, y + i * ys, ys, 1, 2); break;
            default: fc_tile(L, x + i * xs, xs, kv, y + i * ys, ys, 1, 1); break;
            }
    }
}

IPX_INLINE void fc_compute_body(const fc_pass* fp, ipx__step* s) {
    const struct ipx_fc* fc = fp->fc;
    const int64_t iblk = s->block / fp->n_kblk, kblk = s->block % fp->n_kblk;
    const int64_t i0 = iblk * fp->nb, ni = ipx__min(fp->nb, fc->n - i0);
    const fc_layer* last = &fc->layer[fc->layers - 1];
    const int64_t kv0 = kblk * fp->kvb, kv1 = ipx__min(last->kv, kv0 + fp->kvb);
    const float* x = s->tile;
    uint64_t macs = 0, weights = 0;
    if (fc->layers == 2) { /* the images' whole hidden layer, into the tile after their inputs */
        const fc_layer* h = &fc->layer[0];
        float* hid = s->tile + fp->hid_off;
        if (s->w_key != iblk) { /* not already there from this worker's previous block */
            fc_rows(h, x, fp->in_stride, ni, 0, h->kv, hid, fp->in_stride);
            macs += (uint64_t)(ni * h->c * h->k);
            weights += (uint64_t)(h->kv * FC_V * (h->c + 1));
            s->w_key = iblk;
        }
        x = hid;
    }
    float* y = fp->output + i0 * last->k;
    fc_rows(last, x, fp->in_stride, ni, kv0, kv1, y, last->k);
    const int64_t outs = ipx__min(last->k, kv1 * FC_V) - kv0 * FC_V;
    macs += (uint64_t)(ni * last->c * outs);
    weights += (uint64_t)((kv1 - kv0) * FC_V * (last->c + 1));
    s->stats->flops += 2u * macs;
    s->stats->bytes_in += 4u * weights;
    s->stats->bytes_out += 4u * (uint64_t)(ni * outs);
}

/* One build per instruction set, chosen at create. */
#define FC_BUILD(isa, ISA, TARGET, COPY_TARGET, WIDE, ...)                                    \
    TARGET static void fc_compute_##isa(const fc_pass* fp, ipx__step* s) { fc_compute_body(fp, s); }
IPX_FOR_EACH_ISA(FC_BUILD, )
#undef FC_BUILD
#define FC_ENTRY(isa, ISA, ...) [ISA] = fc_compute_##isa,
static void (*const fc_compute_by_isa[IPX__ISA_COUNT])(const fc_pass*, ipx__step*) = {IPX_FOR_EACH_ISA(FC_ENTRY, )};
#undef FC_ENTRY

static void fc_compute(const ipx__pass* pass, ipx__step* s) {
    const fc_pass* fp = (const fc_pass*)pass;
    fc_compute_by_isa[fp->fc->isa](fp, s);
}

ipx_status ipx_fc_run(ipx_fc_t fc, ipx_pool_t pool, const float* input, size_t input_len, float* output,
                      size_t output_len) {
    if (fc == NULL || pool == NULL || input == NULL || output == NULL) return IPX_STATUS_NULL_POINTER;
    const fc_layer* last = &fc->layer[fc->layers - 1];
    if (input_len != (size_t)(fc->n * fc->layer[0].c) || output_len != (size_t)(fc->n * last->k))
        return IPX_STATUS_INVALID_BUFFER_SIZE;
    if (!ipx__try_acquire(&fc->in_use)) return IPX_STATUS_BUSY;
    if (!ipx__try_acquire(&pool->in_use)) {
        ipx__release(&fc->in_use);
        return IPX_STATUS_BUSY;
    }
    fc_pass fp = {
        .pass = {.pool = pool, .chunks = 1, .exchange = fc_exchange, .compute = fc_compute},
        .fc = fc, .input = input, .output = output,
    };
    ipx_status status = plan(&fp, (int64_t)(pool->tile_bytes / sizeof(float)), pool->workers);
    status = ipx__pool_run_pass(&fp.pass, status);
    ipx__release(&pool->in_use);
    ipx__release(&fc->in_use);
    return status;
}

ipx_status ipx_fc_get_info(ipx_fc_t fc, ipx_fc_info* info) {
    if (fc == NULL || info == NULL) return IPX_STATUS_NULL_POINTER;
    memset(info, 0, sizeof(*info));
    info->flops = fc->flops;
    const int64_t tile = tile_floats(fc, 1, NULL);
    info->min_tile_bytes = tile >= INT64_MAX / 8 ? UINT64_MAX : 4u * (uint64_t)tile;
    info->allocated_bytes = fc->allocated_bytes;
    info->isa = fc->isa;
    info->layers = fc->layers;
    return IPX_STATUS_SUCCESS;
}

ipx_status ipx_fc_destroy(ipx_fc_t fc) {
    if (fc != NULL && !ipx__try_acquire(&fc->in_use)) return IPX_STATUS_BUSY;
    fc_free(fc);
    return IPX_STATUS_SUCCESS;
}
