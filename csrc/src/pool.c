/* The worker pool: W persistent workers ("tiles") with their own tile memory, running
   bulk-synchronous supersteps: a run ends when every worker has finished its blocks. The
   caller of a run is worker 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "desc.h"
#include "internal.h"

/* Hand-offs. A run is one publication and one count-down (each worker that joined the run
   leaves it when its share is done; the caller waits for none to be left): workers never wait
   for each other, and between runs they go straight back to waiting for the next. Once the
   caller has finished its share, no block is left to hand out, so the caller closes the run:
   a worker that had not started by then (asleep, or waiting for a core on a busy machine)
   skips it rather than being waited for. Waits spin (a network's layers come back to back:
   the next run is usually published within microseconds), then spin and yield, then sleep on
   a condition variable: idle workers after IPX_IDLE_SPIN_NS (so that the pool leaves the
   cores to the caller's other work soon after a run), the caller waiting for the workers in
   the run after IPX_RUN_SPIN_NS. A waiter that shares its CPU with a thread it waits for (the
   scheduler put both on one core, as it does when the machine is busy or a woken thread lands
   on its waker's core) would spin away that thread's time: it yields at every turn instead,
   and an idle worker on the caller's core sleeps at once. With more workers than CPUs, yield
   from the start. */
#define IPX_PURE_SPIN_NS 20000u
#define IPX_RUN_SPIN_NS 3000000u
#define IPX_IDLE_SPIN_NS 200000u
#define IPX_YIELD_EVERY 16
#define IPX_CLOCK_EVERY 128 /* spins between two readings of the clock (and of the CPU) */

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Does a worker that has not finished its share of this run share the caller's CPU? */
static bool caller_shares_cpu(ipx_pool_t pool) {
    const int32_t cpu = sched_getcpu();
    for (uint32_t i = 1; i < pool->workers; i++)
        if (atomic_load_explicit(&pool->slots[i].done_ns, memory_order_relaxed) == 0 &&
            atomic_load_explicit(&pool->slots[i].cpu, memory_order_relaxed) == cpu)
            return true;
    return false;
}

/* Is the run over for the caller: no worker in it, and with `every`, every worker was? */
static bool run_over(ipx_pool_t pool, bool every) {
    return atomic_load(&pool->active) == 0 && (!every || atomic_load(&pool->finished) == pool->workers - 1);
}

/* The caller's wait for the end of the run (its own share done). */
static void wait_for_workers(ipx_pool_t pool, bool every) {
    uint64_t start = 0;
    bool yield = pool->oversubscribed, always = false;
    for (uint32_t i = 1;; i++) {
        if (run_over(pool, every)) return;
        if (always || (yield && i % IPX_YIELD_EVERY == 0)) sched_yield();
        else cpu_relax();
        if (i % IPX_CLOCK_EVERY == 0) {
            const uint64_t now = ipx__now_ns();
            if (start == 0) start = now;
            else if (now - start > IPX_RUN_SPIN_NS) break;
            else if (now - start > IPX_PURE_SPIN_NS) yield = true;
            always = caller_shares_cpu(pool);
        }
    }
    pthread_mutex_lock(&pool->mutex);
    atomic_store(&pool->caller_sleeps, 1); /* then the counts are read: a worker's decrement sees it */
    while (!run_over(pool, every)) pthread_cond_wait(&pool->done_cond, &pool->mutex);
    atomic_store(&pool->caller_sleeps, 0);
    pthread_mutex_unlock(&pool->mutex);
}

/* A worker's wait for the run after generation `seen`; returns the new generation. */
static uint32_t wait_for_run(ipx_pool_t pool, uint32_t seen) {
    uint64_t start = 0;
    bool yield = pool->oversubscribed;
    for (uint32_t i = 1;; i++) {
        const uint32_t gen = atomic_load_explicit(&pool->run_gen, memory_order_acquire);
        if (gen != seen) return gen;
        if (yield && i % IPX_YIELD_EVERY == 0) sched_yield();
        else cpu_relax();
        if (i % IPX_CLOCK_EVERY == 0) {
            const uint64_t now = ipx__now_ns();
            if (start == 0) start = now;
            else if (now - start > IPX_IDLE_SPIN_NS) break;
            else if (now - start > IPX_PURE_SPIN_NS) yield = true;
            if (atomic_load_explicit(&pool->slots[0].cpu, memory_order_relaxed) == sched_getcpu()) break;
        }
    }
    pthread_mutex_lock(&pool->mutex);
    atomic_fetch_add(&pool->sleepers, 1); /* then run_gen is read: a publication sees it */
    uint32_t gen;
    while ((gen = atomic_load(&pool->run_gen)) == seen) pthread_cond_wait(&pool->run_cond, &pool->mutex);
    atomic_fetch_sub(&pool->sleepers, 1);
    pthread_mutex_unlock(&pool->mutex);
    return gen;
}

