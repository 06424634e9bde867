/* Channel kernel: groups with 8 or more input and 8 or more output channels. Vectorised over output
   channels: a register block of QB output pixels x NB*8 output channels accumulates
   broadcast input values times weight vectors, so every weight load feeds QB FMAs and every
   input broadcast feeds NB.

   Tile layout for a block (one group, kb output channels, pb output rows, one image):
     input  [cg][rows_in][row_len]: zero-padded copy of the rows and columns the block reads
            (row_len = (q-1)*stride_w + (s-1)*dilation_w + 1), so loops never test borders;
     output [pb][q][kb]: channel-last results, transposed to NCHW in the write phase.
   The weights ([g][kg8/8][cg][r][s][8], zero beyond kg; bias [g][kg8]) stay resident where
   create packed them and the compute reads them in place, as the pointwise kernel's do (an
   IPU keeps a layer's weights in its tiles; the statistics still count a block's weights as
   brought in). Copied into the tile, they took room from the input: 512 -> 512 channels,
   3x3, stride 2 on 14 x 14 ran in blocks of 8 output channels x 4 rows, so every image read
   and copied its 9.4 MB of weights twice. */
#include "epilogue.h"
#include "forward.h"
#include "internal.h"
#include "channel_tile.h"
#include "tile_rows.h"
#include "vec.h"

/* Register blocks: at most QB pixels x NB vectors of 8 channels. Tap by tap (any kernel), a
   block holds QB * NB accumulators, NB weight vectors and a broadcast: AVX2 (16 registers)
   6 x 2, 12 x 1 or 4 x 3 (3x3 on short rows and at stride 2), AVX-512VL (32) 14 x 2 or
   16 x 1. The 3x3 block keeps 3 * NB weight vectors: AVX2 11 x 1 (4 x 2 fits, but its 8
   accumulators wait on the FMA latency: AVX2 runs 3x3 layers in 11 x 1 blocks or tap by tap,
   chan_compute_tile), AVX-512VL 8 x 2 or 16 x 1 (measured on Zen 4: 3x3 blocks of 9 or 10 x 2
   spill and run 2.5x slower; 16 x 1 beats 8 x 1 by 5-15%). */
#define CHAN_NB 3
#define CHAN_QB 6
#define CHAN_QB1 12
#define CHAN_QB_WIDE 14
#define CHAN_QB1_WIDE 16
#define CHAN_K3_QB 4
#define CHAN_K3_QB1 11
#define CHAN_K3_QB_WIDE 8
#define CHAN_K3_QB1_WIDE 16
#define CHAN_QB3 4 /* 3 vectors (AVX2 3x3, short rows, stride 2): 12 accumulators, 3 weights, a broadcast */
#define CHAN_K3_QB3_WIDE 7 /* 3 vectors (AVX-512VL 3x3 stride 1, rows under 10 pixels): 21 accumulators */
#define CHAN_S2_CHUNK_FLOATS 3456 /* weights of an input-channel chunk (3x3 stride 2): 16 x 9 taps x 24 */
#define CHAN_K3_CHUNK_FLOATS (32 * 1024) /* the same for 3x3 stride 1 on short rows: 128 KB, in L2 */
#define CHAN_QB_LIMIT 16 /* the largest of them: sizes the accumulator array */

static int64_t chan_plan(const struct ipx_conv* cv, int64_t gb, int64_t kb, int64_t pb,
                         ipx__plan* plan) {
    const ipx_conv_desc* d = &cv->d;
    int64_t rows_in = ipx__rows_in(d, pb);
    /* (rounded up to 8 so the exchange can fill rows with whole vectors) */
    int64_t row_len = ipx__round_up((cv->q - 1) * d->stride_w + (d->s - 1) * d->dilation_w + 1, 8);
    int64_t in_rows = ipx__smul(ipx__smul(gb, cv->cg), rows_in);
    int64_t in = ipx__smul(in_rows, row_len);
    int64_t out = ipx__smul(ipx__smul(ipx__smul(gb, pb), cv->q), kb);
    return ipx__plan_layout(plan, rows_in, row_len, ipx__smul(in_rows, cv->q), in, 0, 0, out);
}

