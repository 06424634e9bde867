/* GEMM lowering, the way GPU libraries run convolutions: per group, im2col the block's input
   into a [K = cg*r*s][pixels] matrix in tile memory (the exchange phase: r*s times the input
   bytes), then Y[kb][pixels] = W[kb][K] x cols with a blocked SGEMM whose register block is
   MR output channels x NR pixels, stored straight into the NCHW output (a block's pixels of
   one channel are contiguous there). With few channels per group K and kb are tiny, so the
   SGEMM runs on slivers and im2col traffic dominates: the effect this path exists to show.

   Tile layout for a block (gb groups, kb output channels, pb output rows, one image):
     cols   [gb][K][npad]: npad = pb*q rounded up to NR, zero tail;
     weight [gb][kb][K] (PyTorch's layout), bias [gb*kb]. */
#include "internal.h"
#include "vec.h"

#define GEMM_MR 6   /* output channels per register block */
#define GEMM_NR 16  /* pixels per register block (2 vectors): 12 accumulators */

static int64_t gemm_plan(const struct ipx_conv* cv, int64_t gb, int64_t kb, int64_t pb,
                         ipx__plan* plan) {
    const ipx_conv_desc* d = &cv->d;
    int64_t K = ipx__smul(cv->cg, d->r * d->s);
    int64_t npix = ipx__smul(pb, cv->q), npad = ipx__round_up(npix, GEMM_NR);
    int64_t cols = ipx__smul(ipx__smul(gb, K), npad);
    int64_t wt = ipx__smul(ipx__smul(gb, kb), K);
    /* The cols matrix is the "input": K rows of npad floats; results go straight out. */
    return ipx__plan_layout(plan, K, npad, ipx__smul(ipx__smul(gb, K), npix), cols, wt, gb * kb, 0);
}

/* n outputs of one im2col row: out[i] = upsampled, padded input column i*sw - pl, i.e.
   element (i*sw - pl) / uw of src when that divides exactly and is in range, else 0. src NULL
   gives a zero row. */
IPX_INLINE void gather_row(float* out, const float* src, int64_t w, int64_t pl, int64_t uw,
                           int64_t sw, int64_t n) {
    if (src == NULL) {
        for (int64_t i = 0; i < n; i++) out[i] = 0.0f;
        return;
    }
    if (uw == 1) {
        /* zero lead, a (strided) run, zero tail: bounds first, so the copy is a plain loop */
        const int64_t lo = ipx__min(n, pl <= 0 ? 0 : ipx__div_up(pl, sw));
        const int64_t hi = ipx__max(lo, ipx__min(n, w + pl <= 0 ? 0 : ipx__div_up(w + pl, sw)));
        int64_t i = 0;
        for (; i < lo; i++) out[i] = 0.0f;
        if (sw == 1)
            for (; i < hi; i++) out[i] = src[i - pl];
        else
            for (; i < hi; i++) out[i] = src[i * sw - pl];
        for (; i < n; i++) out[i] = 0.0f;
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t u = i * sw - pl;
        out[i] = (u >= 0 && u % uw == 0 && u / uw < w) ? src[u / uw] : 0.0f;
    }
}

IPX_INLINE uint64_t gemm_exchange_body(const struct ipx_conv* cv, const ipx__plan* plan,
                                       const ipx__block* b, const float* input, float* tile,
                                       unsigned loads) {
    const ipx_conv_desc* d = &cv->d;
    const int64_t cg = cv->cg, r = d->r, s = d->s, q = cv->q, K = cg * r * s;
    const int64_t npad = plan->row_len, npix = b->pb * q;
    uint64_t copied = 0;
    if (loads & IPX__LOAD_INPUT) {
        for (int64_t j = 0; j < b->gb; j++) {
            for (int64_t ci = 0; ci < cg; ci++) {
                const float* plane = input + ((b->n * d->c + (b->g0 + j) * cg + ci) * d->h) * d->w;
                for (int64_t ri = 0; ri < r; ri++) {
                    for (int64_t si = 0; si < s; si++) {
                        float* row = tile + plan->in_off + ((j * K) + (ci * r + ri) * s + si) * npad;
                        for (int64_t pp = 0; pp < b->pb; pp++) {
                            int64_t up = (b->p0 + pp) * d->stride_h - d->pad_top + ri * d->dilation_h;
                            /* one output row's taps: padded columns q*sw + si*dw */
                            gather_row(row + pp * q, ipx__src_row(cv, plane, up), d->w,
                                       d->pad_left - si * d->dilation_w, cv->uw, d->stride_w, q);
                        }
                        for (int64_t i = npix; i < npad; i++) row[i] = 0.0f;
                    }
                }
            }
        }
        /* im2col: every input element enters the tile once per kernel tap */
        copied += (uint64_t)(b->gb * K * npad);
    }
    if (loads & IPX__LOAD_WEIGHTS) {
        const float* wsrc = cv->weight + (size_t)((b->g0 * cv->kg + b->k0) * K);
        /* whole groups (gb > 1) or one group's channel range: contiguous either way */
        memcpy(tile + plan->w_off, wsrc, (size_t)(b->gb * b->kb * K) * sizeof(float));
        memcpy(tile + plan->b_off, cv->bias + b->g0 * cv->kg + b->k0,
               (size_t)(b->gb * b->kb) * sizeof(float));
        copied += (uint64_t)(b->gb * b->kb * (K + 1));
    }
    return copied;
}

