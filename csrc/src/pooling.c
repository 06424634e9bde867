/* Max and average pooling (ipx_pooling_run) as a pass on the superstep driver. A block is
   cb channels x pb output rows of one image. Exchange: the block's input rows, padded with
   -inf (max) or 0 (average) and split into stride_w column phases (ipx__fill_row_with), into
   tile memory. Compute: each output row in vectors of 8 along the row, every window tap a
   contiguous load from the tile, the result stored straight into the NCHW output (a chunk
   past the row's end exactly). Max 3x3 stride 2 is separable: the exchange brings in each
   output row's three-row column maxima instead (pool_rows_max3). A window covering the whole
   unpadded input (global pooling) is reduced in place, whole planes per block: there is
   nothing to pad or reuse. */
#include <math.h>

#include "desc.h"
#include "internal.h"
#include "tile_rows.h"
#include "vec.h"

#define POOL_V 8
/* The first published layout of ipx_pooling_desc: all of it. */
#define POOLING_DESC_SIZE_0_1 sizeof(ipx_pooling_desc)
#define POOLING_FLAGS (IPX_FLAG_PORTABLE | IPX_POOLING_AVERAGE | IPX_POOLING_COUNT_INCLUDE_PAD | IPX_POOLING_CEIL_MODE)

typedef int32_t pool_i8 __attribute__((vector_size(32)));

/* a > b ? a : b per lane, through the comparison's mask (C has no vector ?:). */
IPX_INLINE ipx_v8 pool_max(ipx_v8 a, ipx_v8 b) {
    pool_i8 m = a > b, ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    ia = (ia & m) | (ib & ~m);
    memcpy(&a, &ia, sizeof a);
    return a;
}

static bool in_dim_range(int64_t v, int64_t lo) { return v >= lo && v <= IPX_MAX_DIM; }

/* Output length along one axis (ceil: PyTorch's and ONNX Runtime's rule). */
static int64_t pooled_len(int64_t in, int64_t k, int64_t stride, int64_t pad_lo, int64_t pad_hi, bool ceil_mode) {
    const int64_t span = in + pad_lo + pad_hi - k;
    int64_t out = (ceil_mode ? ipx__div_up(span, stride) : span / stride) + 1;
    if (ceil_mode && (out - 1) * stride >= in + pad_lo) out--; /* would start in the trailing padding */
    return out;
}

static ipx_status validate(const ipx_pooling_desc* d, int64_t* p, int64_t* q) {
    if (!in_dim_range(d->n, 1)) return IPX_STATUS_INVALID_BATCH;
    if (!in_dim_range(d->c, 1)) return IPX_STATUS_INVALID_CHANNELS;
    if (!in_dim_range(d->h, 1) || !in_dim_range(d->w, 1)) return IPX_STATUS_INVALID_INPUT_SIZE;
    if (!in_dim_range(d->r, 1) || !in_dim_range(d->s, 1)) return IPX_STATUS_INVALID_KERNEL_SIZE;
    if (!in_dim_range(d->stride_h, 1) || !in_dim_range(d->stride_w, 1)) return IPX_STATUS_INVALID_STRIDE;
    if (!in_dim_range(d->pad_top, 0) || !in_dim_range(d->pad_bottom, 0) || !in_dim_range(d->pad_left, 0) ||
        !in_dim_range(d->pad_right, 0) || d->pad_top >= d->r || d->pad_bottom >= d->r || d->pad_left >= d->s ||
        d->pad_right >= d->s)
        return IPX_STATUS_INVALID_PADDING;
    if (d->flags & ~(uint32_t)POOLING_FLAGS) return IPX_STATUS_INVALID_FLAGS;
    if (d->h + d->pad_top + d->pad_bottom < d->r || d->w + d->pad_left + d->pad_right < d->s)
        return IPX_STATUS_EMPTY_OUTPUT;
    const bool ceil_mode = d->flags & IPX_POOLING_CEIL_MODE;
    *p = pooled_len(d->h, d->r, d->stride_h, d->pad_top, d->pad_bottom, ceil_mode);
    *q = pooled_len(d->w, d->s, d->stride_w, d->pad_left, d->pad_right, ceil_mode);
    /* element counts of input and output, and window elements of the output (the FLOPs), fit int64 */
    int64_t t;
    const int64_t max = INT64_MAX / 8;
    if (__builtin_mul_overflow(d->n, d->c, &t) || __builtin_mul_overflow(t, d->h, &t) ||
        __builtin_mul_overflow(t, d->w, &t) || t > max || __builtin_mul_overflow(d->n * d->c, *p, &t) ||
        __builtin_mul_overflow(t, *q, &t) || __builtin_mul_overflow(t, d->r, &t) ||
        __builtin_mul_overflow(t, d->s, &t) || t > max)
        return IPX_STATUS_SIZE_OVERFLOW;
    return IPX_STATUS_SUCCESS;
}

