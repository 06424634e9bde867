/* Hardening tests of the public C API:
   - no leaks across N create/run/destroy cycles of pools and convolutions, error paths
     included (run by `make asan` under LeakSanitizer, which fails the program on a leak);
   - hostile sizes (2^31 channels, padding 2^40, stride 2^62, INT64_MIN, products that
     overflow) refused with the status that names the parameter;
   - memory limits refused before anything is allocated;
   - NaN and Inf propagate as IEEE arithmetic says (torch semantics, zero padding included);
   - many threads on separate pools and on one shared pool or conv give correct results or
     IPX_STATUS_BUSY, never a race (run under ThreadSanitizer by `make tsan`);
   - a cancel from another thread ends a long run promptly with IPX_STATUS_CANCELLED.
   Usage: test_hardening [cycles]   (default 10000) */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "../fuzz/oracle.h"

static int failures = 0;
#define EXPECT(cond)                                                          \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                       \
        }                                                                     \
    } while (0)
#define EXPECT_STATUS(call, want)                                                       \
    do {                                                                                \
        ipx_status got_ = (call);                                                       \
        if (got_ != (want)) {                                                           \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %s\n", __FILE__,      \
                    __LINE__, #call, (int)got_, ipx_status_string(got_), #want);        \
            failures++;                                                                 \
        }                                                                               \
    } while (0)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static ipx_conv_desc desc(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k, int64_t r,
                          int64_t g, int64_t stride, int64_t pad) {
    ipx_conv_desc d = {.n = n, .c = c, .h = h, .w = w, .k = k, .r = r, .s = r, .g = g,
                       .stride_h = stride, .stride_w = stride, .dilation_h = 1,
                       .dilation_w = 1, .pad_top = pad, .pad_bottom = pad, .pad_left = pad,
                       .pad_right = pad};
    return d;
}

static void fill(float* x, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
}

/* A convolution with its buffers and the reference output, shared by the thread tests. */
typedef struct layer {
    ipx_conv_desc d;
    int64_t p, q;
    size_t il, wl, ol;
    float *x, *wt, *b;
    double *want, *mag;
} layer;

static void layer_init(layer* L, ipx_conv_desc d, unsigned seed) {
    L->d = d;
    EXPECT_STATUS(ipx_conv_output_size(&d, &L->p, &L->q), IPX_STATUS_SUCCESS);
    L->il = (size_t)(d.n * d.c * d.h * d.w);
    L->wl = (size_t)(d.k * (d.c / d.g) * d.r * d.s);
    L->ol = (size_t)(d.n * d.k * L->p * L->q);
    L->x = malloc(L->il * sizeof(float));
    L->wt = malloc(L->wl * sizeof(float));
    L->b = malloc((size_t)d.k * sizeof(float));
    L->want = malloc(L->ol * sizeof(double));
    L->mag = malloc(L->ol * sizeof(double));
    fill(L->x, L->il, seed);
    fill(L->wt, L->wl, seed + 1);
    fill(L->b, (size_t)d.k, seed + 2);
    oracle_conv(&d, L->p, L->q, L->x, L->wt, L->b, L->want, L->mag);
}

static void layer_free(layer* L) {
    free(L->x), free(L->wt), free(L->b), free(L->want), free(L->mag);
}

static ipx_conv_t layer_conv(const layer* L) {
    ipx_conv_t conv = NULL;
    EXPECT_STATUS(ipx_conv_create(&L->d, L->wt, L->wl, L->b, (size_t)L->d.k, &conv), IPX_STATUS_SUCCESS);
    return conv;
}

static ipx_pool_t make_pool(uint32_t workers, uint64_t tile_bytes) {
    ipx_pool_desc pd = {.workers = workers, .tile_bytes = tile_bytes};
    ipx_pool_t pool = NULL;
    EXPECT_STATUS(ipx_pool_create(&pd, &pool), IPX_STATUS_SUCCESS);
    return pool;
}

/* ---- hostile sizes and memory limits ---------------------------------------------- */

static void test_limits(void) {
    static float wt[16];
    const ipx_conv_desc ok = desc(1, 4, 4, 4, 4, 1, 1, 1, 0);
    struct bad_case {
        int64_t* field;
        int64_t value;
        ipx_status want;
        const char* word; /* the message names the parameter */
    } cases[16];
    ipx_conv_desc d;
    int n = 0;
#define CASE(f, v, st, wd) cases[n++] = (struct bad_case){&d.f, (v), (st), (wd)}
    CASE(c, (int64_t)1 << 31, IPX_STATUS_INVALID_CHANNELS, "input channels");
    CASE(k, (int64_t)1 << 31, IPX_STATUS_INVALID_OUTPUT_CHANNELS, "output channels");
    CASE(g, (int64_t)1 << 31, IPX_STATUS_INVALID_GROUPS, "groups");
    CASE(pad_top, (int64_t)1 << 40, IPX_STATUS_INVALID_PADDING, "padding");
    CASE(pad_right, INT64_MAX, IPX_STATUS_INVALID_PADDING, "padding");
    CASE(stride_h, (int64_t)1 << 62, IPX_STATUS_INVALID_STRIDE, "stride");
    CASE(stride_w, INT64_MIN, IPX_STATUS_INVALID_STRIDE, "stride");
    CASE(dilation_w, (int64_t)1 << 62, IPX_STATUS_INVALID_DILATION, "dilation");
    CASE(h, INT64_MIN, IPX_STATUS_INVALID_INPUT_SIZE, "input size");
    CASE(w, (int64_t)1 << 40, IPX_STATUS_INVALID_INPUT_SIZE, "input size");
    CASE(r, (int64_t)1 << 31, IPX_STATUS_INVALID_KERNEL_SIZE, "kernel size");
    CASE(n, INT64_MAX, IPX_STATUS_INVALID_BATCH, "batch");
#undef CASE
    for (int i = 0; i < n; i++) {
        d = ok;
        *cases[i].field = cases[i].value;
        ipx_conv_t conv = (ipx_conv_t)wt;
        int64_t p = -7, q = -7;
        EXPECT_STATUS(ipx_conv_create(&d, wt, 16, NULL, 0, &conv), cases[i].want);
        EXPECT(conv == NULL);
        EXPECT_STATUS(ipx_conv_output_size(&d, &p, &q), cases[i].want);
        EXPECT(p == -7 && q == -7); /* untouched on failure */
        EXPECT(strstr(ipx_status_string(cases[i].want), cases[i].word) != NULL);
    }
    /* Each size in range, products overflowing: input, weights, output, FLOPs. */
    const int64_t M = IPX_MAX_DIM;
    ipx_conv_desc over[] = {
        desc(M, M, 2, 2, 1, 1, 1, 1, 0),          /* n*c*h*w */
        desc(1, M, 1, 1, M, 1, 1, 1, 0),          /* k*c/g*r*s weights */
        desc(M, 1, 2, 2, M, 1, 1, 1, 0),          /* n*k*p*q output */
    };
    for (size_t i = 0; i < sizeof over / sizeof over[0]; i++) {
        ipx_conv_t conv = (ipx_conv_t)wt;
        EXPECT_STATUS(ipx_conv_create(&over[i], wt, 16, NULL, 0, &conv), IPX_STATUS_SIZE_OVERFLOW);
        EXPECT(conv == NULL);
    }
    /* FLOPs = 2 n k p q (c/g) r s past 2^63 while every tensor fits. */
    ipx_conv_desc flops = desc(1, 1 << 16, 1 << 12, 1 << 12, 1 << 16, 1, 1, 1, 0);
    flops.r = flops.s = 1 << 10;
    flops.pad_top = flops.pad_bottom = flops.pad_left = flops.pad_right = 1 << 9;
    ipx_conv_t conv = (ipx_conv_t)wt;
    EXPECT(ipx_conv_create(&flops, wt, 16, NULL, 0, &conv) == IPX_STATUS_SIZE_OVERFLOW);
    /* A lying buffer length is refused, never trusted. */
    EXPECT_STATUS(ipx_conv_create(&ok, wt, SIZE_MAX, NULL, 0, &conv), IPX_STATUS_INVALID_BUFFER_SIZE);
    EXPECT_STATUS(ipx_conv_create(&ok, wt, 16, wt, SIZE_MAX, &conv), IPX_STATUS_INVALID_BUFFER_SIZE);

    /* The conv's memory limit: exactly what it needs passes, one byte less is refused. */
    ipx_conv_desc big = desc(1, 64, 8, 8, 64, 3, 1, 1, 1);
    size_t wl = 64 * 64 * 9;
    float* w2 = calloc(wl, sizeof(float));
    EXPECT_STATUS(ipx_conv_create(&big, w2, wl, NULL, 0, &conv), IPX_STATUS_SUCCESS);
    ipx_conv_info info;
    EXPECT_STATUS(ipx_conv_get_info(conv, &info), IPX_STATUS_SUCCESS);
    EXPECT(info.allocated_bytes >= wl * sizeof(float));
    EXPECT_STATUS(ipx_conv_destroy(conv), IPX_STATUS_SUCCESS);
    big.memory_limit = info.allocated_bytes - 1;
    EXPECT_STATUS(ipx_conv_create(&big, w2, wl, NULL, 0, &conv), IPX_STATUS_MEMORY_LIMIT);
    big.memory_limit = info.allocated_bytes;
    EXPECT_STATUS(ipx_conv_create(&big, w2, wl, NULL, 0, &conv), IPX_STATUS_SUCCESS);
    EXPECT_STATUS(ipx_conv_destroy(conv), IPX_STATUS_SUCCESS);
    free(w2);

    /* A pool of 1024 workers x 1 GiB tiles (1 TiB) under a 1 GiB limit: refused before any
       allocation or thread start, so it returns at once. */
    ipx_pool_desc pd = {.workers = IPX_MAX_WORKERS, .tile_bytes = IPX_MAX_TILE_BYTES,
                        .memory_limit = (uint64_t)1 << 30};
    ipx_pool_t pool = (ipx_pool_t)wt;
    double t0 = now_s();
    EXPECT_STATUS(ipx_pool_create(&pd, &pool), IPX_STATUS_MEMORY_LIMIT);
    EXPECT(now_s() - t0 < 0.5);
    EXPECT(pool == NULL);
    /* The limit counts the pool's own bookkeeping too, not just the tiles. */
    pd = (ipx_pool_desc){.workers = 2, .tile_bytes = 65536, .memory_limit = 2 * 65536};
    EXPECT_STATUS(ipx_pool_create(&pd, &pool), IPX_STATUS_MEMORY_LIMIT);
    pd.memory_limit = 4 * 65536;
    EXPECT_STATUS(ipx_pool_create(&pd, &pool), IPX_STATUS_SUCCESS);
    EXPECT_STATUS(ipx_pool_destroy(pool), IPX_STATUS_SUCCESS);
}

/* ---- IEEE special values ----------------------------------------------------------- */

static void check_ieee(ipx_conv_desc d, uint32_t flags, int32_t want_kernel) {
    d.flags = flags;
    int64_t p, q;
    EXPECT_STATUS(ipx_conv_output_size(&d, &p, &q), IPX_STATUS_SUCCESS);
    size_t il = (size_t)(d.n * d.c * d.h * d.w), wl = (size_t)(d.k * (d.c / d.g) * d.r * d.s);
    size_t ol = (size_t)(d.n * d.k * p * q);
    guarded x, wt, b, y;
    EXPECT(guarded_alloc(&x, il) == 0);
    EXPECT(guarded_alloc(&wt, wl) == 0);
    EXPECT(guarded_alloc(&b, (size_t)d.k) == 0);
    EXPECT(guarded_alloc(&y, ol) == 0);
    fill(x.data, il, 11);
    fill(wt.data, wl, 12);
    fill(b.data, (size_t)d.k, 13);
    x.data[il / 3] = NAN;                 /* poisons every output whose window covers it */
    x.data[il / 2] = INFINITY;
    x.data[il / 2 + 1] = -INFINITY;       /* next to +Inf: windows over both give NaN */
    x.data[il - 1] = INFINITY;
    wt.data[0] = INFINITY;                /* with zero padding: 0 * Inf = NaN at borders */
    wt.data[wl - 1] = -INFINITY;
    b.data[d.k / 2] = NAN;                /* a whole output channel */
    double* want = malloc(ol * sizeof(double));
    double* mag = malloc(ol * sizeof(double));
    oracle_conv(&d, p, q, x.data, wt.data, b.data, want, mag);
    ipx_conv_t conv = NULL;
    ipx_pool_t pool = make_pool(2, 0);
    EXPECT_STATUS(ipx_conv_create(&d, wt.data, wl, b.data, (size_t)d.k, &conv), IPX_STATUS_SUCCESS);
    ipx_conv_info info;
    EXPECT_STATUS(ipx_conv_get_info(conv, &info), IPX_STATUS_SUCCESS);
    EXPECT(info.kernel == want_kernel);
    EXPECT_STATUS(ipx_conv_run(conv, pool, x.data, il, y.data, ol), IPX_STATUS_SUCCESS);
    int64_t bad = oracle_mismatch(y.data, want, mag, ol);
    if (bad >= 0) {
        fprintf(stderr, "ieee (kernel %d, flags %u): output %lld is %g, reference %g\n",
                info.kernel, flags, (long long)bad, y.data[bad], want[bad]);
        failures++;
    }
    size_t nan = 0, inf = 0, fin = 0;
    for (size_t i = 0; i < ol; i++) {
        if (isnan(y.data[i])) nan++;
        else if (isinf(y.data[i])) inf++;
        else fin++;
    }
    EXPECT(nan > 0 && inf > 0 && fin > 0); /* the case exercises all three kinds */
    EXPECT_STATUS(ipx_conv_destroy(conv), IPX_STATUS_SUCCESS);
    EXPECT_STATUS(ipx_pool_destroy(pool), IPX_STATUS_SUCCESS);
    free(want), free(mag);
    guarded_free(&x), guarded_free(&wt), guarded_free(&b), guarded_free(&y);
}

static void test_ieee(void) {
    for (uint32_t flags = 0; flags <= IPX_FLAG_PORTABLE; flags++) {
        check_ieee(desc(2, 8, 9, 11, 8, 3, 8, 1, 1), flags, IPX_KERNEL_ROW);        /* depthwise */
        check_ieee(desc(1, 6, 7, 13, 12, 3, 2, 2, 2), flags, IPX_KERNEL_ROW);       /* 3 ch/group */
        check_ieee(desc(2, 32, 9, 10, 24, 3, 1, 1, 1), flags, IPX_KERNEL_CHANNEL);  /* dense */
        check_ieee(desc(1, 32, 6, 6, 32, 1, 1, 1, 0), flags, IPX_KERNEL_CHANNEL);   /* 1x1 (32 per group: the channel kernel on every ISA) */
    }
}

/* ---- lifecycle cycles (leaks) ------------------------------------------------------ */

static void test_cycles(long cycles) {
    layer shapes[2];
    layer_init(&shapes[0], desc(1, 8, 6, 6, 8, 3, 8, 1, 1), 21);   /* depthwise: row kernel */
    layer_init(&shapes[1], desc(1, 16, 5, 5, 16, 3, 1, 1, 1), 22); /* channel kernel */
    float* y = malloc(16 * 36 * sizeof(float));
    for (long i = 0; i < cycles; i++) {
        const layer* L = &shapes[i % 2];
        ipx_pool_t pool = make_pool(1 + (uint32_t)(i % 3), 16384);
        ipx_conv_t conv = layer_conv(L);
        if (pool == NULL || conv == NULL) break;
        if (i % 7 == 3) EXPECT_STATUS(ipx_pool_cancel(pool), IPX_STATUS_SUCCESS);
        ipx_status st = ipx_conv_run(conv, pool, L->x, L->il, y, L->ol);
        EXPECT(st == (i % 7 == 3 ? IPX_STATUS_CANCELLED : IPX_STATUS_SUCCESS));
        if (i % 1000 == 0 && st == IPX_STATUS_SUCCESS) {
            int64_t bad = oracle_mismatch(y, L->want, L->mag, L->ol);
            if (bad >= 0) {
                fprintf(stderr, "cycle %ld: output %lld is %g, reference %g\n", i, (long long)bad,
                        y[bad], L->want[bad]);
                failures++;
            }
        }
        ipx_run_stats totals;
        ipx_worker_stats per[3];
        EXPECT_STATUS(ipx_pool_get_stats(pool, &totals, per, 3), IPX_STATUS_SUCCESS);
        if (i % 50 == 0) { /* the failure paths must free what they allocated */
            ipx_conv_desc d = L->d;
            d.memory_limit = 64;
            ipx_conv_t none;
            EXPECT_STATUS(ipx_conv_create(&d, L->wt, L->wl, NULL, 0, &none), IPX_STATUS_MEMORY_LIMIT);
            EXPECT_STATUS(ipx_conv_create(&L->d, L->wt, L->wl - 1, NULL, 0, &none), IPX_STATUS_INVALID_BUFFER_SIZE);
            ipx_pool_desc pd = {.workers = 3, .tile_bytes = 100};
            ipx_pool_t nopool;
            EXPECT_STATUS(ipx_pool_create(&pd, &nopool), IPX_STATUS_INVALID_TILE_BYTES);
        }
        EXPECT_STATUS(ipx_conv_destroy(conv), IPX_STATUS_SUCCESS);
        EXPECT_STATUS(ipx_pool_destroy(pool), IPX_STATUS_SUCCESS);
        if (failures > 20) break;
    }
    free(y);
    layer_free(&shapes[0]);
    layer_free(&shapes[1]);
}

/* ---- threads ----------------------------------------------------------------------- */

typedef struct worker_arg {
    const layer* L;
    ipx_conv_t conv;  /* shared or own */
    ipx_pool_t pool;  /* shared or own */
    int successes;    /* runs to complete */
    int busy, cancelled, wrong, errors;
    _Atomic int* stop;
} worker_arg;

/* Runs until `successes` runs completed: BUSY and CANCELLED are retried, every completed
   output is checked. */
static void* hammer(void* varg) {
    worker_arg* a = varg;
    float* y = malloc(a->L->ol * sizeof(float));
    for (int done = 0; done < a->successes;) {
        ipx_status st = ipx_conv_run(a->conv, a->pool, a->L->x, a->L->il, y, a->L->ol);
        if (st == IPX_STATUS_SUCCESS) {
            done++;
            if (oracle_mismatch(y, a->L->want, a->L->mag, a->L->ol) >= 0) a->wrong++;
        } else if (st == IPX_STATUS_BUSY) {
            a->busy++;
            sched_yield();
        } else if (st == IPX_STATUS_CANCELLED) {
            a->cancelled++;
        } else {
            a->errors++;
            break;
        }
    }
    free(y);
    if (a->stop) atomic_fetch_add(a->stop, 1);
    return NULL;
}

static void* canceller(void* varg) {
    worker_arg* a = varg;
    unsigned seed = 5;
    while (atomic_load(a->stop) == 0) {
        EXPECT_STATUS(ipx_pool_cancel(a->pool), IPX_STATUS_SUCCESS);
        seed = seed * 1103515245u + 12345u;
        sleep_ms(1 + (int)(seed >> 16) % 3);
    }
    return NULL;
}

static void* stats_reader(void* varg) {
    worker_arg* a = varg;
    ipx_run_stats totals;
    ipx_worker_stats per[IPX_MAX_WORKERS];
    while (atomic_load(a->stop) == 0) {
        ipx_status st = ipx_pool_get_stats(a->pool, &totals, per, IPX_MAX_WORKERS);
        if (st != IPX_STATUS_SUCCESS && st != IPX_STATUS_BUSY) a->errors++;
        uint32_t w;
        EXPECT_STATUS(ipx_pool_get_config(a->pool, &w, NULL), IPX_STATUS_SUCCESS);
        sched_yield();
    }
    return NULL;
}

#define T 4

static void run_threads(worker_arg* args, int n) {
    pthread_t th[T];
    for (int i = 0; i < n; i++) EXPECT(pthread_create(&th[i], NULL, hammer, &args[i]) == 0);
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < n; i++) {
        EXPECT(args[i].wrong == 0);
        EXPECT(args[i].errors == 0);
    }
}

