/* Backward weights (and bias): dW[k][ci][ri][si] = sum over n, p, q of
   dy[n][k][p][q] * x[n][g*cg + ci][p*stride_h - pad_top + ri*dil_h][q*stride_w - pad_left + si*dil_w].

   Each worker owns blocks of (groups x output channels); a block's weight gradient stays in
   its tile memory ("acc") while the batch and the output rows stream through in supersteps
   (exchange: the input rows, zero-padded and split by column phase as the row kernel does,
   and the output-gradient rows; compute: dot products along output rows). The last
   superstep of a block writes its gradient out. Two ways to vectorise the compute:
   - along the output row (depthwise and small groups): a register block of KO output
     channels x SB kernel columns shares the loaded vectors, horizontal sums at the end;
   - over output channels ("channel blocks": 8 or more input and a multiple of 8 output
     channels per group, stride_w 1): the exchange transposes the output gradient to
     channel-last rows [pixel][kb], and a register block of NB vectors of 8 output channels x
     TB (input channel, tap) pairs accumulates dy[pixel] x broadcast x over the block's
     pixels, a small matrix product with no horizontal sums and no padded lanes; its
     gradient stays channel-last ([cg*taps][kb]) until the write transposes it. */
#include "internal.h"
#include "vec.h"

#include <stdlib.h>

#define BW_V 8
#define BW_MAX_KO 4
#define BW_MAX_SB 4

typedef struct bw_plan {
    ipx__plan x;        /* block sizes and the input layout (row kernel's), in_off inside the
                           tile; x.blocks: groups x output channels */
    int64_t chunks;     /* supersteps per block: images x blocks of output rows */
    int64_t dy_len;     /* floats per output-gradient row in the tile (q rounded up to 8) */
    size_t dy_off, acc_off, bacc_off, end;
} bw_plan;

/* Backward weights' kernel in one ISA build, chosen at create (ipx__bw_kernel_for): row
   blocks or channel blocks (see the top of the file). */
struct ipx__bw_kernel {
    int32_t id;                 /* the ipx_kernel value statistics report */
    int32_t k_vector;           /* blocks hold output channels in multiples of this */
    const ipx__kernel* input;   /* the row kernel's build of this ISA: its exchange lays out
                                   the input rows */
    /* exchange of block b's output-gradient rows (fresh: the worker's first block of the
       run); returns the floats copied in */
    uint64_t (*exchange_dy)(const struct ipx_conv* cv, const bw_plan* pl, const float* dy,
                            const ipx__block* b, float* tile, bool fresh);
    /* adds the block's rows to its gradient sums in the tile */
    void (*compute)(const struct ipx_conv* cv, const bw_plan* pl, int64_t gb, int64_t kb,
                    int64_t pb, float* tile);
    /* writes a finished block's gradients (db NULL: no bias) */
    void (*write)(const struct ipx_conv* cv, const bw_plan* pl, const float* tile, int64_t g0,
                  int64_t gb, int64_t k0, int64_t kb, float* dw, float* db);
};

static int64_t bw_tile_floats(const struct ipx_conv* cv, int64_t gb, int64_t kb, int64_t pb,
                              bw_plan* pl) {
    const ipx_conv_desc* d = &cv->d;
    int64_t rows_in = ipx__rows_in(d, pb);
    int64_t off_max = ((d->s - 1) * d->dilation_w) / d->stride_w;
    int64_t dy_len = ipx__round_up(cv->q, BW_V);
    int64_t row_len = ipx__round_up(dy_len + off_max, BW_V); /* the row kernel's layout */
    int64_t xin = ipx__smul(ipx__smul(ipx__smul(gb * cv->cg, rows_in), d->stride_w), row_len);
    int64_t dy = ipx__smul(ipx__smul(gb * kb, pb), dy_len);
    int64_t acc = ipx__smul(ipx__smul(gb * kb, cv->cg), d->r * d->s);
    if (xin >= INT64_MAX / 8 || dy >= INT64_MAX / 8 || acc >= INT64_MAX / 8) return INT64_MAX / 4;
    size_t dy_off = ipx__align_floats(xin);
    size_t acc_off = dy_off + ipx__align_floats(dy);
    size_t bacc_off = acc_off + ipx__align_floats(acc);
    size_t end = bacc_off + ipx__align_floats(gb * kb);
    if (pl) {
        memset(&pl->x, 0, sizeof(pl->x));
        pl->x.rows_in = rows_in;
        pl->x.row_len = row_len;
        pl->x.in_off = 0;
        pl->dy_len = dy_len;
        pl->dy_off = dy_off;
        pl->acc_off = acc_off;
        pl->bacc_off = bacc_off;
        pl->end = end;
    }
    return (int64_t)end;
}

