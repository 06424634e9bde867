/* Tile rows: the padded (and, for backward data, upsampled) input rows the row and channel
   kernels and pooling copy into tile memory, so that their inner loops never test a border. */
#include "internal.h"
#include "vec.h"

/* Rows without upsampling, padded with `fill` (0 for convolutions, -inf for max pooling). */
void ipx__fill_row_with(float* dst, const float* src, int64_t w, int64_t pl, int64_t sw, int64_t row_len,
                        float fill) {
    if (src == NULL) {
        for (int64_t i = 0; i < sw * row_len; i++) dst[i] = fill;
        return;
    }
    if (sw == 1 && pl >= 0 && w >= 8 && pl + w <= row_len && row_len % 8 == 0) {
        /* Common case: fill the row in vectors, then copy the data in vectors (the last one
           overlapping). No per-element branches, no libc calls. */
        const ipx_v8 f = v8_bcast(fill);
        for (int64_t i = 0; i < row_len; i += 8) v8_store(dst + i, f);
        int64_t j = 0;
        for (; j + 8 <= w; j += 8) v8_store(dst + pl + j, v8_load(src + j));
        if (j < w) v8_store(dst + pl + w - 8, v8_load(src + w - 8));
        return;
    }
    if (sw == 1 && pl >= 0) {
        /* Forward fast path. Short rows are common (7x7 to 56x56 maps): plain loops beat
           three libc calls (and -fno-tree-loop-distribute-patterns keeps them loops). */
        int64_t lead = ipx__min(pl, row_len);
        int64_t n = ipx__max(0, ipx__min(w, row_len - lead));
        int64_t i = 0;
        for (; i < lead; i++) dst[i] = fill;
        for (int64_t j = 0; j < n; j++) dst[i + j] = src[j];
        for (i += n; i < row_len; i++) dst[i] = fill;
        return;
    }
    if (sw == 2 && pl >= 0) {
        /* Stride 2 (strided depthwise layers): 8 padded columns from 2i on hold index
           i..i+3 of both phases, even columns phase 0, odd ones phase 1: one deinterleave
           per 8 floats where the window lies inside the data; the borders column by column. */
        float *even = dst, *odd = dst + row_len;
        int64_t i = 0;
        for (; i < row_len && 2 * i - pl < 0; i++) {
            even[i] = fill;
            odd[i] = 2 * i + 1 - pl >= 0 && 2 * i + 1 - pl < w ? src[2 * i + 1 - pl] : fill;
        }
        /* 4-wide shuffles: one shufps each in this baseline build (8-wide ones went
           through the stack) */
        for (; i + 4 <= row_len && 2 * i - pl + 8 <= w; i += 4) {
            ipx_v4 a, b;
            memcpy(&a, src + 2 * i - pl, sizeof a);
            memcpy(&b, src + 2 * i - pl + 4, sizeof b);
            const ipx_v4 e = __builtin_shufflevector(a, b, 0, 2, 4, 6), o = __builtin_shufflevector(a, b, 1, 3, 5, 7);
            memcpy(even + i, &e, sizeof e);
            memcpy(odd + i, &o, sizeof o);
        }
        for (; i < row_len; i++) {
            even[i] = 2 * i - pl < w ? src[2 * i - pl] : fill;
            odd[i] = 2 * i + 1 - pl < w ? src[2 * i + 1 - pl] : fill;
        }
        return;
    }
    /* Strided forward: phase ph holds input columns ph - pl + idx * sw, a strided run of
       the row between zero ends (no per-element tests or divisions). */
    for (int64_t ph = 0; ph < sw; ph++) {
        float* out = dst + ph * row_len;
        const int64_t u0 = ph - pl; /* input column of index 0 */
        const int64_t lo = ipx__min(row_len, u0 >= 0 ? 0 : ipx__div_up(-u0, sw));
        const int64_t hi = ipx__max(lo, ipx__min(row_len, w - u0 <= 0 ? 0 : ipx__div_up(w - u0, sw)));
        int64_t i = 0;
        for (; i < lo; i++) out[i] = fill;
        const float* in = src + u0 + lo * sw;
        for (; i < hi; i++, in += sw) out[i] = *in;
        for (; i < row_len; i++) out[i] = fill;
    }
}

void ipx__fill_row(float* dst, const float* src, int64_t w, int64_t pl, int64_t uw, int64_t sw,
                   int64_t row_len) {
    if (uw == 1 || src == NULL) {
        ipx__fill_row_with(dst, src, w, pl, sw, row_len, 0.0f);
        return;
    }
    if (sw == 1) {
        /* Upsampled (backward data of a strided layer): zeros, input column c at c * uw + pl. */
        for (int64_t i = 0; i < row_len; i++) dst[i] = 0.0f;
        const int64_t c0 = pl >= 0 ? 0 : ipx__div_up(-pl, uw);
        const int64_t c1 = ipx__min(w, row_len - pl <= 0 ? 0 : ipx__div_up(row_len - pl, uw));
        for (int64_t c = c0; c < c1; c++) dst[c * uw + pl] = src[c];
        return;
    }
    for (int64_t ph = 0; ph < sw; ph++) {
        float* out = dst + ph * row_len;
        int64_t u = ph - pl; /* column of the upsampled input */
        for (int64_t idx = 0; idx < row_len; idx++, u += sw)
            out[idx] = (u >= 0 && u % uw == 0 && u / uw < w) ? src[u / uw] : 0.0f;
    }
}
