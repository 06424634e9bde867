/* Convolution handles: create (validate, choose the kernels, pack), facts, destroy. The
   passes run in forward.c and backward_weights.c. */
#include "desc.h"
#include "internal.h"

#include <stdlib.h>

static bool in_dim_range(int64_t v, int64_t lo) { return v >= lo && v <= IPX_MAX_DIM; }

/* Checks every size of desc; on success sets *p, *q. */
static ipx_status validate(const ipx_conv_desc* d, int64_t* p, int64_t* q) {
    if (!in_dim_range(d->n, 1)) return IPX_STATUS_INVALID_BATCH;
    if (!in_dim_range(d->c, 1)) return IPX_STATUS_INVALID_CHANNELS;
    if (!in_dim_range(d->k, 1)) return IPX_STATUS_INVALID_OUTPUT_CHANNELS;
    if (!in_dim_range(d->g, 1) || d->c % d->g != 0 || d->k % d->g != 0)
        return IPX_STATUS_INVALID_GROUPS;
    if (!in_dim_range(d->h, 1) || !in_dim_range(d->w, 1)) return IPX_STATUS_INVALID_INPUT_SIZE;
    if (!in_dim_range(d->r, 1) || !in_dim_range(d->s, 1)) return IPX_STATUS_INVALID_KERNEL_SIZE;
    if (!in_dim_range(d->stride_h, 1) || !in_dim_range(d->stride_w, 1))
        return IPX_STATUS_INVALID_STRIDE;
    if (!in_dim_range(d->dilation_h, 1) || !in_dim_range(d->dilation_w, 1))
        return IPX_STATUS_INVALID_DILATION;
    if (!in_dim_range(d->pad_top, 0) || !in_dim_range(d->pad_bottom, 0) ||
        !in_dim_range(d->pad_left, 0) || !in_dim_range(d->pad_right, 0))
        return IPX_STATUS_INVALID_PADDING;
    if (d->algorithm < IPX_ALGORITHM_AUTO || d->algorithm > IPX_ALGORITHM_WINOGRAD)
        return IPX_STATUS_INVALID_ALGORITHM;
    if (d->flags & ~(uint32_t)(IPX_FLAG_PORTABLE | IPX_FLAG_BACKWARD)) return IPX_STATUS_INVALID_FLAGS;
    /* Every term is <= 2^30, so these cannot overflow int64. */
    int64_t eff_h = d->h + d->pad_top + d->pad_bottom - d->dilation_h * (d->r - 1) - 1;
    int64_t eff_w = d->w + d->pad_left + d->pad_right - d->dilation_w * (d->s - 1) - 1;
    if (eff_h < 0 || eff_w < 0) return IPX_STATUS_EMPTY_OUTPUT;
    *p = eff_h / d->stride_h + 1;
    *q = eff_w / d->stride_w + 1;
    /* Element and byte counts of every tensor must fit size_t and int64_t. */
    int64_t t;
    const int64_t bytes_max = (int64_t)((SIZE_MAX / 4 < (uint64_t)INT64_MAX / 4) ? SIZE_MAX / 4 : INT64_MAX / 4);
    if (__builtin_mul_overflow(d->n, d->c, &t) || __builtin_mul_overflow(t, d->h, &t) ||
        __builtin_mul_overflow(t, d->w, &t) || t > bytes_max)
        return IPX_STATUS_SIZE_OVERFLOW;
    if (__builtin_mul_overflow(d->k, d->c / d->g, &t) || __builtin_mul_overflow(t, d->r, &t) ||
        __builtin_mul_overflow(t, d->s, &t) || __builtin_mul_overflow(t, 8, &t) || t > bytes_max)
        return IPX_STATUS_SIZE_OVERFLOW; /* x8: packed weights round channels up to 8 */
    if (__builtin_mul_overflow(d->n, d->k, &t) || __builtin_mul_overflow(t, *p, &t) ||
        __builtin_mul_overflow(t, *q, &t) || t > bytes_max)
        return IPX_STATUS_SIZE_OVERFLOW;
    /* FLOPs: 2 * n*k*p*q * (c/g)*r*s must fit uint64 for the statistics. */
    if (__builtin_mul_overflow(t, d->c / d->g, &t) || __builtin_mul_overflow(t, d->r, &t) ||
        __builtin_mul_overflow(t, d->s, &t) || __builtin_mul_overflow(t, 2, &t))
        return IPX_STATUS_SIZE_OVERFLOW;
    return IPX_STATUS_SUCCESS;
}

