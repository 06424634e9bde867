/* Depthwise convolutions (one input channel per group) against a double-precision loop:
   3x3 and 5x5 (and 7x7, the generic row path), stride 1 and 2, channel multipliers 1 and 2,
   symmetric and lopsided padding, rows narrower than, equal to and wider than a vector,
   blocks cut by small tiles, 1-3 workers, every ISA build the CPU has (run the program again
   with IPX_FORCE_PORTABLE=1 / IPX_FORCE_AVX2=1 for the others); with a fused activation
   and channel sums, against the same definition. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "expect.h"
#include "ipx.h"

static void check(int64_t n, int64_t c, int64_t mult, int64_t h, int64_t w, int64_t k, int64_t stride,
                  int64_t pt, int64_t pb, int64_t pl, int64_t pr, uint32_t workers, uint64_t tile_bytes) {
    ipx_conv_desc d = {.n = n, .c = c, .h = h, .w = w, .k = c * mult, .r = k, .s = k, .g = c,
                       .stride_h = stride, .stride_w = stride, .dilation_h = 1, .dilation_w = 1,
                       .pad_top = pt, .pad_bottom = pb, .pad_left = pl, .pad_right = pr};
    int64_t p, q;
    if (ipx_conv_output_size(&d, &p, &q) != IPX_STATUS_SUCCESS) {
        failures++;
        fprintf(stderr, "bad test geometry\n");
        return;
    }
    const int64_t kk = c * mult;
    size_t in_len = (size_t)(n * c * h * w), w_len = (size_t)(kk * k * k), out_len = (size_t)(n * kk * p * q);
    float *x = malloc(in_len * 4), *wt = malloc(w_len * 4), *bias = malloc((size_t)kk * 4);
    float *y = malloc(out_len * 4), *sums = malloc((size_t)(n * kk) * 4);
    double* ref = malloc(out_len * 8);
    unsigned seed = (unsigned)(c * 131 + h * 7 + w + k * 3 + stride);
    for (size_t i = 0; i < in_len; i++) x[i] = frand(&seed);
    for (size_t i = 0; i < w_len; i++) wt[i] = frand(&seed);
    for (int64_t i = 0; i < kk; i++) bias[i] = frand(&seed);
    for (int64_t ni = 0; ni < n; ni++)
        for (int64_t o = 0; o < kk; o++)
            for (int64_t pi = 0; pi < p; pi++)
                for (int64_t qi = 0; qi < q; qi++) {
                    double acc = bias[o];
                    for (int64_t ri = 0; ri < k; ri++)
                        for (int64_t si = 0; si < k; si++) {
                            int64_t ih = pi * stride - pt + ri, iw = qi * stride - pl + si;
                            if (ih >= 0 && ih < h && iw >= 0 && iw < w)
                                acc += (double)x[((ni * c + o / mult) * h + ih) * w + iw] * wt[(o * k + ri) * k + si];
                        }
                    ref[((ni * kk + o) * p + pi) * q + qi] = acc;
                }
    ipx_pool_desc pd = {.workers = workers, .tile_bytes = tile_bytes};
    ipx_pool_t pool = NULL;
    ipx_conv_t conv = NULL;
    EXPECT(ipx_pool_create(&pd, &pool) == IPX_STATUS_SUCCESS);
    EXPECT(ipx_conv_create(&d, wt, w_len, bias, (size_t)kk, &conv) == IPX_STATUS_SUCCESS);
    if (pool == NULL || conv == NULL) goto done;
    for (int fused = 0; fused <= 1; fused++) {
        for (size_t i = 0; i < out_len; i++) y[i] = NAN; /* every output must be written */
        ipx_conv_epilogue e = {.activation = IPX_ACTIVATION_RELU6, .channel_sums = sums,
                               .channel_sums_len = (size_t)(n * kk)};
        ipx_status st = fused ? ipx_conv_run_fused(conv, pool, x, in_len, y, out_len, &e)
                              : ipx_conv_run(conv, pool, x, in_len, y, out_len);
        EXPECT(st == IPX_STATUS_SUCCESS);
        int bad = 0;
        for (int64_t plane = 0; plane < n * kk; plane++) {
            double sum = 0;
            for (int64_t i = 0; i < p * q; i++) {
                double want = ref[plane * p * q + i];
                if (fused) want = want < 0 ? 0 : want > 6 ? 6 : want;
                sum += want;
                if (!(fabs(y[plane * p * q + i] - want) <= 1e-5 * (1 + fabs(want)))) bad++;
            }
            if (fused && !(fabs(sums[plane] - sum) <= 1e-4 * (1 + fabs(sum)))) bad++;
        }
        if (bad) {
            failures++;
            fprintf(stderr, "n=%ld c=%ld x%ld %ldx%ld k=%ld s=%ld pad %ld,%ld,%ld,%ld workers=%u tile=%lu fused=%d: %d wrong\n",
                    (long)n, (long)c, (long)mult, (long)h, (long)w, (long)k, (long)stride, (long)pt, (long)pb, (long)pl,
                    (long)pr, workers, (unsigned long)tile_bytes, fused, bad);
        }
    }
done:
    ipx_conv_destroy(conv);
    ipx_pool_destroy(pool);
    free(x), free(wt), free(bias), free(y), free(sums), free(ref);
}

int main(void) {
    const int64_t sizes[][2] = {{1, 1}, {3, 5}, {7, 7}, {8, 9}, {14, 14}, {17, 23}, {28, 28}, {33, 40}};
    for (int64_t k = 3; k <= 7; k += 2)
        for (int64_t stride = 1; stride <= 2; stride++)
            for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
                const int64_t h = sizes[i][0], w = sizes[i][1], pad = k / 2;
                if (h + 2 * pad < k || w + 2 * pad < k) continue;
                check(2, 5, 1, h, w, k, stride, pad, pad, pad, pad, 2, 0);
                check(1, 3, 2, h, w, k, stride, pad, pad, pad, pad, 3, 0);
                /* TF-style "same" padding of a strided layer: less at the top and left */
                if (h + 2 * pad - 1 >= k && w + 2 * pad - 1 >= k)
                    check(1, 4, 1, h, w, k, stride, pad - 1, pad, pad - 1, pad, 1, 0);
                check(2, 9, 1, h, w, k, stride, pad, pad, pad, pad, 2, 4096); /* blocks of few rows */
            }
    check(1, 3, 1, 6, 6, 3, 2, 0, 0, 0, 0, 2, 0); /* no padding */
    check(4, 144, 1, 56, 56, 5, 2, 2, 2, 2, 2, 2, 0); /* EfficientNet-B0 sizes */
    check(1, 96, 1, 112, 112, 3, 2, 1, 1, 1, 1, 2, 0);  /* MobileNetV2 sizes */
    if (failures) {
        fprintf(stderr, "test_depthwise: %d failures\n", failures);
        return 1;
    }
    printf("test_depthwise: ok\n");
    return 0;
}
