/* Channel kernel: groups with 16 or more input and 8 or more output channels. Vectorised over output
   channels: a register block of QB output pixels x NB*8 output channels accumulates
   broadcast input values times weight vectors, so every weight load feeds QB FMAs and every
   input broadcast feeds NB.

   Tile layout for a block (one group, kb output channels, pb output rows, one image):
     input  [cg][rows_in][row_len]: zero-padded copy of the rows and columns the block reads
            (row_len = (q-1)*stride_w + (s-1)*dilation_w + 1), so loops never test borders;
     weight [kb/8][cg][r][s][8]: packed at create time, zero beyond kg;
     bias   [kb];
     output [pb][q][kb]: channel-last results, transposed to NCHW in the write phase. */
#include "internal.h"
#include "vec.h"

/* Register block: QB pixels x NB vectors of 8 channels (6 x 2 = 12 accumulators, plus two
   weight vectors and one broadcast: 15 of AVX2's 16 registers). */
#define CHAN_QB 6
#define CHAN_NB 2
/* With one channel vector a block of 12 pixels fits the registers. */
#define CHAN_QB1 12

int64_t ipx__chan_tile_floats(const struct ipx_conv* cv, int64_t gb, int64_t kb, int64_t pb,
                              ipx__plan* plan) {
    const ipx_conv_desc* d = &cv->d;
    int64_t rows_in = (pb - 1) * d->stride_h + (d->r - 1) * d->dilation_h + 1;
    /* (rounded up to 8 so the exchange can fill rows with whole vectors) */
    int64_t row_len = ipx__round_up((cv->q - 1) * d->stride_w + (d->s - 1) * d->dilation_w + 1, 8);
    int64_t in = ipx__smul(ipx__smul(ipx__smul(gb, cv->cg), rows_in), row_len);
    int64_t wt = ipx__smul(ipx__smul(ipx__smul(gb, kb), cv->cg), d->r * d->s);
    int64_t out = ipx__smul(ipx__smul(ipx__smul(gb, pb), cv->q), kb);
    if (in >= INT64_MAX / 8 || wt >= INT64_MAX / 8 || out >= INT64_MAX / 8) return INT64_MAX / 4;
    return ipx__plan_layout(plan, rows_in, row_len, in, wt, gb * kb, out);
}

void ipx__chan_pack_weights(const struct ipx_conv* cv, const float* weight, const float* bias,
                            float* wpack, float* bpack) {
    const int64_t cg = cv->cg, kg = cv->kg, kg8 = cv->kg8, taps = cv->d.r * cv->d.s;
    for (int64_t gi = 0; gi < cv->d.g; gi++) {
        for (int64_t kk = 0; kk < kg8; kk++) {
            float* dst = wpack + (size_t)((gi * kg8 + kk / 8 * 8) * cg * taps) + kk % 8;
            const float* src = weight + (size_t)((gi * kg + kk) * cg * taps);
            for (int64_t t = 0; t < cg * taps; t++) dst[t * 8] = kk < kg ? src[t] : 0.0f;
            bpack[gi * kg8 + kk] = (kk < kg && bias) ? bias[gi * kg + kk] : 0.0f;
        }
    }
}

