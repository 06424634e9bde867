/* Row kernel: depthwise convolutions, channel multipliers and groups with fewer than 8
   input or 8 output channels. Vectorised along the output row (8 outputs per vector); a group
   of KO output channels shares each input load.

   Tile layout for a block (gb groups x pb output rows of one image):
     input  [gb*cg channels][rows_in][sw phases][row_len]: a zero-padded copy of the input
            rows the block reads, split by column phase (padded column j goes to phase
            j % sw, index j / sw), so a strided output row reads a contiguous run and the
            inner loop never branches on borders;
     weight [gb*kg][cg][r][s] (PyTorch's layout), bias [gb*kg];
     output [gb*kg][pb][qpad]: whole vectors (qpad = q rounded up to 8), copied to the NCHW
            output rows in the write phase, so no store is ever partial. */
#include "epilogue.h"
#include "forward.h"
#include "internal.h"
#include "tile_rows.h"
#include "vec.h"

/* Outputs per vector. Register blocks (output channels KO x output rows RB x vectors QV
   along the row) are chosen per channel count in row_compute_body: 1x4x2, 2x3x2, 4x3x1,
   at most 12 accumulators of AVX2's 16 registers. */
#define ROW_V 8
#define ROW_MAX_KO 4
#define ROW_MAX_RB 4
#define ROW_MAX_QV 2

static bool row_uses_dw3(const struct ipx_conv* cv) {
    const ipx_conv_desc* d = &cv->d;
    return cv->cg == 1 && d->r == 3 && d->s == 3 && d->stride_w == 1 && d->dilation_w == 1 &&
           d->stride_h == 1 && d->dilation_h == 1 && cv->q >= 1;
}

/* Which dw_channel_ks build a layer uses: 0 none (generic row path or dw3). */
static int row_dw_kind(const struct ipx_conv* cv) {
    const ipx_conv_desc* d = &cv->d;
    if (cv->cg != 1 || d->r != d->s || d->stride_h != d->stride_w || d->dilation_h != 1 || d->dilation_w != 1 ||
        cv->uh != 1 || cv->uw != 1)
        return 0;
    if (d->r == 3 && d->stride_w == 2) return 32;
    if (d->r == 5 && d->stride_w == 1) return 51;
    if (d->r == 5 && d->stride_w == 2) return 52;
    return 0;
}

static int64_t row_plan(const struct ipx_conv* cv, int64_t gb, int64_t kb, int64_t pb,
                        ipx__plan* plan) {
    (void)kb; /* blocks hold all of a group's output channels */
    const ipx_conv_desc* d = &cv->d;
    int64_t rows_in = ipx__rows_in(d, pb);
    int64_t off_max = ((d->s - 1) * d->dilation_w) / d->stride_w;
    /* Vector chunks along the row never read past round_up(q, 8) + off_max (see
       row_compute_body), and the padded input row fits in it too. */
    int64_t row_len = ipx__round_up(ipx__round_up(cv->q, ROW_V) + off_max, ROW_V);
    int64_t in = ipx__smul(ipx__smul(ipx__smul(gb * cv->cg, rows_in), d->stride_w), row_len);
    int64_t wt = ipx__smul(ipx__smul(gb * cv->kg, cv->cg), d->r * d->s);
    /* The depthwise paths write the output themselves, but keep this region in the plan: its
       smaller blocks measured faster (3x3 144x56, batch 4: 0.68 ms against 0.90 without). */
    int64_t out = ipx__smul(ipx__smul(gb * cv->kg, pb), ipx__round_up(cv->q, ROW_V));
    return ipx__plan_layout(plan, rows_in, row_len, ipx__smul(ipx__smul(gb * cv->cg, rows_in), cv->q), in, wt,
                            gb * cv->kg, out);
}

void ipx__pack_as_is(const struct ipx_conv* cv, const float* weight, const float* bias,
                     float* wpack, float* bpack) {
    memcpy(wpack, weight, cv->weight_len * sizeof(float));
    if (bias) memcpy(bpack, bias, cv->bias_len * sizeof(float));
    else memset(bpack, 0, cv->bias_len * sizeof(float));
}