/* Publishes the pool's job (or a shutdown) to the workers as the next generation. */
static void publish_run(ipx_pool_t pool) {
    uint32_t gen = atomic_load_explicit(&pool->run_gen, memory_order_relaxed) + 1;
    if (gen == 0) gen = 1; /* 0 is open_run's "closed" */
    atomic_store(&pool->finished, 0);
    atomic_store(&pool->open_run, gen);
    atomic_store(&pool->run_gen, gen); /* then sleepers is read: a worker going to sleep sees the run */
    if (atomic_load(&pool->sleepers) != 0) {
        pthread_mutex_lock(&pool->mutex);
        pthread_cond_broadcast(&pool->run_cond);
        pthread_mutex_unlock(&pool->mutex);
    }
}

/* Worker `index` (not the caller) takes part in run `gen` if it is still open. */
static void join_run(ipx_pool_t pool, uint32_t index, uint32_t gen) {
    atomic_fetch_add(&pool->active, 1); /* then open_run is read: a closing caller sees us */
    if (atomic_load(&pool->open_run) == gen) {
        atomic_store_explicit(&pool->slots[index].cpu, sched_getcpu(), memory_order_relaxed);
        pool->job(pool->job_ctx, index);
        atomic_store_explicit(&pool->slots[index].done_ns, ipx__now_ns(), memory_order_relaxed);
        atomic_fetch_add(&pool->finished, 1);
    }
    atomic_fetch_sub(&pool->active, 1);
    if (atomic_load(&pool->caller_sleeps)) {
        pthread_mutex_lock(&pool->mutex);
        pthread_cond_broadcast(&pool->done_cond);
        pthread_mutex_unlock(&pool->mutex);
    }
}

typedef struct thread_arg {
    ipx_pool_t pool;
    uint32_t index;
} thread_arg;

static void* worker_main(void* varg) {
    ipx_pool_t pool = ((thread_arg*)varg)->pool;
    uint32_t index = ((thread_arg*)varg)->index;
    free(varg);
    for (uint32_t gen = 0;;) {
        gen = wait_for_run(pool, gen);
        if (atomic_load(&pool->shutdown)) break;
        join_run(pool, index, gen);
    }
    return NULL;
}

uint32_t ipx_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1u : (uint32_t)(n > IPX_MAX_WORKERS ? IPX_MAX_WORKERS : n);
}

static void pool_free(ipx_pool_t pool) {
    if (pool == NULL) return;
    if (pool->threads_started > 0) {
        atomic_store(&pool->shutdown, 1);
        publish_run(pool);
        for (uint32_t i = 0; i < pool->threads_started; i++) pthread_join(pool->threads[i], NULL);
    }
    if (pool->sync_ready) {
        pthread_cond_destroy(&pool->done_cond);
        pthread_cond_destroy(&pool->run_cond);
        pthread_mutex_destroy(&pool->mutex);
    }
    free(pool->threads);
    free(pool->tiles);
    free(pool->slots);
    free(pool);
}