/* The smallest block: one group, one output channel (channel blocks: one vector of 8), one
   output row. */
uint64_t ipx__bw_min_tile_bytes(const struct ipx_conv* cv) {
    int64_t f = bw_tile_floats(cv, 1, cv->bw_kernel->k_vector, 1, NULL);
    return f >= INT64_MAX / 8 ? UINT64_MAX : (uint64_t)f * 4u;
}

static ipx_status bw_make_plan(const struct ipx_conv* cv, ipx_pool_t pool, bw_plan* pl) {
    const int64_t tile = (int64_t)(pool->tile_bytes / sizeof(float));
    const int64_t W = pool->workers, g = cv->d.g, kg = cv->kg, p = cv->p;
    const int64_t kmin = cv->bw_kernel->k_vector; /* channel blocks: whole vectors of 8 */
    int64_t gb = g, kb = kg, pb = p;
    /* output channels split first when the gradient sums dominate the tile */
    while (bw_tile_floats(cv, gb, kb, pb, pl) > tile)
        if (!ipx__halve_block(&gb, &kb, &pb, kmin, kb * cv->cg * cv->d.r * cv->d.s >= cv->cg * pb * cv->q))
            return IPX_STATUS_TILE_TOO_SMALL;
    /* Blocks are the unit of parallelism: split groups, then output channels, until every
       worker has at least two (or nothing is left to split). */
    while (ipx__div_up(g, gb) * ipx__div_up(kg, kb) < 2 * W) {
        if (gb > 1) gb = ipx__div_up(gb, 2);
        else if (kb > kmin) kb = ipx__round_up(ipx__div_up(kb, 2), kmin);
        else break;
    }
    bw_tile_floats(cv, gb, kb, pb, pl);
    ipx__plan_blocks(&pl->x, g, kg, p, gb, kb, pb);
    pl->x.blocks = pl->x.n_gblk * pl->x.n_kblk;
    pl->chunks = cv->d.n * pl->x.n_pblk;
    return IPX_STATUS_SUCCESS;
}

typedef struct bw_args {
    int64_t ch_stride, out_row, tap_row, row_len, dy_len, pb, dw, sw;
} bw_args;

/* KO output channels x SB kernel columns (s0 .. s0+SB-1) of kernel row ri, input channel ci:
   dot products over the block's rows. x points at the channel's tile rows, row ri*dil_h. */
IPX_INLINE void bw_taps(const bw_args* a, const float* x, const float* dy, int64_t dy_ch,
                        int64_t s0, float* acc, int64_t acc_ko, const int KO, const int SB) {
    ipx_v8 sum[BW_MAX_KO][BW_MAX_SB];
    const float* xs[BW_MAX_SB];
    for (int ko = 0; ko < KO; ko++)
        for (int sb = 0; sb < SB; sb++) sum[ko][sb] = v8_zero();
    for (int sb = 0; sb < SB; sb++) {
        int64_t off = (s0 + sb) * a->dw; /* = idx * sw + phase */
        xs[sb] = x + (off % a->sw) * a->row_len + off / a->sw;
    }
    for (int64_t pp = 0; pp < a->pb; pp++) {
        const float* dyr = dy + pp * a->dy_len;
        const int64_t xo = pp * a->out_row;
        for (int64_t q0 = 0; q0 < a->dy_len; q0 += BW_V) {
            ipx_v8 g[BW_MAX_KO];
            for (int ko = 0; ko < KO; ko++) g[ko] = v8_load(dyr + ko * dy_ch + q0);
            for (int sb = 0; sb < SB; sb++) {
                ipx_v8 xv = v8_load(xs[sb] + xo + q0);
                for (int ko = 0; ko < KO; ko++) sum[ko][sb] += g[ko] * xv;
            }
        }
    }
    /* horizontal sums, eight at a time */
    ipx_v8 all[2 * BW_V];
    float tot[2 * BW_V];
    const int nsum = KO * SB;
    for (int i = 0; i < nsum; i++) all[i] = sum[i / SB][i % SB];
    for (int i = nsum; i < (nsum + BW_V - 1) / BW_V * BW_V; i++) all[i] = v8_zero();
    for (int i = 0; i < nsum; i += BW_V) v8_store(tot + i, v8_reduce8(all + i));
    for (int ko = 0; ko < KO; ko++)
        for (int sb = 0; sb < SB; sb++) acc[ko * acc_ko + s0 + sb] += tot[ko * SB + sb];
}

