/* A depthwise convolution and the pointwise one reading its output, as one pass: each block
   (output rows p0..p0+pb of one image) runs the depthwise kernel into tile memory with its
   activation applied as it writes, and the pointwise kernel computes its outputs from those
   rows where they lie (not from DRAM): the IPU's way of keeping a layer's output in a tile's
   SRAM for the next layer. The tile holds, one after the other: the depthwise block's
   regions and the depthwise rows [c][pb][q] (an input layout of the pointwise kernel, rows
   pb*q floats apart), which the pointwise half reads where they lie or copies into its own
   regions after them first (pw_reads_mid): into the pointwise kernel's panels with many
   channels and long rows, into the channel kernel's layout on maps of under 16 pixels.

   Both kernels are called through their tables. The depthwise one computes into the tile
   through a view of its handle whose output is the block alone (one image, pb rows: its
   compute writes by k, p and q only), and the pointwise one reads its input through a plan
   whose input region is those rows (or, the channel kernel, copies it through a view whose
   input is that block: its exchange reads by c, h and w only).

   With an expand layer before them (ipx_conv_run_block: MobileNets' inverted-residual
   blocks, 1x1 expand -> depthwise -> 1x1 project) each block first computes the expand's
   output rows its depthwise rows read, all channels, into the tile ([k][slab][w], the
   depthwise kernel then copies them through a view whose input is those rows): the widest
   tensor of the block (6x its input) never goes to memory. A worker's next block of the same
   image reuses the rows the two share (the depthwise halo) instead of computing them again. */
#include <stdlib.h>

#include "epilogue.h"
#include "forward.h"

typedef struct pair_plan {
    ipx__plan ex, dw, pw; /* each kernel's block layout (dw: gb channels; pw, ex: all outputs) */
    int64_t gb, pb, kb;  /* depthwise channels per copy-in, rows per block, pointwise outputs */
    int64_t n_pblk, blocks;
    int64_t slab;        /* expand output rows the tile holds per channel (0: no expand) */
    size_t mid_off, pw_off; /* tile offsets of the depthwise rows and of the pointwise regions */
    size_t rows_off, ex_off; /* ... of the expand's output rows and of its input region */
} pair_plan;

/* Whether the pointwise half computes straight from the depthwise rows [c][pb][q] in the
   tile (the pointwise kernel, whose input is [c][pixels] rows or its own panels,
   kernel_pointwise.c), or copies them into its own layout first: the channel kernel, on maps
   of under 16 pixels, and the pointwise kernel into its panels where a register block's K
   channels x 3 vectors (PW_NV) of pixels are past L1d (32 KiB: K >= 342 at 8 floats a
   vector) and the rows are 4 blocks' pixels or longer, so that a block's loads a row apart
   each touch lines of their own. Measured on one Zen 3 host (AVX2), MobileNetV2 at batch 4, 2 workers, each
   pair in one pass with its expand, medians of 21 alternating runs: copying into panels took
   0.82-0.93x the time on 14 x 14 (384 and 576 channels), 1.05-1.23x on 7 x 7 (960 channels,
   rows of 49 pixels), 0.99-1.06x on 28 x 28 (192) and 56 x 56 (144); with this rule the 14 x 14
   pairs 0.82-0.96x, the others 0.97-1.03x (rows, as before), the network's pairs 0.97x. */
#define PAIR_L1_FLOATS (32 * 1024 / 4)
#define PAIR_PANEL_MIN_PIXELS 96
static bool pw_reads_mid(const struct ipx_conv* pw, const ipx__plan* pw_plan, int64_t pb) {
    if (pw->kernel != &ipx__pointwise_kernel[pw->isa]) return false;
    return !(pw->cg * 3 * pw_plan->panel > PAIR_L1_FLOATS && pb * pw->q >= PAIR_PANEL_MIN_PIXELS);
}

/* Floats past the depthwise rows that the pointwise kernel's last vectors may read (their
   lanes past a row's pixels are computed, never stored): zeroed, inside the tile. */
#define PAIR_MID_SLACK 16

/* Tile floats for blocks of pb rows (the depthwise input gb channels at a time); fills pp.
   Regions in order: the depthwise kernel's, its rows, the pointwise kernel's (when it copies
   them), then with an expand layer its output rows and its kernel's input region. */
