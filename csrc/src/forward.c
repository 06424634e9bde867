/* Forward passes (and backward data, the forward pass of a handle's backward-data handle):
   the layer cut into blocks that fit tile memory, each block one superstep of the pool's
   driver: exchange (the handle's kernel copies what the block reads into the worker's tile)
   and compute (from the tile only, then the block's outputs written). */
#include "epilogue.h"
#include "forward.h"

/* How many consecutive blocks a worker claims at a time: every channel block of the rows it
   copies in, when those input blocks go round evenly (two or more per worker, the busiest
   worker at most 1/16 over the mean); else one (batch 1 on a small map: 7 row blocks of a
   14x14 map on 2 workers would be 4 against 3; a worker copies a shared row block's input
   once, its consecutive claims keep it). */
static int64_t claim_blocks(const ipx__plan* plan, int64_t n, int64_t workers) {
    const int64_t in_blocks = n * plan->n_gblk * plan->n_pblk, rounds = ipx__div_up(in_blocks, workers);
    const bool even = in_blocks >= 2 * workers && rounds * workers * 16 <= in_blocks * 17;
    return even ? plan->n_kblk : 1;
}

/* The busiest worker's share of the layer's work over an even share (1: even) when each
   worker runs its own range of claims (pool.c hands them out owner first): a block's work is
   its groups x output channels x rows (the last of each may be short; when none is, a
   worker's work is its count of blocks, and this costs O(workers) on every run, not O(blocks)). */
static double busiest_share(const struct ipx_conv* cv, const ipx__plan* plan, int64_t k_all, int64_t workers) {
    const int64_t claim = claim_blocks(plan, cv->d.n, workers), claims = ipx__div_up(plan->blocks, claim);
    const bool equal = cv->d.g % plan->gb == 0 && k_all % plan->kb == 0 && cv->p % plan->pb == 0;
    double total = 0.0, busiest = 0.0;
    for (int64_t w = 0; w < workers; w++) {
        int64_t lo, hi;
        ipx__worker_range(claims, w, workers, &lo, &hi);
        lo = ipx__min(lo * claim, plan->blocks);
        hi = ipx__min(hi * claim, plan->blocks);
        double work = equal ? (double)(hi - lo) : 0.0;
        for (int64_t i = lo; !equal && i < hi; i++) {
            const int64_t kblk = i % plan->n_kblk, pblk = i / plan->n_kblk % plan->n_pblk;
            const int64_t gblk = i / plan->n_kblk / plan->n_pblk % plan->n_gblk;
            work += (double)ipx__min(plan->gb, cv->d.g - gblk * plan->gb) *
                    (double)ipx__min(plan->kb, k_all - kblk * plan->kb) * (double)ipx__min(plan->pb, cv->p - pblk * plan->pb);
        }
        total += work;
        busiest = work > busiest ? work : busiest;
    }
    return total > 0.0 ? busiest * (double)workers / total : 1.0;
}

/* Splits blocks that fit the tile (gb, kb, pb) until every worker has several of them:
   groups first (no input re-read), then rows (while blocks keep the kernel's minimum of
   pixels) before output channels, or output channels before rows (rows_first false). */
static void split_for_workers(const struct ipx_conv* cv, int64_t workers, int64_t k_all, int64_t kmin, int64_t gv,
                              bool rows_first, int64_t* gb, int64_t* kb, int64_t* pb) {
    const int64_t p = cv->p, n = cv->d.n, g = cv->d.g;
    for (;;) {
        int64_t blocks = n * ipx__div_up(g, *gb) * ipx__div_up(k_all, *kb) * ipx__div_up(p, *pb);
        if (blocks >= 4 * workers) break;
        /* A superstep costs a barrier (about a microsecond): keep blocks of at least
           ~256 kFLOP rather than splitting tiny layers into tinier supersteps. */
        if (blocks >= workers && 2 * *gb * *kb * *pb * cv->q * cv->cg * cv->d.r * cv->d.s < (1 << 18)) break;
        const bool rows_ok = *kb == kmin || ipx__div_up(*pb, 2) * cv->q >= cv->kernel->min_block_pixels;
        if (*gb > gv) *gb = ipx__round_up(ipx__div_up(*gb, 2), gv);
        else if (rows_first && *pb > 1 && (*pb >= 4 || *kb == kmin) && rows_ok) *pb = ipx__div_up(*pb, 2);
        else if (*kb > kmin) *kb = ipx__round_up(ipx__div_up(*kb, 2), kmin);
        else if (!rows_first && *pb > 1) *pb = ipx__div_up(*pb, 2);
        else break;
    }
}