ipx_status ipx_conv_output_size(const ipx_conv_desc* desc, int64_t* p, int64_t* q) {
    if (desc == NULL || p == NULL || q == NULL) return IPX_STATUS_NULL_POINTER;
    ipx_conv_desc local;
    ipx_status st = ipx__read_desc(&local, sizeof local, IPX_CONV_DESC_SIZE_0_1, desc);
    if (st != IPX_STATUS_SUCCESS) return st;
    int64_t pp, qq;
    st = validate(&local, &pp, &qq);
    if (st != IPX_STATUS_SUCCESS) return st;
    *p = pp;
    *q = qq;
    return IPX_STATUS_SUCCESS;
}

static void conv_free(struct ipx_conv* cv) {
    if (cv == NULL) return;
    conv_free(cv->bwd);
    free(cv->weight);
    free(cv->bias);
    free(cv);
}

/* The kernel for a geometry and algorithm, in the given ISA's build (upsampled: a
   backward-data geometry whose input has zeros between rows or columns; pixels: p * q). */
static const ipx__kernel* pick_kernel(const ipx_conv_desc* d, bool upsampled, int64_t pixels, int32_t isa) {
    const int64_t cg = d->c / d->g, kg = d->k / d->g;
    if (d->algorithm == IPX_ALGORITHM_GEMM) return &ipx__gemm_kernel[isa];
    if (d->algorithm == IPX_ALGORITHM_WINOGRAD && ipx__winograd_supports(d, upsampled))
        return &ipx__winograd_kernel[isa];
    /* 1x1 without padding: a matrix product per image, vectorised over pixels. Maps of
       fewer than 16 pixels (classifiers and squeeze-excite layers on 1x1 maps) fill too few
       of its 8-pixel vectors: 1280 -> 1000 on a 1x1 map ran 1.5x slower than the channel
       kernel (one thread, Zen 4), 2x2 even, 4x4 1.07x faster. */
    const bool pointwise = d->r == 1 && d->s == 1 && !upsampled && pixels >= 16 && d->pad_top == 0 &&
                           d->pad_left == 0 && d->pad_bottom == 0 && d->pad_right == 0;
    if (pointwise && cg >= 8 && kg >= 8) return &ipx__pointwise_kernel[isa];
    /* One group of fewer than 8 input channels (a stem: 3 -> 32, 3x3, stride 2): the row
       kernel vectorises along output rows one input channel and tap at a time; lowered to a
       matrix product over K = cg*r*s, every input vector feeds 4-8 output channels' FMAs.
       Windows larger than 3x3 (ResNet's 7x7 stem) copy each input r*s times into im2col
       rows, so they run the channel kernel straight from the padded rows. One Zen 3 core,
       minimum of 20-25 runs alternating in one process, channel kernel against im2col: 3 ->
       64, 7x7, stride 2 on 224 x 224 1.15-1.18x faster (batch 1 and 4), 3 -> 32 1.14x; 5x5
       1.04x (32 outputs) and 1.17x (64); 3x3 0.84x (32 outputs) and 1.00x (24). */
    const bool automatic = d->algorithm == IPX_ALGORITHM_AUTO || d->algorithm == IPX_ALGORITHM_WINOGRAD;
    if (automatic && d->g == 1 && cg < 8 && kg >= 8 && !upsampled)
        return d->r * d->s > 9 ? &ipx__channel_kernel[isa] : &ipx__im2col_kernel[isa];
    /* measured (A/B/C = the benchmark's 3x3 shapes, 2 workers, Zen 4, interleaved A/B runs):
       at 8 channels per group the channel kernel's 3x3 block beats the row kernel (4
       channels x 3 rows per register block) on AVX-512 (A 0.40 -> 0.37 ms, B 0.74 -> 0.68,
       backward data A 0.39 -> 0.35) and on AVX2 (A 0.49 -> 0.40, B 0.94 -> 0.68, C 7.5 ->
       6.1); below 8 the row kernel has no rival. */
    if (ipx__nchwc_supports(d, upsampled, pixels, isa)) return &ipx__nchwc_kernel[isa];
    return (cg >= 8 && kg >= 8) ? &ipx__channel_kernel[isa] : &ipx__row_kernel[isa];
}

/* Output channels per group a kernel's packed weights hold (rounded up to its vectors). */
static int64_t packed_kg(const ipx__kernel* kernel, int64_t kg) {
    return kernel->k_vector ? ipx__round_up(kg, kernel->k_vector) : kg;
}

/* Floats of a kernel's packed weights for geometry d. */
static int64_t packed_weights(const ipx__kernel* kernel, const ipx_conv_desc* d) {
    if (kernel->weight_floats) return kernel->weight_floats(d);
    return d->g * packed_kg(kernel, d->k / d->g) * (d->c / d->g) * d->r * d->s;
}