/* 3x3, stride 1, dilation 1, one output channel (depthwise and small groups): a sliding
   window over the input rows. Input row t at column shift si feeds kernel row ri through
   output-gradient row t - ri, so each loaded input vector serves three kernel rows and each
   output-gradient row is loaded once: 4 loads per 9 FMAs instead of 12. */
IPX_INLINE void bw_k3(const bw_args* a, const float* x, const float* dy, float* acc) {
    ipx_v8 sum[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) sum[i][j] = v8_zero();
    for (int64_t q0 = 0; q0 < a->dy_len; q0 += BW_V) {
        ipx_v8 d1 = v8_zero(), d2 = v8_zero(); /* output-gradient rows t-1, t-2 */
        int64_t t = 0;
        for (; t < a->pb; t++) { /* input rows that meet all three kernel rows */
            const ipx_v8 d0 = v8_load(dy + t * a->dy_len + q0);
            const float* xr = x + t * a->out_row + q0;
            for (int si = 0; si < 3; si++) {
                const ipx_v8 xv = v8_load(xr + si);
                sum[0][si] += d0 * xv;
                sum[1][si] += d1 * xv;
                sum[2][si] += d2 * xv;
            }
            d2 = d1;
            d1 = d0;
        }
        for (; t < a->pb + 2; t++) { /* the last two rows: kernel rows 1 and 2 only */
            const float* xr = x + t * a->out_row + q0;
            for (int si = 0; si < 3; si++) {
                const ipx_v8 xv = v8_load(xr + si);
                sum[1][si] += d1 * xv;
                sum[2][si] += d2 * xv;
            }
            d2 = d1;
            d1 = v8_zero();
        }
    }
    /* horizontal sums: taps 0-7 in one transposing tree, tap 8 alone */
    ipx_v8 all[8];
    float tot[9];
    for (int i = 0; i < 8; i++) all[i] = sum[i / 3][i % 3];
    v8_store(tot, v8_reduce8(all));
    all[0] = sum[2][2];
    for (int i = 1; i < 8; i++) all[i] = v8_zero();
    tot[8] = v8_reduce8(all)[0];
    for (int i = 0; i < 9; i++) acc[i] += tot[i];
}

#define BW_S_CASES(KO, SBMAX)                                                              \
    for (int64_t s0 = 0; s0 < s; s0 += (SBMAX)) {                                          \
        switch (ipx__min(SBMAX, s - s0)) {                                                 \
        case 1: bw_taps(&a, xr, dyk, dy_ch, s0, accr, acc_ko, KO, 1); break;               \
        case 2: bw_taps(&a, xr, dyk, dy_ch, s0, accr, acc_ko, KO, (SBMAX) >= 2 ? 2 : 1); break; \
        case 3: bw_taps(&a, xr, dyk, dy_ch, s0, accr, acc_ko, KO, (SBMAX) >= 3 ? 3 : 1); break; \
        default: bw_taps(&a, xr, dyk, dy_ch, s0, accr, acc_ko, KO, (SBMAX) >= 4 ? 4 : 1); break; \
        }                                                                                  \
    }