static int64_t pair_layout(const struct ipx_conv* ex, const struct ipx_conv* dw, const struct ipx_conv* pw,
                           int64_t gb, int64_t pb, int64_t kb, pair_plan* pp) {
    const int64_t dw_end = dw->kernel->plan(dw, gb, dw->kg, pb, &pp->dw);
    const int64_t mid = ipx__smul(ipx__smul(dw->d.k, pb), dw->q) + PAIR_MID_SLACK;
    const int64_t pw_end = pw->kernel->plan(pw, 1, kb, pb, &pp->pw);
    if (dw_end >= IPX__TILE_HUGE || pw_end >= IPX__TILE_HUGE || mid >= IPX__TILE_HUGE) return IPX__TILE_HUGE;
    pp->mid_off = ipx__align_floats(dw_end);
    pp->pw_off = pp->mid_off + ipx__align_floats(mid);
    const int64_t end = (int64_t)pp->pw_off + (pw_reads_mid(pw, &pp->pw, pb) ? 0 : pw_end);
    pp->slab = 0;
    if (ex == NULL) return end;
    pp->slab = ipx__rows_in(&dw->d, pb);
    const int64_t rows = ipx__smul(ipx__smul(ex->d.k, pp->slab), dw->d.w);
    const int64_t ex_end = ex->kernel->plan(ex, 1, ex->kg, pp->slab, &pp->ex);
    if (rows >= IPX__TILE_HUGE || ex_end >= IPX__TILE_HUGE) return IPX__TILE_HUGE;
    pp->rows_off = ipx__align_floats(end);
    pp->ex_off = pp->rows_off + ipx__align_floats(rows);
    return (int64_t)pp->ex_off + ex_end;
}

/* Fewer pixels per block than this waste the pointwise kernel's vectors (one Zen 4 core,
   64 -> 384 on 14 x 14: 96 us in blocks of 56+ pixels, 113 in 28, 124 in 14; kernel_pointwise.c)
   and re-read the depthwise halo rows more often: once every worker has a block, rows are not
   halved below it. */
#define PAIR_MIN_BLOCK_PIXELS 56

/* The first input row (above the image when negative: padding) of the depthwise block at
   output row p0. */
static int64_t first_in_row(const struct ipx_conv* dw, int64_t p0) {
    return p0 * dw->d.stride_h - dw->d.pad_top;
}

/* Input rows [lo, hi) of image n that the depthwise block at rows p0.. (pb rows) reads. */
static void slab_rows(const struct ipx_conv* dw, int64_t p0, int64_t pb, int64_t* lo, int64_t* hi) {
    const int64_t row0 = first_in_row(dw, p0);
    *lo = ipx__max(0, row0);
    *hi = ipx__min(dw->d.h, row0 + ipx__rows_in(&dw->d, pb));
}

/* FLOPs of a block's depthwise and pointwise halves per output row, and of the expand
   layer (none: 0) per input row it computes. */
static int64_t pair_out_row_flops(const struct ipx_conv* dw, const struct ipx_conv* pw) {
    return 2 * dw->q * (dw->d.k * dw->d.r * dw->d.s + pw->d.k * pw->cg);
}
static int64_t pair_in_row_flops(const struct ipx_conv* ex) {
    return ex ? 2 * ex->q * ex->d.k * ex->cg : 0;
}

/* FLOPs of the busiest of W workers in blocks of pb rows: each owns a contiguous range of
   the blocks, as the pool hands them out (pool.c, one block a claim), and computes their
   depthwise and pointwise rows and the expand rows they read, those its previous block of the
   same image computed once (expand_rows reuses them). */
static int64_t pair_busiest_flops(const struct ipx_conv* ex, const struct ipx_conv* dw, const struct ipx_conv* pw,
                                  int64_t pb, int64_t W) {
    const int64_t per_out_row = pair_out_row_flops(dw, pw), per_in_row = pair_in_row_flops(ex);
    const int64_t per_image = ipx__div_up(dw->p, pb), blocks = dw->d.n * per_image;
    int64_t busiest = 0;
    for (int64_t w = 0; w < W; w++) {
        int64_t first, end; /* one block a claim */
        ipx__worker_range(blocks, w, W, &first, &end);
        int64_t flops = 0, done = -1; /* done: the last expand row computed, of this image */
        for (int64_t bi = first; bi < end; bi++) {
            const int64_t p0 = bi % per_image * pb, rows = ipx__min(pb, dw->p - p0);
            int64_t lo, hi;
            slab_rows(dw, p0, rows, &lo, &hi);
            if (bi % per_image == 0 || bi == first) done = -1;
            flops += per_out_row * rows + per_in_row * ipx__max(0, hi - ipx__max(lo, done));
            done = hi;
        }
        busiest = ipx__max(busiest, flops);
    }
    return busiest;
}

