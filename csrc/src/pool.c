/* The worker pool: W persistent workers ("tiles") with their own tile memory, running
   bulk-synchronous supersteps separated by a barrier. The caller of a run is worker 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "desc.h"
#include "internal.h"

/* Waiting at a barrier: spin (a superstep barrier is usually released within
   microseconds), then spin and yield (the peer we wait for may share our core: yielding lets
   it run), then sleep on the condition variable. Inside a run a woken thread can wait a
   millisecond or more for a core on a busy machine, so superstep barriers spin up to
   IPX_BARRIER_SPIN_NS. Idle workers (waiting for the next run) spin only
   IPX_BARRIER_IDLE_SPIN_NS: runs issued back to back (benchmark rounds, a network's layers
   with little work between them) still find them awake, and after that the pool leaves the
   cores to the caller's other work. With more workers than CPUs, yield from the start. */
#define IPX_BARRIER_PURE_SPIN_NS 20000u
#define IPX_BARRIER_SPIN_NS 3000000u
#define IPX_BARRIER_IDLE_SPIN_NS 200000u
#define IPX_BARRIER_YIELD_EVERY 16

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int barrier_init(ipx__barrier* b, uint32_t parties) {
    if (pthread_mutex_init(&b->mutex, NULL) != 0) return -1;
    if (pthread_cond_init(&b->cond, NULL) != 0) {
        pthread_mutex_destroy(&b->mutex);
        return -1;
    }
    atomic_init(&b->arrived, 0);
    atomic_init(&b->generation, 0);
    atomic_init(&b->stop, 0);
    b->parties = parties;
    b->oversubscribed = parties > ipx_cpu_count();
    return 0;
}

static void barrier_destroy(ipx__barrier* b) {
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->mutex);
}

/* All parties call this; the last to arrive samples *stop_src (if given) so that every party
   sees the same stop decision for this round, then releases the others. The others spin up
   to spin_ns, then sleep. */
static bool barrier_wait(ipx__barrier* b, _Atomic int* stop_src, uint64_t spin_ns) {
    uint32_t gen = atomic_load_explicit(&b->generation, memory_order_acquire);
    if (atomic_fetch_add_explicit(&b->arrived, 1, memory_order_acq_rel) + 1 == b->parties) {
        atomic_store_explicit(&b->arrived, 0, memory_order_relaxed);
        atomic_store_explicit(&b->stop, stop_src ? atomic_load(stop_src) : 0,
                              memory_order_relaxed);
        pthread_mutex_lock(&b->mutex);
        atomic_store_explicit(&b->generation, gen + 1, memory_order_release);
        pthread_cond_broadcast(&b->cond);
        pthread_mutex_unlock(&b->mutex);
        return atomic_load_explicit(&b->stop, memory_order_relaxed) != 0;
    }
    uint64_t start = 0;
    bool yield = b->oversubscribed;
    for (uint32_t i = 1;; i++) {
        if (atomic_load_explicit(&b->generation, memory_order_acquire) != gen)
            return atomic_load_explicit(&b->stop, memory_order_relaxed) != 0;
        if (yield && i % IPX_BARRIER_YIELD_EVERY == 0)
            sched_yield();
        else
            cpu_relax();
        if (i % 128 == 0) { /* read the clock only now and then */
            uint64_t now = ipx__now_ns();
            if (start == 0) start = now;
            else if (now - start > spin_ns) break;
            else if (now - start > IPX_BARRIER_PURE_SPIN_NS) yield = true;
        }
    }
    pthread_mutex_lock(&b->mutex);
    while (atomic_load_explicit(&b->generation, memory_order_acquire) == gen)
        pthread_cond_wait(&b->cond, &b->mutex);
    pthread_mutex_unlock(&b->mutex);
    return atomic_load_explicit(&b->stop, memory_order_relaxed) != 0;
}

typedef struct thread_arg {
    ipx_pool_t pool;
    uint32_t index;
} thread_arg;

