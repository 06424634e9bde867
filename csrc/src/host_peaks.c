/* Host limits measured on a pool: the FP32 FMA peak of its workers and a STREAM-triad
   bandwidth (a[i] = b[i] + s*c[i]) over arrays far larger than the caches, plus the same
   triad inside tile memory. Used for rooflines and "% of peak"; not a conv run, so it may
   allocate (the triad arrays, touched before timing). */
#include "internal.h"
#include "vec.h"

#include <stdlib.h>

/* Independent FMA chains per worker: enough to cover FMA latency x throughput (4 x 2 on
   current x86 cores) with room to spare. */
#define PEAK_CHAINS 12
#define PEAK_ITERS 4000000
#define PEAK_REPS 5
#define TRIAD_REPS 5

typedef struct peak_ctx {
    ipx_pool_t pool;
    int isa;
    int mode;               /* 0 FMA, 1 triad over arrays, 2 triad in tile memory */
    float *a, *b, *c;       /* triad arrays (mode 1) */
    size_t n;               /* elements per array (mode 1) */
} peak_ctx;

IPX_INLINE void fma_body(float* sink) {
    ipx_v8 acc[PEAK_CHAINS];
    const ipx_v8 m = v8_bcast(0.999999f), add = v8_bcast(1e-6f);
    /* Start values from memory, so the compiler cannot fold or merge any chain. */
    for (int i = 0; i < PEAK_CHAINS; i++) acc[i] = v8_load(sink) + (float)(i + 1);
    for (long it = 0; it < PEAK_ITERS; it++)
        for (int i = 0; i < PEAK_CHAINS; i++) acc[i] = acc[i] * m + add;
    ipx_v8 t = acc[0];
    for (int i = 1; i < PEAK_CHAINS; i++) t += acc[i];
    v8_store(sink, t); /* keeps the chains alive */
}

IPX_INLINE void triad_body(float* a, const float* b, const float* c, size_t n) {
    const float s = 3.0f;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) v8_store(a + i, v8_load(b + i) + v8_load(c + i) * s);
    for (; i < n; i++) a[i] = b[i] + s * c[i];
}

/* The measured loops in each ISA build (the AVX-512 one keeps the AVX2 code: the peaks
   are those of the 8-wide FMAs every build uses). */
typedef struct peak_loops {
    void (*fma)(float* sink);
    void (*triad)(float* a, const float* b, const float* c, size_t n);
} peak_loops;
#define PEAK_BUILD(isa, ISA, TARGET, COPY_TARGET, WIDE, ...)                                       \
    COPY_TARGET static void fma_##isa(float* sink) { fma_body(sink); }                        \
    COPY_TARGET static void triad_##isa(float* a, const float* b, const float* c, size_t n) { \
        triad_body(a, b, c, n);                                                              \
    }
IPX_FOR_EACH_ISA(PEAK_BUILD, )
#undef PEAK_BUILD
#define PEAK_ENTRY(isa, ISA, ...) [ISA] = {fma_##isa, triad_##isa},
static const peak_loops peak_builds[IPX__ISA_COUNT] = {IPX_FOR_EACH_ISA(PEAK_ENTRY, )};
#undef PEAK_ENTRY

static uint64_t thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void peak_job(void* vctx, uint32_t wi) {
    const peak_ctx* ctx = vctx;
    ipx_pool_t pool = ctx->pool;
    float* tile = ipx__pool_tile(pool, wi);
    const peak_loops* loops = &peak_builds[ctx->isa];
    if (ctx->mode == 0) {
        /* timed on the worker's own CPU clock: a worker that shared its CPU with another
           thread, or waited for one, is not counted slower than its core */
        const uint64_t t0 = thread_cpu_ns();
        loops->fma(tile);
        ipx_worker_stats* st = ipx__pool_stats(pool, wi);
        st->compute_ns += thread_cpu_ns() - t0;
        st->flops += 2u * 8u * PEAK_CHAINS * (uint64_t)PEAK_ITERS;
        return;
    }
    float *a, *b, *c;
    size_t n;
    if (ctx->mode == 1) {
        size_t lo = ctx->n * wi / pool->workers, hi = ctx->n * (wi + 1) / pool->workers;
        a = ctx->a + lo, b = ctx->b + lo, c = ctx->c + lo, n = hi - lo;
    } else {
        n = (size_t)(pool->tile_bytes / sizeof(float)) / 3 / 16 * 16;
        a = tile, b = tile + n, c = tile + 2 * n;
    }
    /* Tile triads are short: repeat them so the timing is not all barrier. */
    int reps = ctx->mode == 2 ? 64 : 1;
    for (int r = 0; r < reps; r++) loops->triad(a, b, c, n);
    ipx_worker_stats* st = ipx__pool_stats(pool, wi);
    st->bytes_in += 2u * 4u * n * (uint64_t)reps;
    st->bytes_out += 4u * n * (uint64_t)reps;
}

