/* Fully connected handles against double-precision definitions. ipx_fc_create: batches that
   take every register tile (1..9 images), outputs that leave a vector's tail, every output
   activation (HardSigmoid with its alpha and beta), with and without a bias, pools of 1 and 3
   workers and a tile that holds one image. ipx_se_create: channel sums over an h x w map ->
   means -> hidden activation -> gate, every hidden activation and gate. Bad arguments give the
   status naming them. Run once per instruction set (the Makefile's test target). */
#include <math.h>
#include <stdlib.h>

#include "ipx.h"
#include "act_ref.h"
#include "expect.h"

/* y[i] = act(w x[i] + b) in double; x [n][c] times scale, w [k][c]. */
static void dense_ref(const float* x, double scale, const float* w, const float* b, int64_t n, int64_t c, int64_t k,
                      int act, double alpha, double beta, double* y) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < k; o++) {
            double acc = b ? b[o] : 0.0;
            for (int64_t j = 0; j < c; j++) acc += (double)x[i * c + j] * scale * w[o * c + j];
            y[i * k + o] = act_ref(acc, act, alpha, beta);
        }
}

static int close_all(const float* got, const double* want, int64_t len, const char* what, long long a, long long b) {
    for (int64_t i = 0; i < len; i++)
        if (!(fabs(got[i] - want[i]) <= 2e-5 * (fabs(want[i]) + 1.0))) {
            fprintf(stderr, "FAIL %s (%lld, %lld) at %lld: %.9g vs %.9g\n", what, a, b, (long long)i, got[i],
                    want[i]);
            return 0;
        }
    return 1;
}

static void check_fc(ipx_pool_t pool, int64_t n, int64_t c, int64_t k, int act, int with_bias) {
    unsigned seed = (unsigned)(n * 131 + c * 7 + k + act);
    float *x = malloc((size_t)(n * c) * 4), *w = malloc((size_t)(k * c) * 4), *b = malloc((size_t)k * 4);
    float* y = malloc((size_t)(n * k) * 4);
    double* want = malloc((size_t)(n * k) * 8);
    for (int64_t i = 0; i < n * c; i++) x[i] = frand(&seed) * 2.0f;
    for (int64_t i = 0; i < k * c; i++) w[i] = frand(&seed) / sqrtf((float)c);
    for (int64_t i = 0; i < k; i++) b[i] = frand(&seed);
    ipx_fc_desc d = {.n = n, .c = c, .k = k, .activation = act, .alpha = 0.2f, .beta = 0.5f};
    ipx_fc_t fc;
    EXPECT(ipx_fc_create(&d, w, (size_t)(k * c), with_bias ? b : NULL, (size_t)k, &fc) == IPX_STATUS_SUCCESS);
    EXPECT(ipx_fc_run(fc, pool, x, (size_t)(n * c), y, (size_t)(n * k)) == IPX_STATUS_SUCCESS);
    dense_ref(x, 1.0, w, with_bias ? b : NULL, n, c, k, act, 0.2f, 0.5f, want);
    EXPECT(close_all(y, want, n * k, "fc n, k", (long long)n, (long long)k));
    ipx_run_stats st;
    EXPECT(ipx_pool_get_stats(pool, &st, NULL, 0) == IPX_STATUS_SUCCESS);
    EXPECT(st.flops >= 2u * (uint64_t)(n * c * k) && st.bytes_out == 4u * (uint64_t)(n * k));
    EXPECT(ipx_fc_destroy(fc) == IPX_STATUS_SUCCESS);
    free(x), free(w), free(b), free(y), free(want);
}

static void check_se(ipx_pool_t pool, int64_t n, int64_t c, int64_t hidden, int act, int gate) {
    const int64_t h = 3, wd = 5;
    unsigned seed = (unsigned)(n * 17 + c + hidden * 3 + act * 5 + gate);
    float *sums = malloc((size_t)(n * c) * 4), *w1 = malloc((size_t)(hidden * c) * 4);
    float *w2 = malloc((size_t)(hidden * c) * 4), *b1 = malloc((size_t)hidden * 4), *b2 = malloc((size_t)c * 4);
    float *hid = malloc((size_t)(n * hidden) * 4), *scale = malloc((size_t)(n * c) * 4);
    double *hid_d = malloc((size_t)(n * hidden) * 8), *want = malloc((size_t)(n * c) * 8);
    for (int64_t i = 0; i < n * c; i++) sums[i] = frand(&seed) * (float)(h * wd);
    for (int64_t i = 0; i < hidden * c; i++) w1[i] = frand(&seed) * 2.0f / sqrtf((float)c);
    for (int64_t i = 0; i < hidden * c; i++) w2[i] = frand(&seed) * 2.0f / sqrtf((float)hidden);
    for (int64_t i = 0; i < hidden; i++) b1[i] = frand(&seed);
    for (int64_t i = 0; i < c; i++) b2[i] = frand(&seed);
    ipx_se_desc d = {.n = n, .c = c, .hidden = hidden, .h = h, .w = wd, .activation = act, .gate = gate,
                     .gate_alpha = 1.0f / 6.0f, .gate_beta = 0.5f};
    ipx_fc_t se;
    EXPECT(ipx_se_create(&d, w1, (size_t)(hidden * c), b1, (size_t)hidden, w2, (size_t)(hidden * c), b2, (size_t)c,
                         &se) == IPX_STATUS_SUCCESS);
    EXPECT(ipx_fc_run(se, pool, sums, (size_t)(n * c), scale, (size_t)(n * c)) == IPX_STATUS_SUCCESS);
    dense_ref(sums, 1.0 / (double)(h * wd), w1, b1, n, c, hidden, act, 0, 0, hid_d);
    for (int64_t i = 0; i < n * hidden; i++) hid[i] = (float)hid_d[i];
    dense_ref(hid, 1.0, w2, b2, n, hidden, c, gate, 1.0 / 6.0, 0.5, want);
    EXPECT(close_all(scale, want, n * c, "se n, c", (long long)n, (long long)c));
    ipx_fc_info info;
    EXPECT(ipx_fc_get_info(se, &info) == IPX_STATUS_SUCCESS && info.layers == 2 &&
           info.flops == 4u * (uint64_t)(n * c * hidden));
    EXPECT(ipx_fc_destroy(se) == IPX_STATUS_SUCCESS);
    free(sums), free(w1), free(w2), free(b1), free(b2), free(hid), free(scale), free(hid_d), free(want);
}

