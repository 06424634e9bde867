/* Pointwise kernel: the channel kernel's path for 1x1 convolutions without padding (the
   expand and project layers of MobileNets, the bottleneck layers of ResNets), >= 8 input and
   >= 8 output channels per group, any stride. A 1x1 convolution is a matrix product per
   image, Y[k][pixels] = W[k][c] x X[c][pixels], and in NCHW a block's pixels of one channel
   are one contiguous run of the input and of the output. So the tile holds the input as a
   [c][pixels] matrix (stride subsampled by the exchange: the compute never sees it) and the
   register block is MR output channels x NV vectors of 8 pixels: every input vector load
   feeds MR FMAs, every weight broadcast NV, and results go straight to the NCHW output with
   no transpose. (The channel kernel's channel-last block pays an 8 x 8 transpose per 64
   outputs, as much as the FMAs when a group has 16 input channels.)

   The matrix lies in panels, as a GEMM packs its B operand: a vector of pixels (8 or 16, the
   build's) for every channel in turn, so that a register block's loads walk the tile front to
   back, one vector a channel from each of its NV panels. In rows ([c][pixels], what fused
   pairs still read) each channel's vectors were a row apart: one Zen 3 core (AVX2), one
   image, compute only, 576 -> 96 on 14 x 14 went 271 -> 230 us, 960 -> 320 on 7 x 7 381 ->
   310 us, 144 -> 24 on 56 x 56 254-346 -> 223-234 us (a standalone loop of the same blocks: 88
   -> 102 GFLOP/s at K = 576, 87 -> 101 at K = 960, 98 -> 99 at K = 96).

   Tile layout for a block (gb groups, kb output channels, pb output rows, one image):
     input  [gb][npad / P][cg * P (+ 16)]: the block's npix = pb*q pixels of each channel in
            panels of P (plan->panel: the build's vector), npad = npix rounded up to 16, the
            last panel's lanes past npix zero; panels pw_panel_floats apart.
   The weights stay resident where create packed them ([g][kg8/8][cg][8], the channel
   kernel's packing with r = s = 1; bias [g][kg8]), as an IPU keeps a layer's weights in its
   tiles across supersteps and exchanges only activations: a block's weights are a contiguous
   slice of that packing, which the compute reads in place. Copying them into the tile first
   read and wrote every weight once more per block: on one Zen 4 core, 320 -> 1280 on 7 x 7
   took 406-411 us with the copy and 372 without, 960 -> 160 on 7 x 7 at batch 4 630 -> 578 us,
   576 -> 96 on 14 x 14 222 -> 211 us. The statistics still count a block's weights as brought
   in when a worker starts on them (what the worker reads from outside its tile). The input rows
   are copied into the tile even at stride 1, where the compute could read them in place (4-10%
   faster on projection layers, one core, Dec 2026: 144 -> 24 on 56 x 56 0.230 -> 0.206 ms):
   the copy is the worker's exchange, what makes its block a tile's local work. */
#include "epilogue.h"
#include "forward.h"
#include "internal.h"
#include "tile_rows.h"
#include "vec.h"

/* Register blocks: MR output channels x NV vectors of pixels, MR*NV accumulators plus NV
   input vectors and a broadcast. AVX-512 (32 registers of 16 floats): PW_WIDE_MR x
   PW_WIDE_NV; AVX2 (16 of 8): 4 x 3 = 12 accumulators, the most that leaves room for 3 inputs. */
#define PW_WIDE_MR 4
#define PW_WIDE_NV 3
#define PW_MR 4
#define PW_NV 3
/* the larger of the two builds' blocks (array sizes in pointwise_micro.h) */
#define PW_MR_MAX (PW_MR > PW_WIDE_MR ? PW_MR : PW_WIDE_MR)
#define PW_NV_MAX (PW_NV > PW_WIDE_NV ? PW_NV : PW_WIDE_NV)

/* Floats per tile input row: the block's pixels rounded up to whole vectors of 16; a row
   whose length is a multiple of 512 floats (2 KiB) gets 16 more, so that consecutive channels do not
   all fall into the same L1 sets. */