IPX_INLINE void bw_compute_body(const struct ipx_conv* cv, const bw_plan* pl, int64_t gb,
                                int64_t kb, int64_t pb, float* tile) {
    const ipx_conv_desc* d = &cv->d;
    const int64_t cg = cv->cg, r = d->r, s = d->s, sw = d->stride_w;
    const int64_t phase_row = sw * pl->x.row_len;
    bw_args a = {
        .ch_stride = pl->x.rows_in * phase_row,
        .out_row = d->stride_h * phase_row,
        .tap_row = d->dilation_h * phase_row,
        .row_len = pl->x.row_len,
        .dy_len = pl->dy_len,
        .pb = pb,
        .dw = d->dilation_w,
        .sw = sw,
    };
    const int64_t dy_ch = pb * pl->dy_len, acc_ko = cg * r * s;
    const bool k3 = r == 3 && s == 3 && d->stride_h == 1 && d->dilation_h == 1 && sw == 1 &&
                    d->dilation_w == 1;
    for (int64_t j = 0; j < gb; j++) {
        const float* xg = tile + pl->x.in_off + j * cg * a.ch_stride;
        for (int64_t ko0 = 0; ko0 < kb;) {
            /* 3-wide kernels: 3 channels x 3 columns (9 accumulators) covers a kernel row
               in one pass; otherwise 4 x 2, 2 x 3, 1 x 4. */
            const int64_t nko = s == 3 ? (kb - ko0 >= 3 ? 3 : kb - ko0)
                                       : (kb - ko0 >= 4 ? 4 : kb - ko0 >= 2 ? 2 : 1);
            const float* dyk = tile + pl->dy_off + (j * kb + ko0) * dy_ch;
            float* acck = tile + pl->acc_off + (j * kb + ko0) * acc_ko;
            /* (only when every block is one channel wide, so that the summation order, and
               with it the result, does not depend on how blocks were cut) */
            if (k3 && cv->kg == 1) {
                for (int64_t ci = 0; ci < cg; ci++)
                    bw_k3(&a, xg + ci * a.ch_stride, dyk, acck + ci * 9);
                ko0 += nko;
                continue;
            }
            for (int64_t ci = 0; ci < cg; ci++) {
                for (int64_t ri = 0; ri < r; ri++) {
                    const float* xr = xg + ci * a.ch_stride + ri * a.tap_row;
                    float* accr = acck + (ci * r + ri) * s;
                    if (nko == 4) {
                        BW_S_CASES(4, 2)
                    } else if (nko == 3) {
                        BW_S_CASES(3, 3)
                    } else if (nko == 2) {
                        BW_S_CASES(2, 3)
                    } else {
                        BW_S_CASES(1, 4)
                    }
                }
            }
            ko0 += nko;
        }
    }
}

/* ---- channel blocks ---- */

/* Register blocks: NB vectors of 8 output channels x TB (input channel, tap) pairs, the
   accumulators of dW. For 3x3 kernels (dilation 1) TB = 9, the taps of one input channel,
   read at constant offsets; others take BWC_TB pairs of the flattened (input channel, tap)
   list through an offset table. NB = 2 with AVX-512VL's 32 registers (18 accumulators, two
   gradient vectors, a broadcast), 1 with 16 (AVX2, portable). */
#define BWC_NB 2
#define BWC_TB 8
#define BWC_TB_LIMIT 9

typedef struct bwc_args {
    int64_t pb, q, kb;
    int64_t out_row;    /* floats between the input rows of two output rows: stride_h * row_len */
    int64_t tap_row;    /* floats between kernel rows: dilation_h * row_len */
} bwc_args;

/* sum over the block's pixels of dy[pixel][k] * x[pair](pixel), added to acc[pair][k]
   (channel-last, kb apart). x points at row 0 of the first pair's input channel (K3) or of
   the group's first channel (off[] holds each pair's offset from it). */
IPX_INLINE void bwc_micro(const bwc_args* a, const float* x, const int64_t* off, const float* dy,
                          float* acc, const int TB, const int NB, const int K3) {
    ipx_v8 sum[BWC_TB_LIMIT][BWC_NB];
    for (int t = 0; t < TB; t++)
        for (int j = 0; j < NB; j++) sum[t][j] = v8_zero();
    for (int64_t pp = 0; pp < a->pb; pp++) {
        const float* xr = x + pp * a->out_row;
        const float* g = dy + pp * a->q * a->kb;
        for (int64_t qq = 0; qq < a->q; qq++, g += a->kb) {
            ipx_v8 gv[BWC_NB];
            for (int j = 0; j < NB; j++) gv[j] = v8_load(g + 8 * j);
            for (int t = 0; t < TB; t++) {
                const float xv = K3 ? xr[qq + (t / 3) * a->tap_row + t % 3] : xr[qq + off[t]];
                for (int j = 0; j < NB; j++) sum[t][j] += gv[j] * xv;
            }
        }
    }
    for (int t = 0; t < TB; t++)
        for (int j = 0; j < NB; j++) {
            float* dst = acc + t * a->kb + 8 * j;
            v8_store(dst, v8_load(dst) + sum[t][j]);
        }
}

#define BWC_CASE(TB) \
    case TB: bwc_micro(a, x, off, dy, acc, TB, NB, 0); break;
/* Generic kernels: pairs t0 .. t0+tb-1 of the flattened list (ci * taps + tap). */
IPX_INLINE void bwc_pairs(const bwc_args* a, const float* x, const int64_t* off, const float* dy,
                          float* acc, int64_t tb, const int NB) {
    switch (tb) {
        BWC_CASE(1) BWC_CASE(2) BWC_CASE(3) BWC_CASE(4) BWC_CASE(5) BWC_CASE(6) BWC_CASE(7)
        BWC_CASE(8)
    default: break;
    }
}
#undef BWC_CASE