/* The input rows are copied whatever `loads` says (blocks of one worker rarely share them). */
IPX_INLINE uint64_t row_exchange_body(const struct ipx_conv* cv, const ipx__plan* plan,
                                      const ipx__block* b, const float* input, float* tile,
                                      unsigned loads) {
    const ipx_conv_desc* d = &cv->d;
    const int64_t chans = b->gb * cv->cg, c0 = b->g0 * cv->cg;
    const int64_t rows = ipx__rows_in(d, b->pb);
    const int64_t row0 = b->p0 * d->stride_h - d->pad_top;
    const int64_t phase_row = d->stride_w * plan->row_len;
    const int64_t w = d->w, pl = d->pad_left, row_len = plan->row_len;
    /* Common cases inline (stride 1 or 2, no upsampling, padding inside the row): padding
       rows zeroed in vectors, the data copied (stride 2: split into even and odd columns);
       everything else goes through ipx__fill_row. */
    const int64_t sw = d->stride_w;
    const bool fast = (sw == 1 || sw == 2) && cv->uw == 1 && cv->uh == 1 && pl >= 0 && pl + w <= sw * row_len &&
                      row_len % ROW_V == 0;
    /* Tile rows [lo, hi) hold input rows (no upsampling in the fast case); the others are
       padding. Padding columns are zeroed once per run (fresh) and never written after. */
    const int64_t lo = ipx__min(rows, ipx__max(0, -row0)), hi = ipx__max(lo, ipx__min(rows, d->h - row0));
    /* rows under 8 wide in one vector each where 8 floats can be read (not past the input)
       and written (the rest of the row is padding) */
    const bool short_rows = fast && sw == 1 && w < ROW_V && pl + ROW_V <= row_len;
    const float* in_end = input + d->n * d->c * d->h * d->w;
    if (fast && (loads & IPX__FRESH_TILE)) {
        const int64_t zn = plan->gb * cv->cg * plan->rows_in * phase_row;
        float* z = tile + plan->in_off;
        for (int64_t i = 0; i < zn; i += ROW_V) v8_store(z + i, v8_zero());
    }
    for (int64_t ch = 0; ch < chans; ch++) {
        const float* src = input + ((b->n * d->c + c0 + ch) * d->h) * d->w;
        float* dst = tile + plan->in_off + (size_t)(ch * plan->rows_in) * (size_t)phase_row;
        if (!fast) {
            for (int64_t rr = 0; rr < rows; rr++, dst += phase_row)
                ipx__fill_row(dst, ipx__src_row(cv, src, row0 + rr), w, pl, cv->uw, d->stride_w, row_len);
            continue;
        }
        int64_t rr = 0;
        for (; rr < lo; rr++, dst += phase_row) /* padding rows above */
            for (int64_t i = 0; i < phase_row; i += ROW_V) v8_store(dst + i, v8_zero());
        for (const float* srow = src + (row0 + rr) * w; rr < hi; rr++, dst += phase_row, srow += w) {
            if (sw == 2) ipx__split_row2(dst, srow, w, pl, row_len);
            else if (short_rows && srow + ROW_V <= in_end) ipx__copy_short_row1(dst + pl, srow, w, 0.0f);
            else ipx__copy_row1(dst + pl, srow, w);
        }
        for (; rr < rows; rr++, dst += phase_row) /* padding rows below */
            for (int64_t i = 0; i < phase_row; i += ROW_V) v8_store(dst + i, v8_zero());
    }
    uint64_t copied = (uint64_t)(chans * rows * phase_row);
    if (loads & IPX__LOAD_WEIGHTS) {
        size_t wn = (size_t)(b->gb * cv->kg * cv->cg * d->r * d->s);
        memcpy(tile + plan->w_off, cv->weight + (size_t)(b->g0 * cv->kg * cv->cg * d->r * d->s),
               wn * sizeof(float));
        memcpy(tile + plan->b_off, cv->bias + b->g0 * cv->kg, (size_t)(b->gb * cv->kg) * sizeof(float));
        copied += wn + (uint64_t)(b->gb * cv->kg);
    }
    return copied;
}

/* KO output channels x RB output rows x QV vectors along the row. x points at the group's
   first input channel, tile row of output row 0, phase 0, index q0. */
typedef struct row_args {
    int64_t ch_stride;  /* floats between input channels in the tile */
    int64_t out_row;    /* floats between output rows in the tile: stride_h * phase_row */
    int64_t tap_row;    /* floats between kernel rows: dilation_h * phase_row */
    int64_t row_len;    /* floats per phase row */
    int64_t cg, r, s;
    int64_t dq, dr, sw; /* dilation_w = dq * sw + dr */
    int64_t wk;         /* floats between output channels' weights: cg * r * s */
    int64_t out_ch;     /* floats between output channels in the tile output: pb * qpad */
    int64_t qpad;       /* floats between output rows in the tile output */
    int64_t q;          /* outputs per row */
} row_args;

/* K3: the layer is 3x3 with horizontal stride and dilation 1 (most depthwise layers), so the
   tap loops unroll with constant offsets; otherwise everything is read from a. */
