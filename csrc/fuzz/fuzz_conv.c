/* libFuzzer harness over the public C API: pool and convolution parameters (small valid
   shapes most of the time, hostile int64 values otherwise), buffer lengths, memory limits,
   algorithms, flags, cancellation, and float data with NaN/Inf.

   Oracles (any failure calls abort(), which libFuzzer reports as a crash):
   - create/run return one of the statuses the header documents, and fail exactly when an
     independent check of the parameters says they must;
   - a successful run matches a double-precision reference (torch semantics, IEEE specials);
   - statistics agree with ipx_conv_get_info (FLOPs), memory limits are respected;
   - buffers are guard-page buffers sized exactly as the API says, so any overrun faults.

   Build: make -C csrc fuzz (clang -fsanitize=fuzzer,address,undefined). Without clang,
   replay.c links the same entry point into a program that replays saved inputs. */
#define _GNU_SOURCE /* mmap flags under -std=c11 */
#include <stdbool.h>
#include <stdio.h>

#include "oracle.h"

/* Reads the fuzz input as a little stream of fields; past the end everything reads as 0. */
typedef struct reader {
    const uint8_t* p;
    size_t left;
} reader;

static uint64_t take(reader* r, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        uint8_t b = 0;
        if (r->left) {
            b = *r->p++;
            r->left--;
        }
        v |= (uint64_t)b << (8 * i);
    }
    return v;
}

/* Flags the header defines (the backward flag arrived with the backward passes). */
#ifdef IPX_FLAG_BACKWARD
#define KNOWN_FLAGS (IPX_FLAG_PORTABLE | IPX_FLAG_BACKWARD)
#else
#define KNOWN_FLAGS IPX_FLAG_PORTABLE
#endif

/* Values that sit on or beyond every limit the API documents. */
static const int64_t HOSTILE[] = {
    0, -1, 1, 2, (int64_t)IPX_MAX_DIM, (int64_t)IPX_MAX_DIM + 1, (int64_t)1 << 31,
    (int64_t)1 << 32, (int64_t)1 << 40, (int64_t)1 << 62, INT64_MAX, INT64_MIN, -((int64_t)1 << 31),
    (int64_t)1 << 20, 65536, 46341, /* 46341^2 > 2^31 */
};

/* A size field: usually lo + (byte % span); when the mode bit says so, a hostile value or
   raw 8 bytes. */
static int64_t field(reader* r, bool wild, int64_t lo, int64_t span) {
    uint8_t sel = (uint8_t)take(r, 1);
    if (wild && sel >= 0xe0) {
        if (sel >= 0xf8) return (int64_t)take(r, 8);
        return HOSTILE[take(r, 1) % (sizeof HOSTILE / sizeof HOSTILE[0])];
    }
    return lo + sel % span;
}

/* The independent judgement: does desc describe a valid convolution? Sets p, q if so. */
static bool expect_valid(const ipx_conv_desc* d, int64_t* p, int64_t* q) {
    const int64_t M = IPX_MAX_DIM;
#define IN(v, lo) ((v) >= (lo) && (v) <= M)
    if (!IN(d->n, 1) || !IN(d->c, 1) || !IN(d->k, 1) || !IN(d->g, 1) || !IN(d->h, 1) ||
        !IN(d->w, 1) || !IN(d->r, 1) || !IN(d->s, 1) || !IN(d->stride_h, 1) ||
        !IN(d->stride_w, 1) || !IN(d->dilation_h, 1) || !IN(d->dilation_w, 1) ||
        !IN(d->pad_top, 0) || !IN(d->pad_bottom, 0) || !IN(d->pad_left, 0) ||
        !IN(d->pad_right, 0))
        return false;
#undef IN
    if (d->c % d->g || d->k % d->g) return false;
    if (d->algorithm < 0 || d->algorithm > 3 || (d->flags & ~(uint32_t)KNOWN_FLAGS)) return false;
    /* __int128: no overflow possible for values up to 2^30. */
    __int128 eh = (__int128)d->h + d->pad_top + d->pad_bottom - (__int128)d->dilation_h * (d->r - 1) - 1;
    __int128 ew = (__int128)d->w + d->pad_left + d->pad_right - (__int128)d->dilation_w * (d->s - 1) - 1;
    if (eh < 0 || ew < 0) return false;
    *p = (int64_t)(eh / d->stride_h + 1);
    *q = (int64_t)(ew / d->stride_w + 1);
    const __int128 lim = (__int128)INT64_MAX / 4;
    __int128 in = (__int128)d->n * d->c * d->h * d->w;
    __int128 wt = (__int128)d->k * (d->c / d->g) * d->r * d->s;
    __int128 out = (__int128)d->n * d->k * *p * *q;
    /* The engine may refuse slightly earlier (it reserves room for packed weights), never
       later: report "invalid" only when a count cannot fit at all. */
    if (in > lim || wt > lim || out > lim) return false;
    return true;
}