static int64_t pw_row_len(int64_t npix) {
    int64_t npad = ipx__round_up(npix, 16);
    return npad % 512 == 0 ? npad + 16 : npad;
}

/* Pixels per input panel: the build's vector (what its compute loads per pixel vector). */
static int64_t pw_panel(const struct ipx_conv* cv) {
    return cv->isa == IPX_ISA_AVX512 ? 16 : 8;
}

/* Floats from a panel to the next: cg * P, one cache line more where that is a multiple of 1 KiB
   (cg a multiple of 32 at P = 8: every ResNet and most MobileNet layers). The exchange writes a
   channel pair's line into every panel in turn, and panels 4 KiB (or a multiple) apart all map
   to one of L1's 64 sets; with the line more, consecutive panels fall into different sets. One
   Zen 3 core, the two layouts alternating run by run in one process, minimum of 40-60 runs: the
   exchange 8-15% shorter (256 -> 64 on 56 x 56 189-228 -> 168-200 us, 384 -> 64 on 14 x 14 at
   batch 4 72-76 -> 61-65 us, 1024 -> 256 on 14 x 14 61 -> 55 us), the layers 0.5-1.3% faster;
   192 -> 32 on 28 x 28 gained nothing. */
static int64_t pw_panel_floats(int64_t cg, int64_t P) {
    return cg * P % 256 == 0 ? cg * P + 16 : cg * P;
}

static int64_t pw_plan(const struct ipx_conv* cv, int64_t gb, int64_t kb, int64_t pb, ipx__plan* plan) {
    /* a group's panels: its channels x the block's pixels rounded up to whole panels */
    const int64_t npix = ipx__smul(pb, cv->q), npad = ipx__round_up(npix, 16), P = pw_panel(cv);
    const int64_t rows = ipx__smul(gb, cv->cg), panel_floats = pw_panel_floats(cv->cg, P);
    const int64_t in = ipx__smul(ipx__smul(gb, npad / P), panel_floats);
    (void)kb; /* the weights stay resident: not in the tile */
    const int64_t end = ipx__plan_layout(plan, 1, npad, ipx__smul(rows, npix), in, 0, 0, 0);
    if (plan) {
        plan->panel = P;
        plan->panel_floats = panel_floats;
    }
    return end;
}

/* Floats from a group's panels to the next group's in the tile (a plan with panels): its
   row_len pixels in panels of P, panel_floats apart. The exchange and the compute both use it. */
IPX_INLINE int64_t pw_group_floats(const ipx__plan* plan) {
    return plan->row_len / plan->panel * plan->panel_floats;
}

/* Output rows of the block from one input channel (output row pp reads input row
   (p0 + pp) * stride_h, every stride_w-th column) into its panels (vstep floats apart, P
   pixels each), times f: runs that stay inside a panel. */
IPX_INLINE void pw_copy_rows(float* dst, int64_t vstep, int64_t P, const float* plane, const struct ipx_conv* cv,
                             const ipx__block* b, float f) {
    const ipx_conv_desc* d = &cv->d;
    const int64_t q = cv->q, w = d->w, sw = d->stride_w;
    const ipx_v8 fv = v8_bcast(f);
    int64_t lane = 0;
    for (int64_t pp = 0; pp < b->pb; pp++) {
        const float* src = plane + (b->p0 + pp) * d->stride_h * w;
        for (int64_t j = 0; j < q;) {
            const int64_t end = j + ipx__min(q - j, P - lane);
            if (sw == 2) /* even lanes of two vectors while they stay inside the row (2j + 16 <= w) */
                for (; j + 8 <= end && 2 * j + 16 <= w; j += 8, lane += 8)
                    v8_store(dst + lane, __builtin_shufflevector(v8_load(src + 2 * j), v8_load(src + 2 * j + 8),
                                                                 0, 2, 4, 6, 8, 10, 12, 14) * fv);
            for (; j < end; j++, lane++) dst[lane] = src[j * sw] * f;
            if (lane == P) {
                lane = 0;
                dst += vstep;
            }
        }
    }
}