/* The largest blocks that fit, then fewer rows until every worker has several blocks. To fit,
   the depthwise input is copied in fewer channels at a time first (down to 16: only a loop's
   overhead), then rows are halved (each block re-reads r-1 halo rows and its 3x3 code spends
   2 of pb+2 row steps filling its accumulators), then channels again. The pointwise half
   takes all of its output channels in each block and reads its weights in place (resident in
   the handle's packing, kernel_pointwise.c): splitting them would recompute the depthwise rows
   per channel block. */
static ipx_status pair_make_plan(const struct ipx_conv* ex, const struct ipx_conv* dw, const struct ipx_conv* pw,
                                 ipx_pool_t pool, pair_plan* pp) {
    const int64_t tile = (int64_t)(pool->tile_bytes / sizeof(float));
    const int64_t k_all = ipx__round_up(pw->kg, ipx__max(pw->kernel->k_vector, 1)), kb = k_all;
    const int64_t gv = ipx__max(dw->kernel->g_vector, 1); /* blocks of whole channel vectors */
    int64_t pb = dw->p, gb = dw->d.g;
    while (pair_layout(ex, dw, pw, gb, pb, kb, pp) > tile) {
        if (gb > 16) gb = ipx__round_up(ipx__div_up(gb, 2), gv);
        else if (pb > 4) pb = ipx__div_up(pb, 2);
        else if (gb > gv) gb = ipx__div_up(gb, 2);
        else if (pb > 1) pb = ipx__div_up(pb, 2);
        else return IPX_STATUS_TILE_TOO_SMALL;
    }
    const int64_t flops_per_row = pair_out_row_flops(dw, pw) + pair_in_row_flops(ex) * dw->d.stride_h;
    const int64_t W = (int64_t)pool->workers, pb_fit = pb;
    while (pb > 1 && dw->d.n * ipx__div_up(dw->p, pb) < 4 * W &&
           flops_per_row * ipx__div_up(pb, 2) >= (1 << 18) && /* blocks of >= ~256 kFLOP (forward.c) */
           (ipx__div_up(pb, 2) * dw->q >= PAIR_MIN_BLOCK_PIXELS || dw->d.n * ipx__div_up(dw->p, pb) < W))
        pb = ipx__div_up(pb, 2);
    /* Halving can leave one worker the short last block of an image and the other waiting: 14
       rows in blocks of 4 ran as 4 + 4 against 4 + 2 rows. Fewer, larger blocks of the rows that
       fit take its place where they load the busiest worker at least 1/32 less (each block count
       per image once, at the fewest rows that give it). MobileNetV2 at batch 1, 2 workers, one
       Zen 4 host, medians of 15 runs alternating with the halving alone: its 14 x 14 blocks and
       pairs (64 -> 384 -> 64, 96 -> 576 -> 96) ran in one block per worker instead of two, in
       0.62-0.88x the time (each had waited 11-13% of its workers' time), the network's steps in
       0.94-0.98x; batch 4 unchanged (1.00x: its maps were cut to fit, not to share). */
    if (pb < pb_fit) { /* (the model costs O(blocks): only where halving split the rows) */
        int64_t best = pair_busiest_flops(ex, dw, pw, pb, W);
        for (int64_t m = ipx__div_up(dw->p, pb) - 1, cand; m >= 1; m--) {
            if ((cand = ipx__div_up(dw->p, m)) > pb_fit) break;
            const int64_t flops = pair_busiest_flops(ex, dw, pw, cand, W);
            if (flops < best - best / 32) best = flops, pb = cand;
        }
    }
    pair_layout(ex, dw, pw, gb, pb, kb, pp);
    /* the kernels read the block sizes from their plans (the row kernel zeroes gb groups of
       input on a fresh tile) */
    ipx__plan_blocks(&pp->dw, dw->d.g, dw->kg, dw->p, gb, dw->kg, pb);
    ipx__plan_blocks(&pp->pw, 1, k_all, pw->p, 1, kb, pb);
    if (ex) {
        const int64_t ex_k = ipx__round_up(ex->kg, ipx__max(ex->kernel->k_vector, 1));
        ipx__plan_blocks(&pp->ex, 1, ex_k, ex->p, 1, ex_k, pp->slab);
    }
    pp->gb = gb;
    pp->pb = pb;
    pp->kb = kb;
    pp->n_pblk = ipx__div_up(dw->p, pb);
    pp->blocks = dw->d.n * pp->n_pblk;
    return IPX_STATUS_SUCCESS;
}