ipx_status ipx_pooling_output_size(const ipx_pooling_desc* desc, int64_t* p, int64_t* q) {
    if (desc == NULL || p == NULL || q == NULL) return IPX_STATUS_NULL_POINTER;
    ipx_pooling_desc d;
    ipx_status st = ipx__read_desc(&d, sizeof d, POOLING_DESC_SIZE_0_1, desc);
    int64_t pp = 0, qq = 0;
    if (st == IPX_STATUS_SUCCESS) st = validate(&d, &pp, &qq);
    if (st != IPX_STATUS_SUCCESS) return st;
    *p = pp;
    *q = qq;
    return IPX_STATUS_SUCCESS;
}

typedef struct pooling_pass {
    ipx__pass pass; /* first: the driver hands it back to the phases */
    ipx_pooling_desc d;
    int64_t p, q;
    int64_t cb, pb, n_cblk, n_pblk; /* block: channels, output rows; blocks per image */
    int64_t rows_in, row_len;       /* tile rows a block reads; floats per phase row */
    bool average, include_pad, global;
    bool rows_max3; /* max 3x3 stride 2: the exchange reduces each window's three rows (pool_rows_max3) */
    int32_t isa;
    const float* input;
    float* output;
} pooling_pass;

static int64_t tile_floats(const pooling_pass* pp, int64_t cb, int64_t pb) {
    const ipx_pooling_desc* d = &pp->d;
    const int64_t rows_in = (pb - 1) * d->stride_h + d->r;
    return ipx__smul(ipx__smul(cb, rows_in), ipx__smul(d->stride_w, pp->row_len));
}

/* Blocks that fit tile memory (channels halved first, then rows), then smaller until every
   worker has several (unless they would fall under ~64k window elements each). */
static ipx_status plan(pooling_pass* pp, int64_t tile, int64_t workers) {
    const ipx_pooling_desc* d = &pp->d;
    int64_t cb = d->c, pb = pp->p;
    if (pp->global) { /* whole planes: no tile */
        const int64_t planes = d->n * d->c;
        pp->cb = ipx__max(1, ipx__min(planes, ipx__div_up(planes, 4 * workers)));
        pp->pass.blocks = ipx__div_up(planes, pp->cb);
        return IPX_STATUS_SUCCESS;
    }
    /* Chunks read up to round_up(q, 8) + (s-1)/stride_w - 1 along a phase row. */
    pp->row_len = ipx__round_up(ipx__round_up(pp->q, POOL_V) + (d->s - 1) / d->stride_w, POOL_V);
    while (tile_floats(pp, cb, pb) > tile) {
        if (cb > 1) cb = ipx__div_up(cb, 2);
        else if (pb > 1) pb = ipx__div_up(pb, 2);
        else return IPX_STATUS_TILE_TOO_SMALL;
    }
    for (;;) {
        const int64_t blocks = d->n * ipx__div_up(d->c, cb) * ipx__div_up(pp->p, pb);
        if (blocks >= 4 * workers) break;
        if (blocks >= workers && cb * pb * pp->q * d->r * d->s < (1 << 16)) break;
        if (cb > 1) cb = ipx__div_up(cb, 2);
        else if (pb > 1) pb = ipx__div_up(pb, 2);
        else break;
    }
    pp->cb = cb;
    pp->pb = pb;
    pp->n_cblk = ipx__div_up(d->c, cb);
    pp->n_pblk = ipx__div_up(pp->p, pb);
    pp->rows_in = (pb - 1) * d->stride_h + d->r;
    pp->pass.blocks = d->n * pp->n_cblk * pp->n_pblk;
    return IPX_STATUS_SUCCESS;
}