/* The block's input channels into the tile's panels, each multiplied by scale[its index in
   the block] as it is copied when scale is not NULL (a squeeze-excite scale: in registers on
   the way in, where a second pass over the tile read and wrote every input float again: 480 ->
   80 on 14 x 14 at batch 4, one core, exchange 44 -> 72 us with the pass). */
IPX_INLINE uint64_t pw_exchange_scaled_body(const struct ipx_conv* cv, const ipx__plan* plan,
                                            const ipx__block* b, const float* input, float* tile,
                                            unsigned loads, const float* scale) {
    const ipx_conv_desc* d = &cv->d;
    const int64_t cg = cv->cg, npix = b->pb * cv->q, nch = b->gb * cg;
    const int64_t P = plan->panel, vstep = plan->panel_floats; /* between a channel's consecutive panels */
    const int64_t plane_len = d->h * d->w;
    uint64_t copied = 0;
    if (loads & IPX__LOAD_INPUT) {
        /* rows p0.. are one run when an output row is a whole input row: not so in a backward
           data geometry whose forward pass padded only on the right (its output gradient's rows
           are wider than the input gradient's: the extra columns are cropped) */
        const bool dense = d->stride_h == 1 && d->stride_w == 1 && cv->q == d->w;
        for (int64_t ci = 0; ci < nch;) {
            /* with panels of 8 pixels two channels fill a 64-byte line: copied together, panel
               by panel, so that each line is written whole (a channel at a time wrote half of it,
               the other half a channel later, after a large block had pushed it out of L1) */
            const int64_t nc = dense && P == 8 && ci % cg + 1 < cg ? 2 : 1;
            const float* plane = input + (b->n * d->c + b->g0 * cg + ci) * plane_len;
            float* dst = tile + plan->in_off + ci / cg * pw_group_floats(plan) + ci % cg * P;
            /* x * 1 is x: one loop with or without a scale */
            const float f0 = scale ? scale[ci] : 1.0f, f1 = scale && nc == 2 ? scale[ci + 1] : 1.0f;
            if (dense) {
                const float* src = plane + b->p0 * d->w;
                /* the look-ahead (tile_rows.h), inline: with 2 workers, medians of 3-5 processes,
                   exchange 256 -> 64 on 56 x 56 at batch 4 987 -> 602 us (wall 2584 -> 2290 us),
                   512 -> 128 on 28 x 28 347 -> 242 us, 144 -> 24 on 56 x 56 65 -> 48 us; 7 x 7
                   maps unchanged */
                const int64_t ahead = ipx__prefetch_ahead(ci + nc - 1, nch, plane_len);
                const ipx_v8 fv0 = v8_bcast(f0), fv1 = v8_bcast(f1);
                float* out = dst;
                int64_t i = 0;
                for (; i + P <= npix; i += P, out += vstep) { /* a line of the channels ahead per panel */
                    __builtin_prefetch(src + ahead + i, 0, 3);
                    for (int64_t l = 0; l < P; l += 8) v8_store(out + l, v8_load(src + i + l) * fv0);
                    if (nc == 2) {
                        __builtin_prefetch(src + plane_len + ahead + i, 0, 3);
                        v8_store(out + 8, v8_load(src + plane_len + i) * fv1);
                    }
                }
                __builtin_prefetch(src + ahead + npix - 1, 0, 3);
                for (int64_t l = 0; i + l < npix; l++) out[l] = src[i + l] * f0;
                for (int64_t l = 0; nc == 2 && i + l < npix; l++) out[P + l] = src[plane_len + i + l] * f1;
            } else { /* (a prefetch here measured no faster) */
                pw_copy_rows(dst, vstep, P, plane, cv, b, f0);
            }
            if (npix % P) { /* the last panel's lanes past the block's pixels: zeros the compute reads */
                float* last = dst + npix / P * vstep;
                for (int64_t t = 0; t < nc; t++)
                    for (int64_t l = npix % P; l < P; l++) last[t * P + l] = 0.0f;
            }
            ci += nc;
        }
    }
    if (loads & IPX__LOAD_INPUT) /* the block's pixels (the panels' zero lanes are the tile's own) */
        copied += (uint64_t)(nch * npix);
    if (loads & IPX__LOAD_WEIGHTS) /* read in place by the compute (resident weights) */
        copied += (uint64_t)(b->gb * b->kb * (cv->cg + 1));
    return copied;
}

