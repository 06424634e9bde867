/* A depthwise convolution and the pointwise one reading its output, as one pass: each block
   (output rows p0..p0+pb of one image) runs the depthwise kernel into tile memory, applies its
   activation there, and the pointwise kernel copies those rows from the tile (not from DRAM)
   before computing its outputs: the IPU's way of keeping a layer's output in a tile's SRAM
   for the next layer. The tile holds, one after the other: the depthwise block's regions, the
   depthwise rows [c][pb][q] and the pointwise block's regions.

   Both kernels are called through their tables. The depthwise one computes into the tile
   through a view of its handle whose output is the block alone (one image, pb rows: its
   compute writes by k, p and q only), and the pointwise one copies its input through a view
   whose input is that block (one image, pb rows: its exchange reads by c, h and w only). */
#include <stdlib.h>

#include "epilogue.h"
#include "forward.h"

typedef struct pair_plan {
    ipx__plan dw, pw;    /* each kernel's block layout (pb rows; pw: all its output channels) */
    int64_t pb, kb;      /* rows per block; pointwise output channels (rounded to its vectors) */
    int64_t n_pblk, blocks;
    size_t mid_off, pw_off; /* tile offsets of the depthwise rows and of the pointwise regions */
} pair_plan;

/* Tile floats for blocks of pb rows and kb pointwise channels; fills pp. */
static int64_t pair_layout(const struct ipx_conv* dw, const struct ipx_conv* pw, int64_t pb, int64_t kb,
                           pair_plan* pp) {
    const int64_t dw_end = dw->kernel->plan(dw, dw->d.g, dw->kg, pb, &pp->dw);
    const int64_t mid = ipx__smul(ipx__smul(dw->d.k, pb), dw->q);
    const int64_t pw_end = pw->kernel->plan(pw, 1, kb, pb, &pp->pw);
    if (dw_end >= IPX__TILE_HUGE || pw_end >= IPX__TILE_HUGE || mid >= IPX__TILE_HUGE) return IPX__TILE_HUGE;
    pp->mid_off = ipx__align_floats(dw_end);
    pp->pw_off = pp->mid_off + ipx__align_floats(mid);
    return (int64_t)pp->pw_off + pw_end;
}

/* The largest blocks that fit, then fewer rows until every worker has several blocks. All of
   the pointwise weights stay in the tile: a block reloading them would move more bytes than
   the depthwise rows it keeps from memory (960 -> 160 channels on 7x7: 614 KB of weights per
   block against 27 KB of rows). */
static ipx_status pair_make_plan(const struct ipx_conv* dw, const struct ipx_conv* pw, ipx_pool_t pool,
                                 pair_plan* pp) {
    const int64_t tile = (int64_t)(pool->tile_bytes / sizeof(float));
    const int64_t k_all = ipx__round_up(pw->kg, ipx__max(pw->kernel->k_vector, 1)), kb = k_all;
    int64_t pb = dw->p;
    while (pair_layout(dw, pw, pb, kb, pp) > tile)
        if (pb > 1) pb = ipx__div_up(pb, 2);
        else return IPX_STATUS_TILE_TOO_SMALL;
    const int64_t flops_per_row = 2 * dw->q * (dw->d.k * dw->d.r * dw->d.s + pw->d.k * pw->cg);
    while (pb > 1 && dw->d.n * ipx__div_up(dw->p, pb) < 4 * (int64_t)pool->workers &&
           flops_per_row * ipx__div_up(pb, 2) >= (1 << 18)) /* blocks of >= ~256 kFLOP (forward.c) */
        pb = ipx__div_up(pb, 2);
    pair_layout(dw, pw, pb, kb, pp);
    /* the kernels read the block sizes from their plans (the row kernel zeroes gb groups of
       input on a fresh tile) */
    ipx__plan_blocks(&pp->dw, dw->d.g, dw->kg, dw->p, dw->d.g, dw->kg, pb);
    ipx__plan_blocks(&pp->pw, 1, k_all, pw->p, 1, kb, pb);
    pp->pb = pb;
    pp->kb = kb;
    pp->n_pblk = ipx__div_up(dw->p, pb);
    pp->blocks = dw->d.n * pp->n_pblk;
    return IPX_STATUS_SUCCESS;
}

typedef struct pair_pass {
    ipx__pass pass; /* first: the driver hands it back to the phases */
    const struct ipx_conv *dw, *pw;
    pair_plan plan;
    const float* input;
    float* output;
    int32_t dw_activation;
    const float* residual;
    int32_t activation;
    float* channel_sums;
} pair_pass;

/* Block s->block: image and rows. */
static ipx__block pair_dw_block(const pair_pass* pp, int64_t block) {
    const struct ipx_conv* dw = pp->dw;
    const int64_t p0 = block % pp->plan.n_pblk * pp->plan.pb;
    return (ipx__block){.n = block / pp->plan.n_pblk, .g0 = 0, .gb = dw->d.g, .k0 = 0, .kb = dw->kg,
                        .p0 = p0, .pb = ipx__min(pp->plan.pb, dw->p - p0)};
}

/* Exchange: the depthwise block's input rows (and, on the worker's first block, its weights)
   from memory into the tile. */