void ipx__chan_exchange(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                        const float* input, float* tile, bool load_input, bool load_weights) {
    const ipx_conv_desc* d = &cv->d;
    const int64_t taps = d->r * d->s, row_len = plan->row_len;
    if (load_input) {
        const int64_t rows = (b->pb - 1) * d->stride_h + (d->r - 1) * d->dilation_h + 1;
        const int64_t row0 = b->p0 * d->stride_h - d->pad_top;
        const int64_t w = d->w, pl = d->pad_left;
        /* common case inline: zero the row and copy the data in whole vectors */
        const bool fast = cv->uw == 1 && pl >= 0 && w >= 8 && pl + w <= row_len && row_len % 8 == 0;
        for (int64_t ci = 0; ci < b->gb * cv->cg; ci++) {
            const float* src = input + ((b->n * d->c + b->g0 * cv->cg + ci) * d->h) * d->w;
            float* dst = tile + plan->in_off + (size_t)(ci * plan->rows_in * row_len);
            for (int64_t rr = 0; rr < rows; rr++, dst += row_len) {
                const float* srow = ipx__src_row(cv, src, row0 + rr);
                if (!fast || srow == NULL) {
                    ipx__fill_row(dst, srow, w, pl, cv->uw, 1, row_len);
                    continue;
                }
                for (int64_t i = 0; i < row_len; i += 8) v8_store(dst + i, v8_zero());
                int64_t j = 0;
                for (; j + 8 <= w; j += 8) v8_store(dst + pl + j, v8_load(srow + j));
                if (j < w) v8_store(dst + pl + w - 8, v8_load(srow + w - 8));
            }
        }
    }
    if (load_weights) {
        /* Several groups per block only when a block holds whole groups (kb == kg8), so the
           packed weights and biases of the block are contiguous. */
        size_t first = (size_t)(b->g0 * cv->kg8 + b->k0);
        memcpy(tile + plan->w_off, cv->weight + first * (size_t)(cv->cg * taps),
               (size_t)(b->gb * b->kb * cv->cg * taps) * sizeof(float));
        memcpy(tile + plan->b_off, cv->bias + first, (size_t)(b->gb * b->kb) * sizeof(float));
    }
}

/* QB output pixels (consecutive along the row) x NB*8 channels. */
IPX_INLINE void chan_micro(const float* x, int64_t ch_stride, int64_t tap_row, int64_t dw,
                           int64_t sw, int64_t cg, int64_t r, int64_t s, const float* w,
                           int64_t wblock, const float* bias, float* out, int64_t ostride,
                           const int QB, const int NB) {
    ipx_v8 acc[CHAN_QB1][CHAN_NB];
    for (int i = 0; i < QB; i++)
        for (int j = 0; j < NB; j++) acc[i][j] = v8_load(bias + 8 * j);
    for (int64_t ci = 0; ci < cg; ci++) {
        for (int64_t ri = 0; ri < r; ri++) {
            const float* xr = x + ci * ch_stride + ri * tap_row;
            const float* wr = w + (ci * r + ri) * s * 8;
            for (int64_t si = 0; si < s; si++) {
                const float* xs = xr + si * dw;
                ipx_v8 wv[CHAN_NB];
                for (int j = 0; j < NB; j++) wv[j] = v8_load(wr + si * 8 + j * wblock);
                for (int i = 0; i < QB; i++) {
                    const float xv = xs[i * sw];
                    for (int j = 0; j < NB; j++) acc[i][j] += wv[j] * xv;
                }
            }
        }
    }
    for (int i = 0; i < QB; i++)
        for (int j = 0; j < NB; j++) v8_store(out + i * ostride + 8 * j, acc[i][j]);
}

#define CHAN_CASE(QB, NB) \
    case QB: chan_micro(x, ch_stride, tap_row, dw, sw, cg, r, s, w, wblock, bias, out, ostride, QB, NB); break;

IPX_INLINE void chan_row(const float* x, int64_t ch_stride, int64_t tap_row, int64_t dw,
                         int64_t sw, int64_t cg, int64_t r, int64_t s, const float* w,
                         int64_t wblock, const float* bias, float* out, int64_t ostride,
                         int64_t q, const int NB) {
    const int QB = NB == 2 ? CHAN_QB : CHAN_QB1;
    int64_t q0 = 0;
    for (; q0 + QB <= q; q0 += QB) {
        chan_micro(x + q0 * sw, ch_stride, tap_row, dw, sw, cg, r, s, w, wblock, bias,
                   out + q0 * ostride, ostride, QB, NB);
    }
    if (q0 < q) {
        x += q0 * sw;
        out += q0 * ostride;
        switch (q - q0) {
            CHAN_CASE(1, NB) CHAN_CASE(2, NB) CHAN_CASE(3, NB) CHAN_CASE(4, NB) CHAN_CASE(5, NB)
            CHAN_CASE(6, NB) CHAN_CASE(7, NB) CHAN_CASE(8, NB) CHAN_CASE(9, NB) CHAN_CASE(10, NB)
            CHAN_CASE(11, NB)
        default: break;
        }
    }
}