typedef struct pair_pass {
    ipx__pass pass; /* first: the driver hands it back to the phases */
    const struct ipx_conv *ex, *dw, *pw; /* ex: the expand layer, or NULL */
    pair_plan plan;
    const float* input;
    float* output;
    int32_t ex_activation, dw_activation;
    const float* residual;
    int32_t activation;
    float* channel_sums;
} pair_pass;

/* Nothing here: a block copies its depthwise input in channel by channel group inside the
   compute phase (below), whose copies are timed and counted as exchange. */
static void pair_exchange(const ipx__pass* pass, ipx__step* s) {
    (void)pass;
    (void)s;
}

/* The kernel's outputs of block b from the tile into out, activation applied as it writes
   (in registers where it can, else over the rows while they are in cache). */
static void tile_compute(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b, float* tile,
                         float* out, int32_t activation) {
    const ipx__epilogue e = {.activation = activation};
    if (activation != IPX_ACTIVATION_NONE) cv->kernel->compute_fused(cv, plan, b, tile, out, &e);
    else cv->kernel->compute(cv, plan, b, tile, out);
}

/* The expand layer's output rows [lo, hi) of image n in the tile ([k][slab][w], row lo
   first). Rows the worker's previous block (the one before, same image) computed are moved
   down, not computed again; the rest: the expand input's rows copied in (exchange), computed
   with its activation. Returns the copies' time. */
static uint64_t expand_rows(const pair_pass* pp, ipx__step* s, int64_t n, int64_t p0, int64_t lo, int64_t hi) {
    const struct ipx_conv *ex = pp->ex, *dw = pp->dw;
    const int64_t slab = pp->plan.slab, w = dw->d.w;
    float* rows = s->tile + pp->plan.rows_off;
    int64_t from = lo; /* first row to compute */
    if (!s->fresh && s->in_key == s->block - 1 && p0 > 0) {
        int64_t plo, phi; /* the previous block's rows, still in the tile */
        slab_rows(dw, p0 - pp->plan.pb, pp->plan.pb, &plo, &phi);
        if (phi > lo && lo >= plo) {
            for (int64_t k = 0; k < ex->d.k; k++)
                memmove(rows + k * slab * w, rows + (k * slab + lo - plo) * w, (size_t)((phi - lo) * w) * sizeof(float));
            from = phi;
        }
    }
    s->in_key = s->block;
    uint64_t copy_ns = 0;
    if (from < hi) {
        float* ex_tile = s->tile + pp->plan.ex_off;
        ipx__block b = {.n = n, .g0 = 0, .gb = 1, .k0 = 0, .kb = pp->plan.ex.kb, .p0 = from, .pb = hi - from};
        const uint64_t t0 = ipx__now_ns();
        s->stats->bytes_in += 4u * ex->kernel->exchange(ex, &pp->plan.ex, &b, pp->input, ex_tile,
                                                        IPX__LOAD_INPUT | (s->fresh ? IPX__LOAD_WEIGHTS : 0));
        copy_ns = ipx__now_ns() - t0;
        struct ipx_conv view; /* output: the tile's rows, slab rows per channel */
        memcpy(&view, ex, sizeof view);
        view.d.n = 1;
        view.p = slab;
        b.n = 0;
        b.p0 = from - lo;
        tile_compute(&view, &pp->plan.ex, &b, ex_tile, rows, pp->ex_activation);
        s->stats->flops += 2u * (uint64_t)(ex->d.k * (hi - from) * ex->q * ex->cg);
    }
    /* rows of the slab past the image's last (bottom padding): zeros */
    const int64_t row0 = first_in_row(dw, p0), need = row0 + ipx__rows_in(&dw->d, ipx__min(pp->plan.pb, dw->p - p0));
    if (need > hi && hi - lo < slab)
        for (int64_t k = 0; k < ex->d.k; k++)
            memset(rows + (k * slab + hi - lo) * w, 0, (size_t)((ipx__min(need, lo + slab) - hi) * w) * sizeof(float));
    return copy_ns;
}

