/* Winograd kernel: F(2x2, 3x3) for dense 3x3 layers with stride and dilation 1 (ResNets'
   bottleneck and basic blocks, VGG). Each 2x2 output tile comes from a 4x4 input tile d:
   V = B^T d B and U = G g G^T (4x4 each, U packed at create), M = sum over input channels
   of U .* V, and Y = A^T M A. Per tile and input channel that is 16 products for each output
   channel where the direct kernels do 36 (2.25x fewer); the transforms cost additions only.
   (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016.)

   A block (output rows p0..p0+pb of one image, kb output channels) runs in the tile:
     input  [cg][rows_in][row_len]: the channel kernel's padded rows (channel_tile.h), whole
            4-row windows of ceil(pb/2) tile rows; row_len covers ceil(q/2) whole tiles;
     V      [chunks][16][cg][WINO_TILES]: the input tiles transformed, WINO_TILES tiles to a
            chunk (the register block's width), computed once per block;
     M      [16][WINO_TILES][24]: one register block's 16 sums per tile and channel;
     output [pb][q][kb]: channel-last, transposed to NCHW by the channel kernel's write.
   The 16 sums of a chunk of tiles are 16 small matrix products over the input channels,
   vectorised over output channels like the channel kernel (a weight vector load feeds one
   FMA per tile of the chunk, a broadcast V value one per vector). Output channel vectors run
   outermost, so one vector group's transformed weights (16 x cg x 24 floats) stay in L2
   while every chunk of the block reads them.

   The weights ([kg8/8][16][cg][8], zero beyond kg; bias [kg8]) stay resident where create
   packed them, as the other kernels' do; the statistics count the direct convolution's
   FLOPs (the layer's work, not the arithmetic this kernel does). */
#include "channel_tile.h"
#include "epilogue.h"
#include "forward.h"
#include "internal.h"
#include "vec.h"

#define WINO_TILES 8   /* tiles per chunk: the register block's width (and V's innermost run) */
#define WINO_M_STRIDE 24 /* floats per tile in M: up to 3 vectors of 8 output channels */
/* Floats past the input region that a chunk's transform may read: a chunk that ends part way
   along a tile row still transforms WINO_TILES tiles' columns (never stored). */
#define WINO_SLACK (2 * WINO_TILES + 8)
_Static_assert(WINO_TILES == 8, "the input transform works on 8-float vectors of tiles");

bool ipx__winograd_supports(const ipx_conv_desc* d, bool upsampled) {
    return d->g == 1 && d->c >= 8 && d->k >= 8 && d->r == 3 && d->s == 3 && d->stride_h == 1 &&
           d->stride_w == 1 && d->dilation_h == 1 && d->dilation_w == 1 && !upsampled;
}

static int64_t wino_weight_floats(const ipx_conv_desc* d) {
    return ipx__round_up(d->k, 8) * 16 * d->c;
}

/* U = G g G^T for every (output, input) channel pair, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2;
   0 0 1], packed [kg8/8][16][cg][8]. */
static void wino_pack(const struct ipx_conv* cv, const float* weight, const float* bias, float* wpack, float* bpack) {
    static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    const int64_t cg = cv->cg, kg = cv->kg, kg8 = cv->kg8;
    for (int64_t kk = 0; kk < kg8; kk++) {
        for (int64_t c = 0; c < cg; c++) {
            const float* g = kk < kg ? weight + (kk * cg + c) * 9 : NULL; /* NULL: padding channel */
            double gt[4][3]; /* G g */
            for (int a = 0; a < 4; a++)
                for (int s = 0; s < 3; s++)
                    gt[a][s] = g ? G[a][0] * g[s] + G[a][1] * g[3 + s] + G[a][2] * g[6 + s] : 0.0;
            for (int a = 0; a < 4; a++)
                for (int e = 0; e < 4; e++) {
                    const double u = gt[a][0] * G[e][0] + gt[a][1] * G[e][1] + gt[a][2] * G[e][2];
                    wpack[((kk / 8 * 16 + a * 4 + e) * cg + c) * 8 + kk % 8] = (float)u;
                }
        }
        bpack[kk] = (kk < kg && bias) ? bias[kk] : 0.0f;
    }
}

/* Tile rows, tiles per row, tiles and chunks of a block of pb output rows. */
typedef struct wino_shape {
    int64_t tr, tq, tiles, chunks;
} wino_shape;