IPX_INLINE uint64_t pw_exchange_body(const struct ipx_conv* cv, const ipx__plan* plan,
                                     const ipx__block* b, const float* input, float* tile,
                                     unsigned loads) {
    return pw_exchange_scaled_body(cv, plan, b, input, tile, loads, NULL);
}

/* One pixel (x: its first channel in the tile, the next xk floats on) x up to 4 packed blocks of 8
   channels (w8 and bias 8 * cg and 8 floats apart): the last pixel or two of a strip, whose
   vector would be mostly empty (7 x 7 maps: 49 pixels, 1 in the 7th vector). Each channel's
   sum runs in pw_micro's order (bias, then input channels in turn), so a pixel's result does
   not depend on where a block boundary puts it (fused pairs cut blocks differently); the
   blocks' independent chains hide the FMA latency. The epilogue as pw_micro's, the results
   added to sums[channel] (floats, when not NULL). */
IPX_INLINE void pw_tail_pixel(const float* x, int64_t xk, const float* w8, const float* bias,
                              int64_t cg, float* out, const float* res, float* sums, int64_t plane,
                              int64_t kleft, const int NB, const int32_t ACT, const int ISA) {
    ipx_v8 acc[4];
    for (int j = 0; j < NB; j++) acc[j] = v8_load(bias + 8 * j);
    for (int64_t c = 0; c < cg; c++) {
        const float xv = x[c * xk];
        for (int j = 0; j < NB; j++) acc[j] += v8_load(w8 + j * 8 * cg + c * 8) * xv;
    }
    for (int j = 0; j < NB; j++) {
        float tmp[8], rtmp[8] = {0};
        const int64_t mn = ipx__min(8, kleft - 8 * j);
        if (res)
            for (int64_t m = 0; m < mn; m++) rtmp[m] = res[(8 * j + m) * plane];
        ipx_v8 a = acc[j];
        if (res) a += v8_load(rtmp);
        v8_store(tmp, v8_activation(a, ACT, ISA));
        for (int64_t m = 0; m < mn; m++) {
            out[(8 * j + m) * plane] = tmp[m];
            if (sums) sums[8 * j + m] += tmp[m];
        }
    }
}

/* Loop nest over a block, as a blocked GEMM's: strips of pixels whose input panel (K x
   strip, at most PW_STRIP_FLOATS) stays in L2 while every output channel reads it, so the
   input is read from memory once and the outputs stream out; within a strip, one register
   block's MR output channels at a time, their weights in L1 and their MR output planes
   written front to back by the strip's register blocks. Measured on one Zen 4 core: sweeps
   of 16 channels ran 16 -> 96 at 112 x 112 at 0.85x, of all channels (96 planes at once)
   at 0.5x; the AVX2 build with 8-channel sweeps (two blocks of 4) at 0.65x. */
#define PW_STRIP_FLOATS (32 * 1024)
/* A strip's last few pixels go to pw_tail_pixel rather than a mostly empty vector: up to 2
   of 8 (measured), up to PW_WIDE_TAIL of 16. */
#define PW_TAIL 2
#define PW_WIDE_TAIL 8

#define V ipx_v8
#define VL 8
#define F(name) v8_##name
#define PW_T_MR PW_MR
#define PW_T_NV PW_NV
#define PW_T_TAIL PW_TAIL
#include "pointwise_micro.h"
#define V ipx_v16
#define VL 16
#define F(name) v16_##name
#define PW_T_MR PW_WIDE_MR
#define PW_T_NV PW_WIDE_NV
#define PW_T_TAIL PW_WIDE_TAIL
#include "pointwise_micro.h"

