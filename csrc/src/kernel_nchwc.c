/* Channel-blocked depthwise kernel for small maps (ONNX Runtime's NCHWc layout, inside one
   block): depthwise 3x3 and 5x5, stride 1 or 2, where the row kernel's 8-wide row vectors
   waste lanes on rows of 7 or 14 and need shifted loads per tap. The exchange transposes the
   block's channels into the tile pixel-major, 16 channels a pixel (one AVX-512 vector, two
   AVX2 ones); every tap is then one aligned vector FMA with a per-channel weight vector, for
   any stride. The results go to the tile's output region in the same layout and are
   transposed back to NCHW in the write, with the epilogue (residual, activation, channel
   sums) applied to each vector on the way.

   Tile layout for a block (gb channels in nb = gb/16 rounded up channel blocks, pb output
   rows of one image):
     input  [nb][rows_in][cols][16]: the padded input rows the block reads (cols =
            (q-1)*stride + K: every column an output reads), zeros in the borders and in
            the lanes of channels past gb;
     weight [nb][K*K][16], bias [nb][16];
     output [nb][pb*q rounded up to 8][16].
   The lanes of channels past gb hold copies of the last channel's input and zero weights
   (finite values whose results are never written). The handle packs the weights once at
   create in the tile's layout, [c/16][K*K][16] and the bias [c/16][16], after a copy in
   PyTorch's layout, which the row kernel reads where a tile is too small for one channel
   block (its fallback). Blocks start at multiples of 16 channels (g_vector). */
#include "epilogue.h"
#include "forward.h"
#include "internal.h"
#include "vec.h"

#define CB 16 /* channels per block */

static int64_t nchwc_cols(const struct ipx_conv* cv) { return (cv->q - 1) * cv->d.stride_w + cv->d.s; }

static int64_t nchwc_plan(const struct ipx_conv* cv, int64_t gb, int64_t kb, int64_t pb, ipx__plan* plan) {
    (void)kb; /* one output channel per group */
    const int64_t nb = ipx__div_up(gb, CB), rows_in = ipx__rows_in(&cv->d, pb), cols = nchwc_cols(cv);
    const int64_t in = ipx__smul(ipx__smul(nb * CB, rows_in), cols);
    const int64_t out = ipx__smul(nb * CB, ipx__round_up(ipx__smul(pb, cv->q), 8));
    return ipx__plan_layout(plan, rows_in, cols, ipx__smul(ipx__smul(gb, rows_in), cv->d.w), in,
                            nb * CB * cv->d.r * cv->d.s, nb * CB, out);
}

/* The blocked copy of the weights and bias in the packed weights (after PyTorch's layout). */
static int64_t nchwc_blocked_off(const ipx_conv_desc* d) { return d->k * d->r * d->s; }

static int64_t nchwc_weight_floats(const ipx_conv_desc* d) {
    return nchwc_blocked_off(d) + ipx__div_up(d->k, CB) * CB * (d->r * d->s + 1);
}

static void nchwc_pack(const struct ipx_conv* cv, const float* weight, const float* bias, float* wpack,
                       float* bpack) {
    const ipx_conv_desc* d = &cv->d;
    const int64_t k = d->k, taps = d->r * d->s, nb = ipx__div_up(k, CB);
    memcpy(wpack, weight, (size_t)(k * taps) * sizeof(float));
    if (bias) memcpy(bpack, bias, (size_t)k * sizeof(float));
    else memset(bpack, 0, (size_t)k * sizeof(float));
    float* blocked = wpack + nchwc_blocked_off(d);
    float* bias_blocked = blocked + nb * taps * CB;
    memset(blocked, 0, (size_t)(nb * CB * (taps + 1)) * sizeof(float));
    for (int64_t c = 0; c < k; c++) {
        for (int64_t t = 0; t < taps; t++) blocked[(c / CB * taps + t) * CB + c % CB] = weight[c * taps + t];
        bias_blocked[c] = bpack[c];
    }
}

/* One row of 8 channels (src[c] + off, w floats each) into the tile: column j to dst + j * CB,
   its 8 channels in lanes 0-7 there, for the columns j < wc that some output reads. Eight
   columns at a time through an 8x8 transpose, the last eight overlapping the previous ones
   (the same values again); a row narrower than 8 read as 8 (the row after it) where that
   stays before `end`, else through a zero-padded copy. */