static wino_shape wino_shape_of(const struct ipx_conv* cv, int64_t pb) {
    wino_shape t = {ipx__div_up(pb, 2), ipx__div_up(cv->q, 2), 0, 0};
    t.tiles = t.tr * t.tq;
    t.chunks = ipx__div_up(t.tiles, WINO_TILES);
    return t;
}

static int64_t wino_v_floats(const struct ipx_conv* cv, int64_t pb) {
    return ipx__smul(ipx__smul(wino_shape_of(cv, pb).chunks, 16 * WINO_TILES), cv->cg);
}

static int64_t wino_plan(const struct ipx_conv* cv, int64_t gb, int64_t kb, int64_t pb, ipx__plan* plan) {
    (void)gb; /* one group */
    const wino_shape t = wino_shape_of(cv, pb);
    const int64_t rows_in = 2 * t.tr + 2, row_len = ipx__round_up(2 * t.tq + 2, 8);
    const int64_t in_rows = ipx__smul(cv->cg, rows_in);
    const int64_t in = ipx__smul(in_rows, row_len) + WINO_SLACK;
    const int64_t work = ipx__align_floats(wino_v_floats(cv, pb)) + 16 * WINO_TILES * WINO_M_STRIDE;
    const int64_t out = ipx__smul(ipx__smul(pb, cv->q), kb);
    const int64_t end = ipx__plan_layout(plan, rows_in, row_len, ipx__smul(in_rows, cv->q), in, work, 0, out);
    /* The weights are read in place and V does not shrink with kb: a block too large for the
       tile gives up rows before output channels (whose V would be computed again per block). */
    if (plan) plan->wt_data = 0;
    return end;
}

static uint64_t wino_exchange_body(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                                   const float* input, float* tile, unsigned loads) {
    return chan_exchange_rows(cv, plan, b, input, tile, loads, 2 * ipx__div_up(b->pb, 2) + 2);
}

/* V for WINO_TILES (8) tiles of a tile row from the column x points at (one channel's 4 rows,
   row_len apart), the first `run` stored at V's column `off` (dst: the chunk's [16][cg][8] at
   the channel). Rows first (t = B^T d) on columns 0-15 and 2-17, whose even and odd columns
   are then each tile's four columns (t B): all in registers, 16 loads and 16 shuffles. (With
   the even and odd columns gathered through the stack the layers ran 1.01-1.07x longer, one
   Zen 4 core, in-process alternation; the transform is 15-17% of the compute either way.) */
IPX_INLINE ipx_v8 wino_even(ipx_v8 a, ipx_v8 b) { return __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14); }
IPX_INLINE ipx_v8 wino_odd(ipx_v8 a, ipx_v8 b) { return __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15); }
IPX_INLINE void wino_input_tiles(const float* x, int64_t row_len, float* dst, int64_t cg_stride, int64_t off,
                                 int64_t run) {
    ipx_v8 t[4][4]; /* [row of B^T d][columns 0-7, 8-15, 2-9, 10-17] */
    for (int w = 0; w < 4; w++) {
        const float* col = x + (w & 1) * 8 + (w >> 1) * 2;
        const ipx_v8 d0 = v8_load(col), d1 = v8_load(col + row_len);
        const ipx_v8 d2 = v8_load(col + 2 * row_len), d3 = v8_load(col + 3 * row_len);
        t[0][w] = d0 - d2;
        t[1][w] = d1 + d2;
        t[2][w] = d2 - d1;
        t[3][w] = d1 - d3;
    }
    for (int a = 0; a < 4; a++) {
        /* tile j's columns 2j, 2j+1, 2j+2, 2j+3 */
        const ipx_v8 e0 = wino_even(t[a][0], t[a][1]), o0 = wino_odd(t[a][0], t[a][1]);
        const ipx_v8 e1 = wino_even(t[a][2], t[a][3]), o1 = wino_odd(t[a][2], t[a][3]);
        const ipx_v8 v[4] = {e0 - e1, o0 + e1, e1 - o0, o0 - o1};
        for (int e = 0; e < 4; e++) {
            float* out = dst + (a * 4 + e) * cg_stride + off;
            if (run == WINO_TILES) {
                v8_store(out, v[e]);
                continue;
            }
            float lanes[8];
            v8_store(lanes, v[e]);
            for (int64_t j = 0; j < run; j++) out[j] = lanes[j];
        }
    }
}

/* The block's V: every tile of its tile rows, chunk by chunk; the last chunk's unused tiles
   zero (their sums are computed, never written). */
