/* The channel-blocked depthwise kernel (kernel_nchwc.c) through the public API against a
   double-precision reference, so that the sanitizer builds (make asan, make tsan) run its
   exchange and write paths: every activation, with and without a residual, channel sums,
   an input scale; 3x3 and 5x5, stride 1 and 2; channel counts ending in a part block; maps
   whose blocks end in a part vector of pixels (7x7, 14x14), maps under 8 pixels, rows under
   8 wide, a stride-2 layer whose last input column is not read; tiles that cut blocks, and a
   tile too small for one channel block (the row kernel's fallback); the pair run. */
#include <stdlib.h>

#include "act_ref.h"
#include "expect.h"
#include "ipx.h"

typedef struct shape {
    int64_t n, c, hw, r, stride, pad;
} shape;

/* y = act(depthwise(x * scale) + bias + res) in double; each plane's sum into sums. */
static void reference(const shape* sh, int64_t p, const float* x, const float* w, const float* b, const float* scale,
                      const float* res, int act, double* y, double* sums) {
    const int64_t hw = sh->hw, r = sh->r;
    for (int64_t plane = 0; plane < sh->n * sh->c; plane++) {
        const int64_t ch = plane % sh->c;
        sums[plane] = 0;
        for (int64_t i = 0; i < p; i++)
            for (int64_t j = 0; j < p; j++) {
                double acc = b[ch];
                for (int64_t ri = 0; ri < r; ri++)
                    for (int64_t si = 0; si < r; si++) {
                        const int64_t ih = i * sh->stride - sh->pad + ri, iw = j * sh->stride - sh->pad + si;
                        if (ih >= 0 && ih < hw && iw >= 0 && iw < hw)
                            acc += (double)x[(plane * hw + ih) * hw + iw] * (scale ? scale[plane] : 1.0f) *
                                   w[(ch * r + ri) * r + si];
                    }
                const int64_t o = (plane * p + i) * p + j;
                y[o] = act_ref(acc + (res ? res[o] : 0.0), act, 0.0, 0.0);
                sums[plane] += y[o];
            }
    }
}