/* Block index -> image, first channel and channels, first output row and rows. */
static void block_of(const pooling_pass* pp, int64_t idx, ipx__block* b) {
    const int64_t pblk = idx % pp->n_pblk;
    idx /= pp->n_pblk;
    const int64_t cblk = idx % pp->n_cblk;
    b->n = idx / pp->n_cblk;
    b->g0 = cblk * pp->cb;
    b->gb = ipx__min(pp->cb, pp->d.c - b->g0);
    b->p0 = pblk * pp->pb;
    b->pb = ipx__min(pp->pb, pp->p - b->p0);
}

/* Max, 3x3, stride 2 (the ResNets' stem pool), separable: for each of the block's output rows
   the exchange brings in the column maxima of its window's three input rows (a padding row:
   a real neighbour again), split into the two column phases like ipx__split_row2, so the
   compute reads 3 tile floats per output, not 9, and the tile holds one row per output row,
   not two. Padded rows copied whole and 9-load windows ran at half ONNX Runtime's speed
   (64 channels of 112 x 112, one and two threads). */
IPX_INLINE float pool_max1(float a, float b) { return a > b ? a : b; }
/* The column maxima of rows a, b, c (w floats) into the two phases of a tile row, through
   `row` (w floats of scratch) and ipx__split_row2. */
IPX_INLINE void pool_rows_max3(float* dst, const float* a, const float* b, const float* c, int64_t w, int64_t pl,
                               int64_t row_len, float* row) {
    int64_t j = 0;
    for (; j + POOL_V <= w; j += POOL_V)
        v8_store(row + j, pool_max(pool_max(v8_load(a + j), v8_load(b + j)), v8_load(c + j)));
    for (; j < w; j++) row[j] = pool_max1(pool_max1(a[j], b[j]), c[j]);
    ipx__split_row2(dst, row, w, pl, row_len);
}

IPX_INLINE uint64_t pool_exchange_max3_body(const pooling_pass* pp, ipx__step* s) {
    const ipx_pooling_desc* d = &pp->d;
    const ipx__block* b = &s->b;
    const int64_t w = d->w, pl = d->pad_left, row_len = pp->row_len, phase_row = 2 * row_len;
    if (s->fresh) /* padding columns: never written, so they keep this fill for the whole run */
        for (int64_t i = 0, n = pp->cb * pp->pb * phase_row; i < n; i += POOL_V)
            v8_store(s->tile + i, v8_bcast(-INFINITY));
    float* dst = s->tile;
    /* scratch past the block's rows: the plan reserves (2 pb + 1) rows per channel, this uses pb */
    float* scratch = s->tile + pp->cb * pp->pb * phase_row;
    uint64_t rows_read = 0;
    for (int64_t ch = 0; ch < b->gb; ch++) {
        const float* plane = pp->input + ((b->n * d->c + b->g0 + ch) * d->h) * w;
        for (int64_t o = 0; o < b->pb; o++, dst += phase_row) {
            const float* row[3] = {NULL, NULL, NULL};
            int64_t real = 0;
            for (int64_t i = 0; i < 3; i++) {
                const int64_t in = (b->p0 + o) * 2 - d->pad_top + i;
                if (in >= 0 && in < d->h) row[real++] = plane + in * w;
            }
            rows_read += (uint64_t)real;
            for (int64_t i = real; i < 3; i++) row[i] = row[0]; /* every window holds a real row */
            pool_rows_max3(dst, row[0], row[1], row[2], w, pl, row_len, scratch);
        }
        dst += (pp->pb - b->pb) * phase_row;
    }
    return 4u * rows_read * (uint64_t)w;
}

#define POOLING_MAX3_BUILD(isa, ISA, TARGET, COPY_TARGET, WIDE, ...)                                \
    TARGET static uint64_t pool_exchange_max3_##isa(const pooling_pass* pp, ipx__step* s) {       \
        return pool_exchange_max3_body(pp, s);                                                    \
    }
IPX_FOR_EACH_ISA(POOLING_MAX3_BUILD, )
#undef POOLING_MAX3_BUILD
#define POOLING_MAX3_ENTRY(isa, ISA, ...) [ISA] = pool_exchange_max3_##isa,
static uint64_t (*const pool_exchange_max3_by_isa[IPX__ISA_COUNT])(const pooling_pass*, ipx__step*) = {
    IPX_FOR_EACH_ISA(POOLING_MAX3_ENTRY, )};
#undef POOLING_MAX3_ENTRY

