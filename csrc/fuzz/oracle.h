/* Shared by the fuzz harness and the hardening tests: guard-page buffers and an independent
   reference convolution that knows IEEE special values.

   Guarded buffers end exactly at a PROT_NONE page (and start right after one, rounded to
   4 bytes), so a read or write past either end faults at once even in a build without
   AddressSanitizer. Only for small buffers: each costs two extra pages. */
#ifndef IPX_ORACLE_H
#define IPX_ORACLE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ipx.h"

typedef struct guarded {
    void* map;
    size_t map_len;
    float* data; /* count floats, the last one touching the trailing guard page */
    size_t count;
} guarded;

/* NULL data (and map) when count == 0 or mmap fails. */
static inline int guarded_alloc(guarded* g, size_t count) {
    memset(g, 0, sizeof(*g));
    if (count == 0) return 0;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t bytes = count * sizeof(float);
    size_t body = (bytes + page - 1) / page * page;
    g->map_len = body + 2 * page;
    void* map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) return -1;
    mprotect(map, page, PROT_NONE);
    mprotect((char*)map + page + body, page, PROT_NONE);
    g->map = map;
    g->data = (float*)((char*)map + page + body - bytes);
    g->count = count;
    return 0;
}

static inline void guarded_free(guarded* g) {
    if (g->map) munmap(g->map, g->map_len);
    memset(g, 0, sizeof(*g));
}

/* Reference in double with torch's semantics: padding is real zeros, so an Inf or NaN weight
   over a padded position gives NaN (0 * Inf = NaN), exactly as torch.nn.functional.conv2d.
   y[i] is the result, mag[i] the sum of |products| (the scale of the rounding error). */
static inline void oracle_conv(const ipx_conv_desc* d, int64_t p, int64_t q, const float* x,
                               const float* wt, const float* b, double* y, double* mag) {
    const int64_t cg = d->c / d->g, kg = d->k / d->g;
    for (int64_t ni = 0; ni < d->n; ni++)
        for (int64_t ko = 0; ko < d->k; ko++)
            for (int64_t pi = 0; pi < p; pi++)
                for (int64_t qi = 0; qi < q; qi++) {
                    double acc = b ? (double)b[ko] : 0.0, m = b ? fabs((double)b[ko]) : 0.0;
                    const int64_t gi = ko / kg;
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t ri = 0; ri < d->r; ri++)
                            for (int64_t si = 0; si < d->s; si++) {
                                int64_t ih = pi * d->stride_h - d->pad_top + ri * d->dilation_h;
                                int64_t iw = qi * d->stride_w - d->pad_left + si * d->dilation_w;
                                double xv = 0.0;
                                if (ih >= 0 && ih < d->h && iw >= 0 && iw < d->w)
                                    xv = x[((ni * d->c + gi * cg + ci) * d->h + ih) * d->w + iw];
                                double wv = wt[((ko * cg + ci) * d->r + ri) * d->s + si];
                                acc += xv * wv;
                                m += fabs(xv * wv);
                            }
                    size_t o = (size_t)(((ni * d->k + ko) * p + pi) * q + qi);
                    y[o] = acc;
                    mag[o] = m;
                }
}

/* Backward references (torch.nn.grad.conv2d_input / conv2d_weight) in double: every product
   of the forward pass, routed to the input or weight it came from; padded positions carry no
   gradient. gx / gw / gb are zeroed here; mag as in oracle_conv. */
static inline void oracle_backward(const ipx_conv_desc* d, int64_t p, int64_t q, const float* x,
                                   const float* wt, const float* gy, double* gx, double* gx_mag,
                                   double* gw, double* gw_mag, double* gb, double* gb_mag) {
    const int64_t cg = d->c / d->g, kg = d->k / d->g;
    const size_t xl = (size_t)(d->n * d->c * d->h * d->w), wl = (size_t)(d->k * cg * d->r * d->s);
    memset(gx, 0, xl * sizeof(double)), memset(gx_mag, 0, xl * sizeof(double));
    memset(gw, 0, wl * sizeof(double)), memset(gw_mag, 0, wl * sizeof(double));
    memset(gb, 0, (size_t)d->k * sizeof(double)), memset(gb_mag, 0, (size_t)d->k * sizeof(double));
    for (int64_t ni = 0; ni < d->n; ni++)
        for (int64_t ko = 0; ko < d->k; ko++)
            for (int64_t pi = 0; pi < p; pi++)
                for (int64_t qi = 0; qi < q; qi++) {
                    const double g = gy[((ni * d->k + ko) * p + pi) * q + qi];
                    gb[ko] += g, gb_mag[ko] += fabs(g);
                    const int64_t gi = ko / kg;
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t ri = 0; ri < d->r; ri++)
                            for (int64_t si = 0; si < d->s; si++) {
                                int64_t ih = pi * d->stride_h - d->pad_top + ri * d->dilation_h;
                                int64_t iw = qi * d->stride_w - d->pad_left + si * d->dilation_w;
                                if (ih < 0 || ih >= d->h || iw < 0 || iw >= d->w) continue;
                                size_t xi = (size_t)(((ni * d->c + gi * cg + ci) * d->h + ih) * d->w + iw);
                                size_t wi = (size_t)(((ko * cg + ci) * d->r + ri) * d->s + si);
                                gx[xi] += g * wt[wi], gx_mag[xi] += fabs(g * wt[wi]);
                                gw[wi] += g * x[xi], gw_mag[wi] += fabs(g * x[xi]);
                            }
                }
}

/* Index of the first output that disagrees with the reference, or -1. Special values must
   match in kind (NaN, +Inf, -Inf); finite values to float32 accumulation accuracy. */
static inline int64_t oracle_mismatch(const float* got, const double* want, const double* mag,
                                      size_t count) {
    for (size_t i = 0; i < count; i++) {
        double g = got[i], w = want[i];
        if (isnan(w) || isnan(g)) {
            if (isnan(w) != isnan(g)) return (int64_t)i;
        } else if (isinf(w) || isinf(g)) {
            if (g != w) return (int64_t)i;
        } else if (fabs(g - w) > 1e-4 * mag[i] + 1e-6) {
            return (int64_t)i;
        }
    }
    return -1;
}

#endif