/* Whether the engine's refusal of a desc that expect_valid accepted is legitimate: huge but
   valid layers may overflow its internal counts (FLOPs, packed weights) or limits. */
static bool refusal_ok(ipx_status st, const ipx_conv_desc* d) {
    switch (st) {
    case IPX_STATUS_SIZE_OVERFLOW:
    case IPX_STATUS_OUT_OF_MEMORY:
        return true;
    case IPX_STATUS_MEMORY_LIMIT:
        return d->memory_limit != 0;
    case IPX_STATUS_UNSUPPORTED:
        return d->algorithm == IPX_ALGORITHM_GEMM;
    case IPX_STATUS_INVALID_BUFFER_SIZE:
        return true; /* checked by the caller against the lengths it passed */
    default:
        return false;
    }
}

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz_conv: check failed at line %d: %s\n", __LINE__, #cond); \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

static float value(reader* r, bool specials, uint32_t* rng) {
    *rng = *rng * 1664525u + 1013904223u;
    if (specials) {
        uint8_t k = (uint8_t)take(r, 1);
        if (k == 1) return NAN;
        if (k == 2) return INFINITY;
        if (k == 3) return -INFINITY;
    }
    return (float)((*rng >> 9) & 0xffff) / 32768.0f - 1.0f; /* finite, in [-1, 1] */
}

/* Small enough to allocate, fill and check against the O(everything) reference. */
#define MAX_FLOATS (1u << 16)
#define MAX_MACS (1u << 22)

/* Backward data and weights on a created small layer: statuses, refusals of wrong lengths and
   NULLs, guard-page buffers, and (without IEEE specials, where the padding's 0 * Inf makes the
   lowering and the reference legitimately differ) the double-precision reference. */