static void check(const shape* sh, uint64_t tile_bytes) {
    ipx_conv_desc d = {.n = sh->n, .c = sh->c, .h = sh->hw, .w = sh->hw, .k = sh->c, .r = sh->r, .s = sh->r,
                       .g = sh->c, .stride_h = sh->stride, .stride_w = sh->stride, .dilation_h = 1,
                       .dilation_w = 1, .pad_top = sh->pad, .pad_bottom = sh->pad, .pad_left = sh->pad,
                       .pad_right = sh->pad};
    int64_t p, q;
    EXPECT(ipx_conv_output_size(&d, &p, &q) == IPX_STATUS_SUCCESS);
    const size_t in_len = (size_t)(sh->n * sh->c * sh->hw * sh->hw), out_len = (size_t)(sh->n * sh->c * p * q);
    const size_t w_len = (size_t)(sh->c * sh->r * sh->r), planes = (size_t)(sh->n * sh->c);
    float *x = malloc(in_len * 4), *w = malloc(w_len * 4), *b = malloc((size_t)sh->c * 4), *y = malloc(out_len * 4);
    float *res = malloc(out_len * 4), *sums = malloc(planes * 4), *scale = malloc(planes * 4);
    float *wp = malloc((size_t)(24 * sh->c) * 4), *pair = malloc((size_t)(sh->n * 24 * p * q) * 4);
    double *want = malloc(out_len * 8), *want_sums = malloc(planes * 8);
    unsigned seed = (unsigned)(sh->c * 31 + sh->hw * 7 + sh->r + sh->stride);
    for (size_t i = 0; i < in_len; i++) x[i] = frand(&seed) * 3.0f;
    for (size_t i = 0; i < w_len; i++) w[i] = frand(&seed);
    for (int64_t i = 0; i < sh->c; i++) b[i] = frand(&seed);
    for (size_t i = 0; i < out_len; i++) res[i] = frand(&seed) * 2.0f;
    for (size_t i = 0; i < planes; i++) scale[i] = 0.5f + frand(&seed) * 0.25f;
    for (int64_t i = 0; i < 24 * sh->c; i++) wp[i] = frand(&seed) * 0.25f;
    ipx_pool_t pool;
    ipx_conv_t conv, pw;
    ipx_conv_info info;
    EXPECT(ipx_conv_create(&d, w, w_len, b, (size_t)sh->c, &conv) == IPX_STATUS_SUCCESS);
    EXPECT(ipx_conv_get_info(conv, &info) == IPX_STATUS_SUCCESS);
    const uint64_t least = info.min_tile_bytes > IPX_MIN_TILE_BYTES ? info.min_tile_bytes : IPX_MIN_TILE_BYTES;
    ipx_pool_desc pd = {.workers = 2, .tile_bytes = tile_bytes == 1 ? least : tile_bytes};
    EXPECT(ipx_pool_create(&pd, &pool) == IPX_STATUS_SUCCESS);
    for (int act = IPX_ACTIVATION_NONE; act <= IPX_ACTIVATION_HARDSWISH; act++)
        for (int variant = 0; variant < 3; variant++) { /* plain; residual + sums; scale + sums */
            const float* r = variant == 1 ? res : NULL;
            const float* s = variant == 2 ? scale : NULL;
            ipx_conv_epilogue e = {.activation = act, .residual = r, .residual_len = r ? out_len : 0,
                                   .channel_sums = variant ? sums : NULL, .channel_sums_len = variant ? planes : 0,
                                   .input_scale = s, .input_scale_len = s ? planes : 0};
            ipx_status st = ipx_conv_run_fused(conv, pool, x, in_len, y, out_len, &e);
            EXPECT(st == IPX_STATUS_SUCCESS);
            reference(sh, p, x, w, b, s, r, act, want, want_sums);
            int bad = 0;
            for (size_t i = 0; i < out_len && !bad; i++) bad = fabs(y[i] - want[i]) > 1e-4 * (fabs(want[i]) + 1.0);
            for (size_t i = 0; variant && i < planes && !bad; i++)
                bad = fabs(sums[i] - want_sums[i]) > 1e-4 * (fabs(want_sums[i]) + (double)(p * q));
            if (bad)
                fprintf(stderr, "c%lld %lldx%lld %lldx%lld s%lld tile %llu act %d variant %d\n", (long long)sh->c,
                        (long long)sh->hw, (long long)sh->hw, (long long)sh->r, (long long)sh->r,
                        (long long)sh->stride, (unsigned long long)tile_bytes, act, variant);
            EXPECT(!bad);
        }
    /* the pair: depthwise with ReLU6, then 1x1 to 24 channels, from the tile */
    ipx_conv_desc dp = {.n = sh->n, .c = sh->c, .h = p, .w = q, .k = 24, .r = 1, .s = 1, .g = 1, .stride_h = 1,
                        .stride_w = 1, .dilation_h = 1, .dilation_w = 1};
    EXPECT(ipx_conv_create(&dp, wp, (size_t)(24 * sh->c), NULL, 0, &pw) == IPX_STATUS_SUCCESS);
    ipx_conv_epilogue relu6 = {.activation = IPX_ACTIVATION_RELU6};
    const size_t pair_len = (size_t)(sh->n * 24 * p * q);
    ipx_status st = ipx_conv_run_pair(conv, pw, pool, x, in_len, pair, pair_len, &relu6, NULL);
    if (st != IPX_STATUS_SUCCESS && st != IPX_STATUS_TILE_TOO_SMALL) fprintf(stderr, "pair: %s\n", ipx_status_string(st));
    EXPECT(st == IPX_STATUS_SUCCESS || st == IPX_STATUS_TILE_TOO_SMALL);
    if (st == IPX_STATUS_SUCCESS) {
        reference(sh, p, x, w, b, NULL, NULL, IPX_ACTIVATION_RELU6, want, want_sums);
        int bad = 0;
        for (int64_t img = 0; img < sh->n && !bad; img++)
            for (int64_t k = 0; k < 24 && !bad; k++)
                for (int64_t i = 0; i < p * q && !bad; i++) {
                    double acc = 0;
                    for (int64_t c = 0; c < sh->c; c++) acc += want[(img * sh->c + c) * p * q + i] * wp[k * sh->c + c];
                    bad = fabs(pair[(img * 24 + k) * p * q + i] - acc) > 1e-4 * (fabs(acc) + 1.0);
                }
        EXPECT(!bad);
    }
    /* the block: a 1x1 expand from 8 channels with ReLU6 before the pair, against the expand's
       run then the pair (the expand runs on the pointwise kernel on maps of 16 pixels or more) */
    ipx_conv_desc de = {.n = sh->n, .c = 8, .h = sh->hw, .w = sh->hw, .k = sh->c, .r = 1, .s = 1, .g = 1,
                        .stride_h = 1, .stride_w = 1, .dilation_h = 1, .dilation_w = 1};
    const size_t x8_len = (size_t)(sh->n * 8 * sh->hw * sh->hw);
    float *x8 = malloc(x8_len * 4), *we = malloc((size_t)(8 * sh->c) * 4), *xe = malloc(in_len * 4);
    float* block = malloc(pair_len * 4);
    for (size_t i = 0; i < x8_len; i++) x8[i] = frand(&seed);
    for (int64_t i = 0; i < 8 * sh->c; i++) we[i] = frand(&seed) * 0.5f;
    ipx_conv_t ex;
    EXPECT(ipx_conv_create(&de, we, (size_t)(8 * sh->c), NULL, 0, &ex) == IPX_STATUS_SUCCESS);
    EXPECT(ipx_conv_run_fused(ex, pool, x8, x8_len, xe, in_len, &relu6) == IPX_STATUS_SUCCESS);
    st = ipx_conv_run_pair(conv, pw, pool, xe, in_len, pair, pair_len, &relu6, NULL);
    ipx_status bst = ipx_conv_run_block(ex, conv, pw, pool, x8, x8_len, block, pair_len, &relu6, &relu6, NULL);
    if (sh->hw * sh->hw < 16) EXPECT(bst == IPX_STATUS_UNSUPPORTED);
    else if (bst != IPX_STATUS_SUCCESS && bst != IPX_STATUS_TILE_TOO_SMALL) fprintf(stderr, "block: %s\n", ipx_status_string(bst));
    if (bst == IPX_STATUS_SUCCESS) {
        EXPECT(st == IPX_STATUS_SUCCESS);
        int bad = 0;
        for (size_t i = 0; i < pair_len && !bad; i++) bad = fabs(block[i] - pair[i]) > 1e-5 * (fabs(pair[i]) + 1.0);
        EXPECT(!bad);
    }
    EXPECT(bst == IPX_STATUS_SUCCESS || bst == IPX_STATUS_TILE_TOO_SMALL || sh->hw * sh->hw < 16);
    EXPECT(ipx_conv_run_block(ex, conv, conv, pool, x8, x8_len, block, pair_len, NULL, NULL, NULL) == IPX_STATUS_UNSUPPORTED);
    EXPECT(ipx_conv_run_block(NULL, conv, pw, pool, x8, x8_len, block, pair_len, NULL, NULL, NULL) == IPX_STATUS_NULL_POINTER);
    EXPECT(ipx_conv_run_block(ex, conv, pw, pool, x8, x8_len - 1, block, pair_len, NULL, NULL, NULL) ==
           (sh->hw * sh->hw < 16 ? IPX_STATUS_UNSUPPORTED : IPX_STATUS_INVALID_BUFFER_SIZE));
    ipx_conv_destroy(ex);
    free(x8), free(we), free(xe), free(block);
    ipx_conv_destroy(pw);
    ipx_conv_destroy(conv);
    ipx_pool_destroy(pool);
    free(x), free(w), free(b), free(y), free(res), free(sums), free(scale), free(wp), free(pair), free(want),
        free(want_sums);
}

int main(void) {
    const shape shapes[] = {
        {1, 40, 7, 3, 1, 1},  /* 2.5 channel blocks, rows of 7, 49 pixels: a part vector */
        {2, 24, 7, 5, 1, 2},  /* 5x5, two images */
        {1, 33, 14, 3, 2, 1}, /* stride 2 to 7x7, one lane of a third block */
        {1, 20, 14, 5, 1, 2}, /* 196 pixels: a part vector of 4 */
        {1, 16, 16, 3, 2, 0}, /* stride 2, no padding: the last input column is not read */
        {1, 17, 4, 3, 1, 1},  /* 16 pixels, rows of 4 */
        {1, 9, 2, 3, 1, 1},   /* 4 pixels: under one vector */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        check(&shapes[i], 0);        /* the default tile */
        check(&shapes[i], 6 << 10);  /* blocks of few rows */
        check(&shapes[i], 1);        /* the least the handle or a pool allows: the row kernel */
        check(&shapes[i], 40 << 10); /* blocks of a few rows (the expand rows carried between them) */
    }
    printf("test_nchwc: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