/* A build's compute by its WIDE flag (0 or 1, as IPX_FOR_EACH_ISA passes it): the 8-float
   loop nest or the 16-float one, chosen by the preprocessor so that a build compiles only
   its own (the 16-float one split into SSE pieces tripled the portable build's compile time). */
#define PW_CAT_(a, b) a##b
#define PW_CAT(a, b) PW_CAT_(a, b)
#define PW_VEC_0 v8_
#define PW_VEC_1 v16_
#define PW_WIDTH(WIDE, name) PW_CAT(PW_CAT(PW_VEC_, WIDE), name)
/* (no activation: no max or min for an ISA to choose) */
#define pw_compute_body(cv, plan, b, tile, output, WIDE) \
    PW_WIDTH(WIDE, pw_compute_epilogue)(cv, plan, b, tile, output, NULL, IPX_ACTIVATION_NONE, IPX_ISA_PORTABLE)

IPX_FOR_EACH_ISA(IPX__KERNEL_BUILD, ipx__pointwise_kernel, pw_exchange_body, pw_compute_body, IPX_COMPUTE_TARGET)
/* ReLU6 alone as a pass over the block's output after the plain compute, in the builds of 16
   vector registers, where the block is whole planes (one run: the pass has one tail) of at most
   PW_EPILOGUE_AFTER_FLOATS (Zen 3's L2). In the register block's write the activation costs the
   FMA loop registers (GCC then reads input vectors as memory operands or spills): 1.2-1.3x the
   plain run's time, the pass 1.06-1.15x. One Zen 3 core, in-process alternation, minimum of 30
   runs, the write against the pass: 64 -> 384 on 14 x 14 1.15x faster (batch 1 and 4), 96 ->
   576 on 14 x 14 1.08x, 160 -> 960 on 7 x 7 1.14x (two workers 1.10-1.23x); where the blocks are
   rows of 28 x 28 to 112 x 112 maps (one pass per channel, past L2) it was 0.96-1.07x, ReLU's
   write costs 1.03x, and SiLU, a residual or channel sums gained nothing from the pass, so those
   keep the write. */
#define PW_EPILOGUE_AFTER_FLOATS (128 * 1024)
static bool pw_epilogue_after(const struct ipx_conv* cv, const ipx__block* b, const ipx__epilogue* e) {
    if (e->activation != IPX_ACTIVATION_RELU6 || e->residual || e->channel_sums) return false;
    return b->pb == cv->p && b->gb * ipx__min(b->kb, cv->kg - b->k0) * b->pb * cv->q <= PW_EPILOGUE_AFTER_FLOATS;
}
#define PW_FUSED_BUILD(isa, ISA, TARGET, COPY_TARGET, WIDE, ...)                                          \
    TARGET static void pw_compute_fused_##isa(const struct ipx_conv* cv, const ipx__plan* plan,           \
                                              const ipx__block* b, float* tile, float* output,            \
                                              const ipx__epilogue* e) {                                   \
        if (!WIDE && pw_epilogue_after(cv, b, e)) {                                                       \
            ipx__pointwise_kernel_compute_##isa(cv, plan, b, tile, output);                               \
            ipx__epilogue_block(cv, b, output, e);                                                        \
            return;                                                                                       \
        }                                                                                                 \
        PW_WIDTH(WIDE, pw_compute_fused_body)(cv, plan, b, tile, output, e, ISA);                         \
    }
IPX_FOR_EACH_ISA(PW_FUSED_BUILD, )
#undef PW_FUSED_BUILD
/* Blocks of fewer pixels waste the kernel's pixel vectors and strips: one Zen 4 core, batch 1,
   64 -> 384 on 14 x 14 took 96 us in blocks of 4+ rows (56+ pixels) or any channel split down
   to 48 channels, 113 us in blocks of 2 rows, 124 us in single rows; 160 -> 960 on 7 x 7 153 us
   whole, 185 us in blocks of 4 rows; maps of 28 x 28 and more did not care (blocks >= 112
   pixels). Below 256 pixels a block splits its channels instead. */
