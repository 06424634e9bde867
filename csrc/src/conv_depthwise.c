/* Row kernel: depthwise convolutions, channel multipliers and groups with fewer than 8
   input or output channels. Vectorised along the output row (8 outputs per vector); a group
   of KO output channels shares each input load.

   Tile layout for a block (gb groups x pb output rows of one image):
     input  [gb*cg channels][rows_in][sw phases][row_len]: a zero-padded copy of the input
            rows the block reads, split by column phase (padded column j goes to phase
            j % sw, index j / sw), so a strided output row reads a contiguous run and the
            inner loop never branches on borders;
     weight [gb*kg][cg][r][s] (PyTorch's layout), bias [gb*kg]. */
#include "internal.h"
#include "vec.h"

/* Outputs per vector and vectors per inner step. */
#define ROW_V 8
#define ROW_QV 2
/* Output channels sharing one input load. */
#define ROW_KO 4

static size_t align_floats(int64_t x) { return (size_t)ipx__round_up(x, IPX_ALIGN_FLOATS); }

/* Saturating multiply so that footprint checks of huge layers report "does not fit". */
static int64_t smul(int64_t a, int64_t b) {
    int64_t r;
    return __builtin_mul_overflow(a, b, &r) ? INT64_MAX / 4 : r;
}

int64_t ipx__row_tile_floats(const struct ipx_conv* cv, int64_t gb, int64_t pb,
                             ipx__plan* plan) {
    const ipx_conv_desc* d = &cv->d;
    int64_t rows_in = (pb - 1) * d->stride_h + (d->r - 1) * d->dilation_h + 1;
    int64_t off_max = ((d->s - 1) * d->dilation_w) / d->stride_w;
    int64_t row_len = ipx__round_up(ipx__round_up(cv->q, ROW_V) + ROW_V + off_max, ROW_V);
    int64_t in = smul(smul(smul(gb * cv->cg, rows_in), d->stride_w), row_len);
    int64_t wt = smul(smul(gb * cv->kg, cv->cg), d->r * d->s);
    if (in >= INT64_MAX / 8 || wt >= INT64_MAX / 8) return INT64_MAX / 4;
    size_t in_off = 0, w_off = in_off + align_floats(in);
    size_t b_off = w_off + align_floats(wt);
    size_t end = b_off + align_floats(gb * cv->kg);
    if (plan) {
        plan->rows_in = rows_in;
        plan->row_len = row_len;
        plan->in_off = in_off;
        plan->w_off = w_off;
        plan->b_off = b_off;
        plan->out_off = end;
        plan->end = end;
    }
    return (int64_t)end;
}

/* Copy one input row (or zeros) into sw phase rows of length row_len. */
static void copy_row(const float* src, int64_t w, int64_t pl, int64_t sw, int64_t row_len,
                     float* dst) {
    if (src == NULL) {
        memset(dst, 0, (size_t)(sw * row_len) * sizeof(float));
        return;
    }
    if (sw == 1) {
        int64_t lead = ipx__min(pl, row_len);
        memset(dst, 0, (size_t)lead * sizeof(float));
        int64_t n = ipx__min(w, row_len - lead);
        if (n > 0) memcpy(dst + lead, src, (size_t)n * sizeof(float));
        int64_t done = lead + (n > 0 ? n : 0);
        memset(dst + done, 0, (size_t)(row_len - done) * sizeof(float));
        return;
    }
    for (int64_t ph = 0; ph < sw; ph++) {
        float* out = dst + ph * row_len;
        int64_t iw = ph - pl;
        for (int64_t idx = 0; idx < row_len; idx++, iw += sw)
            out[idx] = (iw >= 0 && iw < w) ? src[iw] : 0.0f;
    }
}

void ipx__row_exchange(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                       const float* input, float* tile, bool load_weights) {
    const ipx_conv_desc* d = &cv->d;
    const int64_t chans = b->gb * cv->cg, c0 = b->g0 * cv->cg;
    const int64_t rows = (b->pb - 1) * d->stride_h + (d->r - 1) * d->dilation_h + 1;
    const int64_t row0 = b->p0 * d->stride_h - d->pad_top;
    const int64_t phase_row = d->stride_w * plan->row_len;
    for (int64_t ch = 0; ch < chans; ch++) {
        const float* src = input + ((b->n * d->c + c0 + ch) * d->h) * d->w;
        float* dst = tile + plan->in_off + (size_t)(ch * plan->rows_in) * (size_t)phase_row;
        for (int64_t rr = 0; rr < rows; rr++) {
            int64_t ih = row0 + rr;
            copy_row(ih >= 0 && ih < d->h ? src + ih * d->w : NULL, d->w, d->pad_left,
                     d->stride_w, plan->row_len, dst + rr * phase_row);
        }
    }
    if (load_weights) {
        size_t wn = (size_t)(b->gb * cv->kg * cv->cg * d->r * d->s);
        memcpy(tile + plan->w_off, cv->weight + (size_t)(b->g0 * cv->kg * cv->cg * d->r * d->s),
               wn * sizeof(float));
        memcpy(tile + plan->b_off, cv->bias + b->g0 * cv->kg, (size_t)(b->gb * cv->kg) * sizeof(float));
    }
}

/* KO output channels x QV vectors of one output row. x points at the block's first input
   channel of the group, at tile row pp*stride_h, phase 0, index q0. */
