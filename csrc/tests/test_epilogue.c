/* The epilogues against double-precision definitions. ipx_epilogue_run: every activation, with
   and without a residual, a channel scale and plane sums, plane lengths that leave a tail,
   more planes than workers and fewer, portable and vector builds; bad arguments.
   ipx_conv_run_fused: every kernel (row incl. its 3x3 depthwise path, channel, GEMM), every
   activation, with and without a residual, against ipx_conv_run followed by the definition. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ipx.h"
#include "act_ref.h"

#define MAX_FLOATS (7 * 4099)

static float frand(unsigned* seed) {
    *seed = *seed * 1103515245u + 12345u;
    return (float)(*seed >> 8) / (float)(1u << 24) * 4.0f - 2.0f;
}

/* One layer through ipx_conv_run_fused for every activation, with and without a residual. */
static int check_fused(ipx_pool_t pool, int64_t c, int64_t k, int64_t g, int64_t hw, int64_t rs, int32_t algorithm,
                       int32_t flags) {
    ipx_conv_desc d = {.n = 2, .c = c, .h = hw, .w = hw, .k = k, .r = rs, .s = rs, .g = g, .stride_h = 1,
                       .stride_w = 1, .dilation_h = 1, .dilation_w = 1, .pad_top = rs / 2,
                       .pad_bottom = rs / 2, .pad_left = rs / 2, .pad_right = rs / 2,
                       .algorithm = algorithm, .flags = (uint32_t)flags};
    unsigned seed = 777;
    size_t in_len = (size_t)(2 * c * hw * hw), w_len = (size_t)(k * (c / g) * rs * rs), out_len = (size_t)(2 * k * hw * hw);
    float *x = malloc(in_len * 4), *w = malloc(w_len * 4), *bias = malloc((size_t)k * 4);
    float *y = malloc(out_len * 4), *z = malloc(out_len * 4), *res = malloc(out_len * 4);
    float* sums = malloc((size_t)(2 * k) * 4);
    for (size_t i = 0; i < in_len; i++) x[i] = frand(&seed);
    for (size_t i = 0; i < w_len; i++) w[i] = frand(&seed);
    for (int64_t i = 0; i < k; i++) bias[i] = frand(&seed);
    for (size_t i = 0; i < out_len; i++) res[i] = frand(&seed) * 4.0f;
    ipx_conv_t conv;
    int failures = 0;
    if (ipx_conv_create(&d, w, w_len, bias, (size_t)k, &conv) != IPX_STATUS_SUCCESS) return 1;
    if (ipx_conv_run(conv, pool, x, in_len, y, out_len) != IPX_STATUS_SUCCESS) failures++;
    for (int act = IPX_ACTIVATION_NONE; act <= IPX_ACTIVATION_HARDSWISH; act++)
        for (int with_res = 0; with_res <= 1; with_res++) {
            ipx_conv_epilogue e = {.activation = act, .residual = with_res ? res : NULL,
                                   .residual_len = with_res ? out_len : 0, .channel_sums = sums,
                                   .channel_sums_len = (size_t)(2 * k)};
            if (ipx_conv_run_fused(conv, pool, x, in_len, z, out_len, &e) != IPX_STATUS_SUCCESS) {
                failures++;
                continue;
            }
            for (size_t i = 0; i < out_len; i++) {
                double want = act_ref((double)y[i] + (with_res ? res[i] : 0.0), act, 0.0, 0.0);
                if (fabs(z[i] - want) > 2e-6 * (fabs(want) + 1.0)) {
                    printf("FAIL fused c=%lld k=%lld g=%lld alg %d act %d res %d at %zu: %g vs %g\n", (long long)c,
                           (long long)k, (long long)g, algorithm, act, with_res, i, z[i], want);
                    failures++;
                    break;
                }
            }
            for (int64_t plane = 0; plane < 2 * k; plane++) {
                double want = 0;
                for (int64_t i = 0; i < hw * hw; i++) want += z[plane * hw * hw + i];
                if (fabs(sums[plane] - want) > 1e-5 * (fabs(want) + (double)(hw * hw))) {
                    printf("FAIL fused sums c=%lld act %d plane %lld: %g vs %g\n", (long long)c, act,
                           (long long)plane, sums[plane], want);
                    failures++;
                    break;
                }
            }
        }
    ipx_conv_epilogue bad = {.activation = 42};
    if (ipx_conv_run_fused(conv, pool, x, in_len, z, out_len, &bad) != IPX_STATUS_UNSUPPORTED) failures++;
    bad = (ipx_conv_epilogue){.residual = res, .residual_len = out_len - 1};
    if (ipx_conv_run_fused(conv, pool, x, in_len, z, out_len, &bad) != IPX_STATUS_INVALID_BUFFER_SIZE) failures++;
    bad = (ipx_conv_epilogue){.channel_sums = sums, .channel_sums_len = (size_t)k};
    if (ipx_conv_run_fused(conv, pool, x, in_len, z, out_len, &bad) != IPX_STATUS_INVALID_BUFFER_SIZE) failures++;
    ipx_conv_destroy(conv);
    free(x), free(w), free(bias), free(y), free(z), free(res), free(sums);
    return failures;
}