IPX_INLINE void bwc_compute_body(const struct ipx_conv* cv, const bw_plan* pl, int64_t gb,
                                 int64_t kb, int64_t pb, float* tile, const int NB_MAX) {
    const ipx_conv_desc* d = &cv->d;
    const int64_t cg = cv->cg, r = d->r, s = d->s, taps = r * s, cgt = cg * taps;
    const int64_t row_len = pl->x.row_len, ch_stride = pl->x.rows_in * row_len;
    const bwc_args a = {.pb = pb, .q = cv->q, .kb = kb, .out_row = d->stride_h * row_len,
                        .tap_row = d->dilation_h * row_len};
    const bool k3 = r == 3 && s == 3 && d->dilation_h == 1 && d->dilation_w == 1;
    for (int64_t j = 0; j < gb; j++) {
        const float* xg = tile + pl->x.in_off + j * cg * ch_stride;
        const float* dyg = tile + pl->dy_off + j * pb * cv->q * kb;
        float* accg = tile + pl->acc_off + j * cgt * kb;
        for (int64_t k8 = 0; k8 < kb / 8;) {
            const int nb = NB_MAX == 2 && kb / 8 - k8 >= 2 ? 2 : 1;
            const float* dyk = dyg + k8 * 8;
            float* acck = accg + k8 * 8;
            if (k3) {
                for (int64_t ci = 0; ci < cg; ci++) {
                    if (nb == 2)
                        bwc_micro(&a, xg + ci * ch_stride, NULL, dyk, acck + ci * 9 * kb, 9, 2, 1);
                    else
                        bwc_micro(&a, xg + ci * ch_stride, NULL, dyk, acck + ci * 9 * kb, 9, 1, 1);
                }
            } else {
                for (int64_t t0 = 0; t0 < cgt; t0 += BWC_TB) {
                    int64_t off[BWC_TB];
                    const int64_t tb = ipx__min(BWC_TB, cgt - t0);
                    for (int64_t t = 0; t < tb; t++) {
                        const int64_t ci = (t0 + t) / taps, tap = (t0 + t) % taps;
                        off[t] = ci * ch_stride + tap / s * a.tap_row + tap % s * d->dilation_w;
                    }
                    if (nb == 2) bwc_pairs(&a, xg, off, dyk, acck + t0 * kb, tb, 2);
                    else bwc_pairs(&a, xg, off, dyk, acck + t0 * kb, tb, 1);
                }
            }
            k8 += nb;
        }
        /* bias: sums of the output gradient over the block's pixels, 8 channels at a time */
        for (int64_t k8 = 0; k8 < kb; k8 += 8) {
            ipx_v8 v0 = v8_zero(), v1 = v8_zero();
            const int64_t pix = pb * cv->q;
            int64_t i = 0;
            for (; i + 2 <= pix; i += 2) {
                v0 += v8_load(dyg + i * kb + k8);
                v1 += v8_load(dyg + (i + 1) * kb + k8);
            }
            if (i < pix) v0 += v8_load(dyg + i * kb + k8);
            float* bacc = tile + pl->bacc_off + j * kb + k8;
            v8_store(bacc, v8_load(bacc) + (v0 + v1));
        }
    }
}

/* Exchange of the output gradient for channel blocks: NCHW rows -> channel-last [pixel][kb]
   per group, 8 x 8 blocks transposed in registers, the last pixels element by element. */
IPX_INLINE uint64_t bwc_exchange_dy_body(const struct ipx_conv* cv, const bw_plan* pl,
                                         const float* dy, const ipx__block* b, float* tile) {
    const int64_t ni = b->n, g0 = b->g0, gb = b->gb, k0 = b->k0, kb = b->kb, p0 = b->p0;
    const int64_t plane = cv->p * cv->q, pix = b->pb * cv->q, pix8 = pix / 8 * 8;
    for (int64_t j = 0; j < gb; j++) {
        float* dst = tile + pl->dy_off + j * pix * kb;
        for (int64_t kk = 0; kk < kb; kk += 8) {
            const float* src = dy + (ni * cv->d.k + (g0 + j) * cv->kg + k0 + kk) * plane + p0 * cv->q;
            for (int64_t i = 0; i < pix8; i += 8) v8_transpose8(src + i, plane, dst + i * kb + kk, kb);
            for (int64_t i = pix8; i < pix; i++)
                for (int c = 0; c < 8; c++) dst[i * kb + kk + c] = src[c * plane + i];
        }
    }
    return (uint64_t)(gb * kb * pix);
}