/* The block's padded rows into the tile. Strides 1 and 2 with the data inside the row fill
   the worker's whole region once per run and then copy only data columns (padding columns
   never receive data, so they keep the fill); other geometries fill every row. */
static void pooling_exchange(const ipx__pass* pass, ipx__step* s) {
    const pooling_pass* pp = (const pooling_pass*)pass;
    if (pp->global) return; /* reduced in place */
    const ipx_pooling_desc* d = &pp->d;
    ipx__block* b = &s->b;
    block_of(pp, s->block, b);
    if (pp->rows_max3) {
        s->stats->bytes_in += pool_exchange_max3_by_isa[pp->isa](pp, s);
        return;
    }
    const float fill = pp->average ? 0.0f : -INFINITY;
    const int64_t sw = d->stride_w, w = d->w, pl = d->pad_left, row_len = pp->row_len;
    const int64_t phase_row = sw * row_len, row0 = b->p0 * d->stride_h - d->pad_top;
    const int64_t rows = (b->pb - 1) * d->stride_h + d->r;
    const bool fast = (sw == 1 || sw == 2) && pl + w <= phase_row;
    const ipx_v8 f = v8_bcast(fill);
    if (fast && s->fresh)
        for (int64_t i = 0, n = pp->cb * pp->rows_in * phase_row; i < n; i += POOL_V) v8_store(s->tile + i, f);
    float* dst = s->tile;
    for (int64_t ch = 0; ch < b->gb; ch++) {
        const float* plane = pp->input + ((b->n * d->c + b->g0 + ch) * d->h) * w;
        for (int64_t rr = 0; rr < rows; rr++, dst += phase_row) {
            const int64_t row = row0 + rr;
            const float* src = row >= 0 && row < d->h ? plane + row * w : NULL;
            if (!fast) {
                ipx__fill_row_with(dst, src, w, pl, sw, row_len, fill);
            } else if (src == NULL) { /* a padding row */
                for (int64_t i = 0; i < phase_row; i += POOL_V) v8_store(dst + i, f);
            } else if (sw == 2) {
                ipx__split_row2(dst, src, w, pl, row_len);
            } else {
                ipx__copy_row1(dst + pl, src, w);
            }
        }
        dst += (pp->rows_in - rows) * phase_row;
    }
    s->stats->bytes_in += 4u * (uint64_t)(b->gb * rows * phase_row);
}

/* Divisor of an average window along one axis: its pixels inside the input, or (padding
   counted) inside the padded input. */
static int64_t window_count(int64_t o, int64_t stride, int64_t k, int64_t pad_lo, int64_t pad_hi, int64_t in,
                            bool include_pad) {
    const int64_t start = o * stride - pad_lo;
    if (include_pad) return ipx__min(start + k, in + pad_hi) - start;
    return ipx__min(start + k, in) - ipx__max(start, 0);
}

/* One output row of one channel: x = the tile's first row of its windows (phase 0). K (a
   square window's side), S (stride_w) and AVG fixed at compile time, or K = S = 0: read
   from d. */
IPX_INLINE void pool_row(const pooling_pass* pp, const float* x, float* out, float row_div, const int K,
                         const int S, const int AVG) {
    const ipx_pooling_desc* d = &pp->d;
    const int64_t r = K ? K : d->r, s = K ? K : d->s, sw = S ? S : d->stride_w, row_len = pp->row_len;
    const int64_t q = pp->q, phase_row = sw * row_len;
    for (int64_t q0 = 0; q0 < q; q0 += POOL_V) {
        ipx_v8 acc = v8_load(x + q0);
        for (int64_t ri = 0; ri < r; ri++)
            for (int64_t si = ri == 0 ? 1 : 0; si < s; si++) {
                const ipx_v8 v = v8_load(x + ri * phase_row + (si % sw) * row_len + si / sw + q0);
                acc = AVG ? acc + v : pool_max(acc, v);
            }
        const int64_t left = ipx__min(POOL_V, q - q0);
        if (AVG) {
            float div[POOL_V];
            for (int64_t i = 0; i < POOL_V; i++)
                div[i] = i < left ? row_div * (float)window_count(q0 + i, sw, d->s, d->pad_left, d->pad_right,
                                                                   d->w, pp->include_pad)
                                  : 1.0f;
            acc = acc / v8_load(div);
        }
        if (left == POOL_V) {
            v8_store(out + q0, acc);
        } else {
            float tmp[POOL_V];
            v8_store(tmp, acc);
            for (int64_t i = 0; i < left; i++) out[q0 + i] = tmp[i];
        }
    }
}