int main(void) {
    int failures = 0;
    ipx_pool_desc pd = {0};
    pd.workers = 3;
    ipx_pool_t pool;
    if (ipx_pool_create(&pd, &pool) != IPX_STATUS_SUCCESS) return 1;
    const int64_t shapes[][2] = {{1, 1}, {2, 7}, {5, 8}, {7, 9}, {3, 100}, {7, 4099}};
    float* data = malloc(MAX_FLOATS * sizeof(float));
    float* res = malloc(MAX_FLOATS * sizeof(float));
    double* want = malloc(MAX_FLOATS * sizeof(double));
    float scale[7], sums[7];
    double want_sums[7];
    unsigned seed = 12345;
    for (int variant = 0; variant < 8; variant++) /* bits: portable, residual, scale + sums */
        for (int act = IPX_ACTIVATION_NONE; act <= IPX_ACTIVATION_HARDSWISH; act++)
            for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
                int flags = variant & 1, with_res = variant & 2, with_scale = variant & 4;
                int64_t planes = shapes[si][0], len = shapes[si][1];
                for (int64_t p = 0; p < planes; p++) {
                    scale[p] = with_scale ? 0.25f + 0.5f * (float)p : 1.0f;
                    want_sums[p] = 0;
                    for (int64_t i = 0; i < len; i++) {
                        int64_t k = p * len + i;
                        seed = seed * 1103515245u + 12345u;
                        data[k] = ((float)(seed >> 8) / (float)(1u << 24) - 0.5f) * 40.0f; /* -20..20 */
                        if (k == 0) data[k] = -200.0f; /* beyond the exp clamp */
                        res[k] = (float)((int)(k % 7) - 3);
                        want[k] = act_ref((double)data[k] * scale[p] + (with_res ? res[k] : 0.0), act, 0.0, 0.0);
                        want_sums[p] += want[k];
                    }
                }
                ipx_epilogue_desc d = {.planes = planes, .plane_len = len, .activation = act, .flags = flags};
                size_t n = (size_t)(planes * len);
                ipx_status st = ipx_epilogue_run(pool, &d, data, n, with_res ? res : NULL, with_res ? n : 0,
                                                 with_scale ? scale : NULL, with_scale ? sums : NULL);
                if (st != IPX_STATUS_SUCCESS) {
                    printf("FAIL act %d: status %s\n", act, ipx_status_string(st));
                    failures++;
                    continue;
                }
                for (size_t k = 0; k < n; k++) {
                    if (fabs(data[k] - want[k]) > 2e-6 * (fabs(want[k]) + 1.0)) {
                        printf("FAIL act %d variant %d shape %lldx%lld at %zu: %g vs %g\n", act, variant,
                               (long long)planes, (long long)len, k, data[k], want[k]);
                        failures++;
                        break;
                    }
                }
                for (int64_t p = 0; with_scale && p < planes; p++)
                    if (fabs(sums[p] - want_sums[p]) > 1e-5 * (fabs(want_sums[p]) + (double)len)) {
                        printf("FAIL act %d sum of plane %lld: %g vs %g\n", act, (long long)p, sums[p],
                               want_sums[p]);
                        failures++;
                    }
            }
    ipx_epilogue_desc d = {.planes = 1, .plane_len = 8, .activation = 99};
    if (ipx_epilogue_run(pool, &d, data, 8, NULL, 0, NULL, NULL) != IPX_STATUS_UNSUPPORTED) failures++;
    d.activation = IPX_ACTIVATION_RELU;
    d.flags = 4;
    if (ipx_epilogue_run(pool, &d, data, 8, NULL, 0, NULL, NULL) != IPX_STATUS_INVALID_FLAGS) failures++;
    d.flags = 0;
    if (ipx_epilogue_run(pool, &d, data, 8, res, 7, NULL, NULL) != IPX_STATUS_INVALID_BUFFER_SIZE) failures++;
    if (ipx_epilogue_run(pool, &d, data, 9, NULL, 0, NULL, NULL) != IPX_STATUS_INVALID_BUFFER_SIZE) failures++;
    if (ipx_epilogue_run(pool, &d, NULL, 8, NULL, 0, NULL, NULL) != IPX_STATUS_NULL_POINTER) failures++;
    d.planes = 0;
    if (ipx_epilogue_run(pool, &d, data, 0, NULL, 0, NULL, NULL) != IPX_STATUS_INVALID_BUFFER_SIZE) failures++;
    for (int flags = 0; flags <= 1; flags++) {
        failures += check_fused(pool, 24, 24, 24, 13, 3, IPX_ALGORITHM_AUTO, flags); /* depthwise 3x3 */
        failures += check_fused(pool, 12, 12, 12, 9, 5, IPX_ALGORITHM_AUTO, flags);  /* depthwise 5x5 */
        failures += check_fused(pool, 16, 24, 1, 11, 3, IPX_ALGORITHM_AUTO, flags);  /* channel kernel */
        failures += check_fused(pool, 40, 20, 1, 7, 1, IPX_ALGORITHM_AUTO, flags);   /* 1x1 */
        failures += check_fused(pool, 16, 24, 2, 10, 3, IPX_ALGORITHM_GEMM, flags);  /* GEMM lowering */
        failures += check_fused(pool, 12, 18, 3, 10, 3, IPX_ALGORITHM_AUTO, flags);  /* row kernel, 4 per group */
    }
    ipx_pool_destroy(pool);
    free(data);
    free(res);
    free(want);
    printf("test_epilogue: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