/* Write of a channel block's gradient: channel-last [cg*taps][kb] -> dW[k][cg*taps]. */
IPX_INLINE void bwc_write_body(const struct ipx_conv* cv, const bw_plan* pl, const float* tile,
                               int64_t g0, int64_t gb, int64_t k0, int64_t kb, float* dw, float* db) {
    const int64_t cgt = cv->cg * cv->d.r * cv->d.s, ct8 = cgt / 8 * 8;
    for (int64_t j = 0; j < gb; j++) {
        const float* acc = tile + pl->acc_off + j * cgt * kb;
        const int64_t kout0 = (g0 + j) * cv->kg + k0;
        for (int64_t kk = 0; kk < kb; kk += 8) {
            float* dst = dw + (kout0 + kk) * cgt;
            for (int64_t ct = 0; ct < ct8; ct += 8) v8_transpose8(acc + ct * kb + kk, kb, dst + ct, cgt);
            for (int64_t ct = ct8; ct < cgt; ct++)
                for (int c = 0; c < 8; c++) dst[c * cgt + ct] = acc[ct * kb + kk + c];
        }
        if (db)
            for (int64_t kk = 0; kk < kb; kk++) db[kout0 + kk] = tile[pl->bacc_off + j * kb + kk];
    }
}

/* Exchange of the output gradient for row blocks: rows of q floats into rows of dy_len. The
   rows' padding lanes (q .. dy_len) are zeroed on the worker's first step of a run (fresh):
   the copies never write them. */
IPX_INLINE uint64_t bwr_exchange_dy_body(const struct ipx_conv* cv, const bw_plan* pl,
                                         const float* dy, const ipx__block* b, float* tile,
                                         bool fresh) {
    const int64_t ni = b->n, g0 = b->g0, gb = b->gb, k0 = b->k0, kb = b->kb, p0 = b->p0, pb = b->pb;
    const int64_t q = cv->q;
    if (fresh) {
        float* z = tile + pl->dy_off;
        const int64_t zn = pl->x.gb * pl->x.kb * pl->x.pb * pl->dy_len;
        for (int64_t i = 0; i < zn; i += BW_V) v8_store(z + i, v8_zero());
    }
    for (int64_t j = 0; j < gb; j++)
        for (int64_t kk = 0; kk < kb; kk++) {
            const float* src = dy + ((ni * cv->d.k + (g0 + j) * cv->kg + k0 + kk) * cv->p + p0) * q;
            float* dst = tile + pl->dy_off + ((j * kb + kk) * pb) * pl->dy_len;
            for (int64_t pp = 0; pp < pb; pp++, src += q, dst += pl->dy_len) {
                /* q floats in vectors (the last one overlapping when q >= 8) */
                int64_t i = 0;
                for (; i + BW_V <= q; i += BW_V) v8_store(dst + i, v8_load(src + i));
                if (i < q && q >= BW_V)
                    v8_store(dst + q - BW_V, v8_load(src + q - BW_V));
                else
                    for (; i < q; i++) dst[i] = src[i];
            }
        }
    return (uint64_t)(gb * kb * pb * pl->dy_len);
}

/* Write of a row block's gradient: its rows of cg*taps are dW's rows already. */
IPX_INLINE void bwr_write_body(const struct ipx_conv* cv, const bw_plan* pl, const float* tile,
                               int64_t g0, int64_t gb, int64_t k0, int64_t kb, float* dw, float* db) {
    const int64_t cgt = cv->cg * cv->d.r * cv->d.s;
    for (int64_t j = 0; j < gb; j++)
        for (int64_t kk = 0; kk < kb; kk++) {
            const int64_t kout = (g0 + j) * cv->kg + k0 + kk;
            memcpy(dw + kout * cgt, tile + pl->acc_off + (j * kb + kk) * cgt, (size_t)cgt * sizeof(float));
            if (db) db[kout] = tile[pl->bacc_off + j * kb + kk];
        }
}

/* Bias of row blocks: sums of the output gradient rows (padding lanes are zero), four
   independent vector sums so the adds overlap, then combined in a fixed order. */