static void pair_exchange(const ipx__pass* pass, ipx__step* s) {
    const pair_pass* pp = (const pair_pass*)pass;
    s->b = pair_dw_block(pp, s->block);
    const unsigned loads = IPX__LOAD_INPUT | (s->fresh ? IPX__LOAD_WEIGHTS | IPX__FRESH_TILE : 0);
    s->stats->bytes_in += 4u * pp->dw->kernel->exchange(pp->dw, &pp->plan.dw, &s->b, pp->input, s->tile, loads);
}

/* Compute: depthwise rows into the tile, their activation, then the pointwise block: the rows
   copied in from the tile, computed, written with the epilogue. */
static void pair_compute(const ipx__pass* pass, ipx__step* s) {
    const pair_pass* pp = (const pair_pass*)pass;
    const struct ipx_conv *dw = pp->dw, *pw = pp->pw;
    const ipx__block b = s->b;
    float* mid = s->tile + pp->plan.mid_off;
    float* pw_tile = s->tile + pp->plan.pw_off;

    struct ipx_conv dw_view; /* output: this block alone, [c][pb][q] */
    memcpy(&dw_view, dw, sizeof dw_view);
    dw_view.d.n = 1;
    dw_view.p = b.pb;
    ipx__block local = b;
    local.n = 0;
    local.p0 = 0;
    dw->kernel->compute(&dw_view, &pp->plan.dw, &local, s->tile, mid);
    ipx__epilogue_apply(dw->isa, mid, NULL, NULL, NULL, 0, dw->d.k, b.pb * dw->q, pp->dw_activation);
    s->stats->flops += 2u * (uint64_t)(dw->d.k * b.pb * dw->q * dw->cg * dw->d.r * dw->d.s);

    struct ipx_conv pw_view; /* input: those rows, [c][pb][q] */
    memcpy(&pw_view, pw, sizeof pw_view);
    pw_view.d.n = 1;
    pw_view.d.h = b.pb;
    pw_view.p = b.pb;
    ipx__block pw_block = {.n = 0, .g0 = 0, .gb = 1, .k0 = 0, .kb = pp->plan.kb, .p0 = 0, .pb = b.pb};
    /* the rows from the tile (not memory traffic), the weights once per run */
    pw->kernel->exchange(&pw_view, &pp->plan.pw, &pw_block, mid, pw_tile,
                         IPX__LOAD_INPUT | (s->fresh ? IPX__FRESH_TILE : 0));
    if (s->fresh)
        s->stats->bytes_in += 4u * pw->kernel->exchange(&pw_view, &pp->plan.pw, &pw_block, mid, pw_tile,
                                                        IPX__LOAD_WEIGHTS);
    pw_block.n = b.n;
    pw_block.p0 = b.p0;
    pw->kernel->compute(pw, &pp->plan.pw, &pw_block, pw_tile, pp->output);
    ipx__forward_write(pw, &pw_block, pp->output, pp->residual, pp->activation, pp->channel_sums, s->stats);
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

ipx_status ipx_conv_run_pair(ipx_conv_t first, ipx_conv_t second, ipx_pool_t pool, const float* input,
                             size_t input_len, float* output, size_t output_len,
                             const ipx_conv_epilogue* first_epilogue, const ipx_conv_epilogue* second_epilogue) {
    if (first == NULL || second == NULL || pool == NULL || input == NULL || output == NULL)
        return IPX_STATUS_NULL_POINTER;
    if (first == second || !pair_supported(first, second)) return IPX_STATUS_UNSUPPORTED;
    const ipx_conv_desc *a = &first->d, *b = &second->d;
    const size_t want_out = (size_t)(b->n * b->k * second->p * second->q);
    if (input_len != (size_t)(a->n * a->c * a->h * a->w) || output_len != want_out)
        return IPX_STATUS_INVALID_BUFFER_SIZE;
    ipx_status status = ipx__check_epilogue(first, first_epilogue, (size_t)(a->n * a->k * first->p * first->q));
    if (status == IPX_STATUS_SUCCESS) status = ipx__check_epilogue(second, second_epilogue, want_out);
    if (status != IPX_STATUS_SUCCESS) return status;
    if ((first_epilogue && (first_epilogue->residual || first_epilogue->channel_sums || first_epilogue->input_scale)) ||
        (second_epilogue && second_epilogue->input_scale))
        return IPX_STATUS_UNSUPPORTED;
    if (!ipx__try_acquire(&first->in_use)) return IPX_STATUS_BUSY;
    status = ipx__acquire_pair(second, pool);
    if (status != IPX_STATUS_SUCCESS) {
        ipx__release(&first->in_use);
        return status;
    }
    pair_pass pp = {
        .pass = {.pool = pool, .chunks = 1, .exchange = pair_exchange, .compute = pair_compute,
                 .kernel = second->kernel->id, .algorithm = second->algorithm},
        .dw = first, .pw = second, .input = input, .output = output,
        .dw_activation = first_epilogue ? first_epilogue->activation : IPX_ACTIVATION_NONE,
        .residual = second_epilogue ? second_epilogue->residual : NULL,
        .activation = second_epilogue ? second_epilogue->activation : IPX_ACTIVATION_NONE,
        .channel_sums = second_epilogue ? second_epilogue->channel_sums : NULL,
    };
    if (pp.channel_sums) memset(pp.channel_sums, 0, (size_t)(b->n * b->k) * sizeof(float));
    status = pair_make_plan(first, second, pool, &pp.plan);
    pp.pass.blocks = pp.plan.blocks;
    status = ipx__pool_run_pass(&pp.pass, status);
    ipx__release_pair(second, pool);
    ipx__release(&first->in_use);
    return status;
}