IPX_INLINE void wino_transform_input(const struct ipx_conv* cv, const ipx__plan* plan, const wino_shape* t,
                                     const float* in, float* V) {
    const int64_t cg = cv->cg, row_len = plan->row_len, chan = plan->rows_in * row_len;
    const int64_t cstride = cg * WINO_TILES; /* floats between V's 16 matrices in a chunk */
    for (int64_t c = 0; c < cg; c++) {
        for (int64_t i = 0; i < t->tr; i++) {
            const float* x = in + c * chan + 2 * i * row_len;
            for (int64_t j = 0; j < t->tq;) {
                const int64_t tile = i * t->tq + j, chunk = tile / WINO_TILES, off = tile % WINO_TILES;
                const int64_t run = ipx__min(WINO_TILES - off, t->tq - j);
                float* dst = V + chunk * 16 * cstride + c * WINO_TILES;
                wino_input_tiles(x + 2 * j, row_len, dst, cstride, off, run);
                j += run;
            }
        }
    }
    const int64_t used = t->tiles % WINO_TILES;
    if (used)
        for (int64_t e = 0; e < 16; e++)
            for (int64_t c = 0; c < cg; c++)
                memset(V + ((t->chunks - 1) * 16 + e) * cstride + c * WINO_TILES + used, 0,
                       (size_t)(WINO_TILES - used) * sizeof(float));
}

/* QB tiles (from v) x NB vectors of 8 output channels (u, ublock apart), summed over cg input
   channels: one of the 16 matrix products, into M's rows of this e (m). */
IPX_INLINE void wino_micro(const float* v, const float* u, int64_t ublock, int64_t cg, float* m, const int QB,
                           const int NB) {
    ipx_v8 acc[WINO_TILES][3];
    for (int i = 0; i < QB; i++)
        for (int j = 0; j < NB; j++) acc[i][j] = v8_zero();
    for (int64_t c = 0; c < cg; c++, v += WINO_TILES, u += 8) {
        ipx_v8 wv[3];
        for (int j = 0; j < NB; j++) wv[j] = v8_load(u + j * ublock);
        for (int i = 0; i < QB; i++) {
            const float xv = v[i];
            for (int j = 0; j < NB; j++) acc[i][j] += wv[j] * xv;
        }
    }
    for (int i = 0; i < QB; i++)
        for (int j = 0; j < NB; j++) v8_store(m + i * WINO_M_STRIDE + 8 * j, acc[i][j]);
}

/* Y = A^T M A + bias for the chunk's tiles and NB vectors, A^T = [1 1 1 0; 0 1 -1 -1], into
   the channel-last output (pixels of the block's rows and columns only). */
IPX_INLINE void wino_output_tiles(const struct ipx_conv* cv, const ipx__block* b, const wino_shape* t,
                                  const float* M, const float* bias, int64_t chunk, int64_t b8, float* tout,
                                  const int NB) {
    const int64_t q = cv->q, kb = b->kb;
    for (int64_t i = 0; i < WINO_TILES; i++) {
        const int64_t tile = chunk * WINO_TILES + i;
        if (tile >= t->tiles) break;
        const int64_t row = 2 * (tile / t->tq), col = 2 * (tile % t->tq);
        for (int j = 0; j < NB; j++) {
            ipx_v8 m[16];
            for (int e = 0; e < 16; e++) m[e] = v8_load(M + (e * WINO_TILES + i) * WINO_M_STRIDE + 8 * j);
            ipx_v8 a0[4], a1[4];
            for (int c = 0; c < 4; c++) {
                a0[c] = m[c] + m[4 + c] + m[8 + c];
                a1[c] = m[4 + c] - m[8 + c] - m[12 + c];
            }
            const ipx_v8 bv = v8_load(bias + 8 * j);
            const ipx_v8 y[2][2] = {{a0[0] + a0[1] + a0[2] + bv, a0[1] - a0[2] - a0[3] + bv},
                                    {a1[0] + a1[1] + a1[2] + bv, a1[1] - a1[2] - a1[3] + bv}};
            for (int r = 0; r < 2 && row + r < b->pb; r++)
                for (int s = 0; s < 2 && col + s < q; s++)
                    v8_store(tout + ((row + r) * q + col + s) * kb + (b8 + j) * 8, y[r][s]);
        }
    }
}