static void* worker_main(void* varg) {
    ipx_pool_t pool = ((thread_arg*)varg)->pool;
    uint32_t index = ((thread_arg*)varg)->index;
    free(varg);
    for (;;) {
        barrier_wait(&pool->barrier, NULL, IPX_BARRIER_IDLE_SPIN_NS); /* next run, or shutdown */
        if (atomic_load(&pool->shutdown)) break;
        pool->job(pool->job_ctx, index);
        barrier_wait(&pool->barrier, NULL, IPX_BARRIER_SPIN_NS); /* end of the run */
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
        barrier_wait(&pool->barrier, NULL, IPX_BARRIER_SPIN_NS);
        for (uint32_t i = 0; i < pool->threads_started; i++) pthread_join(pool->threads[i], NULL);
    }
    if (pool->barrier_ready) barrier_destroy(&pool->barrier);
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
    atomic_init(&pool->next_block, 0);
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

    status = IPX_STATUS_THREAD_ERROR;
    if (barrier_init(&pool->barrier, workers) != 0) goto error;
    pool->barrier_ready = true;
    for (uint32_t i = 1; i < workers; i++) {
        thread_arg* arg = malloc(sizeof(*arg));
        if (arg == NULL) {
            status = IPX_STATUS_OUT_OF_MEMORY;
            goto error_threads;
        }
        arg->pool = pool;
        arg->index = i;
        if (pthread_create(&pool->threads[i - 1], NULL, worker_main, arg) != 0) {
            free(arg);
            goto error_threads;
        }
        pool->threads_started++;
    }
    *pool_out = pool;
    return IPX_STATUS_SUCCESS;

error_threads:
    /* The barrier counts all workers; shrink it to the threads that exist plus the caller
       so the shutdown round completes. */
    pool->barrier.parties = pool->threads_started + 1;
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

bool ipx__pool_run(ipx_pool_t pool, ipx__job_fn job, void* ctx) {
    for (uint32_t i = 0; i < pool->workers; i++) memset(&pool->slots[i].stats, 0, sizeof(ipx_worker_stats));
    /* A cancel requested while no run was going stops this one before it starts. */
    if (atomic_exchange(&pool->cancel, 0) != 0) return true;
    pool->job = job;
    pool->job_ctx = ctx;
    atomic_store_explicit(&pool->stopped, 0, memory_order_relaxed);
    barrier_wait(&pool->barrier, NULL, IPX_BARRIER_SPIN_NS);
    job(ctx, 0);
    barrier_wait(&pool->barrier, NULL, IPX_BARRIER_SPIN_NS);
    if (atomic_load(&pool->stopped)) {
        atomic_store(&pool->cancel, 0); /* consumed by this run */
        return true;
    }
    return false;
}

/* Superstep barrier for code inside a job; returns true when the run must stop (cancel). */
static bool pool_sync(ipx_pool_t pool) {
    bool stop = barrier_wait(&pool->barrier, &pool->cancel, IPX_BARRIER_SPIN_NS);
    if (stop) atomic_store_explicit(&pool->stopped, 1, memory_order_relaxed);
    return stop;
}

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

/* One worker's share of a pass: blocks handed out from the pool's shared counter (claims of
   pass->claim consecutive blocks), every chunk of a claimed block in order, until none is
   left; then one barrier. A static split made every worker wait at each superstep's barrier
   for the slowest (on a loaded machine a descheduled worker stalled all the others: 70-85%
   of a run's time waiting); from a shared counter a worker that falls behind just takes
   fewer blocks, as ONNX Runtime's thread pool hands out loop iterations. A block's chunks
   stay on one worker (backward weights accumulates them in its tile). Each step is traced as
   a superstep of this worker (numbered from 0); the wait is the one final barrier. */
static void superstep_job(void* vctx, uint32_t wi) {
    const ipx__pass* pass = vctx;
    ipx_pool_t pool = pass->pool;
    const int64_t claim = pass->claim > 0 ? pass->claim : 1;
    ipx_worker_stats* st = ipx__pool_stats(pool, wi);
    ipx__step s = {.tile = ipx__pool_tile(pool, wi), .stats = st, .in_key = -1, .w_key = -1};
    const bool traced = pool->trace != NULL;
    if (traced) trace_put(pool, wi, 0, IPX_TRACE_START, pool->run_start_ns, ipx__now_ns());
    uint64_t t[5] = {0};
    int64_t step = 0;
    while (!atomic_load_explicit(&pool->cancel, memory_order_relaxed)) {
        const int64_t first = atomic_fetch_add_explicit(&pool->next_block, claim, memory_order_relaxed);
        if (first >= pass->blocks) break;
        const int64_t last = ipx__min(first + claim, pass->blocks);
        for (s.block = first; s.block < last; s.block++)
            for (s.chunk = 0; s.chunk < pass->chunks; s.chunk++, step++) {
                s.fresh = step == 0;
                t[0] = ipx__now_ns();
                pass->exchange(pass, &s);
                t[1] = ipx__now_ns();
                pass->compute(pass, &s);
                t[2] = ipx__now_ns();
                st->exchange_ns += t[1] - t[0];
                st->compute_ns += t[2] - t[1];
                st->supersteps++;
                if (traced) {
                    trace_put(pool, wi, step, IPX_TRACE_EXCHANGE, t[0], t[1]);
                    trace_put(pool, wi, step, IPX_TRACE_COMPUTE, t[1], t[2]);
                }
            }
    }
    t[3] = ipx__now_ns();
    pool_sync(pool); /* samples the cancel flag: every worker sees the same decision */
    t[4] = ipx__now_ns();
    st->wait_ns += t[4] - t[3];
    if (traced) {
        trace_put(pool, wi, step > 0 ? step - 1 : 0, IPX_TRACE_WAIT, t[3], t[4]);
        if (wi == 0) pool->job_end_ns = ipx__now_ns();
    }
}

ipx_status ipx__pool_run_pass(ipx__pass* pass, ipx_status plan_status) {
    ipx_pool_t pool = pass->pool;
    ipx_run_stats* last = &pool->last;
    ipx_status status = plan_status;
    if (status == IPX_STATUS_SUCCESS) {
        atomic_store_explicit(&pool->next_block, 0, memory_order_relaxed); /* published by the start barrier */
        uint64_t t0 = ipx__now_ns();
        pool->run_start_ns = pool->job_end_ns = t0; /* a run cancelled before it starts runs no job */
        bool cancelled = ipx__pool_run(pool, superstep_job, pass);
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
            trace_put(pool, 0, supersteps > 0 ? supersteps - 1 : 0, IPX_TRACE_END, pool->job_end_ns, t1);
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