IPX_INLINE void chan_compute_body(const struct ipx_conv* cv, const ipx__plan* plan,
                                  const ipx__block* b, float* tile) {
    const ipx_conv_desc* d = &cv->d;
    const int64_t cg = cv->cg, r = d->r, s = d->s, q = cv->q, kb = b->kb;
    const int64_t row_len = plan->row_len, ch_stride = plan->rows_in * row_len;
    const int64_t tap_row = d->dilation_h * row_len, wblock = cg * r * s * 8;
    for (int64_t j = 0; j < b->gb; j++) {
    const float* tin = tile + plan->in_off + j * cg * ch_stride;
    const float* tw = tile + plan->w_off + j * kb * cg * r * s;
    const float* tb = tile + plan->b_off + j * kb;
    float* tout = tile + plan->out_off + j * b->pb * q * kb;
    for (int64_t b8 = 0; b8 < kb / 8;) {
        int nb = kb / 8 - b8 >= 2 ? 2 : 1;
        for (int64_t pp = 0; pp < b->pb; pp++) {
            const float* x = tin + pp * d->stride_h * row_len;
            float* out = tout + pp * q * kb + b8 * 8;
            if (nb == 2)
                chan_row(x, ch_stride, tap_row, d->dilation_w, d->stride_w, cg, r, s,
                         tw + b8 * wblock, wblock, tb + b8 * 8, out, kb, q, 2);
            else
                chan_row(x, ch_stride, tap_row, d->dilation_w, d->stride_w, cg, r, s,
                         tw + b8 * wblock, wblock, tb + b8 * 8, out, kb, q, 1);
        }
        b8 += nb;
    }
    }
}

#if IPX_HAVE_AVX2_PATH
IPX_TARGET_AVX2 static void chan_compute_avx2(const struct ipx_conv* cv, const ipx__plan* plan,
                                              const ipx__block* b, float* tile) {
    chan_compute_body(cv, plan, b, tile);
}
#endif

static void chan_compute_portable(const struct ipx_conv* cv, const ipx__plan* plan,
                                  const ipx__block* b, float* tile) {
    chan_compute_body(cv, plan, b, tile);
}

/* Write phase: channel-last tile results -> NCHW output rows (only the kg real channels). */
static void chan_write(const struct ipx_conv* cv, const ipx__block* b, const float* tout,
                       float* output) {
    const int64_t pix = b->pb * cv->q, kb = b->kb;
    const int64_t kvalid = ipx__min(kb, cv->kg - b->k0);
    for (int64_t j = 0; j < b->gb; j++, tout += pix * kb) {
        for (int64_t kk = 0; kk < kvalid; kk++) {
            float* dst = output + ((b->n * cv->d.k + (b->g0 + j) * cv->kg + b->k0 + kk) * cv->p + b->p0) * cv->q;
            const float* src = tout + kk;
            for (int64_t i = 0; i < pix; i++) dst[i] = src[i * kb];
        }
    }
}

void ipx__chan_compute(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                       float* tile, float* output) {
#if IPX_HAVE_AVX2_PATH
    if (cv->isa >= IPX_ISA_AVX2  /* also AVX512 */)
        chan_compute_avx2(cv, plan, b, tile);
    else
#endif
        chan_compute_portable(cv, plan, b, tile);
    chan_write(cv, b, tile + plan->out_off, output);
}
