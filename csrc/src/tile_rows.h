/* Inline copies of one input row's data into a padded tile row whose padding the caller
   keeps filled (zero for convolutions, -inf for max pooling): the row kernel's and the
   pooling's exchanges, where a call per row of a 7x7 map cost more than its copy; and the
   look-ahead prefetch of the channel and pointwise kernels' exchanges. */
#ifndef IPX_TILE_ROWS_H
#define IPX_TILE_ROWS_H

#include "epilogue.h" /* v8_select */
#include "vec.h"

/* An exchange's look-ahead: while it copies one of a block's channels (short runs of rows, a
   whole plane apart, which the hardware prefetchers pick up too late to stream), it prefetches
   the same rows IPX__PREFETCH_CHANNELS channels on into L1. Distance 8 did as well on the
   pointwise kernel, 2 and 16 less well, into L2 rather than L1 less well (each kernel's
   figures beside its use). */
#define IPX__PREFETCH_CHANNELS 4

/* Floats from channel ci's rows to the same rows IPX__PREFETCH_CHANNELS channels on, in a block
   of nch channels plane floats apart; 0 for the last ones (their own rows again). */
IPX_INLINE int64_t ipx__prefetch_ahead(int64_t ci, int64_t nch, int64_t plane) {
    return ci + IPX__PREFETCH_CHANNELS < nch ? IPX__PREFETCH_CHANNELS * plane : 0;
}

/* Every cache line of the n floats from p into L1 (prefetches never fault). */
IPX_INLINE void ipx__prefetch_floats(const float* p, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) __builtin_prefetch(p + i, 0, 3);
    __builtin_prefetch(p + n - 1, 0, 3);
}

/* Stride 1, a row shorter than a vector (w < 8) with 8 floats readable at src and 8 writable
   at dst whose lanes w and up are padding: one vector, those lanes replaced by `fill` (a 7x7
   map's rows copied column by column were 23% of a depthwise layer's instructions). The
   select blends bits, so the row's values pass unchanged (NaNs included). */
IPX_INLINE void ipx__copy_short_row1(float* dst, const float* src, int64_t w, float fill) {
    const ipx_v8 idx = {0, 1, 2, 3, 4, 5, 6, 7};
    v8_store(dst, v8_select(idx < (float)w, v8_load(src), v8_bcast(fill)));
}

/* Stride 1: src (w floats) to dst (the row's first data column). */
IPX_INLINE void ipx__copy_row1(float* dst, const float* src, int64_t w) {
    if (w < 8) {
        for (int64_t j = 0; j < w; j++) dst[j] = src[j];
        return;
    }
    /* the data in vectors, the last one overlapping (never past the data) */
    int64_t j = 0;
    for (; j + 8 <= w; j += 8) v8_store(dst + j, v8_load(src + j));
    if (j < w) v8_store(dst + w - 8, v8_load(src + w - 8));
}

/* Columns j..j+7 of src (j + pl even) into the two phases of a tile row: two 4-wide shuffles
   (one shufps each in every build). */
IPX_INLINE void ipx__split8(float* dst, const float* src, int64_t j, int64_t pl, int64_t row_len) {
    ipx_v4 a, b;
    memcpy(&a, src + j, sizeof a);
    memcpy(&b, src + j + 4, sizeof b);
    const ipx_v4 e = __builtin_shufflevector(a, b, 0, 2, 4, 6), o = __builtin_shufflevector(a, b, 1, 3, 5, 7);
    memcpy(dst + (j + pl) / 2, &e, sizeof e);
    memcpy(dst + row_len + (j + pl) / 2, &o, sizeof o);
}

/* Stride 2: src (w floats) into the two phases of a tile row (row_len floats each): padded
   column c = j + pl goes to phase c % 2, index c / 2. Eight columns at a time, the last eight
   overlapping the previous ones (the same values again) where the row is not a multiple of
   8: a column-by-column tail, with its computed index, took 44% of a 14x14 stride-2 layer's
   instructions (5x5, 672 channels). */
IPX_INLINE void ipx__split_row2(float* dst, const float* src, int64_t w, int64_t pl, int64_t row_len) {
    int64_t j = 0;
    if ((pl & 1) && w > 0) {
        dst[row_len + pl / 2] = src[0];
        j = 1;
    }
    for (; j + 8 <= w; j += 8) ipx__split8(dst, src, j, pl, row_len);
    /* the last block with j + pl even that ends at or just before the row's end */
    const int64_t last = w - 8 - ((w - 8 + pl) & 1);
    if (j < w && last >= 0) {
        ipx__split8(dst, src, last, pl, row_len);
        j = last + 8;
    }
    for (; j < w; j++) dst[((j + pl) & 1) * row_len + (j + pl) / 2] = src[j];
}

#endif
