/* The channel kernel's tile input and output, shared with the Winograd kernel (which lays
   its block's input rows out the same way and writes its results channel-last too):
     input  [cg][rows_in][row_len]: zero-padded copy of the rows and columns a block reads;
     output [pb][q][kb]: channel-last results, transposed to NCHW in the write phase. */
#ifndef IPX_CHANNEL_TILE_H
#define IPX_CHANNEL_TILE_H

#include "forward.h"
#include "internal.h"
#include "tile_rows.h"
#include "vec.h"

/* Exchange: `rows` padded input rows of each of the block's channels from its first (the
   channel kernel's ipx__rows_in; the Winograd kernel's whole 4-row windows), and what the
   block counts as weights. */
IPX_INLINE uint64_t chan_exchange_rows(const struct ipx_conv* cv, const ipx__plan* plan,
                                       const ipx__block* b, const float* input, float* tile,
                                       unsigned loads, int64_t rows) {
    const ipx_conv_desc* d = &cv->d;
    const int64_t taps = d->r * d->s, row_len = plan->row_len;
    uint64_t copied = 0;
    if (loads & IPX__LOAD_INPUT) {
        const int64_t row0 = b->p0 * d->stride_h - d->pad_top;
        const int64_t w = d->w, pl = d->pad_left;
        /* common case inline: zero the row and copy the data in whole vectors */
        const bool fast = cv->uw == 1 && pl >= 0 && w >= 8 && pl + w <= row_len && row_len % 8 == 0;
        const int64_t nch = b->gb * cv->cg;
        for (int64_t ci = 0; ci < nch; ci++) {
            const float* src = input + ((b->n * d->c + b->g0 * cv->cg + ci) * d->h) * d->w;
            float* dst = tile + plan->in_off + (size_t)(ci * plan->rows_in * row_len);
            /* the look-ahead (tile_rows.h): ResNet-50's 3x3 layers at batch 4, 2 workers, medians
               of 4 processes each, exchange 290 -> 172 us on 56 x 56, 123 -> 82 on 28 x 28, 105 ->
               71 on 14 x 14 (1-2% of the layer's wall time) */
            const int64_t ahead = ipx__prefetch_ahead(ci, nch, d->h * d->w);
            for (int64_t rr = 0; rr < rows; rr++, dst += row_len) {
                const float* srow = ipx__src_row(cv, src, row0 + rr);
                if (fast && srow != NULL) ipx__prefetch_floats(srow + ahead, w);
                if (!fast || srow == NULL) {
                    ipx__fill_row(dst, srow, w, pl, cv->uw, 1, row_len);
                    continue;
                }
                for (int64_t i = 0; i < row_len; i += 8) v8_store(dst + i, v8_zero());
                int64_t j = 0;
                for (; j + 8 <= w; j += 8) v8_store(dst + pl + j, v8_load(srow + j));
                if (j < w) v8_store(dst + pl + w - 8, v8_load(srow + w - 8));
            }
        }
        copied += (uint64_t)(b->gb * cv->cg * rows * row_len);
    }
    if (loads & IPX__LOAD_WEIGHTS) /* read in place by the compute (resident weights) */
        copied += (uint64_t)(b->gb * b->kb * (cv->cg * taps + 1));
    return copied;
}

/* Write phase: channel-last tile results -> NCHW output rows (only the kg real channels):
   whole 8 x 8 blocks transposed in registers, the edges element by element. A block's pb
   rows of one channel are contiguous in NCHW (whole rows), so its pixels are one run. CLAMP:
   ReLU (hi infinite) or ReLU6 (hi 6) applied on the way, as the epilogue pass's max then min
   (the same bits), so that the block's outputs are not read back for it. */
IPX_INLINE float chan_clamp1(float x, float hi) {
    const float y = x > 0.0f ? x : 0.0f;
    return y < hi ? y : hi;
}
IPX_INLINE void chan_write(const struct ipx_conv* cv, const ipx__block* b, const float* tout,
                           float* output, const bool CLAMP, float hi, const int ISA) {
    const int64_t pix = b->pb * cv->q, kb = b->kb, pix8 = pix / 8 * 8;
    const int64_t kvalid = ipx__min(kb, cv->kg - b->k0), k8 = kvalid / 8 * 8;
    const int64_t plane = cv->p * cv->q;
    for (int64_t j = 0; j < b->gb; j++, tout += pix * kb) {
        float* dst0 = output + ((b->n * cv->d.k + (b->g0 + j) * cv->kg + b->k0) * cv->p + b->p0) * cv->q;
        for (int64_t kk = 0; kk < k8; kk += 8)
            for (int64_t i = 0; i < pix8; i += 8) {
                ipx_v8 v[8];
                for (int r = 0; r < 8; r++) v[r] = v8_load(tout + (i + r) * kb + kk);
                v8_transpose8_regs(v);
                for (int r = 0; r < 8; r++)
                    v8_store(dst0 + (kk + r) * plane + i, CLAMP ? v8_min(v8_max(v[r], v8_zero(), ISA), v8_splat(hi), ISA) : v[r]);
            }
        for (int64_t kk = 0; kk < kvalid; kk++) {
            float* dst = dst0 + kk * plane;
            const float* src = tout + kk;
            for (int64_t i = kk < k8 ? pix8 : 0; i < pix; i++) dst[i] = CLAMP ? chan_clamp1(src[i * kb], hi) : src[i * kb];
        }
    }
}

/* The write with a block's epilogue: ReLU and ReLU6 (every 3x3 layer of a ResNet) in the
   transpose's registers; a residual, channel sums and the other activations in the block's
   second pass (ipx__epilogue_block). */
IPX_INLINE void chan_write_fused(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                                 float* tile, float* output, const ipx__epilogue* e, const int ISA) {
    const int32_t act = e->activation;
    if ((act == IPX_ACTIVATION_RELU || act == IPX_ACTIVATION_RELU6) && !e->residual && !e->channel_sums) {
        chan_write(cv, b, tile + plan->out_off, output, true, act == IPX_ACTIVATION_RELU6 ? 6.0f : __builtin_inff(), ISA);
        return;
    }
    chan_write(cv, b, tile + plan->out_off, output, false, 0.0f, ISA);
    if (act != IPX_ACTIVATION_NONE || e->residual || e->channel_sums) ipx__epilogue_block(cv, b, output, e);
}

#endif