static void check_errors(ipx_pool_t pool) {
    float w[64] = {0}, x[16] = {0}, y[16];
    ipx_fc_t fc = (ipx_fc_t)1;
    ipx_fc_desc d = {.n = 2, .c = 4, .k = 8};
    EXPECT(ipx_fc_create(NULL, w, 32, NULL, 0, &fc) == IPX_STATUS_NULL_POINTER && fc == NULL);
    EXPECT(ipx_fc_create(&d, NULL, 32, NULL, 0, &fc) == IPX_STATUS_NULL_POINTER);
    EXPECT(ipx_fc_create(&d, w, 32, NULL, 0, NULL) == IPX_STATUS_NULL_POINTER);
    ipx_fc_desc bad = d;
    bad.n = 0;
    EXPECT(ipx_fc_create(&bad, w, 32, NULL, 0, &fc) == IPX_STATUS_INVALID_BATCH);
    bad = d, bad.c = -1;
    EXPECT(ipx_fc_create(&bad, w, 32, NULL, 0, &fc) == IPX_STATUS_INVALID_CHANNELS);
    bad = d, bad.k = (int64_t)IPX_MAX_DIM + 1;
    EXPECT(ipx_fc_create(&bad, w, 32, NULL, 0, &fc) == IPX_STATUS_INVALID_OUTPUT_CHANNELS);
    bad = d, bad.activation = 7;
    EXPECT(ipx_fc_create(&bad, w, 32, NULL, 0, &fc) == IPX_STATUS_INVALID_ACTIVATION);
    bad = d, bad.activation = IPX_ACTIVATION_HARDSIGMOID, bad.alpha = NAN;
    EXPECT(ipx_fc_create(&bad, w, 32, NULL, 0, &fc) == IPX_STATUS_INVALID_ACTIVATION);
    bad = d, bad.flags = 2;
    EXPECT(ipx_fc_create(&bad, w, 32, NULL, 0, &fc) == IPX_STATUS_INVALID_FLAGS);
    bad = d, bad.struct_size = 4;
    EXPECT(ipx_fc_create(&bad, w, 32, NULL, 0, &fc) == IPX_STATUS_UNSUPPORTED);
    bad = d, bad.memory_limit = 16;
    EXPECT(ipx_fc_create(&bad, w, 32, NULL, 0, &fc) == IPX_STATUS_MEMORY_LIMIT);
    EXPECT(ipx_fc_create(&d, w, 31, NULL, 0, &fc) == IPX_STATUS_INVALID_BUFFER_SIZE);
    EXPECT(ipx_fc_create(&d, w, 32, w, 7, &fc) == IPX_STATUS_INVALID_BUFFER_SIZE);
    EXPECT(ipx_fc_create(&d, w, 32, NULL, 0, &fc) == IPX_STATUS_SUCCESS);
    EXPECT(ipx_fc_run(fc, pool, x, 7, y, 16) == IPX_STATUS_INVALID_BUFFER_SIZE);
    EXPECT(ipx_fc_run(fc, pool, x, 8, y, 15) == IPX_STATUS_INVALID_BUFFER_SIZE);
    EXPECT(ipx_fc_run(fc, NULL, x, 8, y, 16) == IPX_STATUS_NULL_POINTER);
    EXPECT(ipx_fc_run(fc, pool, x, 8, y, 16) == IPX_STATUS_SUCCESS);
    EXPECT(ipx_fc_get_info(fc, NULL) == IPX_STATUS_NULL_POINTER);
    EXPECT(ipx_fc_destroy(fc) == IPX_STATUS_SUCCESS);
    EXPECT(ipx_fc_destroy(NULL) == IPX_STATUS_SUCCESS);

    ipx_se_desc s = {.n = 1, .c = 8, .hidden = 2, .h = 1, .w = 1, .gate = IPX_ACTIVATION_SIGMOID};
    ipx_se_desc sb = s;
    sb.hidden = 0;
    EXPECT(ipx_se_create(&sb, w, 16, NULL, 0, w, 16, NULL, 0, &fc) == IPX_STATUS_INVALID_HIDDEN);
    sb = s, sb.h = 0;
    EXPECT(ipx_se_create(&sb, w, 16, NULL, 0, w, 16, NULL, 0, &fc) == IPX_STATUS_INVALID_INPUT_SIZE);
    sb = s, sb.activation = IPX_ACTIVATION_HARDSIGMOID;  /* the gate's only */
    EXPECT(ipx_se_create(&sb, w, 16, NULL, 0, w, 16, NULL, 0, &fc) == IPX_STATUS_INVALID_ACTIVATION);
    sb = s, sb.gate = -1;
    EXPECT(ipx_se_create(&sb, w, 16, NULL, 0, w, 16, NULL, 0, &fc) == IPX_STATUS_INVALID_ACTIVATION);
    EXPECT(ipx_se_create(&s, w, 16, NULL, 0, w, 15, NULL, 0, &fc) == IPX_STATUS_INVALID_BUFFER_SIZE);
    EXPECT(ipx_se_create(&s, w, 16, w, 3, w, 16, NULL, 0, &fc) == IPX_STATUS_INVALID_BUFFER_SIZE);
    EXPECT(ipx_se_create(&s, w, 16, NULL, 0, NULL, 16, NULL, 0, &fc) == IPX_STATUS_NULL_POINTER);
    EXPECT(ipx_se_create(&s, w, 16, NULL, 0, w, 16, NULL, 0, &fc) == IPX_STATUS_SUCCESS);
    EXPECT(ipx_fc_destroy(fc) == IPX_STATUS_SUCCESS);

    /* one image's inputs larger than the tile */
    ipx_fc_desc big = {.n = 1, .c = 2000, .k = 1};
    float* wb = calloc(2000, 4);
    float* xb = calloc(2000, 4);
    ipx_pool_desc pd = {.workers = 1, .tile_bytes = IPX_MIN_TILE_BYTES};
    ipx_pool_t small;
    EXPECT(ipx_pool_create(&pd, &small) == IPX_STATUS_SUCCESS);
    EXPECT(ipx_fc_create(&big, wb, 2000, NULL, 0, &fc) == IPX_STATUS_SUCCESS);
    ipx_fc_info info;
    EXPECT(ipx_fc_get_info(fc, &info) == IPX_STATUS_SUCCESS && info.min_tile_bytes > IPX_MIN_TILE_BYTES);
    EXPECT(ipx_fc_run(fc, small, xb, 2000, y, 1) == IPX_STATUS_TILE_TOO_SMALL);
    ipx_fc_destroy(fc);
    ipx_pool_destroy(small);
    free(wb), free(xb);
}