IPX_INLINE void nchwc_row_in(const float* const src[8], int64_t off, int64_t w, int64_t wc, float* dst,
                             const float* end) {
    for (int64_t j = 0; j < wc; j += 8) {
        ipx_v8 v[8];
        const int64_t j0 = w >= 8 ? ipx__min(j, w - 8) : 0;
        if (w >= 8 || src[7] + off + 8 <= end) {
            for (int c = 0; c < 8; c++) v[c] = v8_load(src[c] + off + j0);
        } else {
            float tmp[8][8] = {{0}};
            for (int c = 0; c < 8; c++)
                for (int64_t i = 0; i < w; i++) tmp[c][i] = src[c][off + i];
            for (int c = 0; c < 8; c++) v[c] = v8_load(tmp[c]);
        }
        v8_transpose8_regs(v);
#pragma GCC unroll 8
        for (int t = 0; t < 8; t++)
            if (j0 + t < wc) v8_store(dst + (j0 + t) * CB, v[t]);
    }
}

/* Rows [lo, hi) of 8 whole channels (src: channel 0's row 0, the others plane floats apart;
   every column of a row read) into the tile (dst: row 0's column 0, rows dst_row apart):
   nchwc_row_in without its per-chunk tests, the 8 sources one base and a stride. SHORT: rows
   under 8 wide, each read as 8 floats (the caller checks that they stay in the input) and
   stored w columns. */
IPX_INLINE void nchwc_rows_in8(const float* src, int64_t plane, int64_t w, int64_t lo, int64_t hi, float* dst,
                               int64_t dst_row, const int SHORT) {
    for (int64_t r = lo; r < hi; r++) {
        const float* s = src + r * w;
        float* d = dst + r * dst_row;
        for (int64_t j = 0; j < w; j += 8) {
            const int64_t j0 = SHORT ? 0 : ipx__min(j, w - 8);
            ipx_v8 v[8];
            for (int c = 0; c < 8; c++) v[c] = v8_load(s + c * plane + j0);
            v8_transpose8_regs(v);
            for (int t = 0; t < 8; t++)
                if (!SHORT || t < w) v8_store(d + (j0 + t) * CB, v[t]);
        }
    }
}

/* Exchange: the block's input rows transposed into the tile (always: blocks of one worker
   rarely share them), its weights and bias when `loads` asks. */