void ipx__pack_k8(const struct ipx_conv* cv, const float* weight, const float* bias, float* wpack,
                  float* bpack) {
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

/* What the register blocks read; fixed for a block. */
typedef struct chan_args {
    int64_t ch_stride;  /* floats between input channels in the tile */
    int64_t tap_row;    /* floats between kernel rows: dilation_h * row_len */
    int64_t dw, sw;     /* dilation_w, stride_w */
    int64_t cg, r, s;   /* cg: the input channels this pass sums (a chunk of the group's) */
    int64_t accumulate; /* nonzero: start from the partial sums in the tile's output, not the bias */
    int64_t wblock;     /* floats between the packed weights of two 8-channel vectors */
    int64_t ostride;    /* floats between output pixels in the tile output: kb */
} chan_args;

/* Kernel shapes with their own register-block code (chan_compute_body picks one). */
enum { CHAN_ANY, CHAN_3X3, CHAN_1X1, CHAN_3X3_S2, CHAN_3X3_TAPS, CHAN_7X7_S2 };

/* QB output pixels (consecutive along the row) x NB*8 channels, any kernel: tap by tap, each
   weight vector load feeds QB FMAs and each input broadcast NB. SHAPE CHAN_1X1: a 1x1
   kernel with stride_w 1 (padded pointwise layers), so the tap loops vanish and the loop over
   input channels is the only loop; CHAN_3X3_S2: 3x3, stride_w 2, dilation_w 1 (the
   downsampling layers of ResNets), taps unrolled at compile time (with runtime r, s and
   stride the tap loop's overhead held these layers at 60-85% of the stride-1 block's speed);
   CHAN_3X3_TAPS: 3x3, stride_w and dilation_w 1, taps at compile time too (AVX2's blocks,
   and AVX-512's 3-vector one on short rows); in it and in AVX2's 3-vector stride-2 block,
   each tap's loads kept apart by a compiler barrier (without it the compiler shares a column's
   broadcast between taps and spills them). One Zen 3 core against runtime taps, minimum of
   20-40 runs alternating in one process: 256 -> 256 on 14 x 14 1.03-1.09x faster (batch 1
   and 4), 512 -> 512 on 7 x 7 1.01-1.09x. CHAN_7X7_S2: 7x7, stride_w 2, dilation_w 1 (ResNet's
   stem, 3 -> 64 on 224 x 224), taps at compile time with the barrier: one Zen 4 core against
   runtime taps, in-process alternation, minimum of 12-25 runs, 1.12-1.17x faster at batch 1
   and 4 on AVX-512, 1.21-1.30x in the AVX2 build (without the barrier 0.56-0.62x). */
IPX_INLINE void chan_micro(const chan_args* a, const float* x, const float* w, const float* bias,
                           float* out, const int QB, const int NB, const int SHAPE) {
    ipx_v8 acc[CHAN_QB_LIMIT][CHAN_NB];
    for (int i = 0; i < QB; i++)
        for (int j = 0; j < NB; j++)
            acc[i][j] = a->accumulate ? v8_load(out + i * a->ostride + 8 * j) : v8_load(bias + 8 * j);
    const int K1 = SHAPE == CHAN_1X1, S2 = SHAPE == CHAN_3X3_S2, T3 = SHAPE == CHAN_3X3_TAPS;
    const int S7 = SHAPE == CHAN_7X7_S2;
    const int64_t r = K1 ? 1 : S2 || T3 ? 3 : S7 ? 7 : a->r, s = K1 ? 1 : S2 || T3 ? 3 : S7 ? 7 : a->s;
    const int64_t dw = K1 ? 0 : S2 || T3 || S7 ? 1 : a->dw, sw = K1 ? 1 : S2 || S7 ? 2 : T3 ? 1 : a->sw;
    for (int64_t ci = 0; ci < a->cg; ci++) {
        for (int64_t ri = 0; ri < r; ri++) {
            const float* xr = x + ci * a->ch_stride + ri * a->tap_row;
            const float* wr = w + (ci * r + ri) * s * 8;
            for (int64_t si = 0; si < s; si++) {
                const float* xs = xr + si * dw;
                ipx_v8 wv[CHAN_NB];
                for (int j = 0; j < NB; j++) wv[j] = v8_load(wr + si * 8 + j * a->wblock);
                for (int i = 0; i < QB; i++) {
                    const float xv = xs[i * sw];
                    for (int j = 0; j < NB; j++) acc[i][j] += wv[j] * xv;
                }
                if (T3 || (S2 && NB == 3) || S7) __asm__ volatile("" : : : "memory");
            }
        }
    }
    for (int i = 0; i < QB; i++)
        for (int j = 0; j < NB; j++) v8_store(out + i * a->ostride + 8 * j, acc[i][j]);
}

/* The same block for a 3x3 kernel with stride_w and dilation_w 1 (most grouped and dense
   layers), input-stationary: per kernel row, the three taps' weight vectors stay in
   registers and each of the QB + 2 input columns is broadcast once for the (up to) three
   output pixels it feeds, so the only loop left is over input channels. (Tap by tap, the
   compiler merges the repeated loads of a column across taps and spills them.) */
IPX_INLINE void chan_micro_k3(const chan_args* a, const float* x, const float* w,
                              const float* bias, float* out, const int QB, const int NB) {
    ipx_v8 acc[CHAN_QB_LIMIT][CHAN_NB];
    for (int i = 0; i < QB; i++)
        for (int j = 0; j < NB; j++)
            acc[i][j] = a->accumulate ? v8_load(out + i * a->ostride + 8 * j) : v8_load(bias + 8 * j);
    for (int64_t ci = 0; ci < a->cg; ci++, x += a->ch_stride, w += 9 * 8) {
        for (int ri = 0; ri < 3; ri++) {
            const float* xr = x + ri * a->tap_row;
            ipx_v8 wv[3][CHAN_NB];
            for (int si = 0; si < 3; si++)
                for (int j = 0; j < NB; j++) wv[si][j] = v8_load(w + (ri * 3 + si) * 8 + j * a->wblock);
            for (int u = 0; u < QB + 2; u++) {
                const float xv = xr[u];
                for (int si = 0; si < 3; si++) {
                    const int i = u - si;
                    if (i >= 0 && i < QB)
                        for (int j = 0; j < NB; j++) acc[i][j] += wv[si][j] * xv;
                }
            }
        }
    }
    for (int i = 0; i < QB; i++)
        for (int j = 0; j < NB; j++) v8_store(out + i * a->ostride + 8 * j, acc[i][j]);
}

/* One chunk of qb pixels (1 <= qb <= QB_MAX): a register block of exactly that width. */
#define CHAN_CASE(QB)                                                                        \
    case QB:                                                                                 \
        if ((QB) > QB_MAX) break;                                                            \
        if (SHAPE == CHAN_3X3) chan_micro_k3(a, x, w, bias, out, (QB) <= QB_MAX ? (QB) : 1, NB); \
        else chan_micro(a, x, w, bias, out, (QB) <= QB_MAX ? (QB) : 1, NB, SHAPE);            \
        break;
IPX_INLINE void chan_chunk(const chan_args* a, const float* x, const float* w, const float* bias,
                           float* out, int64_t qb, const int NB, const int QB_MAX, const int SHAPE) {
    switch (qb) {
        CHAN_CASE(1) CHAN_CASE(2) CHAN_CASE(3) CHAN_CASE(4) CHAN_CASE(5) CHAN_CASE(6)
        CHAN_CASE(7) CHAN_CASE(8) CHAN_CASE(9) CHAN_CASE(10) CHAN_CASE(11) CHAN_CASE(12)
        CHAN_CASE(13) CHAN_CASE(14) CHAN_CASE(15) CHAN_CASE(16)
    default: break;
    }
}
#undef CHAN_CASE

/* One output row: q pixels cut into equal chunks of at most QB_MAX, so no chunk is a short
   tail with too few accumulators to hide the FMA latency (q = 14 with 3x3 blocks of at most
   8 pixels: 7 + 7, where fixed blocks of 6 left a 2-pixel tail at half speed). */
IPX_INLINE void chan_row(const chan_args* a, const float* x, const float* w, const float* bias,
                         float* out, int64_t q, const int NB, const int QB_MAX, const int SHAPE) {
    const int64_t chunks = ipx__div_up(q, QB_MAX), base = q / chunks, extra = q % chunks;
    for (int64_t c = 0, q0 = 0; c < chunks; c++) {
        const int64_t qb = base + (c < extra);
        chan_chunk(a, x + q0 * a->sw, w, bias, out + q0 * a->ostride, qb, NB, QB_MAX, SHAPE);
        q0 += qb;
    }
}

IPX_INLINE void chan_compute_tile(const struct ipx_conv* cv, const ipx__plan* plan,
                                  const ipx__block* b, float* tile, const int WIDE) {
    const int QB2_MAX = WIDE ? CHAN_QB_WIDE : CHAN_QB, QB1_MAX = WIDE ? CHAN_QB1_WIDE : CHAN_QB1;
    const int K3_QB2_MAX = WIDE ? CHAN_K3_QB_WIDE : CHAN_K3_QB;
    const int K3_QB1_MAX = WIDE ? CHAN_K3_QB1_WIDE : CHAN_K3_QB1;
    const ipx_conv_desc* d = &cv->d;
    const int64_t cg = cv->cg, r = d->r, s = d->s, q = cv->q, kb = b->kb;
    const int64_t row_len = plan->row_len;
    const chan_args a = {
        .ch_stride = plan->rows_in * row_len,
        .tap_row = d->dilation_h * row_len,
        .dw = d->dilation_w, .sw = d->stride_w,
        .cg = cg, .r = r, .s = s,
        .wblock = cg * r * s * 8,
        .ostride = kb,
    };
    const int shape = r == 3 && s == 3 && d->dilation_w == 1 && d->stride_w == 1 ? CHAN_3X3
                    : r == 1 && s == 1 && d->stride_w == 1                       ? CHAN_1X1
                    : r == 3 && s == 3 && d->dilation_w == 1 && d->stride_w == 2 ? CHAN_3X3_S2
                    : r == 7 && s == 7 && d->dilation_w == 1 && d->stride_w == 2 ? CHAN_7X7_S2
                                                                                 : CHAN_ANY;
    /* AVX2 3x3 stride-1 rows of 22+ pixels (two whole 11-pixel blocks): one vector of 8
       channels, 11 accumulators, not 2 x 4 = 8, which keeps the FMA units waiting on their
       latency; shorter rows: tap by tap in 2 vectors x up to 6 pixels (rows of 14: 5 + 5 + 4
       pixels, 8-10 accumulators, where the 3x3 block has 4 + 4 + 3 + 3 or 7 + 7). One Zen 3
       core, 3x3 c -> c, one image, minimum of 15 runs, the 3x3 block's 2 x 4 before: 64 on
       56 x 56 2.69 -> 2.56 ms, 128 on 28 x 28 2.67 -> 2.43, 256 on 14 x 14 2.95 -> 2.65, 512 on
       7 x 7 3.16 -> 3.14 (ONNX Runtime's NCHWc kernel 2.36, 2.32, 2.31, 2.58). */
    const bool k3_one_vector = !WIDE && q >= 2 * CHAN_K3_QB1;
    /* AVX2 3x3 stride 1 on rows of fewer than 10 output pixels (7 x 7 maps: ResNet-50's layer4)
       and 3x3 stride 2: 3 vectors x up to 4 pixels, tap by tap (7 = 4 + 3: 12 and 9
       accumulators, where 2 vectors had 8 and 6). One Zen 3 core, minimum of 10-40 runs (thread
       CPU time) alternating in one process: 512 -> 512 on 7 x 7 1.15x, 1.15x, 1.34x faster;
       stride 2 from 14 x 14 1.06-1.08x, from 28 x 28 1.03-1.07x, from 56 x 56 1.03-1.07x (batch 1
       and 4; a compiler barrier between its taps, as in CHAN_3X3_TAPS, 0-2% of it); stride-1
       rows of 14 (256 on 14 x 14) 1.00 and 0.96x, so they keep 2 vectors. */
    const bool k3_three_vectors = !WIDE && ((shape == CHAN_3X3 && q < 10) || shape == CHAN_3X3_S2);
    /* AVX-512 3x3 stride 1 on rows under 10 output pixels (7 x 7 maps) likewise: 3 vectors x
       up to 7 pixels tap by tap (21 accumulators, 3 weights, a broadcast: 25 of the 32
       registers), where the input-stationary 2-vector block held 14 accumulators on a 7-pixel
       row (its 3-vector form, 21 accumulators and 9 weights, spills: 0.50-0.59x); a group's
       vectors go in threes, the last four as two twos, never a lone vector (32 channels as
       3 + 1 ran 0.96x). One Zen 4 core, in-process alternation, minimum / median of 20-25
       runs: 512 -> 512 on 7 x 7 1.05-1.07x / 1.04-1.12x faster at batch 4 and 1; grouped, 2048
       channels of 64 a group 1.02x, 960 of 24 1.04-1.06x; 14 x 14 and larger maps 0.99-1.03x
       (not used there). */
    const bool wide_three = WIDE && shape == CHAN_3X3 && q < 10;
    /* AVX2 3x3 stride 2: a block's input channels in chunks whose weights stay in L1 while
       every 4-pixel block of the block's rows reads them (the partial sums wait in the tile's
       output). Over all the channels, a vector's weights (36 KB at 128 channels) came from L2
       again for every 4 pixels. One Zen 3 core, in-process alternation, minimum of 8-25 runs:
       from 56 x 56 (128 channels) 1.04x, 1.15x, 1.26x (batch 4) faster, from 28 x 28 1.07x,
       1.13x, from 14 x 14 1.13x; the stride-1 7 x 7 layers ran 0.94-0.98x with it. */
    const bool s2_chunks = !WIDE && shape == CHAN_3X3_S2;
    /* AVX2 3x3 stride 1 on rows under 10 pixels: chunks of input channels whose weights stay in
       L2 (CHAN_K3_CHUNK_FLOATS) while the block's rows read them. Over all the channels, a
       vector group's weights (442 KB at 512 channels) came from L3 again for every output row,
       so 512 -> 512 on 7 x 7 ran slower per image at batch 4 (one block per image, 7 rows) than
       at batch 1. One Zen 3 core, in-process alternation, minimum / median of 15: batch 4
       14.2 / 15.3 -> 12.8 / 13.2 ms and 13.0 / 15.0 -> 11.3 / 12.1 ms, batch 1 2.72 -> 2.64 ms,
       two workers at batch 1 1.68 / 1.87 -> 1.52 / 1.57 ms (L1-sized chunks of 3456 floats
       were 0-5% slower; 14 x 14 and larger maps gained nothing, their groups' weights fit L2). */
    const bool k3_chunks = !WIDE && k3_three_vectors && shape == CHAN_3X3;
    for (int64_t j = 0; j < b->gb; j++) {
        const float* tin = tile + plan->in_off + j * cg * a.ch_stride;
        /* whole groups (gb > 1) or one group's channel range: contiguous either way */
        const size_t first = (size_t)((b->g0 + j) * cv->kg8 + b->k0);
        const float* tw = cv->weight + first * (size_t)(cg * r * s);
        const float* tb = cv->bias + first;
        float* tout = tile + plan->out_off + j * b->pb * q * kb;
        for (int64_t b8 = 0; b8 < kb / 8;) {
            const int64_t left = kb / 8 - b8;
            const int nb = wide_three ? (left >= 3 && left != 4 ? 3 : left >= 2 ? 2 : 1)
                         : k3_three_vectors && left >= 3                         ? 3
                         : left >= 2 && !(shape == CHAN_3X3 && k3_one_vector)    ? 2
                                                                                 : 1;
            const int64_t chunk = s2_chunks ? ipx__max(1, CHAN_S2_CHUNK_FLOATS / (9 * 8 * nb))
                                : k3_chunks ? ipx__max(1, CHAN_K3_CHUNK_FLOATS / (9 * 8 * nb)) : cg;
            for (int64_t ci0 = 0; ci0 < cg; ci0 += chunk) {
                chan_args ac = a;
                ac.cg = ipx__min(chunk, cg - ci0);
                ac.accumulate = ci0 > 0;
                const float* wb = tw + b8 * a.wblock + ci0 * r * s * 8;
                for (int64_t pp = 0; pp < b->pb; pp++) {
                    const float* x = tin + ci0 * a.ch_stride + pp * d->stride_h * row_len;
                    float* out = tout + pp * q * kb + b8 * 8;
#define CHAN_ROW(NB, QB_MAX, SHAPE) chan_row(&ac, x, wb, tb + b8 * 8, out, q, NB, QB_MAX, SHAPE)
                    /* each (shape, nb) its register block, every argument a compile-time constant */
                    switch (shape) {
                    case CHAN_3X3: /* 3 vectors (short rows) and AVX2's 2 tap by tap, the rest input-stationary */
                        if (nb == 3) CHAN_ROW(3, WIDE ? CHAN_K3_QB3_WIDE : CHAN_QB3, CHAN_3X3_TAPS);
                        else if (nb == 2 && !WIDE) CHAN_ROW(2, QB2_MAX, CHAN_3X3_TAPS);
                        else if (nb == 2) CHAN_ROW(2, K3_QB2_MAX, CHAN_3X3);
                        else CHAN_ROW(1, K3_QB1_MAX, CHAN_3X3);
                        break;
                    case CHAN_3X3_S2:
                        if (nb == 3) CHAN_ROW(3, CHAN_QB3, CHAN_3X3_S2);
                        else if (nb == 2) CHAN_ROW(2, K3_QB2_MAX, CHAN_3X3_S2);
                        else CHAN_ROW(1, K3_QB1_MAX, CHAN_3X3_S2);
                        break;
                    case CHAN_1X1:
                        if (nb == 2) CHAN_ROW(2, QB2_MAX, CHAN_1X1);
                        else CHAN_ROW(1, QB1_MAX, CHAN_1X1);
                        break;
                    case CHAN_7X7_S2:
                        if (nb == 2) CHAN_ROW(2, QB2_MAX, CHAN_7X7_S2);
                        else CHAN_ROW(1, QB1_MAX, CHAN_7X7_S2);
                        break;
                    default:
                        if (nb == 2) CHAN_ROW(2, QB2_MAX, CHAN_ANY);
                        else CHAN_ROW(1, QB1_MAX, CHAN_ANY);
                    }
#undef CHAN_ROW
                }
            }
            b8 += nb;
        }
    }
}

/* The epilogue in the write (chan_write_fused, channel_tile.h). */
IPX_INLINE void chan_compute_fused_body(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                                        float* tile, float* output, const ipx__epilogue* e, const int WIDE,
                                        const int ISA) {
    chan_compute_tile(cv, plan, b, tile, WIDE);
    chan_write_fused(cv, plan, b, tile, output, e, ISA);
}

/* The AVX-512 build (WIDE): AVX-512VL encodings of the same 8-wide vectors, whose 32
   registers hold blocks twice as wide. The plain compute is the fused one with no epilogue
   (one copy of the register blocks per build: this file's compile time). */
#define CHAN_BUILD(isa, ISA, TARGET, COPY_TARGET, WIDE, ...)                                                 \
    COPY_TARGET static uint64_t chan_exchange_##isa(const struct ipx_conv* cv, const ipx__plan* plan,        \
                                                    const ipx__block* b, const float* input, float* tile,    \
                                                    unsigned loads) {                                        \
        return chan_exchange_rows(cv, plan, b, input, tile, loads, ipx__rows_in(&cv->d, b->pb));                                  \
    }                                                                                                        \
    TARGET __attribute__((noinline)) static void chan_compute_fused_##isa(                                   \
        const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b, float* tile, float* output,  \
        const ipx__epilogue* e) {                                                                            \
        chan_compute_fused_body(cv, plan, b, tile, output, e, WIDE, ISA);                                    \
    }                                                                                                        \
    static void chan_compute_##isa(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,    \
                                   float* tile, float* output) {                                             \
        static const ipx__epilogue none = {.activation = IPX_ACTIVATION_NONE};                               \
        chan_compute_fused_##isa(cv, plan, b, tile, output, &none);                                          \
    }
IPX_FOR_EACH_ISA(CHAN_BUILD, )
#undef CHAN_BUILD
#define CHAN_ENTRY(isa, ISA, ...)                                                                            \
    [ISA] = {.id = IPX_KERNEL_CHANNEL, .k_vector = 8, .pack = ipx__pack_k8, .plan = chan_plan,               \
             .exchange = chan_exchange_##isa, .compute = chan_compute_##isa,                                 \
             .compute_fused = chan_compute_fused_##isa},
const ipx__kernel ipx__channel_kernel[IPX__ISA_COUNT] = {IPX_FOR_EACH_ISA(CHAN_ENTRY, )};
#undef CHAN_ENTRY
