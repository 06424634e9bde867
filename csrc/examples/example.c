/* Minimal embedding example: a depthwise 3x3 convolution through the public header only. */
#include <stdio.h>
#include <stdlib.h>

#include "ipx.h"

#define CHECK(call)                                                              \
    do {                                                                         \
        ipx_status st_ = (call);                                                 \
        if (st_ != IPX_STATUS_SUCCESS) {                                         \
            fprintf(stderr, "%s failed: %s\n", #call, ipx_status_string(st_));   \
            return 1;                                                            \
        }                                                                        \
    } while (0)

int main(void) {
    ipx_conv_desc d = {.n = 2, .c = 32, .h = 28, .w = 28, .k = 32, .r = 3, .s = 3, .g = 32,
                       .stride_h = 1, .stride_w = 1, .dilation_h = 1, .dilation_w = 1,
                       .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1};
    size_t in_len = 2 * 32 * 28 * 28, w_len = 32 * 1 * 3 * 3, out_len = 2 * 32 * 28 * 28;
    float* x = malloc(in_len * sizeof(float));
    float* wt = malloc(w_len * sizeof(float));
    float* y = malloc(out_len * sizeof(float));
    if (!x || !wt || !y) return 1;
    for (size_t i = 0; i < in_len; i++) x[i] = 1.0f;
    for (size_t i = 0; i < w_len; i++) wt[i] = 1.0f;

    ipx_pool_t pool;
    ipx_conv_t conv;
    ipx_pool_desc pd = {.workers = 2};
    CHECK(ipx_pool_create(&pd, &pool));
    CHECK(ipx_conv_create(&d, wt, w_len, NULL, 0, &conv));
    CHECK(ipx_conv_run(conv, pool, x, in_len, y, out_len));

    ipx_run_stats st;
    ipx_worker_stats ws[2];
    CHECK(ipx_pool_get_stats(pool, &st, ws, 2));
    /* With all-ones data an interior output sums 9 taps, a corner 4. */
    printf("ipx %s: y[corner]=%g y[interior]=%g  %.3f GFLOP/s, %llu supersteps\n",
           ipx_version_string(), y[0], y[29], st.gflop_s, (unsigned long long)st.supersteps);
    int ok = y[0] == 4.0f && y[29] == 9.0f;
    CHECK(ipx_conv_destroy(conv));
    CHECK(ipx_pool_destroy(pool));
    free(x);
    free(wt);
    free(y);
    return ok ? 0 : 2;
}