IPX_INLINE uint64_t nchwc_exchange_body(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                                        const float* input, float* tile, unsigned loads) {
    const ipx_conv_desc* d = &cv->d;
    const int64_t h = d->h, w = d->w, pl = d->pad_left, cols = plan->row_len, plane = h * w;
    const int64_t rows = ipx__rows_in(d, b->pb), row0 = b->p0 * d->stride_h - d->pad_top;
    const int64_t lo = ipx__min(rows, ipx__max(0, -row0)), hi = ipx__max(lo, ipx__min(rows, h - row0));
    const int64_t wc = ipx__max(0, ipx__min(w, cols - pl)); /* input columns some output reads */
    const int64_t block_floats = plan->rows_in * cols * CB, nb = ipx__div_up(b->gb, CB);
    const ipx_v8 zero = v8_zero();
    const float* end = input + d->n * d->c * plane;
    const float* first = input + (b->n * d->c + b->g0) * plane + row0 * w;
    /* Border columns are the same in every block of a run: zeroed on a fresh tile, never
       written after; padding rows (above and below the image) are zeroed per block. */
    if (loads & IPX__FRESH_TILE)
        for (int64_t i = 0; i < ipx__div_up(plan->gb, CB) * plan->rows_in; i++) {
            float* row = tile + plan->in_off + i * cols * CB;
            for (int64_t j = 0; j < pl * CB; j += 8) v8_store(row + j, zero);
            for (int64_t j = (pl + wc) * CB; j < cols * CB; j += 8) v8_store(row + j, zero);
        }
    for (int64_t cb = 0; cb < nb; cb++) {
        float* blk = tile + plan->in_off + cb * block_floats;
        for (int64_t i = 0; i < lo * cols * CB; i += 8) v8_store(blk + i, zero);
        for (int64_t i = hi * cols * CB; i < rows * cols * CB; i += 8) v8_store(blk + i, zero);
        for (int half = 0; half < 2; half++) {
            const int64_t c0 = cb * CB + half * 8, nc = ipx__min(8, b->gb - c0);
            if (nc <= 0) break;
            const float* base = first + c0 * plane;
            if (nc == 8 && wc == w && hi > lo && (w >= 8 || base + 7 * plane + (hi - 1) * w + 8 <= end)) {
                if (w >= 8) nchwc_rows_in8(base, plane, w, lo, hi, blk + pl * CB + half * 8, cols * CB, 0);
                else nchwc_rows_in8(base, plane, w, lo, hi, blk + pl * CB + half * 8, cols * CB, 1);
                continue;
            }
            const float* src[8];
            for (int c = 0; c < 8; c++) src[c] = first + (c0 + ipx__min(c, nc - 1)) * plane;
            for (int64_t r = lo; r < hi; r++) nchwc_row_in(src, r * w, w, wc, blk + (r * cols + pl) * CB + half * 8, end);
        }
    }
    uint64_t copied = (uint64_t)(b->gb * (hi - lo) * w);
    if (loads & IPX__LOAD_WEIGHTS) { /* packed in the tile's layout: two copies */
        const int64_t taps = d->r * d->s;
        const float* blocked = cv->weight + nchwc_blocked_off(d);
        memcpy(tile + plan->w_off, blocked + b->g0 * taps, (size_t)(nb * taps * CB) * sizeof(float));
        memcpy(tile + plan->b_off, blocked + ipx__div_up(d->k, CB) * taps * CB + b->g0,
               (size_t)(nb * CB) * sizeof(float));
        copied += (uint64_t)(b->gb * (taps + 1));
    }
    return copied;
}

/* RB output pixels of one channel block along an output row: acc = bias + sum over the taps
   of input vector x weight vector. x: the first pixel's input origin (tap 0, 0). */
IPX_INLINE void nchwc_pixels(const float* x, const float* wt, ipx_v16 bias, float* out, int64_t cols, const int K,
                             const int S, const int RB) {
    ipx_v16 acc[8];
    for (int j = 0; j < RB; j++) acc[j] = bias;
    for (int ri = 0; ri < K; ri++)
        for (int si = 0; si < K; si++) {
            const ipx_v16 wv = v16_load(wt + (ri * K + si) * CB);
            for (int j = 0; j < RB; j++) acc[j] += v16_load(x + (ri * cols + j * S + si) * CB) * wv;
        }
    for (int j = 0; j < RB; j++) v16_store(out + j * CB, acc[j]);
}

/* The block's convolution into the tile's output region: per channel block and output row,
   register blocks of RB pixels (7: the rows of 7, 14, 28 and 56 of the networks' small maps
   in whole blocks), the rest one pixel at a time. */
IPX_INLINE void nchwc_conv(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b, float* tile,
                           const int K, const int S, const int RB) {
    const int64_t q = cv->q, cols = plan->row_len, nb = ipx__div_up(b->gb, CB);
    const int64_t out_block = ipx__round_up(plan->pb * q, 8) * CB, in_block = plan->rows_in * cols * CB;
    for (int64_t cb = 0; cb < nb; cb++) {
        const float* x = tile + plan->in_off + cb * in_block;
        const float* wt = tile + plan->w_off + cb * K * K * CB;
        const ipx_v16 bias = v16_load(tile + plan->b_off + cb * CB);
        float* out = tile + plan->out_off + cb * out_block;
        for (int64_t oh = 0; oh < b->pb; oh++) {
            const float* xr = x + oh * S * cols * CB;
            float* orow = out + oh * q * CB;
            int64_t ow = 0;
            for (; ow + RB <= q; ow += RB) nchwc_pixels(xr + ow * S * CB, wt, bias, orow + ow * CB, cols, K, S, RB);
            for (; ow < q; ow++) nchwc_pixels(xr + ow * S * CB, wt, bias, orow + ow * CB, cols, K, S, 1);
        }
    }
}