static void test_threads(int runs) {
    layer L;
    layer_init(&L, desc(2, 16, 12, 12, 24, 3, 2, 1, 1), 31);
    worker_arg args[T];

    /* Separate pools and convs: all run in parallel, nothing is busy. */
    for (int i = 0; i < T; i++)
        args[i] = (worker_arg){&L, layer_conv(&L), make_pool(2, 0), runs, 0, 0, 0, 0, NULL};
    run_threads(args, T);
    for (int i = 0; i < T; i++) {
        EXPECT(args[i].busy == 0);
        ipx_conv_destroy(args[i].conv);
        ipx_pool_destroy(args[i].pool);
    }

    /* One pool shared by T threads with their own convs, then one conv shared by T threads
       on their own pools: each call either completes correctly or gets BUSY. */
    ipx_pool_t shared_pool = make_pool(2, 0);
    for (int i = 0; i < T; i++)
        args[i] = (worker_arg){&L, layer_conv(&L), shared_pool, runs, 0, 0, 0, 0, NULL};
    run_threads(args, T);
    for (int i = 0; i < T; i++) ipx_conv_destroy(args[i].conv);
    ipx_conv_t shared_conv = layer_conv(&L);
    for (int i = 0; i < T; i++)
        args[i] = (worker_arg){&L, shared_conv, make_pool(1 + i % 2, 0), runs, 0, 0, 0, 0, NULL};
    run_threads(args, T);
    for (int i = 0; i < T; i++) ipx_pool_destroy(args[i].pool);

    /* Cancels and statistics reads from other threads during runs on the shared pool:
       runs end SUCCESS (output right) or CANCELLED, reads SUCCESS or BUSY. */
    _Atomic int stop = 0;
    worker_arg run = {&L, shared_conv, shared_pool, runs, 0, 0, 0, 0, &stop};
    worker_arg side = {&L, NULL, shared_pool, 0, 0, 0, 0, 0, &stop};
    pthread_t tr, tc, ts;
    EXPECT(pthread_create(&tc, NULL, canceller, &side) == 0);
    EXPECT(pthread_create(&ts, NULL, stats_reader, &side) == 0);
    EXPECT(pthread_create(&tr, NULL, hammer, &run) == 0);
    pthread_join(tr, NULL);
    pthread_join(tc, NULL);
    pthread_join(ts, NULL);
    EXPECT(run.wrong == 0 && run.errors == 0 && side.errors == 0);
    ipx_conv_destroy(shared_conv);
    ipx_pool_destroy(shared_pool);
    layer_free(&L);
}

