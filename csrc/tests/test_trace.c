/* The pool's trace: argument checks, the spans of traced runs against the run's own
   statistics (same clock readings: exchange, compute and wait sums must equal the counters),
   runs appending with their index, overflow counted and never written past the buffer, and
   tracing off leaving the buffer alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipx.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                      \
        }                                                                    \
    } while (0)

static int failures;

typedef struct layer {
    ipx_conv_t conv;
    float *x, *y;
    size_t in_len, out_len;
} layer;

static void layer_make(layer* l) {
    /* Depthwise 3x3, 64 channels of 28x28, 2 images: several blocks per worker. */
    ipx_conv_desc d = {.n = 2, .c = 64, .h = 28, .w = 28, .k = 64, .r = 3, .s = 3, .g = 64,
                       .stride_h = 1, .stride_w = 1, .dilation_h = 1, .dilation_w = 1,
                       .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1};
    size_t w_len = 64 * 9;
    float* w = malloc(w_len * sizeof(float));
    for (size_t i = 0; i < w_len; i++) w[i] = (float)(i % 7) * 0.1f;
    l->in_len = 2 * 64 * 28 * 28;
    l->out_len = l->in_len;
    l->x = malloc(l->in_len * sizeof(float));
    l->y = malloc(l->out_len * sizeof(float));
    for (size_t i = 0; i < l->in_len; i++) l->x[i] = (float)(i % 13) * 0.5f;
    if (ipx_conv_create(&d, w, w_len, NULL, 0, &l->conv) != IPX_STATUS_SUCCESS) l->conv = NULL;
    free(w);
}

static int by_start(const void* a, const void* b) {
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : x[1] > y[1];
}

/* Checks one run's events (run index `run`) against the pool's statistics of that run. */
static void check_run(const ipx_trace_event* ev, size_t n, uint32_t run, uint32_t workers,
                      const ipx_run_stats* totals, const ipx_worker_stats* per) {
    uint64_t sums[64][5] = {{0}}, starts[64] = {0}, first = UINT64_MAX, last = 0;
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        const ipx_trace_event* e = &ev[i];
        if (e->run != run) continue;
        count++;
        CHECK(e->worker < workers);
        CHECK(e->phase >= IPX_TRACE_EXCHANGE && e->phase <= IPX_TRACE_END);
        CHECK(e->start_ns <= e->end_ns);
        CHECK(e->superstep < totals->supersteps);
        CHECK(e->reserved == 0);
        if (e->worker >= workers || e->phase < 0 || e->phase > 4) continue;
        sums[e->worker][e->phase] += e->end_ns - e->start_ns;
        if (e->phase == IPX_TRACE_START) starts[e->worker]++;
        if (e->start_ns < first) first = e->start_ns;
        if (e->end_ns > last) last = e->end_ns;
    }
    size_t expected = 0;
    for (uint32_t w = 0; w < workers; w++) {
        expected += 1 + 2 * per[w].supersteps + 1 + (w == 0); /* start, 2 per step, the wait, end */
        CHECK(starts[w] == 1);
        CHECK(sums[w][IPX_TRACE_EXCHANGE] == per[w].exchange_ns);
        CHECK(sums[w][IPX_TRACE_COMPUTE] == per[w].compute_ns);
        CHECK(sums[w][IPX_TRACE_WAIT] == per[w].wait_ns);
        uint64_t covered = sums[w][0] + sums[w][1] + sums[w][2] + sums[w][3] + sums[w][4];
        CHECK(covered <= (uint64_t)(totals->wall_s * 1e9) + 1000);
    }
    CHECK(count == expected);
    CHECK(last - first <= (uint64_t)(totals->wall_s * 1e9) + 1000);
    /* A worker's spans do not overlap: sorted by start, each begins after the previous ends. */
    uint64_t* spans = malloc(2 * n * sizeof(uint64_t));
    for (uint32_t w = 0; w < workers; w++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (ev[i].run == run && ev[i].worker == w) {
                spans[2 * m] = ev[i].start_ns;
                spans[2 * m + 1] = ev[i].end_ns;
                m++;
            }
        qsort(spans, m, 2 * sizeof(uint64_t), by_start);
        for (size_t i = 1; i < m; i++) CHECK(spans[2 * i] >= spans[2 * i - 1]);
    }
    free(spans);
}