/* Bytes a handle with this geometry allocates for its packed weights and bias. */
static uint64_t weight_bytes(const ipx_conv_desc* d) {
    const int64_t kg = d->k / d->g;
    /* any build: the portable one on no pixels picks the channel kernel (the pointwise one
       packs alike) and the channel-blocked depthwise kernel (it packs more than the row one) */
    const ipx__kernel* kernel = pick_kernel(d, false, 0, IPX_ISA_PORTABLE);
    int64_t kk = d->g * packed_kg(kernel, kg);
    return sizeof(struct ipx_conv) + (uint64_t)(packed_weights(kernel, d) + kk) * sizeof(float);
}

/* Fill a handle for geometry d (output p x q, input upsampling uh x uw) and PyTorch-layout
   weights: choose its kernels (the only place that looks at the kernel or the ISA) and
   allocate the packed copies. */
static ipx_status conv_init(struct ipx_conv* cv, const ipx_conv_desc* d, int64_t p, int64_t q,
                            int64_t uh, int64_t uw, const float* weight, const float* bias) {
    const int64_t cg = d->c / d->g, kg = d->k / d->g, taps = d->r * d->s;
    cv->d = *d;
    cv->p = p;
    cv->q = q;
    cv->uh = uh;
    cv->uw = uw;
    cv->cg = cg;
    cv->kg = kg;
    cv->kg8 = ipx__round_up(kg, 8);
    cv->isa = ipx__pick_isa(d->flags & IPX_FLAG_PORTABLE);
    cv->kernel = pick_kernel(d, uh > 1 || uw > 1, p * q, cv->isa);
    cv->bw_kernel = ipx__bw_kernel_for(cv);
    cv->algorithm = cv->kernel->id == IPX_KERNEL_GEMM       ? IPX_ALGORITHM_GEMM
                  : cv->kernel->id == IPX_KERNEL_WINOGRAD ? IPX_ALGORITHM_WINOGRAD
                                                          : IPX_ALGORITHM_DIRECT;
    atomic_init(&cv->in_use, 0);
    const int64_t kk = d->g * packed_kg(cv->kernel, kg);
    cv->weight_len = (size_t)packed_weights(cv->kernel, d);
    cv->bias_len = (size_t)kk;
    cv->weight = malloc(cv->weight_len * sizeof(float));
    cv->bias = malloc(cv->bias_len * sizeof(float));
    if (cv->weight == NULL || cv->bias == NULL) return IPX_STATUS_OUT_OF_MEMORY;
    cv->kernel->pack(cv, weight, bias, cv->weight, cv->bias);
    cv->allocated_bytes = sizeof(struct ipx_conv) + (cv->weight_len + cv->bias_len) * sizeof(float);
    cv->flops = 2u * (uint64_t)(d->n * d->k) * (uint64_t)(p * q) * (uint64_t)(cg * taps);
    return IPX_STATUS_SUCCESS;
}

/* Backward data as a forward convolution: the output gradient, upsampled by the stride
   (zeros between rows and columns), convolved with the weights flipped in r and s and with
   input and output channels swapped within each group, padded so that the result has the
   input's h x w. */
static void backward_desc(const ipx_conv_desc* d, int64_t p, int64_t q, ipx_conv_desc* b) {
    memset(b, 0, sizeof(*b));
    b->n = d->n;
    b->c = d->k;
    b->h = p;
    b->w = q;
    b->k = d->c;
    b->r = d->r;
    b->s = d->s;
    b->g = d->g;
    b->stride_h = b->stride_w = 1;
    b->dilation_h = d->dilation_h;
    b->dilation_w = d->dilation_w;
    b->pad_top = d->dilation_h * (d->r - 1) - d->pad_top;
    b->pad_left = d->dilation_w * (d->s - 1) - d->pad_left;
    b->pad_bottom = b->pad_right = 0; /* unused: the output size is given (h x w) */
    b->flags = d->flags;
    b->algorithm = d->algorithm;
}

static ipx_status create_backward(struct ipx_conv* cv, const float* weight) {
    const ipx_conv_desc* d = &cv->d;
    const int64_t cg = cv->cg, kg = cv->kg, r = d->r, s = d->s;
    ipx_conv_desc bd;
    backward_desc(d, cv->p, cv->q, &bd);
    float* wt = malloc((size_t)(d->k * cg * r * s) * sizeof(float));
    cv->bwd = calloc(1, sizeof(*cv->bwd));
    if (wt == NULL || cv->bwd == NULL) {
        free(wt);
        return IPX_STATUS_OUT_OF_MEMORY;
    }
    /* W'[g*cg + ci][kk][r-1-ri][s-1-si] = W[g*kg + kk][ci][ri][si] */
    for (int64_t gi = 0; gi < d->g; gi++)
        for (int64_t kk = 0; kk < kg; kk++)
            for (int64_t ci = 0; ci < cg; ci++)
                for (int64_t ri = 0; ri < r; ri++)
                    for (int64_t si = 0; si < s; si++)
                        wt[(((gi * cg + ci) * kg + kk) * r + (r - 1 - ri)) * s + (s - 1 - si)] =
                            weight[(((gi * kg + kk) * cg + ci) * r + ri) * s + si];
    ipx_status st = conv_init(cv->bwd, &bd, d->h, d->w, d->stride_h, d->stride_w, wt, NULL);
    free(wt);
    return st;
}