/* A block (image, rows): with an expand layer, its output rows into the tile (above); for
   each group of gb channels, their input rows copied into the tile (exchange: from the input,
   or from the expand's rows) and their depthwise rows computed into the tile's [c][pb][q]
   region; then their activation, and the pointwise block computed from those rows, written
   with the epilogue. */
static void pair_compute(const ipx__pass* pass, ipx__step* s) {
    const pair_pass* pp = (const pair_pass*)pass;
    const struct ipx_conv *dw = pp->dw, *pw = pp->pw;
    const int64_t p0 = s->block % pp->plan.n_pblk * pp->plan.pb, n = s->block / pp->plan.n_pblk;
    const int64_t pb = ipx__min(pp->plan.pb, dw->p - p0);
    float* mid = s->tile + pp->plan.mid_off;
    float* pw_tile = s->tile + pp->plan.pw_off;
    uint64_t copy_ns = 0;

    struct ipx_conv dw_view; /* output: this block alone, [c][pb][q] */
    memcpy(&dw_view, dw, sizeof dw_view);
    dw_view.d.n = 1;
    dw_view.p = pb;
    /* where the depthwise exchange reads: the input, image n at rows p0..; or the expand's
       rows in the tile, read through the view as one image of slab rows whose top padding
       is what lies above row lo (past its last row: the zeros expand_rows left) */
    const struct ipx_conv* dw_in = dw;
    const float* dw_src = pp->input;
    int64_t in_n = n, in_p0 = p0;
    if (pp->ex) {
        int64_t lo, hi;
        slab_rows(dw, p0, pb, &lo, &hi);
        copy_ns += expand_rows(pp, s, n, p0, lo, hi);
        dw_view.d.h = pp->plan.slab;
        dw_view.d.pad_top = lo - first_in_row(dw, p0);
        dw_in = &dw_view;
        dw_src = s->tile + pp->plan.rows_off;
        in_n = in_p0 = 0;
    }
    for (int64_t g0 = 0; g0 < dw->d.g; g0 += pp->plan.gb) {
        ipx__block b = {.n = in_n, .g0 = g0, .gb = ipx__min(pp->plan.gb, dw->d.g - g0), .k0 = 0, .kb = dw->kg,
                        .p0 = in_p0, .pb = pb};
        const unsigned loads = IPX__LOAD_INPUT | IPX__LOAD_WEIGHTS | (s->fresh && g0 == 0 ? IPX__FRESH_TILE : 0);
        const uint64_t t0 = ipx__now_ns();
        const uint64_t copied = dw->kernel->exchange(dw_in, &pp->plan.dw, &b, dw_src, s->tile, loads);
        if (!pp->ex) { /* from memory: exchange (from the expand's rows: the tile's own work) */
            s->stats->bytes_in += 4u * copied;
            copy_ns += ipx__now_ns() - t0;
        } else { /* only the weights came from memory */
            s->stats->bytes_in += 4u * (uint64_t)(b.gb * dw->kg * (dw->cg * dw->d.r * dw->d.s + 1));
        }
        b.n = 0;
        b.p0 = 0;
        tile_compute(&dw_view, &pp->plan.dw, &b, s->tile, mid, pp->dw_activation);
    }
    s->stats->flops += 2u * (uint64_t)(dw->d.k * pb * dw->q * dw->cg * dw->d.r * dw->d.s);

    struct ipx_conv pw_view; /* input: those rows, [c][pb][q] */
    memcpy(&pw_view, pw, sizeof pw_view);
    pw_view.d.n = 1;
    pw_view.d.h = pb;
    pw_view.p = pb;
    ipx__block pw_block = {.n = 0, .g0 = 0, .gb = 1, .k0 = 0, .kb = pp->plan.kb, .p0 = 0, .pb = pb};
    ipx__plan pw_plan = pp->plan.pw;
    if (pw_reads_mid(pw, &pp->plan.pw, pp->plan.pb)) {
        /* the rows are the pointwise kernel's input where they lie: no copy (MobileNetV2's
           pairs at batch 1, 2 workers: 32 -> 16 on 112x112 went from 1.08x the two runs' time
           to 0.83x, 960 -> 320 on 7x7 from 2.85x to 2.14x; the rest was PAIR_MIN_BLOCK_PIXELS) */
        memset(mid + dw->d.k * pb * dw->q, 0, PAIR_MID_SLACK * sizeof(float));
        pw_plan.in_off = pp->plan.mid_off;
        pw_plan.row_len = pb * dw->q;
        pw_plan.panel = 0; /* rows, not the panels of its own exchange */
        pw_tile = s->tile;
    } else { /* the rows copied from the tile (not memory traffic) */
        pw->kernel->exchange(&pw_view, &pp->plan.pw, &pw_block, mid, pw_tile,
                             IPX__LOAD_INPUT | (s->fresh ? IPX__FRESH_TILE : 0));
    }
    if (s->fresh) { /* the weights, once per run (the pointwise kernel reads them in place: counted only) */
        const uint64_t t0 = ipx__now_ns();
        s->stats->bytes_in += 4u * pw->kernel->exchange(&pw_view, &pp->plan.pw, &pw_block, mid, pw_tile,
                                                        IPX__LOAD_WEIGHTS);
        copy_ns += ipx__now_ns() - t0;
    }
    pw_block.n = n;
    pw_block.p0 = p0;
    const ipx__epilogue e = {.residual = pp->residual, .channel_sums = pp->channel_sums, .activation = pp->activation};
    ipx__forward_compute_write(pw, &pw_plan, &pw_block, pw_tile, pp->output, &e, s->stats);
    /* the driver adds this phase's whole time to compute_ns: move the copies to exchange_ns
       (unsigned arithmetic: the driver's addition brings compute_ns back above zero) */
    s->stats->exchange_ns += copy_ns;
    s->stats->compute_ns -= copy_ns;
}