ipx_status ipx_pool_create(const ipx_pool_desc* desc, ipx_pool_t* pool_out) {
    ipx_status status = IPX_STATUS_NULL_POINTER;
    ipx_pool_t pool = NULL;
    if (pool_out == NULL) return status;
    *pool_out = NULL;
    ipx_pool_desc d = {0};
    if (desc != NULL) {
        status = ipx__read_desc(&d, sizeof d, IPX_POOL_DESC_SIZE_0_1, desc);
        if (status != IPX_STATUS_SUCCESS) goto error;
    }

    status = IPX_STATUS_INVALID_WORKERS;
    if (d.workers > IPX_MAX_WORKERS) goto error;
    uint32_t workers = d.workers ? d.workers : ipx_cpu_count();
    status = IPX_STATUS_INVALID_TILE_BYTES;
    uint64_t tile_bytes = d.tile_bytes ? d.tile_bytes : IPX_DEFAULT_TILE_BYTES;
    if (tile_bytes < IPX_MIN_TILE_BYTES || tile_bytes > IPX_MAX_TILE_BYTES) goto error;

    /* Each worker's tile starts on its own page; page size multiple of 64 floats. */
    size_t stride_bytes = (size_t)ipx__round_up((int64_t)tile_bytes, 4096);
    size_t total;
    status = IPX_STATUS_SIZE_OVERFLOW;
    if (__builtin_mul_overflow(stride_bytes, (size_t)workers, &total)) goto error;
    size_t overhead = sizeof(struct ipx_pool) + workers * (sizeof(pthread_t) + sizeof(ipx__worker_slot));
    status = IPX_STATUS_MEMORY_LIMIT;
    if (d.memory_limit != 0 && (total > d.memory_limit || total + overhead > d.memory_limit))
        goto error;

    status = IPX_STATUS_OUT_OF_MEMORY;
    pool = calloc(1, sizeof(*pool));
    if (pool == NULL) goto error;
    pool->workers = workers;
    pool->tile_bytes = tile_bytes;
    pool->memory_limit = d.memory_limit;
    pool->tile_stride = stride_bytes / sizeof(float);
    atomic_init(&pool->shutdown, 0);
    atomic_init(&pool->cancel, 0);
    atomic_init(&pool->in_use, 0);
    atomic_init(&pool->trace_next, 0);
    void* tiles = NULL;
    if (posix_memalign(&tiles, 4096, total) != 0) goto error;
    pool->tiles = tiles;
    /* Touch every page now: runs must never pay for first-touched pages. */
    memset(pool->tiles, 0, total);
    void* slots = NULL;
    if (posix_memalign(&slots, IPX_CACHE_LINE, workers * sizeof(ipx__worker_slot)) != 0) goto error;
    pool->slots = slots;
    memset(pool->slots, 0, workers * sizeof(ipx__worker_slot));
    pool->threads = calloc(workers, sizeof(pthread_t));
    if (pool->threads == NULL) goto error;

    for (uint32_t i = 0; i < workers; i++) atomic_init(&pool->slots[i].cpu, -1);
    pool->oversubscribed = workers > ipx_cpu_count();
    atomic_init(&pool->run_gen, 0);
    atomic_init(&pool->open_run, 0);
    atomic_init(&pool->active, 0);
    atomic_init(&pool->finished, 0);
    atomic_init(&pool->sleepers, 0);
    atomic_init(&pool->caller_sleeps, 0);
    status = IPX_STATUS_THREAD_ERROR;
    if (pthread_mutex_init(&pool->mutex, NULL) != 0) goto error;
    if (pthread_cond_init(&pool->run_cond, NULL) != 0) {
        pthread_mutex_destroy(&pool->mutex);
        goto error;
    }
    if (pthread_cond_init(&pool->done_cond, NULL) != 0) {
        pthread_cond_destroy(&pool->run_cond);
        pthread_mutex_destroy(&pool->mutex);
        goto error;
    }
    pool->sync_ready = true;
    for (uint32_t i = 1; i < workers; i++) {
        thread_arg* arg = malloc(sizeof(*arg));
        if (arg == NULL) {
            status = IPX_STATUS_OUT_OF_MEMORY;
            goto error;
        }
        arg->pool = pool;
        arg->index = i;
        if (pthread_create(&pool->threads[i - 1], NULL, worker_main, arg) != 0) {
            free(arg);
            goto error;
        }
        pool->threads_started++;
    }
    *pool_out = pool;
    return IPX_STATUS_SUCCESS;

error:
    pool_free(pool);
    return status;
}

ipx_status ipx_pool_destroy(ipx_pool_t pool) {
    if (pool != NULL && !ipx__try_acquire(&pool->in_use)) return IPX_STATUS_BUSY;
    pool_free(pool);
    return IPX_STATUS_SUCCESS;
}