/* The plan's regions (the kernel's layout) and block counts for blocks of gb x kb x pb. */
static void fill_plan(const struct ipx_conv* cv, int64_t k_all, int64_t gb, int64_t kb, int64_t pb, ipx__plan* plan) {
    cv->kernel->plan(cv, gb, kb, pb, plan);
    ipx__plan_blocks(plan, cv->d.g, k_all, cv->p, gb, kb, pb);
    plan->blocks = cv->d.n * plan->n_gblk * plan->n_kblk * plan->n_pblk;
}

/* Block sizes for this layer on this pool: the largest blocks that fit tile memory (whole
   groups first), then smaller until every worker has several blocks (balance when blocks are
   handed out: a worker that falls behind takes fewer). Rows split before output channels
   (a block's input rows are read once), unless the rows go round unevenly and channels do
   not: ResNet-50's 7x7 3x3 layers at batch 1 split 4 + 3 rows gave one worker 132 MFLOP
   and the other 99 (owner-first claims: the short blocks' worker waited 280 us of 1.25 ms);
   whole rows in 8 channel blocks run 8-12% faster. */
static ipx_status make_plan(const struct ipx_conv* cv, ipx_pool_t pool, ipx__plan* plan) {
    const ipx__kernel* kernel = cv->kernel;
    const int64_t tile = (int64_t)(pool->tile_bytes / sizeof(float));
    const int64_t W = pool->workers, p = cv->p, g = cv->d.g;
    /* blocks hold a group's output channels in multiples of kmin (all of them: kmin = k_all) */
    const int64_t k_all = ipx__round_up(cv->kg, ipx__max(kernel->k_vector, 1));
    const int64_t kmin = kernel->k_vector > 0 ? kernel->k_vector : k_all;
    /* groups in multiples of gv while there are more (the kernel's vectors of channels) */
    const int64_t gv = ipx__max(kernel->g_vector, 1);
    int64_t gb = g, kb = k_all, pb = p;
    /* output channels split first when the weights dominate the tile */
    while (kernel->plan(cv, gb, kb, pb, plan) > tile)
        if (gb > gv) gb = ipx__round_up(ipx__div_up(gb, 2), gv);
        else if (gv > 1 && pb > 1) pb = ipx__div_up(pb, 2); /* rows before part-filled vectors */
        else if (!ipx__halve_block(&gb, &kb, &pb, kmin, plan->wt_data >= plan->in_data))
            return IPX_STATUS_TILE_TOO_SMALL;
    int64_t gb2 = gb, kb2 = kb, pb2 = pb;
    split_for_workers(cv, W, k_all, kmin, gv, true, &gb, &kb, &pb);
    fill_plan(cv, k_all, gb, kb, pb, plan);
    const double share = busiest_share(cv, plan, k_all, W);
    if (share > 1.0625 && kb2 > kmin) {
        ipx__plan other;
        split_for_workers(cv, W, k_all, kmin, gv, false, &gb2, &kb2, &pb2);
        fill_plan(cv, k_all, gb2, kb2, pb2, &other);
        if (busiest_share(cv, &other, k_all, W) < share) *plan = other;
    }
    return IPX_STATUS_SUCCESS;
}