/* One vector group (NB vectors from b8) over every chunk of the block. */
IPX_INLINE void wino_group(const struct ipx_conv* cv, const ipx__block* b, const wino_shape* t, const float* V,
                           float* M, const float* U, const float* bias, int64_t b8, float* tout, const int NB) {
    const int64_t cg = cv->cg, ublock = 16 * cg * 8, cstride = cg * WINO_TILES;
    for (int64_t chunk = 0; chunk < t->chunks; chunk++) {
        const float* Vc = V + chunk * 16 * cstride;
        for (int e = 0; e < 16; e++)
            wino_micro(Vc + e * cstride, U + e * cg * 8, ublock, cg, M + e * WINO_TILES * WINO_M_STRIDE,
                       WINO_TILES, NB);
        wino_output_tiles(cv, b, t, M, bias, chunk, b8, tout, NB);
    }
}

IPX_INLINE void wino_compute_tile(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                                  float* tile, const int WIDE) {
    const wino_shape t = wino_shape_of(cv, b->pb);
    float* V = tile + plan->w_off;
    float* M = V + ipx__align_floats(wino_v_floats(cv, plan->pb));
    wino_transform_input(cv, plan, &t, tile + plan->in_off, V);
    const int64_t cg = cv->cg, kb = b->kb;
    float* tout = tile + plan->out_off;
    /* AVX-512: 8 tiles x 3 vectors (24 accumulators, 3 weights, a broadcast of 32 registers),
       the last four vectors as 2 + 2; AVX2 and the baseline: 8 x 1 (16 registers). */
    for (int64_t b8 = 0; b8 < kb / 8;) {
        const int64_t left = kb / 8 - b8;
        const int nb = !WIDE ? 1 : left >= 3 && left != 4 ? 3 : left >= 2 ? 2 : 1;
        const float* U = cv->weight + (b->k0 / 8 + b8) * 16 * cg * 8;
        const float* bias = cv->bias + b->k0 + b8 * 8;
        if (nb == 3) wino_group(cv, b, &t, V, M, U, bias, b8, tout, 3);
        else if (nb == 2) wino_group(cv, b, &t, V, M, U, bias, b8, tout, 2);
        else wino_group(cv, b, &t, V, M, U, bias, b8, tout, 1);
        b8 += nb;
    }
}

/* The epilogue in the write, as the channel kernel's (chan_write_fused, channel_tile.h). */
IPX_INLINE void wino_compute_fused_body(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                                        float* tile, float* output, const ipx__epilogue* e, const int WIDE,
                                        const int ISA) {
    wino_compute_tile(cv, plan, b, tile, WIDE);
    chan_write_fused(cv, plan, b, tile, output, e, ISA);
}

#define WINO_BUILD(isa, ISA, TARGET, COPY_TARGET, WIDE, ...)                                                  \
    COPY_TARGET static uint64_t wino_exchange_##isa(const struct ipx_conv* cv, const ipx__plan* plan,        \
                                                    const ipx__block* b, const float* input, float* tile,    \
                                                    unsigned loads) {                                        \
        return wino_exchange_body(cv, plan, b, input, tile, loads);                                         \
    }                                                                                                        \
    TARGET __attribute__((noinline)) static void wino_compute_fused_##isa(                                   \
        const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b, float* tile, float* output,  \
        const ipx__epilogue* e) {                                                                            \
        wino_compute_fused_body(cv, plan, b, tile, output, e, WIDE, ISA);                                    \
    }                                                                                                        \
    static void wino_compute_##isa(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,    \
                                   float* tile, float* output) {                                             \
        static const ipx__epilogue none = {.activation = IPX_ACTIVATION_NONE};                               \
        wino_compute_fused_##isa(cv, plan, b, tile, output, &none);                                          \
    }
IPX_FOR_EACH_ISA(WINO_BUILD, )
#undef WINO_BUILD
#define WINO_ENTRY(isa, ISA, ...)                                                                            \
    [ISA] = {.id = IPX_KERNEL_WINOGRAD, .k_vector = 8, .pack = wino_pack, .plan = wino_plan,                 \
             .exchange = wino_exchange_##isa, .compute = wino_compute_##isa,                                 \
             .compute_fused = wino_compute_fused_##isa, .weight_floats = wino_weight_floats},
const ipx__kernel ipx__winograd_kernel[IPX__ISA_COUNT] = {IPX_FOR_EACH_ISA(WINO_ENTRY, )};
#undef WINO_ENTRY