ipx_status ipx_pool_get_config(ipx_pool_t pool, uint32_t* workers, uint64_t* tile_bytes) {
    if (pool == NULL) return IPX_STATUS_NULL_POINTER;
    if (workers) *workers = pool->workers;
    if (tile_bytes) *tile_bytes = pool->tile_bytes;
    return IPX_STATUS_SUCCESS;
}

ipx_status ipx_pool_cancel(ipx_pool_t pool) {
    if (pool == NULL) return IPX_STATUS_NULL_POINTER;
    atomic_store(&pool->cancel, 1);
    return IPX_STATUS_SUCCESS;
}

ipx_status ipx_pool_get_stats(ipx_pool_t pool, ipx_run_stats* totals,
                              ipx_worker_stats* per_worker, size_t count) {
    if (pool == NULL) return IPX_STATUS_NULL_POINTER;
    if (per_worker != NULL && count < pool->workers) return IPX_STATUS_INVALID_BUFFER_SIZE;
    if (!ipx__try_acquire(&pool->in_use)) return IPX_STATUS_BUSY;
    if (totals) *totals = pool->last;
    if (per_worker)
        for (uint32_t i = 0; i < pool->workers; i++) per_worker[i] = pool->slots[i].stats;
    ipx__release(&pool->in_use);
    return IPX_STATUS_SUCCESS;
}

/* A run of job; with `every`, on every worker (the caller waits for each to start and end),
   else on those that start before the caller has finished its share. */
static bool pool_run(ipx_pool_t pool, ipx__job_fn job, void* ctx, bool every) {
    for (uint32_t i = 0; i < pool->workers; i++) {
        memset(&pool->slots[i].stats, 0, sizeof(ipx_worker_stats));
        atomic_store_explicit(&pool->slots[i].done_ns, 0, memory_order_relaxed);
    }
    /* A cancel requested while no run was going stops this one before it starts. */
    if (atomic_exchange(&pool->cancel, 0) != 0) return true;
    pool->job = job;
    pool->job_ctx = ctx;
    publish_run(pool);
    atomic_store_explicit(&pool->slots[0].cpu, sched_getcpu(), memory_order_relaxed);
    job(ctx, 0);
    atomic_store_explicit(&pool->slots[0].done_ns, ipx__now_ns(), memory_order_relaxed);
    if (!every) atomic_store(&pool->open_run, 0); /* then active is read: a joining worker sees the close */
    wait_for_workers(pool, every);
    atomic_store(&pool->open_run, 0);
    pool->run_end_ns = ipx__now_ns();
    /* a cancel that came during the run stopped the workers' claims */
    return atomic_exchange(&pool->cancel, 0) != 0;
}

bool ipx__pool_run(ipx_pool_t pool, ipx__job_fn job, void* ctx) { return pool_run(pool, job, ctx, true); }

ipx_status ipx_pool_set_trace(ipx_pool_t pool, ipx_trace_event* events, size_t capacity) {
    if (pool == NULL || (events == NULL && capacity > 0)) return IPX_STATUS_NULL_POINTER;
    if (events != NULL && capacity == 0) return IPX_STATUS_INVALID_BUFFER_SIZE;
    if (!ipx__try_acquire(&pool->in_use)) return IPX_STATUS_BUSY;
    pool->trace = events;
    pool->trace_capacity = capacity;
    atomic_store(&pool->trace_next, 0);
    pool->trace_run = 0;
    ipx__release(&pool->in_use);
    return IPX_STATUS_SUCCESS;
}

ipx_status ipx_pool_get_trace(ipx_pool_t pool, size_t* recorded, uint64_t* dropped) {
    if (pool == NULL) return IPX_STATUS_NULL_POINTER;
    if (!ipx__try_acquire(&pool->in_use)) return IPX_STATUS_BUSY;
    uint64_t claimed = atomic_load(&pool->trace_next);
    uint64_t kept = claimed < pool->trace_capacity ? claimed : pool->trace_capacity;
    if (recorded) *recorded = (size_t)kept;
    if (dropped) *dropped = claimed - kept;
    ipx__release(&pool->in_use);
    return IPX_STATUS_SUCCESS;
}