/* The FMA peak: each worker's best rate over reps runs, on its own CPU clock, summed over
   the workers. The whole pool's wall-clock rate read half the peak now and then on a shared
   2-vCPU VM (117 of 235 GFLOP/s: one vCPU taken away for a whole run, or both workers on one
   vCPU), and the host model's every compute time scales with it. */
static double fma_peak(peak_ctx* ctx, int reps) {
    double best[IPX_MAX_WORKERS] = {0}, total = 0;
    const uint32_t W = ctx->pool->workers;
    for (int r = 0; r < reps; r++) {
        ipx__pool_run(ctx->pool, peak_job, ctx);
        for (uint32_t i = 0; i < W; i++) {
            const ipx_worker_stats* s = &ctx->pool->slots[i].stats;
            const double rate = s->compute_ns ? (double)s->flops / ((double)s->compute_ns * 1e-9) : 0;
            if (rate > best[i]) best[i] = rate;
        }
    }
    for (uint32_t i = 0; i < W; i++) total += best[i];
    return total;
}

/* Best (shortest) of reps runs of one mode; returns the rate of the counted quantity. */
static double best_rate(peak_ctx* ctx, int reps, bool bytes) {
    double best = 0;
    for (int r = 0; r < reps; r++) {
        uint64_t t0 = ipx__now_ns();
        ipx__pool_run(ctx->pool, peak_job, ctx);
        uint64_t t1 = ipx__now_ns();
        uint64_t total = 0;
        for (uint32_t i = 0; i < ctx->pool->workers; i++) {
            const ipx_worker_stats* s = &ctx->pool->slots[i].stats;
            total += bytes ? s->bytes_in + s->bytes_out : s->flops;
        }
        double rate = (double)total / ((double)(t1 - t0) * 1e-9);
        if (rate > best) best = rate;
    }
    return best;
}

ipx_status ipx_pool_measure_peaks(ipx_pool_t pool, uint64_t array_bytes, int32_t flags,
                                  ipx_host_peaks* out) {
    if (pool == NULL || out == NULL) return IPX_STATUS_NULL_POINTER;
    if (flags & ~(int32_t)IPX_FLAG_PORTABLE) return IPX_STATUS_INVALID_FLAGS;
    if (array_bytes == 0) array_bytes = 64u << 20;
    if (array_bytes < 4096 || array_bytes > (1ull << 36)) return IPX_STATUS_INVALID_BUFFER_SIZE;
    if (pool->memory_limit != 0 && 3 * array_bytes > pool->memory_limit) return IPX_STATUS_MEMORY_LIMIT;
    if (!ipx__try_acquire(&pool->in_use)) return IPX_STATUS_BUSY;
    ipx_status status = IPX_STATUS_OUT_OF_MEMORY;
    peak_ctx ctx = {.pool = pool};
    /* reported as AVX2 on AVX-512 CPUs too: the same loops */
    ctx.isa = (int)ipx__min(ipx__pick_isa(flags & IPX_FLAG_PORTABLE), IPX_ISA_AVX2);
    ctx.n = (size_t)(array_bytes / sizeof(float));
    ctx.a = malloc(ctx.n * sizeof(float));
    ctx.b = malloc(ctx.n * sizeof(float));
    ctx.c = malloc(ctx.n * sizeof(float));
    if (ctx.a == NULL || ctx.b == NULL || ctx.c == NULL) goto done;
    for (size_t i = 0; i < ctx.n; i++) ctx.a[i] = 0.0f, ctx.b[i] = 1.0f, ctx.c[i] = 2.0f;
    memset(out, 0, sizeof(*out));
    ctx.mode = 0;
    out->peak_flop_s = fma_peak(&ctx, PEAK_REPS);
    ctx.mode = 1;
    best_rate(&ctx, 1, true); /* warm-up: caches and TLB in the same state for every rep */
    out->mem_bw_b_s = best_rate(&ctx, TRIAD_REPS, true);
    ctx.mode = 2;
    out->tile_bw_b_s = best_rate(&ctx, TRIAD_REPS, true);
    out->workers = pool->workers;
    out->isa = ctx.isa;
    out->array_bytes = array_bytes;
    status = IPX_STATUS_SUCCESS;
    if (atomic_exchange(&pool->cancel, 0)) status = IPX_STATUS_CANCELLED;
done:
    free(ctx.a);
    free(ctx.b);
    free(ctx.c);
    memset(&pool->last, 0, sizeof(pool->last));
    ipx__release(&pool->in_use);
    return status;
}