IPX_INLINE void row_step(const row_args* a, const float* x, const float* wt, const float* bias,
                         float* out, int64_t nvalid, const int KO, const int RB, const int QV,
                         const int K3) {
    ipx_v8 acc[ROW_MAX_KO][ROW_MAX_RB][ROW_MAX_QV];
    for (int ko = 0; ko < KO; ko++)
        for (int rb = 0; rb < RB; rb++)
            for (int v = 0; v < QV; v++) acc[ko][rb][v] = v8_bcast(bias[ko]);
    const int64_t r = K3 ? 3 : a->r, s = K3 ? 3 : a->s, sw = K3 ? 1 : a->sw;
    const int64_t dq = K3 ? 1 : a->dq, dr = K3 ? 0 : a->dr, row_len = a->row_len;
    for (int64_t ci = 0; ci < a->cg; ci++) {
        for (int64_t ri = 0; ri < r; ri++) {
            const float* xr = x + ci * a->ch_stride + ri * a->tap_row;
            const float* wr = wt + (ci * r + ri) * s;
            int64_t ph = 0, idx = 0; /* tap si reads phase ph at index idx: si*dw = idx*sw + ph */
            for (int64_t si = 0; si < s; si++) {
                const float* xs = xr + ph * row_len + idx;
                ipx_v8 xv[ROW_MAX_RB][ROW_MAX_QV];
                for (int rb = 0; rb < RB; rb++)
                    for (int v = 0; v < QV; v++) xv[rb][v] = v8_load(xs + rb * a->out_row + v * ROW_V);
                for (int ko = 0; ko < KO; ko++) {
                    const float wv = wr[ko * a->wk + si];
                    for (int rb = 0; rb < RB; rb++)
                        for (int v = 0; v < QV; v++) acc[ko][rb][v] += xv[rb][v] * wv;
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
    (void)nvalid; /* whole vectors: the tile's output rows are padded to qpad */
    for (int ko = 0; ko < KO; ko++)
        for (int rb = 0; rb < RB; rb++)
            for (int v = 0; v < QV; v++)
                v8_store(out + ko * a->out_ch + rb * a->qpad + v * ROW_V, acc[ko][rb][v]);
}

/* All chunks of RB output rows for KO channels: 16-wide chunks, an 8-wide last one. */
IPX_INLINE void row_rows_k(const row_args* a, const float* x, const float* wt, const float* bias,
                           float* out, const int KO, const int RB, const int QV, const int K3) {
    int64_t q0 = 0;
    if (QV == 2)
        for (; a->q - q0 > ROW_V; q0 += 2 * ROW_V)
            row_step(a, x + q0, wt, bias, out + q0, ipx__min(2 * ROW_V, a->q - q0), KO, RB, 2, K3);
    for (; q0 < a->q; q0 += ROW_V)
        row_step(a, x + q0, wt, bias, out + q0, ipx__min(ROW_V, a->q - q0), KO, RB, 1, K3);
}

IPX_INLINE void row_rows(const row_args* a, const float* x, const float* wt, const float* bias,
                         float* out, const int KO, const int RB, const int QV) {
    if (a->r == 3 && a->s == 3 && a->sw == 1 && a->dq == 1 && a->dr == 0)
        row_rows_k(a, x, wt, bias, out, KO, RB, QV, 1);
    else
        row_rows_k(a, x, wt, bias, out, KO, RB, QV, 0);
}

/* The depthwise paths below apply ReLU or ReLU6 to each result vector while it is in
   registers when CLAMP (a constant per build; hi +inf or 6): the separate pass's float
   operations (v8_activation, epilogue.h), so the same bits, for a max and a min per vector
   where the separate pass costs a read and a write of the output. */
IPX_INLINE ipx_v8 dw_clamp(ipx_v8 v, ipx_v8 hi, const int CLAMP) {
    /* relu: min(max(v, 0), +inf) is max(v, 0) (never NaN), bit for bit; only the AVX builds
       clamp (ROW_DW_FN), and their 8-float max and min are the same instructions */
    return CLAMP ? v8_min(v8_max(v, v8_zero(), IPX_ISA_AVX2), hi, IPX_ISA_AVX2) : v;
}

/* One 8-wide column chunk of input row t: adds its three taps per kernel row to the
   accumulators of output rows t (a0, fresh from the bias), t-1 (a1) and t-2 (a2). Written as
   explicit multiply-add chains so each tap is one FMA. */
IPX_INLINE void dw3_row(const float* xr, const ipx_v8 w[9], ipx_v8 b, ipx_v8* a0, ipx_v8* a1,
                        ipx_v8* a2) {
    const ipx_v8 x0 = v8_load(xr), x1 = v8_load(xr + 1), x2 = v8_load(xr + 2);
    *a0 = x2 * w[2] + (x1 * w[1] + (x0 * w[0] + b));
    *a1 = x2 * w[5] + (x1 * w[4] + (x0 * w[3] + *a1));
    *a2 = x2 * w[8] + (x1 * w[7] + (x0 * w[6] + *a2));
}

/* Rows [t_begin, t_end) of one column chunk (output row t - 2 completes at input row t),
   with the store kind fixed: STORE 0 plain vector, 1 streaming. */
IPX_INLINE void dw3_rows(const float* x, int64_t row_len, const ipx_v8 w[9], ipx_v8 b,
                         ipx_v8* a1, ipx_v8* a2, float* out, ipx_v8 hi, int64_t q, int64_t t_begin,
                         int64_t t_end, const int STORE, const int CLAMP) {
    ipx_v8 p1 = *a1, p2 = *a2;
    for (int64_t t = t_begin; t < t_end; t++) {
        ipx_v8 a0;
        dw3_row(x + t * row_len, w, b, &a0, &p1, &p2);
        float* o = out + (t - 2) * q;
        if (STORE) v8_stream(o, dw_clamp(p2, hi, CLAMP));
        else v8_store(o, dw_clamp(p2, hi, CLAMP));
        p2 = p1;
        p1 = a0;
    }
    *a1 = p1;
    *a2 = p2;
}

/* One column chunk at q0, all rows of the block. */
IPX_INLINE void dw3_chunk(const float* x, int64_t row_len, const ipx_v8 w[9], ipx_v8 b,
                          float* out, ipx_v8 hi, int64_t q, int64_t pb, int64_t q0, bool stream,
                          const int CLAMP) {
    const float* xc = x + q0;
    float* oc = out + q0;
    ipx_v8 a1 = b, a2 = b, a0; /* output rows t-1 and t-2 */
    dw3_row(xc, w, b, &a0, &a1, &a2);            /* t = 0 */
    a2 = a1, a1 = a0;
    dw3_row(xc + row_len, w, b, &a0, &a1, &a2);  /* t = 1 */
    a2 = a1, a1 = a0;
    /* Output rows whose whole-vector store stays inside the block's pb * q outputs:
       all of them for a whole chunk; for a partial one, those with
       r * q + q0 + 8 <= pb * q. The rest are stored exactly. */
    const int64_t room = pb * q - q0 - ROW_V;
    const int64_t safe = stream || q0 + ROW_V <= q ? pb : room < 0 ? 0 : ipx__min(pb, room / q + 1);
    if (stream)
        dw3_rows(xc, row_len, w, b, &a1, &a2, oc, hi, q, 2, safe + 2, 1, CLAMP);
    else
        dw3_rows(xc, row_len, w, b, &a1, &a2, oc, hi, q, 2, safe + 2, 0, CLAMP);
    for (int64_t t = safe + 2; t < pb + 2; t++) {
        dw3_row(xc + t * row_len, w, b, &a0, &a1, &a2);
        float tmp[ROW_V];
        v8_store(tmp, dw_clamp(a2, hi, CLAMP));
        float* o = oc + (t - 2) * q;
        for (int64_t i = 0; i < q - q0 && i < ROW_V; i++) o[i] = tmp[i];
        a2 = a1, a1 = a0;
    }
}

/* Two whole column chunks (q0 and q0 + 8) side by side: twice the independent FMA chains
   per row step and half the loop overhead. */
IPX_INLINE void dw3_pair(const float* x, int64_t row_len, const ipx_v8 w[9], ipx_v8 b,
                         float* out, ipx_v8 hi, int64_t q, int64_t pb, int64_t q0, const int STORE,
                         const int CLAMP) {
    const float* xc = x + q0;
    float* oc = out + q0;
    ipx_v8 a1 = b, a2 = b, c1 = b, c2 = b, a0, c0;
    for (int64_t t = 0; t < 2; t++) { /* warm-up rows */
        dw3_row(xc + t * row_len, w, b, &a0, &a1, &a2);
        dw3_row(xc + t * row_len + ROW_V, w, b, &c0, &c1, &c2);
        a2 = a1, a1 = a0, c2 = c1, c1 = c0;
    }
    for (int64_t t = 2; t < pb + 2; t++) {
        dw3_row(xc + t * row_len, w, b, &a0, &a1, &a2);
        dw3_row(xc + t * row_len + ROW_V, w, b, &c0, &c1, &c2);
        float* o = oc + (t - 2) * q;
        const ipx_v8 va = dw_clamp(a2, hi, CLAMP), vc = dw_clamp(c2, hi, CLAMP);
        if (STORE) {
            v8_stream(o, va);
            v8_stream(o + ROW_V, vc);
        } else {
            v8_store(o, va);
            v8_store(o + ROW_V, vc);
        }
        a2 = a1, a1 = a0, c2 = c1, c1 = c0;
    }
}

/* Depthwise 3x3, stride 1, dilation 1: the nine weights stay in registers and the input
   rows stream through once per column chunk. Input row t feeds output rows t, t-1 and t-2
   (kernel rows 0, 1, 2), so each loaded vector serves three FMAs: 3 loads per 9 FMAs,
   FMA-bound. Results go straight to the block's NCHW output rows (q apart). A partial last
   chunk goes first: its whole-vector stores spill into the next row's first columns, which
   the chunk at column 0 rewrites later (rows under 8 wide: the later rows themselves); a
   store that would pass the block's last output is done exactly (what follows belongs to
   another block). The whole chunks follow, two at a time. */
IPX_INLINE void dw3_channel(const float* x, int64_t row_len, const float* wt, float bias,
                            float* out, ipx_v8 hi, int64_t q, int64_t pb, bool stream, const int CLAMP) {
    ipx_v8 w[9];
    for (int i = 0; i < 9; i++) w[i] = v8_bcast(wt[i]);
    const ipx_v8 b = v8_bcast(bias);
    int64_t whole = q / ROW_V; /* chunks 0 .. whole-1 are whole */
    if (whole * ROW_V < q) dw3_chunk(x, row_len, w, b, out, hi, q, pb, whole * ROW_V, stream, CLAMP);
    for (; whole >= 2; whole -= 2) {
        if (stream)
            dw3_pair(x, row_len, w, b, out, hi, q, pb, (whole - 2) * ROW_V, 1, CLAMP);
        else
            dw3_pair(x, row_len, w, b, out, hi, q, pb, (whole - 2) * ROW_V, 0, CLAMP);
    }
    if (whole == 1) dw3_chunk(x, row_len, w, b, out, hi, q, pb, 0, stream, CLAMP);
}

/* Depthwise K x K, stride S (1 or 2), dilation 1, other than 3x3 stride 1: RB output rows x
   QV vectors along the row per register block, the taps read straight from the tile's
   phase rows (tap si of a strided row: phase si % S, index si / S), results stored straight
   into the block's NCHW output rows as whole vectors. x: the channel's tile input at output
   row o0's first tile row; out: output row o0. Rows narrower than a vector spill into the
   following rows, which are stored later; a store that would pass the `room` floats from
   out that this block writes (in order) is done exactly. */
IPX_INLINE void dw_block(const float* x, int64_t row_len, const float* wt, ipx_v8 b, float* out, ipx_v8 hi,
                         int64_t q, int64_t q0, int64_t room, const int K, const int S, const int RB,
                         const int QV, const int CLAMP) {
    const int64_t phase_row = S * row_len;
    ipx_v8 acc[ROW_MAX_RB][ROW_MAX_QV];
    for (int rb = 0; rb < RB; rb++)
        for (int v = 0; v < QV; v++) acc[rb][v] = b;
    for (int ri = 0; ri < K; ri++)
        for (int si = 0; si < K; si++) {
            const float* xs = x + ri * phase_row + (si % S) * row_len + si / S + q0;
            const float wv = wt[ri * K + si];
            for (int rb = 0; rb < RB; rb++)
                for (int v = 0; v < QV; v++)
                    acc[rb][v] += v8_load(xs + rb * S * phase_row + v * ROW_V) * wv;
        }
    for (int rb = 0; rb < RB; rb++)
        for (int v = 0; v < QV; v++) {
            float* o = out + rb * q + q0 + v * ROW_V;
            const ipx_v8 y = dw_clamp(acc[rb][v], hi, CLAMP);
            if (q >= ROW_V || rb * q + ROW_V <= room) {
                v8_store(o, y);
            } else {
                float tmp[ROW_V];
                v8_store(tmp, y);
                for (int64_t i = 0; i < q; i++) o[i] = tmp[i];
            }
        }
}

/* RB output rows of one channel: 16-wide chunks, then 8-wide ones, the last one moved back
   to end at the row's end (it recomputes a few outputs instead of storing part of a vector). */
IPX_INLINE void dw_rows(const float* x, int64_t row_len, const float* wt, ipx_v8 b, float* out, ipx_v8 hi,
                        int64_t q, int64_t room, const int K, const int S, const int RB, const int CLAMP) {
    if (q <= ROW_V) {
        dw_block(x, row_len, wt, b, out, hi, q, 0, room, K, S, RB, 1, CLAMP);
        return;
    }
    int64_t q0 = 0;
    for (; q0 + 2 * ROW_V <= q; q0 += 2 * ROW_V) dw_block(x, row_len, wt, b, out, hi, q, q0, room, K, S, RB, 2, CLAMP);
    for (; q0 < q; q0 += ROW_V)
        dw_block(x, row_len, wt, b, out, hi, q, ipx__min(q0, q - ROW_V), room, K, S, RB, 1, CLAMP);
}

/* after: floats past the channel's last output row that this block writes later. */
IPX_INLINE void dw_channel_ks(const float* x, int64_t row_len, const float* wt, float bias, float* out,
                              ipx_v8 hi, int64_t q, int64_t pb, int64_t after, const int K, const int S,
                              const int CLAMP) {
    const ipx_v8 b = v8_bcast(bias);
    const int64_t out_row = S * S * row_len; /* tile floats between output rows */
    int64_t o = 0;
    for (; o + 4 <= pb; o += 4)
        dw_rows(x + o * out_row, row_len, wt, b, out + o * q, hi, q, (pb - o) * q + after, K, S, 4, CLAMP);
    /* the last 1-3 rows in one register block (7x7 maps: 4 + 3 rows, not 4 + 1 + 1 + 1) */
    const float* xo = x + o * out_row;
    float* oo = out + o * q;
    switch (pb - o) {
    case 3: dw_rows(xo, row_len, wt, b, oo, hi, q, 3 * q + after, K, S, 3, CLAMP); break;
    case 2: dw_rows(xo, row_len, wt, b, oo, hi, q, 2 * q + after, K, S, 2, CLAMP); break;
    case 1: dw_rows(xo, row_len, wt, b, oo, hi, q, q + after, K, S, 1, CLAMP); break;
    default: break;
    }
}

IPX_INLINE void dw_channel(int kind, const float* x, int64_t row_len, const float* wt, float bias, float* out,
                           ipx_v8 hi, int64_t q, int64_t pb, int64_t after, const int CLAMP) {
    switch (kind) {
    case 32: dw_channel_ks(x, row_len, wt, bias, out, hi, q, pb, after, 3, 2, CLAMP); break;
    case 51: dw_channel_ks(x, row_len, wt, bias, out, hi, q, pb, after, 5, 1, CLAMP); break;
    default: dw_channel_ks(x, row_len, wt, bias, out, hi, q, pb, after, 5, 2, CLAMP); break;
    }
}

#define ROW_RB_CASES(KO, RBMAX, QV)                                                          \
    switch (nrb) {                                                                           \
    case 1: row_rows(&a, xrow, wk0, bk0, orow, KO, 1, QV); break;                           \
    case 2: row_rows(&a, xrow, wk0, bk0, orow, KO, (RBMAX) >= 2 ? 2 : 1, QV); break;        \
    case 3: row_rows(&a, xrow, wk0, bk0, orow, KO, (RBMAX) >= 3 ? 3 : 1, QV); break;        \
    default: row_rows(&a, xrow, wk0, bk0, orow, KO, (RBMAX) >= 4 ? 4 : 1, QV); break;       \
    }

/* Streaming output stores: only when the output is much larger than the last-level cache
   (it would be evicted before anyone reads it, and write-allocate would first read every
   line from DRAM), rows are whole vectors and the output is vector-aligned. */
#define ROW_STREAM_BYTES (16u << 20)
static bool row_stream(const struct ipx_conv* cv, const float* output) {
    return (uint64_t)(cv->d.n * cv->d.k) * (uint64_t)(cv->p * cv->q) * 4u >= ROW_STREAM_BYTES &&
           cv->q % ROW_V == 0 && ((uintptr_t)output % 32u) == 0;
}

/* Write phase: tile output rows (qpad apart) -> NCHW rows (q apart, contiguous per channel). */
IPX_INLINE void row_write(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                      const float* tile, float* output) {
    const int64_t q = cv->q, qpad = ipx__round_up(q, ROW_V), chans = b->gb * cv->kg;
    const float* src = tile + plan->out_off;
    for (int64_t ch = 0; ch < chans; ch++) {
        float* dst = output + ((b->n * cv->d.k + b->g0 * cv->kg + ch) * cv->p + b->p0) * q;
        for (int64_t pp = 0; pp < b->pb; pp++, src += qpad, dst += q) {
            if (q >= ROW_V) { /* vectors, the last one overlapping */
                int64_t i = 0;
                for (; i + ROW_V <= q; i += ROW_V) v8_store(dst + i, v8_load(src + i));
                if (i < q) v8_store(dst + q - ROW_V, v8_load(src + q - ROW_V));
            } else {
                for (int64_t i = 0; i < q; i++) dst[i] = src[i];
            }
        }
    }
}

/* The depthwise paths' block: each channel computed and written straight into the NCHW
   output, with ReLU (hi +inf) or ReLU6 (hi 6) when CLAMP. */
IPX_INLINE void row_dw(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b, float* tile,
                       float* output, float hi_bound, const int CLAMP) {
    const ipx_conv_desc* d = &cv->d;
    const int64_t kg = cv->kg, ch_stride = plan->rows_in * d->stride_w * plan->row_len;
    const bool dw3 = row_uses_dw3(cv);
    const int kind = row_dw_kind(cv);
    const bool stream = dw3 && row_stream(cv, output);
    const ipx_v8 hi = v8_bcast(hi_bound);
    for (int64_t ch = 0; ch < b->gb * kg; ch++) {
        float* out = output + ((b->n * d->k + b->g0 * kg + ch) * cv->p + b->p0) * cv->q;
        const float* x = tile + plan->in_off + (ch / kg) * ch_stride;
        if (dw3)
            dw3_channel(x, plan->row_len, tile + plan->w_off + ch * 9, tile[plan->b_off + ch], out, hi, cv->q, b->pb,
                        stream, CLAMP);
        else
            dw_channel(kind, x, plan->row_len, tile + plan->w_off + ch * d->r * d->s, tile[plan->b_off + ch], out, hi,
                       cv->q, b->pb, b->pb == cv->p ? (b->gb * kg - 1 - ch) * cv->p * cv->q : 0, CLAMP);
    }
    if (stream) v8_stream_fence(); /* visible before the superstep barrier */
}

/* Its builds, each its own function so that the register allocator sees one loop nest at a
   time: per instruction set one without activation (the plain compute) and one with the
   clamp, but none with it in the portable build (its ReLU/ReLU6 go through the separate
   pass). Each copy of the depthwise loop nests costs compile time (one per activation, with
   residual and sums, made this file 5.6x slower to compile; the sums alone, added to every
   vector, made the plain compute 15% slower), and the portable build's are the largest, for
   the build that is never the fast one. */
typedef void (*row_dw_fn)(const struct ipx_conv*, const ipx__plan*, const ipx__block*, float*, float*, float);
#define ROW_DW_FN(NAME, TARGET, CLAMP)                                                                          \
    TARGET __attribute__((noinline)) static void NAME(const struct ipx_conv* cv, const ipx__plan* plan,         \
                                                      const ipx__block* b, float* tile, float* output,          \
                                                      float hi) {                                               \
        row_dw(cv, plan, b, tile, output, hi, CLAMP);                                                           \
    }
ROW_DW_FN(row_dw_portable, IPX_TARGET_PORTABLE, 0)
ROW_DW_FN(row_dw_avx2, IPX_TARGET_AVX2, 0)
ROW_DW_FN(row_dw_clamp_avx2, IPX_TARGET_AVX2, 1)
ROW_DW_FN(row_dw_avx512, IPX_TARGET_AVX512, 0)
ROW_DW_FN(row_dw_clamp_avx512, IPX_TARGET_AVX512, 1)
#undef ROW_DW_FN
static const row_dw_fn row_dw_by_isa[IPX__ISA_COUNT][2] = {
    [IPX_ISA_PORTABLE] = {row_dw_portable, NULL},
    [IPX_ISA_AVX2] = {row_dw_avx2, row_dw_clamp_avx2},
    [IPX_ISA_AVX512] = {row_dw_avx512, row_dw_clamp_avx512},
};

IPX_INLINE void row_compute_body(const struct ipx_conv* cv, const ipx__plan* plan,
                                 const ipx__block* b, float* tile, float* output, const int WIDE) {
    (void)WIDE; /* the same register blocks: AVX-512 gains by its encodings */
    const ipx_conv_desc* d = &cv->d;
    const int64_t cg = cv->cg, kg = cv->kg, sw = d->stride_w;
    const int64_t phase_row = sw * plan->row_len;
    row_args a = {
        .ch_stride = plan->rows_in * phase_row,
        .out_row = d->stride_h * phase_row,
        .tap_row = d->dilation_h * phase_row,
        .row_len = plan->row_len,
        .cg = cg, .r = d->r, .s = d->s,
        .dq = d->dilation_w / sw, .dr = d->dilation_w % sw, .sw = sw,
        .wk = cg * d->r * d->s,
        .out_ch = b->pb * ipx__round_up(cv->q, ROW_V),
        .qpad = ipx__round_up(cv->q, ROW_V),
        .q = cv->q,
    };
    float* tout = tile + plan->out_off;
    if (row_uses_dw3(cv) || row_dw_kind(cv)) { /* computes and writes the block's output itself */
        row_dw_by_isa[cv->isa][0](cv, plan, b, tile, output, 0.0f);
        return;
    }
    for (int64_t j = 0; j < b->gb; j++) {
        const float* xg = tile + plan->in_off + j * cg * a.ch_stride;
        const float* wg = tile + plan->w_off + j * kg * a.wk;
        const float* bg = tile + plan->b_off + j * kg;
        for (int64_t ko0 = 0; ko0 < kg;) {
            const int64_t nko = kg - ko0 >= 4 ? 4 : kg - ko0 >= 2 ? 2 : 1;
            const int64_t rbmax = nko == 1 ? 4 : 3;
            const float* wk0 = wg + ko0 * a.wk;
            const float* bk0 = bg + ko0;
            for (int64_t pp = 0; pp < b->pb;) {
                const int64_t nrb = ipx__min(rbmax, b->pb - pp);
                const float* xrow = xg + pp * a.out_row;
                float* orow = tout + ((j * kg + ko0) * b->pb + pp) * a.qpad;
                if (nko == 4) {
                    ROW_RB_CASES(4, 3, 1)
                } else if (nko == 2) {
                    ROW_RB_CASES(2, 3, 2)
                } else {
                    ROW_RB_CASES(1, 4, 2)
                }
                pp += nrb;
            }
            ko0 += nko;
        }
    }
    row_write(cv, plan, b, tile, output);
}

/* The epilogue in the write: the depthwise paths apply ReLU/ReLU6 in registers. A residual,
   channel sums, the other activations (an exp or a division per vector, where the pass over
   the block's outputs in cache costs little more: 3x3 14x14x576 SiLU + sums 152 us as a
   separate pass, 161 us in registers) and the generic path go through the block's second
   pass. */
IPX_INLINE void row_compute_fused_body(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                                       float* tile, float* output, const ipx__epilogue* e) {
    const int32_t act = e->activation;
    const row_dw_fn clamp = row_dw_by_isa[cv->isa][1];
    if ((act == IPX_ACTIVATION_RELU || act == IPX_ACTIVATION_RELU6) && clamp && !e->residual && !e->channel_sums &&
        (row_uses_dw3(cv) || row_dw_kind(cv))) {
        clamp(cv, plan, b, tile, output, act == IPX_ACTIVATION_RELU6 ? 6.0f : __builtin_inff());
        return;
    }
    cv->kernel->compute(cv, plan, b, tile, output);
    ipx__epilogue_block(cv, b, output, e);
}

/* The AVX-512 build: each weight FMA broadcasts from memory (no separate vbroadcastss) and
   32 registers hold the block without spills: measured 17-29% faster than the AVX2 build at
   4 and 8 channels per group on Zen 4. */
IPX_FOR_EACH_ISA(IPX__KERNEL_BUILD, ipx__row_kernel, row_exchange_body, row_compute_body, IPX_COMPUTE_TARGET)
#define ROW_FUSED_BUILD(isa, ISA, TARGET, COPY_TARGET, WIDE, ...)                                             \
    TARGET static void row_compute_fused_##isa(const struct ipx_conv* cv, const ipx__plan* plan,              \
                                               const ipx__block* b, float* tile, float* output,               \
                                               const ipx__epilogue* e) {                                      \
        row_compute_fused_body(cv, plan, b, tile, output, e);                                                 \
    }
IPX_FOR_EACH_ISA(ROW_FUSED_BUILD, )
#undef ROW_FUSED_BUILD
/* Each input channel's rows_in rows of stride_w phase rows lie together. */
static void row_scale_input(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b, float* tile,
                            const float* scale) {
    ipx__scale_channel_rows(cv, plan, b, tile, scale, plan->rows_in * cv->d.stride_w * plan->row_len);
}

#define ROW_ENTRY(isa, ISA, ...)                                                                              \
    [ISA] = {.id = IPX_KERNEL_ROW, .pack = ipx__pack_as_is, .plan = row_plan,                                 \
             .exchange = ipx__row_kernel_exchange_##isa, .compute = ipx__row_kernel_compute_##isa,            \
             .compute_fused = row_compute_fused_##isa, .scale_input = row_scale_input},
const ipx__kernel ipx__row_kernel[IPX__ISA_COUNT] = {IPX_FOR_EACH_ISA(ROW_ENTRY, )};
#undef ROW_ENTRY