/* y with its first 8 - fresh lanes zeroed. */
IPX_INLINE ipx_v8 nchwc_last_lanes(ipx_v8 y, int64_t fresh) {
    typedef int32_t i8 __attribute__((vector_size(32)));
    const i8 lane = {0, 1, 2, 3, 4, 5, 6, 7};
    i8 bits;
    memcpy(&bits, &y, sizeof bits);
    bits &= lane >= (int32_t)(8 - fresh);
    memcpy(&y, &bits, sizeof y);
    return y;
}

/* One channel's 8 pixels (v, from the transposed tile) to o: y = act(v + residual r) (the
   epilogue pass's operations per lane, so its bits), its last `fresh` lanes added to *acc
   when summing (fewer than 8: the vector overlaps the previous one); m < 8: the first m
   pixels only, summed into *tail. */
IPX_INLINE void nchwc_out8(ipx_v8 v, float* o, const float* r, int64_t m, int64_t fresh, bool sum, ipx_v8* acc,
                           float* tail, const int ACT, const int ISA) {
    if (m == 8) {
        const ipx_v8 y = v8_activation(r ? v + v8_load(r) : v, ACT, ISA);
        if (sum) *acc += fresh == 8 ? y : nchwc_last_lanes(y, fresh);
        v8_store(o, y);
    } else {
        float tmp[8] = {0};
        for (int64_t j = 0; r && j < m; j++) tmp[j] = r[j];
        v8_store(tmp, v8_activation(r ? v + v8_load(tmp) : v, ACT, ISA));
        for (int64_t j = 0; j < m; j++) o[j] = tmp[j], *tail += tmp[j];
    }
}

/* Pixels i0..i0+7 of 8 channels (lanes 0-7 of the tile output rows at t, CB apart) to their
   NCHW rows (nchwc_out8's m and fresh). The channel loop is unrolled where the activation is
   a few instructions and UNROLL (measured 2-6% faster on 7x7 and 14x14 layers); the
   exp-based ones, unrolled, tripled the file's compile time. */
IPX_INLINE void nchwc_write8_at(const float* t, int64_t i0, int64_t m, int64_t fresh, float* dst, const float* res,
                                int64_t plane, int nc, bool sum, ipx_v8 acc[8], float tail[8], const int ACT,
                                const int UNROLL, const int ISA) {
    ipx_v8 v[8];
    for (int j = 0; j < 8; j++) v[j] = v8_load(t + (i0 + j) * CB); /* the region holds whole 8s */
    v8_transpose8_regs(v);
    if (ACT == IPX_ACTIVATION_SIGMOID || ACT == IPX_ACTIVATION_SILU || !UNROLL) {
        for (int c = 0; c < nc; c++)
            nchwc_out8(v[c], dst + c * plane + i0, res ? res + c * plane + i0 : NULL, m, fresh, sum, &acc[c], &tail[c],
                       ACT, ISA);
    } else {
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            if (c >= nc) break;
            nchwc_out8(v[c], dst + c * plane + i0, res ? res + c * plane + i0 : NULL, m, fresh, sum, &acc[c], &tail[c],
                       ACT, ISA);
        }
    }
}

/* Write with the epilogue: pixels [0, npix) of 8 channels to their NCHW rows (dst + c * plane,
   nc of the 8 real), with the residual at res laid out alike, and each channel's sum of
   results added to sums[c]. With the cheap activations, whole vectors first, then a last part
   vector moved back to end at npix where npix >= 8 (rewriting a few outputs with the same
   bits, summed once; every channel of a 7x7 or 14x14 map has one): 3x3 7x7x960 ReLU6
   measured 1.17x faster. SiLU and sigmoid keep one loop over part and whole vectors: the
   split measured 4% slower on 5x5 7x7x1152 with SiLU and sums. */
