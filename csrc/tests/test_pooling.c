/* ipx_pooling_run against a double-precision definition (ONNX MaxPool / AveragePool with
   PyTorch's ceil_mode rule): max and average, count_include_pad on and off, ceil_mode on and
   off, windows 1x1 to 3x3 and 2x3, strides 1-3, every padding below the window, odd sizes,
   global windows, 1-3 workers, small tiles; then every bad argument's status. Run by make
   test for each ISA build. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "expect.h"
#include "ipx.h"

static int64_t out_len(int64_t in, int64_t k, int64_t st, int64_t lo, int64_t hi, int ceil_mode) {
    int64_t span = in + lo + hi - k;
    int64_t o = (ceil_mode ? (span + st - 1) / st : span / st) + 1;
    if (ceil_mode && (o - 1) * st >= in + lo) o--;
    return o;
}

static void check(ipx_pool_t pool, int64_t n, int64_t c, int64_t h, int64_t w, int64_t r, int64_t s, int64_t sh,
                  int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr, uint32_t flags) {
    ipx_pooling_desc d = {.n = n, .c = c, .h = h, .w = w, .r = r, .s = s, .stride_h = sh, .stride_w = sw,
                          .pad_top = pt, .pad_bottom = pb, .pad_left = pl, .pad_right = pr, .flags = flags};
    const int ceil_mode = (flags & IPX_POOLING_CEIL_MODE) != 0, avg = (flags & IPX_POOLING_AVERAGE) != 0;
    const int incl = (flags & IPX_POOLING_COUNT_INCLUDE_PAD) != 0;
    int64_t p = out_len(h, r, sh, pt, pb, ceil_mode), q = out_len(w, s, sw, pl, pr, ceil_mode), pp, qq;
    EXPECT(ipx_pooling_output_size(&d, &pp, &qq) == IPX_STATUS_SUCCESS && pp == p && qq == q);
    size_t il = (size_t)(n * c * h * w), ol = (size_t)(n * c * p * q);
    float *x = malloc(il * 4), *y = malloc(ol * 4);
    unsigned seed = (unsigned)(h * 31 + w * 7 + r + s * 3 + flags);
    for (size_t i = 0; i < il; i++) x[i] = frand(&seed);
    for (size_t i = 0; i < ol; i++) y[i] = NAN;
    EXPECT(ipx_pooling_run(pool, &d, x, il, y, ol) == IPX_STATUS_SUCCESS);
    int bad = 0;
    for (int64_t pl_ = 0; pl_ < n * c; pl_++)
        for (int64_t oi = 0; oi < p; oi++)
            for (int64_t oj = 0; oj < q; oj++) {
                int64_t h0 = oi * sh - pt, w0 = oj * sw - pl;
                double acc = avg ? 0 : -INFINITY;
                int64_t real = 0;
                for (int64_t i = h0; i < h0 + r; i++)
                    for (int64_t j = w0; j < w0 + s; j++)
                        if (i >= 0 && i < h && j >= 0 && j < w) {
                            double v = x[(pl_ * h + i) * w + j];
                            acc = avg ? acc + v : (v > acc ? v : acc);
                            real++;
                        }
                if (avg) {
                    int64_t cnt = real;
                    if (incl) {
                        int64_t he = h0 + r < h + pb ? h0 + r : h + pb, we = w0 + s < w + pr ? w0 + s : w + pr;
                        cnt = (he - h0) * (we - w0);
                    }
                    acc /= (double)cnt;
                }
                float got = y[(pl_ * p + oi) * q + oj];
                if (!(fabs(got - acc) <= 1e-5 * (1 + fabs(acc)))) bad++;
            }
    if (bad) {
        failures++;
        fprintf(stderr, "n=%ld c=%ld %ldx%ld window %ldx%ld stride %ld,%ld pad %ld,%ld,%ld,%ld flags %u: %d wrong\n",
                (long)n, (long)c, (long)h, (long)w, (long)r, (long)s, (long)sh, (long)sw, (long)pt, (long)pb, (long)pl,
                (long)pr, flags, bad);
    }
    free(x), free(y);
}

static void check_all(ipx_pool_t pool) {
    const int64_t sizes[][2] = {{1, 1}, {2, 3}, {5, 5}, {7, 9}, {12, 12}, {17, 20}, {33, 33}};
    const int64_t windows[][2] = {{1, 1}, {2, 2}, {3, 3}, {2, 3}};
    const uint32_t modes[] = {0, IPX_POOLING_AVERAGE, IPX_POOLING_AVERAGE | IPX_POOLING_COUNT_INCLUDE_PAD};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (size_t wi = 0; wi < sizeof windows / sizeof windows[0]; wi++)
            for (int64_t st = 1; st <= 3; st++)
                for (int64_t pad = 0; pad < windows[wi][0] && pad < windows[wi][1]; pad++)
                    for (size_t m = 0; m < 3; m++)
                        for (uint32_t ceil_mode = 0; ceil_mode <= IPX_POOLING_CEIL_MODE; ceil_mode += IPX_POOLING_CEIL_MODE) {
                            const int64_t h = sizes[si][0], w = sizes[si][1], r = windows[wi][0], s = windows[wi][1];
                            if (h + 2 * pad < r || w + 2 * pad < s) continue;
                            check(pool, 2, 3, h, w, r, s, st, st, pad, pad, pad, pad, modes[m] | ceil_mode);
                            if (pad > 0 && h + pad >= r && w + pad >= s) /* lopsided */
                                check(pool, 1, 2, h, w, r, s, st, st, 0, pad, pad, 0, modes[m] | ceil_mode);
                        }
    for (size_t m = 0; m < 3; m++) {
        check(pool, 2, 5, 7, 7, 7, 7, 1, 1, 0, 0, 0, 0, modes[m]);         /* global */
        check(pool, 1, 3, 3, 2, 3, 2, 1, 1, 0, 0, 0, 0, modes[m]);         /* global, below a vector */
        check(pool, 4, 64, 112, 112, 3, 3, 2, 2, 1, 1, 1, 1, modes[m]);    /* ResNet-50's max pool */
        check(pool, 1, 2, 9, 9, 3, 3, 2, 1, 1, 0, 2, 1, modes[m]);         /* different strides */
        check(pool, 1, 2, 10, 11, 5, 4, 3, 2, 2, 1, 3, 0, modes[m] | IPX_POOLING_CEIL_MODE);
    }
}