#define PW_MIN_BLOCK_PIXELS 256
#define PW_SCALED_BUILD(isa, ISA, TARGET, COPY_TARGET, WIDE, ...)                                         \
    COPY_TARGET static uint64_t pw_exchange_scaled_##isa(const struct ipx_conv* cv, const ipx__plan* plan, \
                                                         const ipx__block* b, const float* input,          \
                                                         float* tile, unsigned loads, const float* scale) { \
        return pw_exchange_scaled_body(cv, plan, b, input, tile, loads, scale);                             \
    }
IPX_FOR_EACH_ISA(PW_SCALED_BUILD, )
#undef PW_SCALED_BUILD
#define PW_ENTRY(isa, ISA, TARGET, COPY_TARGET, WIDE, ...)                                                \
    [ISA] = {IPX_KERNEL_CHANNEL, 8, ipx__pack_k8, pw_plan, ipx__pointwise_kernel_exchange_##isa,           \
             ipx__pointwise_kernel_compute_##isa, pw_compute_fused_##isa, PW_MIN_BLOCK_PIXELS,             \
             .exchange_scaled = pw_exchange_scaled_##isa},
const ipx__kernel ipx__pointwise_kernel[IPX__ISA_COUNT] = {IPX_FOR_EACH_ISA(PW_ENTRY, )};
#undef PW_ENTRY

/* Dense layers with few input channels (a network's stem: 3 -> 32 channels, 3x3, stride 2)
   as the same matrix product, over K = cg*r*s: the exchange lowers the block's input into
   the tile as im2col rows [gb][cg][r][s][npad] (row (ci, ri, si): for each of the block's
   pixels, the value tap (ri, si) of channel ci reads, zero in the padding), the order of
   the packed weights [g][kg8/8][cg][r][s][8], and the compute above runs on it unchanged.
   With 3 input channels the direct kernels have nothing to vectorise over but output rows
   or channels one tap at a time; here every im2col vector feeds MR FMAs. */
static int64_t im2col_plan(const struct ipx_conv* cv, int64_t gb, int64_t kb, int64_t pb, ipx__plan* plan) {
    const int64_t taps = cv->d.r * cv->d.s, npix = ipx__smul(pb, cv->q), npad = pw_row_len(npix);
    const int64_t rows = ipx__smul(ipx__smul(gb, cv->cg), taps);
    (void)kb; /* the weights stay resident, as the pointwise kernel's */
    return ipx__plan_layout(plan, taps, npad, ipx__smul(rows, npix), ipx__smul(rows, npad), 0, 0, 0);
}

/* Where one tap column's pixels read inside a row of w columns: pixel j reads column
   j*sw + off, inside the row for j in [lo, hi). */
typedef struct im2col_span {
    int64_t off, lo, hi;
} im2col_span;

static im2col_span im2col_span_for(int64_t q, int64_t w, int64_t off, int64_t sw) {
    const int64_t lo = off >= 0 ? 0 : ipx__min(q, ipx__div_up(-off, sw));
    const int64_t hi = ipx__max(lo, ipx__min(q, off >= w ? 0 : ipx__div_up(w - off, sw)));
    return (im2col_span){off, lo, hi};
}

/* q pixels of one im2col row: dst[j] = src[j*sw + off] for j in the span, zero elsewhere
   (everywhere when src is NULL: a padding row). Strides 1 and 2 copy whole vectors, the
   last one overlapping the one before rather than going scalar (stride 2: the odd lanes of
   the 16 values ending at the last one read, so that nothing past it is read). */
IPX_INLINE void im2col_row(float* dst, const float* src, int64_t q, im2col_span sp, int64_t sw) {
    int64_t j = 0;
    if (src != NULL) {
        const float* s0 = src + sp.off;
        for (; j < sp.lo; j++) dst[j] = 0.0f;
        if (sw == 1 && sp.hi - sp.lo >= 8) {
            for (; j + 8 <= sp.hi; j += 8) v8_store(dst + j, v8_load(s0 + j));
            v8_store(dst + sp.hi - 8, v8_load(s0 + sp.hi - 8));
            j = sp.hi;
        } else if (sw == 2 && sp.hi - sp.lo >= 8) {
            /* vectors while the 16 values they read stay inside the row */
            for (; j + 8 < sp.hi; j += 8)
                v8_store(dst + j, __builtin_shufflevector(v8_load(s0 + 2 * j), v8_load(s0 + 2 * j + 8),
                                                          0, 2, 4, 6, 8, 10, 12, 14));
            const int64_t e = 2 * (sp.hi - 8) - 1; /* s0[e + 1], s0[e + 3] ..: the last 8 pixels */
            if (e + sp.off >= 0) { /* s0[e] is inside the row too (else: scalar) */
                v8_store(dst + sp.hi - 8, __builtin_shufflevector(v8_load(s0 + e), v8_load(s0 + e + 8),
                                                                  1, 3, 5, 7, 9, 11, 13, 15));
                j = sp.hi;
            }
        }
        for (; j < sp.hi; j++) dst[j] = s0[j * sw];
    }
    for (; j < q; j++) dst[j] = 0.0f;
}

IPX_INLINE uint64_t im2col_exchange_body(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                                         const float* input, float* tile, unsigned loads) {
    const ipx_conv_desc* d = &cv->d;
    const int64_t q = cv->q, npix = b->pb * q, npad = plan->row_len, K = cv->cg * d->r * d->s;
    uint64_t copied = 0;
    if (loads & IPX__LOAD_INPUT) {
        for (int64_t si = 0; si < d->s; si++) {
            const im2col_span sp = im2col_span_for(q, d->w, si * d->dilation_w - d->pad_left, d->stride_w);
            for (int64_t ci = 0; ci < b->gb * cv->cg; ci++) {
                const float* plane = input + (b->n * d->c + b->g0 * cv->cg + ci) * d->h * d->w;
                for (int64_t ri = 0; ri < d->r; ri++) {
                    float* dst = tile + plan->in_off + ((ci * d->r + ri) * d->s + si) * npad;
                    for (int64_t pp = 0; pp < b->pb; pp++) {
                        const int64_t up = (b->p0 + pp) * d->stride_h - d->pad_top + ri * d->dilation_h;
                        im2col_row(dst + pp * q, ipx__src_row(cv, plane, up), q, sp, d->stride_w);
                    }
                    for (int64_t i = npix; i < npad; i++) dst[i] = 0.0f;
                }
            }
        }
        /* every input value enters the tile once per tap that reads it */
        copied += (uint64_t)(b->gb * K * npad);
    }
    if (loads & IPX__LOAD_WEIGHTS) /* read in place by the compute (resident weights) */
        copied += (uint64_t)(b->gb * b->kb * (K + 1));
    return copied;
}

#define IM2COL_BUILD(isa, ISA, TARGET, COPY_TARGET, WIDE, ...)                                             \
    COPY_TARGET static uint64_t im2col_exchange_##isa(const struct ipx_conv* cv, const ipx__plan* plan,    \
                                                      const ipx__block* b, const float* input, float* tile, \
                                                      unsigned loads) {                                    \
        return im2col_exchange_body(cv, plan, b, input, tile, loads);                                      \
    }
IPX_FOR_EACH_ISA(IM2COL_BUILD, )
#undef IM2COL_BUILD
#define IM2COL_ENTRY(isa, ISA, TARGET, COPY_TARGET, WIDE, ...)                                             \
    [ISA] = {IPX_KERNEL_GEMM, 8, ipx__pack_k8, im2col_plan, im2col_exchange_##isa,                         \
             ipx__pointwise_kernel_compute_##isa, pw_compute_fused_##isa, PW_MIN_BLOCK_PIXELS},
const ipx__kernel ipx__im2col_kernel[IPX__ISA_COUNT] = {IPX_FOR_EACH_ISA(IM2COL_ENTRY, )};
#undef IM2COL_ENTRY