static void check_traced(uint32_t workers) {
    ipx_pool_desc pd = {.workers = workers};
    ipx_pool_t pool;
    layer l;
    if (ipx_pool_create(&pd, &pool) != IPX_STATUS_SUCCESS) {
        failures++;
        return;
    }
    layer_make(&l);
    CHECK(l.conv != NULL);
    size_t cap = 100000;
    ipx_trace_event* ev = calloc(cap, sizeof(*ev));
    ipx_worker_stats per[2][64];
    ipx_run_stats totals[2];
    CHECK(ipx_pool_set_trace(pool, ev, cap) == IPX_STATUS_SUCCESS);
    for (int run = 0; run < 2; run++) {
        CHECK(ipx_conv_run(l.conv, pool, l.x, l.in_len, l.y, l.out_len) == IPX_STATUS_SUCCESS);
        CHECK(ipx_pool_get_stats(pool, &totals[run], per[run], 64) == IPX_STATUS_SUCCESS);
    }
    size_t recorded = 0;
    uint64_t dropped = 1;
    CHECK(ipx_pool_get_trace(pool, &recorded, &dropped) == IPX_STATUS_SUCCESS);
    CHECK(dropped == 0);
    for (uint32_t run = 0; run < 2; run++) check_run(ev, recorded, run, workers, &totals[run], per[run]);

    /* Overflow: a small buffer keeps its first events and counts the rest; the entry past
       its end (a canary) is never written. */
    size_t full = recorded / 2; /* one run's events */
    memset(ev, 0xAB, 4 * sizeof(*ev));
    ipx_trace_event canary = ev[3];
    CHECK(ipx_pool_set_trace(pool, ev, 3) == IPX_STATUS_SUCCESS);
    CHECK(ipx_conv_run(l.conv, pool, l.x, l.in_len, l.y, l.out_len) == IPX_STATUS_SUCCESS);
    CHECK(ipx_pool_get_trace(pool, &recorded, &dropped) == IPX_STATUS_SUCCESS);
    CHECK(recorded == 3);
    CHECK(dropped == full - 3);
    CHECK(memcmp(&ev[3], &canary, sizeof canary) == 0);
    for (int i = 0; i < 3; i++) CHECK(ev[i].worker < workers && ev[i].run == 0);

    /* Off: runs leave the buffer alone and report nothing. */
    memset(ev, 0xCD, 8 * sizeof(*ev));
    ipx_trace_event before[8];
    memcpy(before, ev, sizeof before);
    CHECK(ipx_pool_set_trace(pool, NULL, 0) == IPX_STATUS_SUCCESS);
    CHECK(ipx_conv_run(l.conv, pool, l.x, l.in_len, l.y, l.out_len) == IPX_STATUS_SUCCESS);
    CHECK(ipx_pool_get_trace(pool, &recorded, &dropped) == IPX_STATUS_SUCCESS);
    CHECK(recorded == 0 && dropped == 0);
    CHECK(memcmp(before, ev, sizeof before) == 0);

    ipx_conv_destroy(l.conv);
    ipx_pool_destroy(pool);
    free(ev);
    free(l.x);
    free(l.y);
}

int main(void) {
    ipx_pool_t pool;
    ipx_trace_event ev[4];
    size_t recorded;
    uint64_t dropped;
    CHECK(ipx_pool_set_trace(NULL, ev, 4) == IPX_STATUS_NULL_POINTER);
    CHECK(ipx_pool_get_trace(NULL, &recorded, &dropped) == IPX_STATUS_NULL_POINTER);
    ipx_pool_desc pd = {.workers = 2};
    CHECK(ipx_pool_create(&pd, &pool) == IPX_STATUS_SUCCESS);
    CHECK(ipx_pool_set_trace(pool, NULL, 4) == IPX_STATUS_NULL_POINTER);
    CHECK(ipx_pool_set_trace(pool, ev, 0) == IPX_STATUS_INVALID_BUFFER_SIZE);
    CHECK(ipx_pool_get_trace(pool, NULL, NULL) == IPX_STATUS_SUCCESS);
    ipx_pool_destroy(pool);
    for (uint32_t workers = 1; workers <= 3; workers++) check_traced(workers);
    if (failures) {
        fprintf(stderr, "test_trace: %d failures\n", failures);
        return 1;
    }
    printf("test_trace: ok\n");
    return 0;
}