static void run_backward(reader* r, bool specials, bool cancel, uint32_t* rng,
                         const ipx_conv_desc* d, int64_t p, int64_t q, ipx_conv_t conv,
                         ipx_pool_t pool, bool tile_enough, const float* x, const float* wt,
                         size_t in_len, size_t wlen, size_t out_len) {
    const size_t klen = (size_t)d->k;
    guarded gyb, gxb, gwb, gbb;
    CHECK(guarded_alloc(&gyb, out_len) == 0 && guarded_alloc(&gxb, in_len) == 0);
    CHECK(guarded_alloc(&gwb, wlen) == 0 && guarded_alloc(&gbb, klen) == 0);
    for (size_t i = 0; i < out_len; i++) gyb.data[i] = value(r, specials, rng);
    const bool has_bwd = (d->flags & IPX_FLAG_BACKWARD) != 0;
    *rng = *rng * 1664525u + 1013904223u; /* not from the input: short inputs read as zeros */
    const bool with_gb = (*rng >> 20) & 1;

    /* Wrong lengths and NULLs first: refused without touching anything. */
    /* Without IPX_FLAG_BACKWARD, UNSUPPORTED may come before the argument checks. */
    ipx_status st = ipx_conv_run_backward_data(conv, pool, gyb.data, out_len + 1, gxb.data, in_len);
    CHECK(st == IPX_STATUS_INVALID_BUFFER_SIZE || (!has_bwd && st == IPX_STATUS_UNSUPPORTED));
    st = ipx_conv_run_backward_data(conv, pool, NULL, out_len, gxb.data, in_len);
    CHECK(st == IPX_STATUS_NULL_POINTER || (!has_bwd && st == IPX_STATUS_UNSUPPORTED));
    CHECK(ipx_conv_run_backward_weights(conv, pool, gyb.data, out_len, x, in_len, gwb.data, wlen - 1,
                                        NULL, 0) == IPX_STATUS_INVALID_BUFFER_SIZE);
    CHECK(ipx_conv_run_backward_weights(conv, pool, gyb.data, out_len, x, in_len, gwb.data, wlen,
                                        gbb.data, klen + 1) == IPX_STATUS_INVALID_BUFFER_SIZE);
    CHECK(ipx_conv_run_backward_weights(conv, pool, gyb.data, out_len, NULL, in_len, gwb.data, wlen,
                                        NULL, 0) == IPX_STATUS_NULL_POINTER);

    const size_t wl = wlen;
    double* ref = malloc((2 * in_len + 2 * wl + 2 * klen) * sizeof(double));
    CHECK(ref != NULL);
    double *gx = ref, *gx_mag = gx + in_len, *gw = gx_mag + in_len, *gw_mag = gw + wl;
    double *gb = gw_mag + wl, *gb_mag = gb + klen;
    oracle_backward(d, p, q, x, wt, gyb.data, gx, gx_mag, gw, gw_mag, gb, gb_mag);

    for (size_t i = 0; i < in_len; i++) gxb.data[i] = -12345.0f; /* must be overwritten */
    /* A cancel the forward pass did not consume (it stopped at TILE_TOO_SMALL) may stop the
       first backward run instead. */
    st = ipx_conv_run_backward_data(conv, pool, gyb.data, out_len, gxb.data, in_len);
    ipx_run_stats totals;
    CHECK(ipx_pool_get_stats(pool, &totals, NULL, 0) == IPX_STATUS_SUCCESS);
    if (!has_bwd) {
        CHECK(st == IPX_STATUS_UNSUPPORTED);
    } else {
        CHECK(totals.status == (int32_t)st);
        CHECK(st == IPX_STATUS_SUCCESS || st == IPX_STATUS_TILE_TOO_SMALL || (cancel && st == IPX_STATUS_CANCELLED));
        CHECK(st != IPX_STATUS_TILE_TOO_SMALL || !tile_enough);
        int64_t bad = st == IPX_STATUS_SUCCESS && !specials ? oracle_mismatch(gxb.data, gx, gx_mag, in_len) : -1;
        if (bad >= 0) {
            fprintf(stderr, "fuzz_conv: grad_input %lld is %g, reference %g\n", (long long)bad,
                    gxb.data[bad], gx[bad]);
            abort();
        }
    }

    for (size_t i = 0; i < wl; i++) gwb.data[i] = -12345.0f;
    for (size_t i = 0; i < klen; i++) gbb.data[i] = -12345.0f;
    st = ipx_conv_run_backward_weights(conv, pool, gyb.data, out_len, x, in_len, gwb.data, wl,
                                       with_gb ? gbb.data : NULL, with_gb ? klen : 0);
    CHECK(ipx_pool_get_stats(pool, &totals, NULL, 0) == IPX_STATUS_SUCCESS);
    CHECK(totals.status == (int32_t)st);
    CHECK(st == IPX_STATUS_SUCCESS || st == IPX_STATUS_TILE_TOO_SMALL || (cancel && st == IPX_STATUS_CANCELLED));
    CHECK(st != IPX_STATUS_TILE_TOO_SMALL || !tile_enough);
    if (st == IPX_STATUS_SUCCESS && !specials) {
        int64_t bad = oracle_mismatch(gwb.data, gw, gw_mag, wl);
        if (bad >= 0) {
            fprintf(stderr, "fuzz_conv: grad_weight %lld is %g, reference %g\n", (long long)bad,
                    gwb.data[bad], gw[bad]);
            abort();
        }
        bad = with_gb ? oracle_mismatch(gbb.data, gb, gb_mag, klen) : -1;
        if (bad >= 0) {
            fprintf(stderr, "fuzz_conv: grad_bias %lld is %g, reference %g\n", (long long)bad,
                    gbb.data[bad], gb[bad]);
            abort();
        }
        if (!with_gb)
            for (size_t i = 0; i < klen; i++) CHECK(gbb.data[i] == -12345.0f); /* untouched */
    }
    free(ref);
    guarded_free(&gyb), guarded_free(&gxb), guarded_free(&gwb), guarded_free(&gbb);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    reader r = {data, size};
    const uint8_t mode = (uint8_t)take(&r, 1);
    const bool wild = mode & 1, specials = mode & 2, cancel = mode & 4, bad_len = mode & 8;
    const bool limited = mode & 16, with_bias = mode & 32, twice = mode & 64, backward = mode & 128;

    /* ---- pool ---- */
    ipx_pool_desc pd = {0};
    uint8_t pw = (uint8_t)take(&r, 1);
    pd.workers = pw < 0xf0 ? pw % 5 : (uint32_t)take(&r, 4); /* 0 = CPU count */
    static const uint64_t tiles[] = {0, IPX_MIN_TILE_BYTES, 8192, 12288, 65536, 1u << 20,
                                     IPX_MIN_TILE_BYTES - 1, 100, (uint64_t)IPX_MAX_TILE_BYTES + 1};
    uint8_t tsel = (uint8_t)take(&r, 1);
    pd.tile_bytes = tsel < 0xf0 ? tiles[tsel % 6] + 4 * (take(&r, 1) % 64)
                                : tiles[tsel % (sizeof tiles / sizeof tiles[0])];
    if (limited) pd.memory_limit = take(&r, 3) * 64;
    ipx_pool_t pool = (ipx_pool_t)&pd; /* must be overwritten */
    ipx_status pst = ipx_pool_create(&pd, &pool);
    if (pst != IPX_STATUS_SUCCESS) {
        CHECK(pool == NULL);
        bool bad = pd.workers > IPX_MAX_WORKERS ||
                   (pd.tile_bytes && (pd.tile_bytes < IPX_MIN_TILE_BYTES || pd.tile_bytes > IPX_MAX_TILE_BYTES));
        CHECK(bad || pst == IPX_STATUS_MEMORY_LIMIT || pst == IPX_STATUS_OUT_OF_MEMORY ||
              pst == IPX_STATUS_THREAD_ERROR);
        CHECK(pst != IPX_STATUS_MEMORY_LIMIT || pd.memory_limit != 0);
        pd = (ipx_pool_desc){.workers = 1 + pw % 3, .tile_bytes = 65536};
        CHECK(ipx_pool_create(&pd, &pool) == IPX_STATUS_SUCCESS);
    } else {
        CHECK(pd.workers <= IPX_MAX_WORKERS);
        CHECK(pd.memory_limit == 0 || (uint64_t)(pd.tile_bytes ? pd.tile_bytes : IPX_DEFAULT_TILE_BYTES) <= pd.memory_limit);
    }
    uint32_t workers = 0;
    uint64_t tile_bytes = 0;
    CHECK(ipx_pool_get_config(pool, &workers, &tile_bytes) == IPX_STATUS_SUCCESS);
    CHECK(workers >= 1 && workers <= IPX_MAX_WORKERS);

    /* ---- convolution ---- */
    ipx_conv_desc d = {0};
    const int64_t g = field(&r, wild, 1, 6);
    d.g = g;
    d.c = wild ? field(&r, true, 1, 9) : g * field(&r, false, 1, 10);
    d.k = wild ? field(&r, true, 1, 9) : g * field(&r, false, 1, 10);
    if (wild && (take(&r, 1) & 1)) { /* keep divisibility often, so later checks are reached */
        d.c = d.c > 0 && d.c < IPX_MAX_DIM / 8 && g > 0 && g < 64 ? d.c * g : d.c;
        d.k = d.k > 0 && d.k < IPX_MAX_DIM / 8 && g > 0 && g < 64 ? d.k * g : d.k;
    }
    d.n = field(&r, wild, 1, 3);
    d.h = field(&r, wild, 1, 14);
    d.w = field(&r, wild, 1, 14);
    d.r = field(&r, wild, 1, 5);
    d.s = field(&r, wild, 1, 5);
    d.stride_h = field(&r, wild, 1, 4);
    d.stride_w = field(&r, wild, 1, 4);
    d.dilation_h = field(&r, wild, 1, 3);
    d.dilation_w = field(&r, wild, 1, 3);
    d.pad_top = field(&r, wild, 0, 4);
    d.pad_bottom = field(&r, wild, 0, 4);
    d.pad_left = field(&r, wild, 0, 4);
    d.pad_right = field(&r, wild, 0, 4);
    uint8_t alg = (uint8_t)take(&r, 1);
    d.algorithm = alg < 0xf0 ? alg % 4 : (int32_t)take(&r, 4);
    uint8_t fl = (uint8_t)take(&r, 1);
    d.flags = fl < 0xf0 ? (fl & KNOWN_FLAGS) : (uint32_t)take(&r, 4);
    if (limited) d.memory_limit = take(&r, 3) * 4;

    int64_t p = 0, q = 0, p2 = 0, q2 = 0;
    const bool valid = expect_valid(&d, &p, &q);
    ipx_status ost = ipx_conv_output_size(&d, &p2, &q2);
    if (ost == IPX_STATUS_SUCCESS) {
        CHECK(valid && p2 == p && q2 == q);
    } else {
        CHECK(ost != IPX_STATUS_EMPTY_OUTPUT || !valid);
        CHECK(!valid || ost == IPX_STATUS_SIZE_OVERFLOW);
    }

    /* Buffers exactly as long as the layer needs, when that is small; else a token buffer
       (whose true length is passed) so create must refuse it without reading past it. */
    size_t wlen = 1, in_len = 1, out_len = 1;
    bool small = false;
    __int128 wl = -1;
    if (valid) {
        wl = (__int128)d.k * (d.c / d.g) * d.r * d.s;
        __int128 il = (__int128)d.n * d.c * d.h * d.w, ol = (__int128)d.n * d.k * p * q;
        __int128 macs = ol * (d.c / d.g) * d.r * d.s;
        small = wl <= MAX_FLOATS && il <= MAX_FLOATS && ol <= MAX_FLOATS && macs <= MAX_MACS;
        if (small) wlen = (size_t)wl, in_len = (size_t)il, out_len = (size_t)ol;
    }
    size_t wpass = wlen, bpass = small ? (size_t)d.k : 1;
    if (bad_len) {
        int delta = (int)(take(&r, 1) % 5) - 2;
        wpass = (int64_t)wlen + delta < 0 ? 0 : (size_t)((int64_t)wlen + delta);
        if (delta == 0) bpass = bpass + 1;
    }
    guarded wb, bb, xb, yb;
    CHECK(guarded_alloc(&wb, wpass > wlen ? wpass : wlen) == 0 && wb.data != NULL);
    CHECK(guarded_alloc(&bb, bpass) == 0);
    uint32_t rng = (uint32_t)take(&r, 4);
    for (size_t i = 0; i < wb.count; i++) wb.data[i] = value(&r, specials, &rng);
    for (size_t i = 0; i < bb.count; i++) bb.data[i] = value(&r, specials, &rng);
    /* A weight length larger than the buffer would be our bug, not the engine's: pass the
       end of the buffer so that exactly wpass floats are readable. */
    const float* wptr = wb.data + (wb.count - wpass);

    ipx_conv_t conv = (ipx_conv_t)&d;
    ipx_status cst = ipx_conv_create(&d, wptr, wpass, with_bias ? bb.data : NULL, bpass, &conv);
    /* Judged on the true lengths: a huge layer whose weights happen to be tiny is valid. */
    const bool lens_ok = valid && (__int128)wpass == wl && (!with_bias || (__int128)bpass == d.k);
    if (cst != IPX_STATUS_SUCCESS) {
        CHECK(conv == NULL);
        if (valid) CHECK(refusal_ok(cst, &d));
        if (cst == IPX_STATUS_INVALID_BUFFER_SIZE) CHECK(!lens_ok);
        if (small && cst == IPX_STATUS_SIZE_OVERFLOW) CHECK(false); /* small layers fit */
    } else {
        CHECK(valid && lens_ok);
        if (!small) { /* valid but too big to run here */
            CHECK(ipx_conv_destroy(conv) == IPX_STATUS_SUCCESS);
            goto done;
        }
        ipx_conv_info info;
        CHECK(ipx_conv_get_info(conv, &info) == IPX_STATUS_SUCCESS);
        CHECK(info.p == p && info.q == q);
        CHECK(d.memory_limit == 0 || info.allocated_bytes <= d.memory_limit);
        CHECK(info.algorithm != IPX_ALGORITHM_AUTO);

        CHECK(guarded_alloc(&xb, in_len) == 0 && guarded_alloc(&yb, out_len) == 0);
        for (size_t i = 0; i < in_len; i++) xb.data[i] = value(&r, specials, &rng);
        /* Wrong lengths and NULLs are refused before anything is touched. */
        CHECK(ipx_conv_run(conv, pool, xb.data, in_len + 1, yb.data, out_len) == IPX_STATUS_INVALID_BUFFER_SIZE);
        CHECK(ipx_conv_run(conv, pool, xb.data, in_len, yb.data, out_len - 1) == IPX_STATUS_INVALID_BUFFER_SIZE);
        CHECK(ipx_conv_run(conv, pool, NULL, in_len, yb.data, out_len) == IPX_STATUS_NULL_POINTER);

        double* want = malloc(out_len * sizeof(double));
        double* mag = malloc(out_len * sizeof(double));
        CHECK(want && mag);
        oracle_conv(&d, p, q, xb.data, wptr, with_bias ? bb.data : NULL, want, mag);
        for (int round = 0; round < (twice ? 2 : 1); round++) {
            for (size_t i = 0; i < out_len; i++) yb.data[i] = -12345.0f; /* must be overwritten */
            if (cancel && round == 0) CHECK(ipx_pool_cancel(pool) == IPX_STATUS_SUCCESS);
            ipx_status rst = ipx_conv_run(conv, pool, xb.data, in_len, yb.data, out_len);
            ipx_run_stats totals;
            CHECK(ipx_pool_get_stats(pool, &totals, NULL, 0) == IPX_STATUS_SUCCESS);
            CHECK(totals.status == (int32_t)rst);
            /* min_tile_bytes covers every pass of the handle (forward, backward data and
               weights), so a tile below it may still run the forward pass; one at or above it
               must run every pass. */
            if (rst == IPX_STATUS_TILE_TOO_SMALL) {
                CHECK(info.min_tile_bytes > tile_bytes);
                break;
            }
            if (cancel && round == 0) {
                CHECK(rst == IPX_STATUS_CANCELLED);
                continue;
            }
            CHECK(rst == IPX_STATUS_SUCCESS);
            CHECK(totals.flops == info.flops);
            /* Winograd's transforms subtract: an infinity in a window may come out NaN where
               the reference has +-Inf (ipx.h, IPX_ALGORITHM_WINOGRAD) */
            if (info.kernel == IPX_KERNEL_WINOGRAD)
                for (size_t i = 0; i < out_len; i++)
                    if (isinf(want[i]) && isnan(yb.data[i])) yb.data[i] = (float)want[i];
            int64_t bad = oracle_mismatch(yb.data, want, mag, out_len);
            if (bad >= 0) {
                fprintf(stderr, "fuzz_conv: output %lld is %g, reference %g (kernel %d isa %d)\n",
                        (long long)bad, yb.data[bad], want[bad], info.kernel, info.isa);
                abort();
            }
        }
        free(want);
        free(mag);
        if (backward)
            run_backward(&r, specials, cancel, &rng, &d, p, q, conv, pool,
                         info.min_tile_bytes <= tile_bytes, xb.data, wptr, in_len, wlen, out_len);
        guarded_free(&xb);
        guarded_free(&yb);
        CHECK(ipx_conv_destroy(conv) == IPX_STATUS_SUCCESS);
    }
done:
    guarded_free(&wb);
    guarded_free(&bb);
    CHECK(ipx_pool_destroy(pool) == IPX_STATUS_SUCCESS);
    return 0;
}