/* The pairs this pass fuses: a depthwise row-kernel layer, then a one-group 1x1 stride-1
   unpadded layer (channel kernel) on its whole output. */
static bool pair_supported(const struct ipx_conv* dw, const struct ipx_conv* pw) {
    const ipx_conv_desc *a = &dw->d, *b = &pw->d;
    return dw->kernel->id == IPX_KERNEL_ROW && dw->cg == 1 && a->g == a->c &&
           pw->kernel->id == IPX_KERNEL_CHANNEL && b->g == 1 &&
           b->r == 1 && b->s == 1 && b->stride_h == 1 && b->stride_w == 1 && b->pad_top == 0 &&
           b->pad_bottom == 0 && b->pad_left == 0 && b->pad_right == 0 && b->n == a->n && b->c == a->k &&
           b->h == dw->p && b->w == dw->q;
}

/* The expand layers this pass fuses before a pair: one-group 1x1 stride-1 unpadded layers on
   the pointwise kernel (whose compute writes rows at any offset of a [k][rows][w] region)
   whose output is the depthwise layer's whole input. */
static bool expand_supported(const struct ipx_conv* ex, const struct ipx_conv* dw) {
    const ipx_conv_desc *e = &ex->d, *a = &dw->d;
    return ex->kernel == &ipx__pointwise_kernel[ex->isa] && e->g == 1 && e->r == 1 && e->s == 1 &&
           e->stride_h == 1 && e->stride_w == 1 && e->pad_top == 0 && e->pad_bottom == 0 && e->pad_left == 0 &&
           e->pad_right == 0 && e->n == a->n && e->k == a->c && ex->p == a->h && ex->q == a->w;
}

static bool activation_only(const ipx_conv_epilogue* e) {
    return e == NULL || (e->residual == NULL && e->channel_sums == NULL && e->input_scale == NULL);
}