IPX_INLINE void nchwc_write8(const float* t, int64_t npix, float* dst, const float* res, int64_t plane, int nc,
                             float* sums, const int ACT, const int ISA) {
    ipx_v8 acc[8];
    float tail[8] = {0};
    for (int c = 0; c < 8; c++) acc[c] = v8_zero();
    if (ACT == IPX_ACTIVATION_SIGMOID || ACT == IPX_ACTIVATION_SILU) {
        for (int64_t i = 0; i < npix; i += 8)
            nchwc_write8_at(t, i, ipx__min(8, npix - i), 8, dst, res, plane, nc, sums, acc, tail, ACT, 0, ISA);
    } else {
        const int64_t whole = npix / 8 * 8, fresh = npix - whole;
        for (int64_t i = 0; i < whole; i += 8)
            nchwc_write8_at(t, i, 8, 8, dst, res, plane, nc, sums, acc, tail, ACT, 1, ISA);
        if (fresh) /* moved back, or the first m = fresh pixels of a map under 8 */
            nchwc_write8_at(t, npix >= 8 ? npix - 8 : 0, npix >= 8 ? 8 : fresh, npix >= 8 ? fresh : 8, dst, res,
                            plane, nc, sums, acc, tail, ACT, 0, ISA);
    }
    if (!sums) return;
    const ipx_v8 total = v8_reduce8(acc);
    for (int c = 0; c < nc; c++) ipx__add_float(sums + c, total[c] + tail[c]);
}

IPX_INLINE void nchwc_write(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b, const float* tile,
                            float* output, const ipx__epilogue* e, const int ACT, const int ISA) {
    const int64_t q = cv->q, npix = b->pb * q, plane = cv->p * q;
    const int64_t out_block = ipx__round_up(plan->pb * q, 8) * CB;
    const int64_t first = ((b->n * cv->d.k + b->g0) * cv->p + b->p0) * q; /* channel g0's first output */
    for (int64_t c0 = 0; c0 < b->gb; c0 += 8) {
        const float* t = tile + plan->out_off + c0 / CB * out_block + c0 % CB;
        const int64_t off = first + c0 * plane;
        nchwc_write8(t, npix, output + off, e && e->residual ? e->residual + off : NULL, plane,
                     (int)ipx__min(8, b->gb - c0), e && e->channel_sums ? e->channel_sums + b->n * cv->d.k + b->g0 + c0 : NULL,
                     ACT, ISA);
    }
}

IPX_INLINE void nchwc_compute_fused_body(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                                         float* tile, float* output, const ipx__epilogue* e, const int WIDE,
                                         const int ISA) {
    const int RB = WIDE ? 7 : 3; /* accumulators: 7 of AVX-512's 32 registers, 6 of AVX2's 16 */
    const ipx_conv_desc* d = &cv->d;
    if (d->r == 3 && d->stride_w == 1) nchwc_conv(cv, plan, b, tile, 3, 1, RB);
    else if (d->r == 3) nchwc_conv(cv, plan, b, tile, 3, 2, RB);
    else if (d->stride_w == 1) nchwc_conv(cv, plan, b, tile, 5, 1, RB);
    else nchwc_conv(cv, plan, b, tile, 5, 2, RB);
    switch (e ? e->activation : IPX_ACTIVATION_NONE) {
    case IPX_ACTIVATION_RELU: nchwc_write(cv, plan, b, tile, output, e, IPX_ACTIVATION_RELU, ISA); break;
    case IPX_ACTIVATION_RELU6: nchwc_write(cv, plan, b, tile, output, e, IPX_ACTIVATION_RELU6, ISA); break;
    case IPX_ACTIVATION_SIGMOID: nchwc_write(cv, plan, b, tile, output, e, IPX_ACTIVATION_SIGMOID, ISA); break;
    case IPX_ACTIVATION_SILU: nchwc_write(cv, plan, b, tile, output, e, IPX_ACTIVATION_SILU, ISA); break;
    case IPX_ACTIVATION_HARDSWISH: nchwc_write(cv, plan, b, tile, output, e, IPX_ACTIVATION_HARDSWISH, ISA); break;
    default: nchwc_write(cv, plan, b, tile, output, e, IPX_ACTIVATION_NONE, ISA); break;
    }
}

IPX_INLINE void nchwc_compute_body(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                                   float* tile, float* output, const int WIDE) {
    /* no epilogue: no max or min for the ISA to choose */
    nchwc_compute_fused_body(cv, plan, b, tile, output, NULL, WIDE, IPX_ISA_PORTABLE);
}