/* One output row from its window rows' maxima in two phases (pool_rows_max3): output column
   x is the maximum of padded columns 2x, 2x + 1, 2x + 2. */
IPX_INLINE void pool_row_max3(const float* x, int64_t row_len, float* out, int64_t q) {
    for (int64_t q0 = 0; q0 < q; q0 += POOL_V) {
        const ipx_v8 acc = pool_max(pool_max(v8_load(x + q0), v8_load(x + row_len + q0)), v8_load(x + q0 + 1));
        if (q - q0 >= POOL_V) {
            v8_store(out + q0, acc);
        } else {
            float tmp[POOL_V];
            v8_store(tmp, acc);
            for (int64_t i = 0; i < q - q0; i++) out[q0 + i] = tmp[i];
        }
    }
}

/* The block's rows of one channel (x: its tile rows, out: its first output row). */
IPX_INLINE void pool_channel(const pooling_pass* pp, const ipx__block* b, const float* x, float* out,
                             const int K, const int S, const int AVG) {
    const ipx_pooling_desc* d = &pp->d;
    const int64_t phase_row = d->stride_w * pp->row_len;
    for (int64_t o = 0; o < b->pb; o++) {
        const float row_div =
            AVG ? (float)window_count(b->p0 + o, d->stride_h, d->r, d->pad_top, d->pad_bottom, d->h, pp->include_pad)
                : 1.0f;
        pool_row(pp, x + o * d->stride_h * phase_row, out + o * pp->q, row_div, K, S, AVG);
    }
}

/* Planes [p0, p1) reduced in place: max or mean of each. */
IPX_INLINE void pool_planes(const pooling_pass* pp, int64_t p0, int64_t p1) {
    const int64_t len = pp->d.h * pp->d.w;
    for (int64_t pl = p0; pl < p1; pl++) {
        const float* x = pp->input + pl * len;
        float best = x[0], sum = 0.0f;
        int64_t i = 0;
        if (len >= POOL_V) {
            ipx_v8 acc = v8_load(x);
            ipx_v8 total = v8_zero();
            for (i = 0; i + POOL_V <= len; i += POOL_V) {
                const ipx_v8 v = v8_load(x + i);
                acc = pool_max(acc, v);
                total += v;
            }
            for (int j = 0; j < POOL_V; j++) {
                best = acc[j] > best ? acc[j] : best;
                sum += total[j];
            }
        }
        for (; i < len; i++) {
            best = x[i] > best ? x[i] : best;
            sum += x[i];
        }
        pp->output[pl] = pp->average ? sum / (float)len : best;
    }
}

IPX_INLINE void pooling_compute_body(const pooling_pass* pp, ipx__step* s) {
    const ipx_pooling_desc* d = &pp->d;
    if (pp->global) {
        const int64_t p0 = s->block * pp->cb, p1 = ipx__min(d->n * d->c, p0 + pp->cb);
        pool_planes(pp, p0, p1);
        s->stats->bytes_in += 4u * (uint64_t)((p1 - p0) * d->h * d->w);
        s->stats->bytes_out += 4u * (uint64_t)(p1 - p0);
        s->stats->flops += (uint64_t)((p1 - p0) * d->h * d->w);
        return;
    }
    const ipx__block* b = &s->b;
    const int64_t phase_row = d->stride_w * pp->row_len, p = pp->p, q = pp->q;
    if (pp->rows_max3) {
        for (int64_t ch = 0; ch < b->gb; ch++)
            for (int64_t o = 0; o < b->pb; o++)
                pool_row_max3(s->tile + (ch * pp->pb + o) * phase_row, pp->row_len,
                              pp->output + ((b->n * d->c + b->g0 + ch) * p + b->p0 + o) * q, q);
        const uint64_t outs = (uint64_t)(b->gb * b->pb * q);
        s->stats->bytes_out += 4u * outs;
        s->stats->flops += outs * 9u;
        return;
    }
    /* compiled windows: 3x3 and 2x2 at strides 1 and 2, max and average */
    const int K = d->r == d->s && (d->r == 2 || d->r == 3) && d->stride_w <= 2 ? (int)d->r : 0;
    const int kind = K * 4 + (K ? (int)d->stride_w - 1 : 0) * 2 + (pp->average ? 1 : 0);
    for (int64_t ch = 0; ch < b->gb; ch++) {
        const float* x = s->tile + ch * pp->rows_in * phase_row;
        float* out = pp->output + ((b->n * d->c + b->g0 + ch) * p + b->p0) * q;
        switch (kind) {
        case 12: pool_channel(pp, b, x, out, 3, 1, 0); break;
        case 13: pool_channel(pp, b, x, out, 3, 1, 1); break;
        case 14: pool_channel(pp, b, x, out, 3, 2, 0); break;
        case 15: pool_channel(pp, b, x, out, 3, 2, 1); break;
        case 8: pool_channel(pp, b, x, out, 2, 1, 0); break;
        case 9: pool_channel(pp, b, x, out, 2, 1, 1); break;
        case 10: pool_channel(pp, b, x, out, 2, 2, 0); break;
        case 11: pool_channel(pp, b, x, out, 2, 2, 1); break;
        case 1: pool_channel(pp, b, x, out, 0, 0, 1); break;
        default: pool_channel(pp, b, x, out, 0, 0, 0); break;
        }
    }
    const uint64_t outs = (uint64_t)(b->gb * b->pb * q);
    s->stats->bytes_out += 4u * outs;
    s->stats->flops += outs * (uint64_t)(d->r * d->s);
}