IPX_INLINE void row_step(const float* x, int64_t ch_stride, int64_t tap_row, int64_t row_len,
                         int64_t cg, int64_t r, int64_t s, int64_t dq, int64_t dr, int64_t sw,
                         const float* wt, int64_t wk, const float* bias, float* const* out,
                         int64_t nvalid, const int KO, const int QV) {
    ipx_v8 acc[ROW_KO][ROW_QV];
    for (int ko = 0; ko < KO; ko++)
        for (int v = 0; v < QV; v++) acc[ko][v] = v8_bcast(bias[ko]);
    for (int64_t ci = 0; ci < cg; ci++) {
        for (int64_t ri = 0; ri < r; ri++) {
            const float* xr = x + ci * ch_stride + ri * tap_row;
            const float* wr = wt + (ci * r + ri) * s;
            int64_t ph = 0, idx = 0; /* phase and index of tap si: si*dw = idx*sw + ph */
            for (int64_t si = 0; si < s; si++) {
                const float* xs = xr + ph * row_len + idx;
                ipx_v8 xv[ROW_QV];
                for (int v = 0; v < QV; v++) xv[v] = v8_load(xs + v * ROW_V);
                for (int ko = 0; ko < KO; ko++) {
                    ipx_v8 wv = v8_bcast(wr[ko * wk + si]);
                    for (int v = 0; v < QV; v++) acc[ko][v] += xv[v] * wv;
                }
                ph += dr;
                idx += dq;
                if (ph >= sw) {
                    ph -= sw;
                    idx++;
                }
            }
        }
    }
    for (int ko = 0; ko < KO; ko++) {
        if (nvalid == QV * ROW_V) {
            for (int v = 0; v < QV; v++) v8_store(out[ko] + v * ROW_V, acc[ko][v]);
        } else {
            float tmp[ROW_QV * ROW_V];
            for (int v = 0; v < QV; v++) v8_store(tmp + v * ROW_V, acc[ko][v]);
            memcpy(out[ko], tmp, (size_t)nvalid * sizeof(float));
        }
    }
}

IPX_INLINE void row_compute_body(const struct ipx_conv* cv, const ipx__plan* plan,
                                 const ipx__block* b, const float* tile, float* output) {
    const ipx_conv_desc* d = &cv->d;
    const int64_t cg = cv->cg, kg = cv->kg, r = d->r, s = d->s, q = cv->q, sw = d->stride_w;
    const int64_t row_len = plan->row_len, phase_row = sw * row_len;
    const int64_t ch_stride = plan->rows_in * phase_row;
    const int64_t tap_row = d->dilation_h * phase_row;
    const int64_t dq = d->dilation_w / sw, dr = d->dilation_w % sw;
    const int64_t wk = cg * r * s;
    for (int64_t j = 0; j < b->gb; j++) {
        const float* xg = tile + plan->in_off + j * cg * ch_stride;
        const float* wg = tile + plan->w_off + j * kg * wk;
        const float* bg = tile + plan->b_off + j * kg;
        const int64_t kout0 = (b->g0 + j) * kg;
        for (int64_t ko0 = 0; ko0 < kg;) {
            int64_t nko = kg - ko0 >= 4 ? 4 : kg - ko0 >= 2 ? 2 : 1;
            for (int64_t pp = 0; pp < b->pb; pp++) {
                const float* xrow = xg + pp * d->stride_h * phase_row;
                float* orow[ROW_KO];
                for (int64_t ko = 0; ko < nko; ko++)
                    orow[ko] = output + ((b->n * d->k + kout0 + ko0 + ko) * cv->p + b->p0 + pp) * q;
                for (int64_t q0 = 0; q0 < q;) {
                    int64_t left = q - q0;
                    float* o[ROW_KO];
                    for (int64_t ko = 0; ko < nko; ko++) o[ko] = orow[ko] + q0;
                    const float* wk0 = wg + ko0 * wk;
                    if (left > ROW_V) {
                        int64_t nv = left < 2 * ROW_V ? left : 2 * ROW_V;
                        if (nko == 4) row_step(xrow + q0, ch_stride, tap_row, row_len, cg, r, s, dq, dr, sw, wk0, wk, bg + ko0, o, nv, 4, 2);
                        else if (nko == 2) row_step(xrow + q0, ch_stride, tap_row, row_len, cg, r, s, dq, dr, sw, wk0, wk, bg + ko0, o, nv, 2, 2);
                        else row_step(xrow + q0, ch_stride, tap_row, row_len, cg, r, s, dq, dr, sw, wk0, wk, bg + ko0, o, nv, 1, 2);
                        q0 += nv;
                    } else {
                        if (nko == 4) row_step(xrow + q0, ch_stride, tap_row, row_len, cg, r, s, dq, dr, sw, wk0, wk, bg + ko0, o, left, 4, 1);
                        else if (nko == 2) row_step(xrow + q0, ch_stride, tap_row, row_len, cg, r, s, dq, dr, sw, wk0, wk, bg + ko0, o, left, 2, 1);
                        else row_step(xrow + q0, ch_stride, tap_row, row_len, cg, r, s, dq, dr, sw, wk0, wk, bg + ko0, o, left, 1, 1);
                        q0 += left;
                    }
                }
            }
            ko0 += nko;
        }
    }
}

#if IPX_HAVE_AVX2_PATH
IPX_TARGET_AVX2 static void row_compute_avx2(const struct ipx_conv* cv, const ipx__plan* plan,
                                             const ipx__block* b, const float* tile,
                                             float* output) {
    row_compute_body(cv, plan, b, tile, output);
}
#endif

static void row_compute_portable(const struct ipx_conv* cv, const ipx__plan* plan,
                                 const ipx__block* b, const float* tile, float* output) {
    row_compute_body(cv, plan, b, tile, output);
}

void ipx__row_compute(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                      const float* tile, float* output) {
#if IPX_HAVE_AVX2_PATH
    if (cv->isa == IPX_ISA_AVX2) {
        row_compute_avx2(cv, plan, b, tile, output);
        return;
    }
#endif
    row_compute_portable(cv, plan, b, tile, output);
}