/* Where it is faster than the row kernel (one worker, Zen 4, best of 3 x 1000 runs, interleaved
   with the row kernel; a C driver looping ipx_conv_run_fused). AVX-512: 5x5 and stride 2 on
   every map measured (5x5: 7x7x1152 1.40x, 14x14x672 1.58x, 28x28x240 1.43x; stride 2:
   14x14x576 2.29x, 56x56x144 1.29x, 112x112x96 1.40x); 3x3 stride 1 only on small maps,
   where the row kernel's 8-wide rows waste lanes (7x7x1152 1.32x, 10x10x960 1.04x, but
   14x14x576 0.89x, 28x28x192 0.75x: its 3x3 path keeps three output rows' taps in
   registers). AVX2, where a 16-channel vector is two registers and 16 of them hold fewer
   pixels: 3x3 stride 2 up to 28x28 outputs only (14x14x576 2.08x, 56x56x144 1.08x,
   112x112x96 0.78x; 5x5 0.55-0.82x). The portable build: everywhere (1.6-3.2x). */
#define NCHWC_MAX_PIXELS (56 * 56)
#define NCHWC_MAX_PIXELS_3X3_S1 (8 * 8)
#define NCHWC_MAX_PIXELS_AVX2 (28 * 28)

bool ipx__nchwc_supports(const ipx_conv_desc* d, bool upsampled, int64_t pixels, int32_t isa) {
    const int64_t K = d->r, S = d->stride_h;
    if (!(d->c == d->g && d->k == d->g && !upsampled && d->r == d->s && (K == 3 || K == 5) && d->stride_w == S &&
          (S == 1 || S == 2) && d->dilation_h == 1 && d->dilation_w == 1 && d->pad_top < K && d->pad_left < K))
        return false;
    if (isa == IPX_ISA_AVX2) return K == 3 && S == 2 && pixels <= NCHWC_MAX_PIXELS_AVX2;
    return pixels <= (K == 3 && S == 1 ? NCHWC_MAX_PIXELS_3X3_S1 : NCHWC_MAX_PIXELS);
}

static void nchwc_scale_input(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b, float* tile,
                              const float* scale) {
    const int64_t block_floats = plan->rows_in * plan->row_len * CB;
    for (int64_t cb = 0; cb < ipx__div_up(b->gb, CB); cb++) {
        float s[CB] = {0};
        for (int64_t l = 0; l < CB && cb * CB + l < b->gb; l++) s[l] = scale[b->n * cv->d.c + b->g0 + cb * CB + l];
        const ipx_v16 sv = v16_load(s);
        float* x = tile + plan->in_off + cb * block_floats;
        for (int64_t i = 0; i < block_floats; i += CB) v16_store(x + i, v16_load(x + i) * sv);
    }
}

IPX_FOR_EACH_ISA(IPX__KERNEL_BUILD, ipx__nchwc_kernel, nchwc_exchange_body, nchwc_compute_body, IPX_COMPUTE_TARGET)
#define NCHWC_FUSED_BUILD(isa, ISA, TARGET, COPY_TARGET, WIDE, ...)                                          \
    TARGET static void nchwc_compute_fused_##isa(const struct ipx_conv* cv, const ipx__plan* plan,           \
                                                 const ipx__block* b, float* tile, float* output,            \
                                                 const ipx__epilogue* e) {                                   \
        nchwc_compute_fused_body(cv, plan, b, tile, output, e, WIDE, ISA);                                   \
    }
IPX_FOR_EACH_ISA(NCHWC_FUSED_BUILD, )
#undef NCHWC_FUSED_BUILD
#define NCHWC_ENTRY(isa, ISA, ...)                                                                            \
    [ISA] = {.id = IPX_KERNEL_ROW, .pack = nchwc_pack, .weight_floats = nchwc_weight_floats,                  \
             .plan = nchwc_plan, .exchange = ipx__nchwc_kernel_exchange_##isa,                                \
             .compute = ipx__nchwc_kernel_compute_##isa, .compute_fused = nchwc_compute_fused_##isa,          \
             .g_vector = CB, .fallback = &ipx__row_kernel[ISA],                                               \
             .scale_input = nchwc_scale_input},
const ipx__kernel ipx__nchwc_kernel[IPX__ISA_COUNT] = {IPX_FOR_EACH_ISA(NCHWC_ENTRY, )};
#undef NCHWC_ENTRY