/* Store nvalid (1..16) lanes of two vectors. */
IPX_INLINE void gemm_store(float* out, ipx_v8 v0, ipx_v8 v1, int64_t nvalid) {
    if (nvalid == GEMM_NR) {
        v8_store(out, v0);
        v8_store(out + 8, v1);
        return;
    }
    float tmp[GEMM_NR];
    v8_store(tmp, v0);
    v8_store(tmp + 8, v1);
    if (nvalid >= 8) {
        v8_store(out, v0);
        v8_store(out + nvalid - 8, v8_load(tmp + nvalid - 8));
    } else {
        for (int64_t i = 0; i < nvalid; i++) out[i] = tmp[i];
    }
}

/* MR x 16 block: Y[m][n0..n0+16) = bias[m] + sum_kk A[m][kk] * B[kk][n0..]. */
IPX_INLINE void gemm_micro(const float* A, int64_t K, const float* B, int64_t npad,
                           const float* bias, float* out, int64_t out_ch, int64_t nvalid,
                           const int MR) {
    ipx_v8 acc[GEMM_MR][2];
    for (int m = 0; m < MR; m++) acc[m][0] = acc[m][1] = v8_bcast(bias[m]);
    for (int64_t kk = 0; kk < K; kk++) {
        ipx_v8 b0 = v8_load(B + kk * npad), b1 = v8_load(B + kk * npad + 8);
        for (int m = 0; m < MR; m++) {
            const float a = A[m * K + kk];
            acc[m][0] += b0 * a;
            acc[m][1] += b1 * a;
        }
    }
    for (int m = 0; m < MR; m++) gemm_store(out + m * out_ch, acc[m][0], acc[m][1], nvalid);
}

IPX_INLINE void gemm_compute_body(const struct ipx_conv* cv, const ipx__plan* plan,
                                  const ipx__block* b, float* tile, float* output, const int WIDE) {
    (void)WIDE;
    const ipx_conv_desc* d = &cv->d;
    const int64_t K = cv->cg * d->r * d->s, npad = plan->row_len, npix = b->pb * cv->q;
    const int64_t out_ch = cv->p * cv->q;
    for (int64_t j = 0; j < b->gb; j++) {
        const float* B = tile + plan->in_off + j * K * npad;
        const float* A = tile + plan->w_off + j * b->kb * K;
        const float* bias = tile + plan->b_off + j * b->kb;
        float* out = output + ((b->n * d->k + (b->g0 + j) * cv->kg + b->k0) * cv->p + b->p0) * cv->q;
        /* B panels (K x 16) outer so each stays in L1 while all output channels use it. */
        for (int64_t n0 = 0; n0 < npix; n0 += GEMM_NR) {
            const int64_t nv = ipx__min(GEMM_NR, npix - n0);
            for (int64_t m0 = 0; m0 < b->kb; m0 += GEMM_MR) {
                const float* Am = A + m0 * K;
                float* o = out + m0 * out_ch + n0;
                switch (ipx__min(GEMM_MR, b->kb - m0)) {
                case 1: gemm_micro(Am, K, B + n0, npad, bias + m0, o, out_ch, nv, 1); break;
                case 2: gemm_micro(Am, K, B + n0, npad, bias + m0, o, out_ch, nv, 2); break;
                case 3: gemm_micro(Am, K, B + n0, npad, bias + m0, o, out_ch, nv, 3); break;
                case 4: gemm_micro(Am, K, B + n0, npad, bias + m0, o, out_ch, nv, 4); break;
                case 5: gemm_micro(Am, K, B + n0, npad, bias + m0, o, out_ch, nv, 5); break;
                default: gemm_micro(Am, K, B + n0, npad, bias + m0, o, out_ch, nv, 6); break;
                }
            }
        }
    }
}

/* The compute is built like the copies (IPX_COPY_TARGET): the AVX-512 build runs the AVX2
   code, as the path has always been measured. */
IPX_DEFINE_KERNEL(ipx__gemm_kernel, IPX_KERNEL_GEMM, 1, ipx__pack_as_is, gemm_plan, gemm_exchange_body,
                  gemm_compute_body, IPX_COPY_TARGET)