/* Claims the next trace slot for one span; a claim past the end is only counted. */
static void trace_put(ipx_pool_t pool, uint32_t worker, int64_t step, int32_t phase,
                      uint64_t start, uint64_t end) {
    uint64_t i = atomic_fetch_add_explicit(&pool->trace_next, 1, memory_order_relaxed);
    if (i >= pool->trace_capacity) return;
    pool->trace[i] = (ipx_trace_event){.start_ns = start, .end_ns = end,
                                       .superstep = (uint64_t)step, .run = pool->trace_run,
                                       .worker = worker, .phase = phase};
}

/* Blocks are handed out owner first, as an IPU maps a tensor's regions to tiles: each worker
   owns a contiguous range of the pass's claims (claim consecutive blocks each), the same
   fraction of the block order in every pass, so that consecutive layers cut the same way
   (rows of an image, images of a batch) keep a worker on the region it wrote in the previous
   pass (its own L2) instead of reading the other core's. A worker takes its own range from the
   front; when it is done, it steals single claims from the back of the range with the most
   left. A static split made every worker wait at each superstep's barrier for the slowest (on
   a loaded machine a descheduled worker stalled all the others: 70-85% of a run's time
   waiting); stealing keeps the balance of a shared counter: a worker that falls behind (or
   never starts) loses the end of its range to the others. A range is first | end << 32 in one
   atomic word: an owner's take and a thief's cannot both get the last claim. */
static bool take_claim_from(ipx_pool_t pool, uint32_t owner, bool back, int64_t* claim_index) {
    _Atomic uint64_t* range = &pool->slots[owner].range;
    uint64_t r = atomic_load_explicit(range, memory_order_relaxed);
    for (;;) {
        const uint64_t first = r & 0xffffffffu, end = r >> 32;
        if (first >= end) return false;
        const uint64_t left = back ? first | (end - 1) << 32 : (first + 1) | end << 32;
        if (atomic_compare_exchange_weak_explicit(range, &r, left, memory_order_relaxed, memory_order_relaxed)) {
            *claim_index = (int64_t)(back ? end - 1 : first);
            return true;
        }
    }
}

/* The next claim for worker wi: from its own range, else stolen; false when none is left. */
static bool take_claim(ipx_pool_t pool, uint32_t wi, int64_t* claim_index) {
    if (take_claim_from(pool, wi, false, claim_index)) return true;
    for (;;) {
        uint32_t victim = wi;
        uint64_t most = 0;
        for (uint32_t v = 0; v < pool->workers; v++) {
            const uint64_t r = atomic_load_explicit(&pool->slots[v].range, memory_order_relaxed);
            const uint64_t first = r & 0xffffffffu, end = r >> 32;
            if (v != wi && end > first && end - first > most) most = end - first, victim = v;
        }
        if (victim == wi) return false;
        if (take_claim_from(pool, victim, true, claim_index)) return true;
    }
}

/* Splits the pass's claims into the workers' ranges (before the run is published). */
static void assign_ranges(ipx_pool_t pool, const ipx__pass* pass) {
    int64_t claim = pass->claim > 0 ? pass->claim : 1;
    while (ipx__div_up(pass->blocks, claim) > (int64_t)UINT32_MAX) claim *= 2; /* indices fit 32 bits */
    const int64_t claims = ipx__div_up(pass->blocks, claim), W = pool->workers;
    pool->claim_blocks = claim;
    for (int64_t w = 0; w < W; w++) {
        int64_t lo, hi;
        ipx__worker_range(claims, w, W, &lo, &hi);
        atomic_store_explicit(&pool->slots[w].range, (uint64_t)lo | (uint64_t)hi << 32, memory_order_relaxed);
    }
}

/* One worker's share of a pass: its claims (above), every chunk of a claimed block in order.
   A block's chunks stay on one worker (backward weights accumulates them in its tile). Each
   step is traced as a superstep of this worker (numbered from 0); its wait, from its end to
   the run's, is counted by the driver. */