ipx_status ipx_conv_create(const ipx_conv_desc* desc, const float* weight, size_t weight_len,
                           const float* bias, size_t bias_len, ipx_conv_t* conv_out) {
    ipx_status status = IPX_STATUS_NULL_POINTER;
    struct ipx_conv* cv = NULL;
    if (conv_out == NULL) return status;
    *conv_out = NULL;
    if (desc == NULL || weight == NULL) goto error;
    ipx_conv_desc local; /* the caller's descriptor in this library's layout */
    status = ipx__read_desc(&local, sizeof local, IPX_CONV_DESC_SIZE_0_1, desc);
    if (status != IPX_STATUS_SUCCESS) goto error;
    desc = &local;
    int64_t p, q;
    status = validate(desc, &p, &q);
    if (status != IPX_STATUS_SUCCESS) goto error;
    const ipx_conv_desc* d = desc;
    const int64_t cg = d->c / d->g, taps = d->r * d->s;
    status = IPX_STATUS_INVALID_BUFFER_SIZE;
    if (weight_len != (size_t)(d->k * cg * taps)) goto error;
    if (bias != NULL && bias_len != (size_t)d->k) goto error;

    uint64_t alloc = weight_bytes(d);
    if (d->flags & IPX_FLAG_BACKWARD) {
        ipx_conv_desc bd;
        backward_desc(d, p, q, &bd);
        alloc += weight_bytes(&bd);
    }
    status = IPX_STATUS_MEMORY_LIMIT;
    if (d->memory_limit != 0 && alloc > d->memory_limit) goto error;

    status = IPX_STATUS_OUT_OF_MEMORY;
    cv = calloc(1, sizeof(*cv));
    if (cv == NULL) goto error;
    status = conv_init(cv, d, p, q, 1, 1, weight, bias);
    if (status != IPX_STATUS_SUCCESS) goto error;
    if (d->flags & IPX_FLAG_BACKWARD) {
        status = create_backward(cv, weight);
        if (status != IPX_STATUS_SUCCESS) goto error;
        cv->allocated_bytes += cv->bwd->allocated_bytes;
    }
    cv->min_bytes = 4u * ((uint64_t)(d->n * d->c * d->h * d->w) + (uint64_t)(d->k * cg * taps) +
                          (bias ? (uint64_t)d->k : 0u) + (uint64_t)(d->n * d->k * p * q));
    *conv_out = cv;
    return IPX_STATUS_SUCCESS;
error:
    conv_free(cv);
    return status;
}

static uint64_t min_tile_bytes(const struct ipx_conv* cv) {
    struct ipx_conv view; /* a tile too small for one block of the kernel runs its fallback */
    if (ipx__fallback_view(cv, &view)) cv = &view;
    int64_t f = cv->kernel->plan(cv, 1, ipx__max(cv->kernel->k_vector, 1), 1, NULL);
    return f >= INT64_MAX / 8 ? UINT64_MAX : (uint64_t)f * 4u;
}

ipx_status ipx_conv_get_info(ipx_conv_t conv, ipx_conv_info* info) {
    if (conv == NULL || info == NULL) return IPX_STATUS_NULL_POINTER;
    memset(info, 0, sizeof(*info));
    info->p = conv->p;
    info->q = conv->q;
    info->kernel = conv->kernel->id;
    info->isa = conv->isa;
    info->algorithm = conv->algorithm;
    info->flops = conv->flops;
    info->min_bytes = conv->min_bytes;
    info->min_tile_bytes = min_tile_bytes(conv);
    if (conv->bwd != NULL) {
        uint64_t b = min_tile_bytes(conv->bwd);
        if (b > info->min_tile_bytes) info->min_tile_bytes = b;
    }
    uint64_t bw = ipx__bw_min_tile_bytes(conv);
    if (bw > info->min_tile_bytes) info->min_tile_bytes = bw;
    info->allocated_bytes = conv->allocated_bytes;
    return IPX_STATUS_SUCCESS;
}

ipx_status ipx_conv_destroy(ipx_conv_t conv) {
    if (conv != NULL && !ipx__try_acquire(&conv->in_use)) return IPX_STATUS_BUSY;
    conv_free(conv);
    return IPX_STATUS_SUCCESS;
}