int main(void) {
    ipx_pool_t pools[3];
    ipx_pool_desc descs[3] = {{.workers = 1}, {.workers = 3}, {.workers = 2, .tile_bytes = 4 * 1024 * 4}};
    for (int p = 0; p < 3; p++)
        if (ipx_pool_create(&descs[p], &pools[p]) != IPX_STATUS_SUCCESS) return 1;
    for (int p = 0; p < 3; p++) {
        for (int64_t n = 1; n <= 9; n++) check_fc(pools[p], n, 37, 43, IPX_ACTIVATION_NONE, 1);
        for (int act = IPX_ACTIVATION_NONE; act <= IPX_ACTIVATION_HARDSIGMOID; act++) {
            check_fc(pools[p], 5, 129, 17, act, act % 2);
            check_fc(pools[p], 300, 64, 10, act, 1);
        }
        check_fc(pools[p], 4, 1280, 1000, IPX_ACTIVATION_NONE, 1); /* a classifier */
        for (int act = IPX_ACTIVATION_NONE; act <= IPX_ACTIVATION_HARDSWISH; act++)
            for (int gate = IPX_ACTIVATION_NONE; gate <= IPX_ACTIVATION_HARDSIGMOID; gate++)
                check_se(pools[p], 1 + (act + gate) % 5, 36, 9, act, gate);
        check_se(pools[p], 1, 1152, 48, IPX_ACTIVATION_SILU, IPX_ACTIVATION_SIGMOID); /* EfficientNet-B0's */
        check_se(pools[p], 4, 240, 10, IPX_ACTIVATION_SILU, IPX_ACTIVATION_SIGMOID);
        check_se(pools[p], 7, 13, 1, IPX_ACTIVATION_RELU, IPX_ACTIVATION_HARDSIGMOID);
    }
    check_errors(pools[0]);
    for (int p = 0; p < 3; p++) ipx_pool_destroy(pools[p]);
    if (failures) {
        fprintf(stderr, "test_fc: %d failures\n", failures);
        return 1;
    }
    printf("test_fc: ok\n");
    return 0;
}