typedef struct forward_pass {
    ipx__pass pass; /* first: the driver hands it back to the phases */
    const struct ipx_conv* cv;
    ipx__plan plan;
    const float* input;
    float* output;
    ipx__epilogue epilogue; /* ipx_conv_run_fused's: applied as each block is written */
    const float* input_scale; /* each input channel's factor, applied in the exchange */
} forward_pass;

void ipx__forward_block(const struct ipx_conv* cv, const ipx__plan* pl, int64_t idx, ipx__block* b,
                        int64_t* in_key, int64_t* w_key) {
    const int64_t kblk = idx % pl->n_kblk;
    idx /= pl->n_kblk;
    const int64_t pblk = idx % pl->n_pblk;
    idx /= pl->n_pblk;
    const int64_t gblk = idx % pl->n_gblk;
    b->n = idx / pl->n_gblk;
    b->g0 = gblk * pl->gb;
    b->gb = ipx__min(pl->gb, cv->d.g - b->g0);
    b->k0 = kblk * pl->kb;
    b->kb = ipx__min(pl->kb, ipx__round_up(cv->kg, ipx__max(cv->kernel->k_vector, 1)) - b->k0);
    b->p0 = pblk * pl->pb;
    b->pb = ipx__min(pl->pb, cv->p - b->p0);
    *in_key = (b->n * pl->n_gblk + gblk) * pl->n_pblk + pblk;
    *w_key = gblk * pl->n_kblk + kblk;
}

/* The block's input channels in the tile times scale: the kernel's own layout, or each
   channel's rows contiguous (padding is zero and stays zero: the whole of them is scaled). */
static void scale_tile_input(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b, float* tile,
                             const float* scale) {
    if (cv->kernel->scale_input) {
        cv->kernel->scale_input(cv, plan, b, tile, scale);
        return;
    }
    ipx__scale_channel_rows(cv, plan, b, tile, scale, plan->rows_in * plan->row_len);
}

void ipx__scale_channel_rows(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b, float* tile,
                             const float* scale, int64_t ch_stride) {
    const int64_t c0 = b->g0 * cv->cg;
    ipx__epilogue_apply(cv->isa, tile + plan->in_off, NULL, scale + b->n * cv->d.c + c0, NULL, 0, b->gb * cv->cg,
                        ch_stride, IPX_ACTIVATION_NONE);
}

/* Exchange phase: block s->block from its index (channel blocks innermost, so consecutive
   blocks of a worker share their input rows), and what the tile lacks of it. */
static void forward_exchange(const ipx__pass* pass, ipx__step* s) {
    const forward_pass* fp = (const forward_pass*)pass;
    const struct ipx_conv* cv = fp->cv;
    int64_t in_key, w_key;
    ipx__forward_block(cv, &fp->plan, s->block, &s->b, &in_key, &w_key);
    const unsigned loads = (in_key != s->in_key ? IPX__LOAD_INPUT : 0) |
                           (w_key != s->w_key ? IPX__LOAD_WEIGHTS : 0) | (s->fresh ? IPX__FRESH_TILE : 0);
    if (fp->input_scale && cv->kernel->exchange_scaled) { /* the scale applied as the input is copied in */
        const float* scale = fp->input_scale + s->b.n * cv->d.c + s->b.g0 * cv->cg;
        s->stats->bytes_in += 4u * cv->kernel->exchange_scaled(cv, &fp->plan, &s->b, fp->input, s->tile, loads, scale);
    } else {
        s->stats->bytes_in += 4u * cv->kernel->exchange(cv, &fp->plan, &s->b, fp->input, s->tile, loads);
        /* the row kernel copies the input rows whatever loads says */
        if (fp->input_scale && ((loads & IPX__LOAD_INPUT) || cv->kernel->id == IPX_KERNEL_ROW))
            scale_tile_input(cv, &fp->plan, &s->b, s->tile, fp->input_scale);
    }
    s->in_key = in_key;
    s->w_key = w_key;
}