IPX_INLINE void bwr_bias_body(const bw_plan* pl, int64_t gb, int64_t kb, int64_t pb, float* tile) {
    for (int64_t jk = 0; jk < gb * kb; jk++) {
        const float* dyr = tile + pl->dy_off + jk * pb * pl->dy_len;
        ipx_v8 v0 = v8_zero(), v1 = v8_zero(), v2 = v8_zero(), v3 = v8_zero();
        const int64_t len = pb * pl->dy_len;
        int64_t i = 0;
        for (; i + 4 * BW_V <= len; i += 4 * BW_V) {
            v0 += v8_load(dyr + i);
            v1 += v8_load(dyr + i + BW_V);
            v2 += v8_load(dyr + i + 2 * BW_V);
            v3 += v8_load(dyr + i + 3 * BW_V);
        }
        for (; i < len; i += BW_V) v0 += v8_load(dyr + i);
        ipx_v8 v = (v0 + v1) + (v2 + v3);
        float t = 0;
        for (int l = 0; l < BW_V; l++) t += v[l];
        tile[pl->bacc_off + jk] += t;
    }
}

/* The ISA builds of both block kinds and their tables. */
#define BW_ARGS_DY const struct ipx_conv *cv, const bw_plan *pl, const float *dy, const ipx__block *b, float *tile, bool fresh
#define BW_ARGS_COMPUTE const struct ipx_conv *cv, const bw_plan *pl, int64_t gb, int64_t kb, int64_t pb, float *tile
#define BW_ARGS_WRITE const struct ipx_conv *cv, const bw_plan *pl, const float *tile, int64_t g0, int64_t gb, int64_t k0, int64_t kb, float *dw, float *db
#define BW_BUILD(isa, ISA, TARGET, COPY_TARGET, WIDE, ...)                                         \
    TARGET static uint64_t bwr_exchange_dy_##isa(BW_ARGS_DY) {                                \
        return bwr_exchange_dy_body(cv, pl, dy, b, tile, fresh);                             \
    }                                                                                        \
    TARGET static void bwr_compute_##isa(BW_ARGS_COMPUTE) {                                   \
        bw_compute_body(cv, pl, gb, kb, pb, tile);                                           \
        bwr_bias_body(pl, gb, kb, pb, tile);                                                 \
    }                                                                                        \
    TARGET static void bwr_write_##isa(BW_ARGS_WRITE) {                                       \
        bwr_write_body(cv, pl, tile, g0, gb, k0, kb, dw, db);                                \
    }                                                                                        \
    TARGET static uint64_t bwc_exchange_dy_##isa(BW_ARGS_DY) {                                \
        (void)fresh; /* every lane is written */                                             \
        return bwc_exchange_dy_body(cv, pl, dy, b, tile);                                    \
    }                                                                                        \
    TARGET static void bwc_compute_##isa(BW_ARGS_COMPUTE) {                                   \
        bwc_compute_body(cv, pl, gb, kb, pb, tile, WIDE ? BWC_NB : 1);                       \
    }                                                                                        \
    TARGET static void bwc_write_##isa(BW_ARGS_WRITE) {                                       \
        bwc_write_body(cv, pl, tile, g0, gb, k0, kb, dw, db);                                \
    }
IPX_FOR_EACH_ISA(BW_BUILD, )
#undef BW_BUILD