static void superstep_job(void* vctx, uint32_t wi) {
    const ipx__pass* pass = vctx;
    ipx_pool_t pool = pass->pool;
    const int64_t claim = pool->claim_blocks;
    ipx_worker_stats* st = ipx__pool_stats(pool, wi);
    ipx__step s = {.tile = ipx__pool_tile(pool, wi), .stats = st, .in_key = -1, .w_key = -1};
    const bool traced = pool->trace != NULL;
    if (traced) trace_put(pool, wi, 0, IPX_TRACE_START, pool->run_start_ns, ipx__now_ns());
    int64_t step = 0;
    int64_t claim_index;
    while (!atomic_load_explicit(&pool->cancel, memory_order_relaxed) && take_claim(pool, wi, &claim_index)) {
        const int64_t first = claim_index * claim, last = ipx__min(first + claim, pass->blocks);
        for (s.block = first; s.block < last; s.block++)
            for (s.chunk = 0; s.chunk < pass->chunks; s.chunk++, step++) {
                s.fresh = step == 0;
                const uint64_t t0 = ipx__now_ns();
                pass->exchange(pass, &s);
                const uint64_t t1 = ipx__now_ns();
                pass->compute(pass, &s);
                const uint64_t t2 = ipx__now_ns();
                st->exchange_ns += t1 - t0;
                st->compute_ns += t2 - t1;
                st->supersteps++;
                if (traced) {
                    trace_put(pool, wi, step, IPX_TRACE_EXCHANGE, t0, t1);
                    trace_put(pool, wi, step, IPX_TRACE_COMPUTE, t1, t2);
                }
            }
    }
}

ipx_status ipx__pool_run_pass(ipx__pass* pass, ipx_status plan_status) {
    ipx_pool_t pool = pass->pool;
    ipx_run_stats* last = &pool->last;
    ipx_status status = plan_status;
    if (status == IPX_STATUS_SUCCESS) {
        assign_ranges(pool, pass); /* published with the run */
        uint64_t t0 = ipx__now_ns();
        pool->run_start_ns = pool->run_end_ns = t0; /* a run cancelled before it starts runs no job */
        bool cancelled = pool_run(pool, superstep_job, pass, false);
        /* each worker waited from the end of its share to the run's */
        const bool ran = atomic_load_explicit(&pool->slots[0].done_ns, memory_order_relaxed) != 0;
        for (uint32_t i = 0; ran && i < pool->workers; i++) {
            const uint64_t done = atomic_load_explicit(&pool->slots[i].done_ns, memory_order_relaxed);
            const uint64_t steps = pool->slots[i].stats.supersteps, end = pool->run_end_ns;
            if (done != 0) pool->slots[i].stats.wait_ns = end - done;
            if (pool->trace == NULL) continue;
            if (done == 0) /* skipped the run: it waited for it to start until it ended */
                trace_put(pool, i, 0, IPX_TRACE_START, pool->run_start_ns, end);
            trace_put(pool, i, steps > 0 ? steps - 1 : 0, IPX_TRACE_WAIT, done ? done : end, end);
        }
        uint64_t t1 = ipx__now_ns();
        status = cancelled ? IPX_STATUS_CANCELLED : IPX_STATUS_SUCCESS;
        memset(last, 0, sizeof(*last));
        last->wall_s = (double)(t1 - t0) * 1e-9;
        uint64_t supersteps = 0; /* the longest worker's */
        for (uint32_t i = 0; i < pool->workers; i++) {
            const ipx_worker_stats* s = &pool->slots[i].stats;
            last->flops += s->flops;
            last->bytes_in += s->bytes_in;
            last->bytes_out += s->bytes_out;
            if (s->supersteps > supersteps) supersteps = s->supersteps;
        }
        if (pool->trace != NULL) {
            trace_put(pool, 0, supersteps > 0 ? supersteps - 1 : 0, IPX_TRACE_END, pool->run_end_ns, t1);
            pool->trace_run++;
        }
        if (last->wall_s > 0) {
            last->gflop_s = (double)last->flops / last->wall_s * 1e-9;
            last->gb_s = (double)(last->bytes_in + last->bytes_out) / last->wall_s * 1e-9;
        }
        last->supersteps = supersteps;
    } else {
        memset(last, 0, sizeof(*last));
    }
    last->workers = pool->workers;
    last->algorithm = pass->algorithm;
    last->kernel = pass->kernel;
    last->status = status;
    return status;
}