void ipx__add_float(float* dst, float v) {
    uint32_t old = __atomic_load_n((uint32_t*)dst, __ATOMIC_RELAXED), sum_bits;
    do {
        float f;
        memcpy(&f, &old, sizeof f);
        f += v;
        memcpy(&sum_bits, &f, sizeof sum_bits);
    } while (!__atomic_compare_exchange_n((uint32_t*)dst, &old, sum_bits, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}

void ipx__epilogue_block(const struct ipx_conv* cv, const ipx__block* b, float* output, const ipx__epilogue* e) {
    const int64_t kreal = ipx__min(b->kb, cv->kg - b->k0), pix = b->pb * cv->q;
    /* the block's output rows are still in this worker's cache (a channel's pb rows are
       contiguous in NCHW; with whole planes, so are the block's channels: one run, one tail) */
    if (!e->channel_sums && b->pb == cv->p) {
        for (int64_t j = 0; j < b->gb; j++) {
            const int64_t off = (b->n * cv->d.k + (b->g0 + j) * cv->kg + b->k0) * cv->p * cv->q;
            ipx__epilogue_apply(cv->isa, output + off, e->residual ? e->residual + off : NULL, NULL, NULL, 0, 1,
                                kreal * pix, e->activation);
        }
        return;
    }
    for (int64_t j = 0; j < b->gb; j++)
        for (int64_t kk = 0; kk < kreal; kk++) {
            const int64_t plane = b->n * cv->d.k + (b->g0 + j) * cv->kg + b->k0 + kk;
            const int64_t off = (plane * cv->p + b->p0) * cv->q;
            float sum = 0.0f;
            ipx__epilogue_apply(cv->isa, output + off, e->residual ? e->residual + off : NULL, NULL,
                                e->channel_sums ? &sum : NULL, 0, 1, pix, e->activation);
            if (e->channel_sums) ipx__add_float(e->channel_sums + plane, sum);
        }
}

void ipx__forward_compute_write(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                                float* tile, float* output, const ipx__epilogue* e, ipx_worker_stats* st) {
    const int64_t kreal = ipx__min(b->kb, cv->kg - b->k0); /* real channels per group */
    const uint64_t kout = (uint64_t)(b->gb * kreal);
    const uint64_t pix = (uint64_t)(b->pb * cv->q);
    const bool any = e->residual != NULL || e->activation != IPX_ACTIVATION_NONE || e->channel_sums != NULL;
    if (any && cv->kernel->compute_fused) {
        cv->kernel->compute_fused(cv, plan, b, tile, output, e);
    } else {
        cv->kernel->compute(cv, plan, b, tile, output);
        if (any) ipx__epilogue_block(cv, b, output, e);
    }
    st->bytes_in += e->residual ? 4u * kout * pix : 0;
    st->flops += 2u * kout * pix * (uint64_t)(cv->cg * cv->d.r * cv->d.s);
    st->bytes_out += 4u * kout * pix;
}

static void forward_compute(const ipx__pass* pass, ipx__step* s) {
    const forward_pass* fp = (const forward_pass*)pass;
    ipx__forward_compute_write(fp->cv, &fp->plan, &s->b, s->tile, fp->output, &fp->epilogue, s->stats);
}

ipx_status ipx__check_epilogue(const struct ipx_conv* cv, const ipx_conv_epilogue* e, size_t out_len) {
    if (e == NULL) return IPX_STATUS_SUCCESS;
    if (e->activation < IPX_ACTIVATION_NONE || e->activation > IPX_ACTIVATION_HARDSWISH)
        return IPX_STATUS_UNSUPPORTED;
    if ((e->residual != NULL && e->residual_len != out_len) ||
        (e->channel_sums != NULL && e->channel_sums_len != (size_t)(cv->d.n * cv->d.k)) ||
        (e->input_scale != NULL && e->input_scale_len != (size_t)(cv->d.n * cv->d.c)))
        return IPX_STATUS_INVALID_BUFFER_SIZE;
    if (e->input_scale != NULL && cv->kernel->id == IPX_KERNEL_GEMM)
        return IPX_STATUS_UNSUPPORTED;
    return IPX_STATUS_SUCCESS;
}

/* Runs the forward geometry of cv (a handle or its backward-data handle) on input. */
static ipx_status run_forward(ipx_conv_t conv, const struct ipx_conv* cv, ipx_pool_t pool,
                              const float* input, size_t input_len, size_t want_input,
                              float* output, size_t output_len, size_t want_output,
                              const ipx_conv_epilogue* epilogue) {
    if (input_len != want_input || output_len != want_output) return IPX_STATUS_INVALID_BUFFER_SIZE;
    ipx_status status = ipx__check_epilogue(cv, epilogue, output_len);
    if (status != IPX_STATUS_SUCCESS) return status;
    status = ipx__acquire_pair(conv, pool);
    if (status != IPX_STATUS_SUCCESS) return status;
    forward_pass fp = {
        .pass = {.pool = pool, .chunks = 1, .exchange = forward_exchange, .compute = forward_compute,
                 .kernel = cv->kernel->id, .algorithm = cv->algorithm},
        .cv = cv, .input = input, .output = output,
        .epilogue = {.residual = epilogue ? epilogue->residual : NULL,
                     .channel_sums = epilogue ? epilogue->channel_sums : NULL,
                     .activation = epilogue ? epilogue->activation : IPX_ACTIVATION_NONE},
        .input_scale = epilogue ? epilogue->input_scale : NULL,
    };
    if (fp.epilogue.channel_sums) memset(fp.epilogue.channel_sums, 0, (size_t)(cv->d.n * cv->d.k) * sizeof(float));
    status = make_plan(cv, pool, &fp.plan);
    struct ipx_conv view; /* the tile cannot hold one block of cv's kernel: its fallback's */
    if (status == IPX_STATUS_TILE_TOO_SMALL && ipx__fallback_view(cv, &view)) {
        fp.cv = cv = &view;
        status = make_plan(cv, pool, &fp.plan);
    }
    fp.pass.blocks = fp.plan.blocks;
    fp.pass.claim = claim_blocks(&fp.plan, cv->d.n, pool->workers);
    status = ipx__pool_run_pass(&fp.pass, status);
    ipx__release_pair(conv, pool);
    return status;
}

ipx_status ipx_conv_run_fused(ipx_conv_t conv, ipx_pool_t pool, const float* input, size_t input_len,
                              float* output, size_t output_len, const ipx_conv_epilogue* epilogue) {
    if (conv == NULL || pool == NULL || input == NULL || output == NULL)
        return IPX_STATUS_NULL_POINTER;
    const ipx_conv_desc* d = &conv->d;
    return run_forward(conv, conv, pool, input, input_len, (size_t)(d->n * d->c * d->h * d->w),
                       output, output_len, (size_t)(d->n * d->k * conv->p * conv->q), epilogue);
}

ipx_status ipx_conv_run(ipx_conv_t conv, ipx_pool_t pool, const float* input, size_t input_len,
                        float* output, size_t output_len) {
    return ipx_conv_run_fused(conv, pool, input, input_len, output, output_len, NULL);
}

ipx_status ipx_conv_run_backward_data(ipx_conv_t conv, ipx_pool_t pool, const float* grad_output,
                                      size_t grad_output_len, float* grad_input,
                                      size_t grad_input_len) {
    if (conv == NULL || pool == NULL || grad_output == NULL || grad_input == NULL)
        return IPX_STATUS_NULL_POINTER;
    if (conv->bwd == NULL) return IPX_STATUS_UNSUPPORTED;
    const ipx_conv_desc* d = &conv->d;
    return run_forward(conv, conv->bwd, pool, grad_output, grad_output_len,
                       (size_t)(d->n * d->k * conv->p * conv->q), grad_input, grad_input_len,
                       (size_t)(d->n * d->c * d->h * d->w), NULL);
}