/* One build per instruction set, chosen per run. */
#define POOLING_BUILD(isa, ISA, TARGET, COPY_TARGET, WIDE, ...)                               \
    TARGET static void pooling_compute_##isa(const pooling_pass* pp, ipx__step* s) {          \
        pooling_compute_body(pp, s);                                                         \
    }
IPX_FOR_EACH_ISA(POOLING_BUILD, )
#undef POOLING_BUILD
#define POOLING_ENTRY(isa, ISA, ...) [ISA] = pooling_compute_##isa,
static void (*const pooling_compute_by_isa[IPX__ISA_COUNT])(const pooling_pass*, ipx__step*) = {
    IPX_FOR_EACH_ISA(POOLING_ENTRY, )};
#undef POOLING_ENTRY

static void pooling_compute(const ipx__pass* pass, ipx__step* s) {
    const pooling_pass* pp = (const pooling_pass*)pass;
    pooling_compute_by_isa[pp->isa](pp, s);
}

ipx_status ipx_pooling_run(ipx_pool_t pool, const ipx_pooling_desc* desc, const float* input, size_t input_len,
                           float* output, size_t output_len) {
    if (pool == NULL || desc == NULL || input == NULL || output == NULL) return IPX_STATUS_NULL_POINTER;
    pooling_pass pp = {
        .pass = {.pool = pool, .chunks = 1, .exchange = pooling_exchange, .compute = pooling_compute},
        .input = input, .output = output,
    };
    ipx_status status = ipx__read_desc(&pp.d, sizeof pp.d, POOLING_DESC_SIZE_0_1, desc);
    if (status == IPX_STATUS_SUCCESS) status = validate(&pp.d, &pp.p, &pp.q);
    if (status != IPX_STATUS_SUCCESS) return status;
    const ipx_pooling_desc* d = &pp.d;
    if (input_len != (size_t)(d->n * d->c * d->h * d->w) || output_len != (size_t)(d->n * d->c * pp.p * pp.q))
        return IPX_STATUS_INVALID_BUFFER_SIZE;
    pp.average = d->flags & IPX_POOLING_AVERAGE;
    pp.include_pad = d->flags & IPX_POOLING_COUNT_INCLUDE_PAD;
    pp.global = pp.p == 1 && pp.q == 1 && d->r == d->h && d->s == d->w && d->pad_top == 0 && d->pad_left == 0;
    pp.isa = ipx__pick_isa(d->flags & IPX_FLAG_PORTABLE);
    pp.rows_max3 = !pp.average && !pp.global && d->r == 3 && d->s == 3 && d->stride_h == 2 && d->stride_w == 2;
    if (!ipx__try_acquire(&pool->in_use)) return IPX_STATUS_BUSY;
    status = plan(&pp, (int64_t)(pool->tile_bytes / sizeof(float)), pool->workers);
    status = ipx__pool_run_pass(&pp.pass, status);
    ipx__release(&pool->in_use);
    return status;
}