#define BW_ROW_ENTRY(isa, ISA, ...) \
    [ISA] = {IPX_KERNEL_ROW, 1, &ipx__row_kernel[ISA], bwr_exchange_dy_##isa, bwr_compute_##isa, bwr_write_##isa},
#define BW_CHAN_ENTRY(isa, ISA, ...) \
    [ISA] = {IPX_KERNEL_CHANNEL, 8, &ipx__row_kernel[ISA], bwc_exchange_dy_##isa, bwc_compute_##isa, bwc_write_##isa},
static const struct ipx__bw_kernel bw_row_kernel[IPX__ISA_COUNT] = {IPX_FOR_EACH_ISA(BW_ROW_ENTRY, )};
static const struct ipx__bw_kernel bw_chan_kernel[IPX__ISA_COUNT] = {IPX_FOR_EACH_ISA(BW_CHAN_ENTRY, )};
#undef BW_ROW_ENTRY
#undef BW_CHAN_ENTRY

/* Channel blocks need whole vectors of output channels and one column phase; with fewer than
   8 input channels per group the row-vectorised blocks are as fast. */
const struct ipx__bw_kernel* ipx__bw_kernel_for(const struct ipx_conv* cv) {
    const bool chan = cv->kg % 8 == 0 && cv->cg >= 8 && cv->d.stride_w == 1;
    return chan ? &bw_chan_kernel[cv->isa] : &bw_row_kernel[cv->isa];
}

typedef struct bw_pass {
    ipx__pass pass; /* first: the driver hands it back to the phases */
    const struct ipx_conv* cv;
    bw_plan plan;
    const float* dy;
    const float* x;
    float* dw;
    float* db;
} bw_pass;

/* Exchange phase: chunk s->chunk (image, block of output rows) of block s->block (groups x
   output channels); the block's first chunk clears its sums. */
static void bw_exchange(const ipx__pass* pass, ipx__step* s) {
    const bw_pass* bp = (const bw_pass*)pass;
    const struct ipx_conv* cv = bp->cv;
    const bw_plan* pl = &bp->plan;
    ipx__block* b = &s->b;
    const int64_t gblk = s->block / pl->x.n_kblk, kblk = s->block % pl->x.n_kblk;
    b->g0 = gblk * pl->x.gb;
    b->gb = ipx__min(pl->x.gb, cv->d.g - b->g0);
    b->k0 = kblk * pl->x.kb;
    b->kb = ipx__min(pl->x.kb, cv->kg - b->k0);
    b->n = s->chunk / pl->x.n_pblk;
    b->p0 = (s->chunk % pl->x.n_pblk) * pl->x.pb;
    b->pb = ipx__min(pl->x.pb, cv->p - b->p0);
    if (s->chunk == 0) {
        const int64_t sums = b->gb * b->kb;
        memset(s->tile + pl->acc_off, 0, (size_t)(sums * cv->cg * cv->d.r * cv->d.s) * sizeof(float));
        memset(s->tile + pl->bacc_off, 0, (size_t)sums * sizeof(float));
    }
    /* input rows (row-kernel layout; no weights) and output-gradient rows */
    const struct ipx__bw_kernel* kernel = cv->bw_kernel;
    uint64_t floats = kernel->input->exchange(cv, &pl->x, b, bp->x, s->tile, s->fresh ? IPX__FRESH_TILE : 0);
    floats += kernel->exchange_dy(cv, pl, bp->dy, b, s->tile, s->fresh);
    s->stats->bytes_in += 4u * floats;
}

/* Compute phase; the block's last chunk writes its gradients out. */
static void bw_compute(const ipx__pass* pass, ipx__step* s) {
    const bw_pass* bp = (const bw_pass*)pass;
    const struct ipx_conv* cv = bp->cv;
    const bw_plan* pl = &bp->plan;
    const ipx__block* b = &s->b;
    const int64_t cgt = cv->cg * cv->d.r * cv->d.s;
    cv->bw_kernel->compute(cv, pl, b->gb, b->kb, b->pb, s->tile);
    s->stats->flops += 2u * (uint64_t)(b->gb * b->kb) * (uint64_t)(b->pb * cv->q) * (uint64_t)cgt;
    if (s->chunk == pl->chunks - 1) {
        cv->bw_kernel->write(cv, pl, s->tile, b->g0, b->gb, b->k0, b->kb, bp->dw, bp->db);
        s->stats->bytes_out += 4u * (uint64_t)(b->gb * b->kb * (cgt + (bp->db ? 1 : 0)));
    }
}

ipx_status ipx_conv_run_backward_weights(ipx_conv_t conv, ipx_pool_t pool,
                                         const float* grad_output, size_t grad_output_len,
                                         const float* input, size_t input_len,
                                         float* grad_weight, size_t grad_weight_len,
                                         float* grad_bias, size_t grad_bias_len) {
    if (conv == NULL || pool == NULL || grad_output == NULL || input == NULL || grad_weight == NULL)
        return IPX_STATUS_NULL_POINTER;
    const ipx_conv_desc* d = &conv->d;
    if (grad_output_len != (size_t)(d->n * d->k * conv->p * conv->q) ||
        input_len != (size_t)(d->n * d->c * d->h * d->w) ||
        grad_weight_len != (size_t)(d->k * conv->cg * d->r * d->s) ||
        (grad_bias != NULL && grad_bias_len != (size_t)d->k))
        return IPX_STATUS_INVALID_BUFFER_SIZE;
    ipx_status status = ipx__acquire_pair(conv, pool);
    if (status != IPX_STATUS_SUCCESS) return status;
    bw_pass bp = {
        .pass = {.pool = pool, .exchange = bw_exchange, .compute = bw_compute,
                 .kernel = conv->bw_kernel->id, .algorithm = IPX_ALGORITHM_DIRECT},
        .cv = conv, .dy = grad_output, .x = input, .dw = grad_weight, .db = grad_bias,
    };
    status = bw_make_plan(conv, pool, &bp.plan);
    bp.pass.blocks = bp.plan.x.blocks;
    bp.pass.chunks = bp.plan.chunks;
    status = ipx__pool_run_pass(&bp.pass, status);
    ipx__release_pair(conv, pool);
    return status;
}