static void check_errors(ipx_pool_t pool) {
    ipx_pooling_desc ok = {.n = 1, .c = 2, .h = 5, .w = 5, .r = 3, .s = 3, .stride_h = 2, .stride_w = 2,
                           .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1};
    float x[50], y[18];
    int64_t p, q;
    EXPECT(ipx_pooling_run(pool, &ok, x, 50, y, 18) == IPX_STATUS_SUCCESS);
    EXPECT(ipx_pooling_run(NULL, &ok, x, 50, y, 18) == IPX_STATUS_NULL_POINTER);
    EXPECT(ipx_pooling_run(pool, NULL, x, 50, y, 18) == IPX_STATUS_NULL_POINTER);
    EXPECT(ipx_pooling_run(pool, &ok, NULL, 50, y, 18) == IPX_STATUS_NULL_POINTER);
    EXPECT(ipx_pooling_run(pool, &ok, x, 50, NULL, 18) == IPX_STATUS_NULL_POINTER);
    EXPECT(ipx_pooling_output_size(&ok, NULL, &q) == IPX_STATUS_NULL_POINTER);
    EXPECT(ipx_pooling_run(pool, &ok, x, 49, y, 18) == IPX_STATUS_INVALID_BUFFER_SIZE);
    EXPECT(ipx_pooling_run(pool, &ok, x, 50, y, 19) == IPX_STATUS_INVALID_BUFFER_SIZE);
    struct { int64_t* field; int64_t value; ipx_status want; } cases[] = {
        {&ok.n, 0, IPX_STATUS_INVALID_BATCH}, {&ok.c, -1, IPX_STATUS_INVALID_CHANNELS},
        {&ok.h, 0, IPX_STATUS_INVALID_INPUT_SIZE}, {&ok.w, IPX_MAX_DIM + 1, IPX_STATUS_INVALID_INPUT_SIZE},
        {&ok.r, 0, IPX_STATUS_INVALID_KERNEL_SIZE}, {&ok.s, 0, IPX_STATUS_INVALID_KERNEL_SIZE},
        {&ok.stride_h, 0, IPX_STATUS_INVALID_STRIDE}, {&ok.stride_w, -2, IPX_STATUS_INVALID_STRIDE},
        {&ok.pad_top, -1, IPX_STATUS_INVALID_PADDING}, {&ok.pad_right, 3, IPX_STATUS_INVALID_PADDING},
        {&ok.r, 8, IPX_STATUS_EMPTY_OUTPUT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ipx_pooling_desc bad = ok;
        *(int64_t*)((char*)&bad + ((char*)cases[i].field - (char*)&ok)) = cases[i].value;
        EXPECT(ipx_pooling_output_size(&bad, &p, &q) == cases[i].want);
        EXPECT(ipx_pooling_run(pool, &bad, x, 50, y, 18) == cases[i].want);
    }
    ipx_pooling_desc bad = ok;
    bad.flags = 1u << 7;
    EXPECT(ipx_pooling_run(pool, &bad, x, 50, y, 18) == IPX_STATUS_INVALID_FLAGS);
    bad = ok;
    bad.n = bad.c = bad.h = bad.w = IPX_MAX_DIM;
    EXPECT(ipx_pooling_output_size(&bad, &p, &q) == IPX_STATUS_SIZE_OVERFLOW);
    bad = ok;
    bad.struct_size = 8; /* older than the first layout */
    EXPECT(ipx_pooling_run(pool, &bad, x, 50, y, 18) == IPX_STATUS_UNSUPPORTED);
}

int main(void) {
    for (uint32_t workers = 1; workers <= 3; workers++) {
        ipx_pool_desc pd = {.workers = workers, .tile_bytes = workers == 3 ? IPX_MIN_TILE_BYTES : 0};
        ipx_pool_t pool;
        if (ipx_pool_create(&pd, &pool) != IPX_STATUS_SUCCESS) return 1;
        check_all(pool);
        if (workers == 1) check_errors(pool);
        ipx_pool_destroy(pool);
    }
    /* a row of one channel larger than the tile */
    ipx_pool_desc pd = {.workers = 1, .tile_bytes = IPX_MIN_TILE_BYTES};
    ipx_pool_t pool;
    if (ipx_pool_create(&pd, &pool) != IPX_STATUS_SUCCESS) return 1;
    ipx_pooling_desc wide = {.n = 1, .c = 1, .h = 3, .w = 2000, .r = 3, .s = 3, .stride_h = 1, .stride_w = 1};
    static float x[6000], y[1998];
    EXPECT(ipx_pooling_run(pool, &wide, x, 6000, y, 1998) == IPX_STATUS_TILE_TOO_SMALL);
    ipx_pool_destroy(pool);
    if (failures) {
        fprintf(stderr, "test_pooling: %d failures\n", failures);
        return 1;
    }
    printf("test_pooling: ok\n");
    return 0;
}