/* ex (or NULL), first and second as one pass; the arguments' checks of both entry points. */
static ipx_status run_fused_block(struct ipx_conv* ex, struct ipx_conv* first, struct ipx_conv* second,
                                  ipx_pool_t pool, const float* input, size_t input_len, float* output,
                                  size_t output_len, const ipx_conv_epilogue* ex_epilogue,
                                  const ipx_conv_epilogue* first_epilogue, const ipx_conv_epilogue* second_epilogue) {
    if (first == NULL || second == NULL || pool == NULL || input == NULL || output == NULL)
        return IPX_STATUS_NULL_POINTER;
    if (first == second || ex == first || ex == second || !pair_supported(first, second) ||
        (ex && !expand_supported(ex, first)))
        return IPX_STATUS_UNSUPPORTED;
    const ipx_conv_desc *a = ex ? &ex->d : &first->d, *b = &second->d;
    const size_t want_out = (size_t)(b->n * b->k * second->p * second->q);
    if (input_len != (size_t)(a->n * a->c * a->h * a->w) || output_len != want_out)
        return IPX_STATUS_INVALID_BUFFER_SIZE;
    ipx_status status = ipx__check_epilogue(first, first_epilogue, (size_t)(first->d.n * first->d.k * first->p * first->q));
    if (status == IPX_STATUS_SUCCESS && ex)
        status = ipx__check_epilogue(ex, ex_epilogue, (size_t)(a->n * a->k * ex->p * ex->q));
    if (status == IPX_STATUS_SUCCESS) status = ipx__check_epilogue(second, second_epilogue, want_out);
    if (status != IPX_STATUS_SUCCESS) return status;
    if (!activation_only(ex_epilogue) || !activation_only(first_epilogue) || (second_epilogue && second_epilogue->input_scale))
        return IPX_STATUS_UNSUPPORTED;
    if (ex && !ipx__try_acquire(&ex->in_use)) return IPX_STATUS_BUSY;
    if (!ipx__try_acquire(&first->in_use)) {
        if (ex) ipx__release(&ex->in_use);
        return IPX_STATUS_BUSY;
    }
    status = ipx__acquire_pair(second, pool);
    if (status != IPX_STATUS_SUCCESS) {
        ipx__release(&first->in_use);
        if (ex) ipx__release(&ex->in_use);
        return status;
    }
    pair_pass pp = {
        .pass = {.pool = pool, .chunks = 1, .exchange = pair_exchange, .compute = pair_compute,
                 .kernel = second->kernel->id, .algorithm = second->algorithm},
        .ex = ex, .dw = first, .pw = second, .input = input, .output = output,
        .ex_activation = ex_epilogue ? ex_epilogue->activation : IPX_ACTIVATION_NONE,
        .dw_activation = first_epilogue ? first_epilogue->activation : IPX_ACTIVATION_NONE,
        .residual = second_epilogue ? second_epilogue->residual : NULL,
        .activation = second_epilogue ? second_epilogue->activation : IPX_ACTIVATION_NONE,
        .channel_sums = second_epilogue ? second_epilogue->channel_sums : NULL,
    };
    if (pp.channel_sums) memset(pp.channel_sums, 0, (size_t)(b->n * b->k) * sizeof(float));
    status = pair_make_plan(ex, first, second, pool, &pp.plan);
    struct ipx_conv view; /* the tile cannot hold one block of the depthwise kernel: its fallback's */
    if (status == IPX_STATUS_TILE_TOO_SMALL && ipx__fallback_view(first, &view)) {
        pp.dw = &view;
        status = pair_make_plan(ex, pp.dw, second, pool, &pp.plan);
    }
    pp.pass.blocks = pp.plan.blocks;
    status = ipx__pool_run_pass(&pp.pass, status);
    ipx__release_pair(second, pool);
    ipx__release(&first->in_use);
    if (ex) ipx__release(&ex->in_use);
    return status;
}

ipx_status ipx_conv_run_pair(ipx_conv_t first, ipx_conv_t second, ipx_pool_t pool, const float* input,
                             size_t input_len, float* output, size_t output_len,
                             const ipx_conv_epilogue* first_epilogue, const ipx_conv_epilogue* second_epilogue) {
    return run_fused_block(NULL, first, second, pool, input, input_len, output, output_len, NULL, first_epilogue,
                           second_epilogue);
}

ipx_status ipx_conv_run_block(ipx_conv_t expand, ipx_conv_t first, ipx_conv_t second, ipx_pool_t pool,
                              const float* input, size_t input_len, float* output, size_t output_len,
                              const ipx_conv_epilogue* expand_epilogue, const ipx_conv_epilogue* first_epilogue,
                              const ipx_conv_epilogue* second_epilogue) {
    if (expand == NULL) return IPX_STATUS_NULL_POINTER;
    return run_fused_block(expand, first, second, pool, input, input_len, output, output_len, expand_epilogue,
                           first_epilogue, second_epilogue);
}