/* A long run (tens of supersteps of a big layer) cancelled from another thread returns
   CANCELLED within a superstep or two, not at the end of the run. */
typedef struct long_run {
    ipx_conv_t conv;
    ipx_pool_t pool;
    const float* x;
    float* y;
    size_t il, ol;
    _Atomic int started;
    ipx_status status;
    double end;
} long_run;

static void* long_runner(void* varg) {
    long_run* r = varg;
    atomic_store(&r->started, 1);
    r->status = ipx_conv_run(r->conv, r->pool, r->x, r->il, r->y, r->ol);
    r->end = now_s();
    return NULL;
}

static void test_cancel_prompt(double limit_s) {
    ipx_conv_desc d = desc(16, 256, 40, 40, 256, 3, 1, 1, 1); /* 30 GFLOP: seconds */
    size_t il = 16u * 256 * 40 * 40, wl = 256u * 256 * 9;
    float* x = calloc(il, sizeof(float));
    float* y = malloc(il * sizeof(float));
    float* wt = calloc(wl, sizeof(float));
    ipx_conv_t conv = NULL;
    ipx_pool_t pool = make_pool(2, 0);
    EXPECT_STATUS(ipx_conv_create(&d, wt, wl, NULL, 0, &conv), IPX_STATUS_SUCCESS);
    long_run r = {conv, pool, x, y, il, il, 0, IPX_STATUS_SUCCESS, 0};
    pthread_t t;
    EXPECT(pthread_create(&t, NULL, long_runner, &r) == 0);
    while (!atomic_load(&r.started)) sleep_ms(1);
    sleep_ms(50);
    EXPECT_STATUS(ipx_pool_destroy(pool), IPX_STATUS_BUSY); /* in use: refused, not freed */
    EXPECT_STATUS(ipx_conv_destroy(conv), IPX_STATUS_BUSY); /* and so is the running conv */
    ipx_pool_t other = make_pool(1, 0); /* the conv, not the pool, is what is busy here */
    EXPECT_STATUS(ipx_conv_run(conv, other, x, il, y, il), IPX_STATUS_BUSY);
    EXPECT_STATUS(ipx_pool_destroy(other), IPX_STATUS_SUCCESS);
    double t0 = now_s();
    EXPECT_STATUS(ipx_pool_cancel(pool), IPX_STATUS_SUCCESS);
    pthread_join(t, NULL);
    EXPECT_STATUS(r.status, IPX_STATUS_CANCELLED);
    if (r.end - t0 > limit_s) {
        fprintf(stderr, "cancel took %.3f s (limit %.3f s)\n", r.end - t0, limit_s);
        failures++;
    }
    ipx_run_stats st;
    EXPECT_STATUS(ipx_pool_get_stats(pool, &st, NULL, 0), IPX_STATUS_SUCCESS);
    EXPECT(st.status == IPX_STATUS_CANCELLED && st.flops < 2ull * 16 * 256 * 256 * 1600 * 9);
    EXPECT_STATUS(ipx_conv_destroy(conv), IPX_STATUS_SUCCESS);
    EXPECT_STATUS(ipx_pool_destroy(pool), IPX_STATUS_SUCCESS);
    free(x), free(y), free(wt);
}

int main(int argc, char** argv) {
    long cycles = argc > 1 ? strtol(argv[1], NULL, 10) : 10000;
    /* Sanitizer builds are 5-20x slower: the harness passes a larger cancel allowance. */
    const char* slow = getenv("IPX_TEST_SLOW");
    double scale = slow && slow[0] ? atof(slow) : 1.0;
    if (scale < 1.0) scale = 1.0;
    double t0 = now_s();
    test_limits();
    test_ieee();
    test_cycles(cycles);
    double t1 = now_s();
    test_threads(cycles >= 10000 ? 40 : 15);
    double t2 = now_s();
    test_cancel_prompt(0.25 * scale);
    if (failures) {
        fprintf(stderr, "test_hardening: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_hardening: all passed (%ld create/run/destroy cycles in %.1f s, threads %.1f s, "
           "cancel %.1f s)\n", cycles, t1 - t0, t2 - t1, now_s() - t2);
    return 0;
}
