/* What the forward passes share (forward.c, fused_pair.c): a block from its index, the
   squeeze-excite scale applied to a block's input rows in tile memory, and the write phase's
   epilogue with the counters. */
#ifndef IPX_FORWARD_H
#define IPX_FORWARD_H

#include "internal.h"

/* Block idx of a plan (channel blocks innermost, then rows, groups, images), and the keys
   of what it reads: its input rows and its weights. */
void ipx__forward_block(const struct ipx_conv* cv, const ipx__plan* plan, int64_t idx, ipx__block* b,
                        int64_t* in_key, int64_t* w_key);

/* Multiplies the block's input channels in tile memory by scale[n * c + channel], where
   each channel's rows lie contiguously, ch_stride floats apart (padding included). */
void ipx__scale_channel_rows(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b, float* tile,
                             const float* scale, int64_t ch_stride);

/* The epilogue e over block b's outputs in place, as a second pass after the kernel wrote
   them (for kernels, or activations, that do not apply it in their write). */
void ipx__epilogue_block(const struct ipx_conv* cv, const ipx__block* b, float* output, const ipx__epilogue* e);

/* Compute and write phase of block b: the kernel's outputs with the epilogue e applied (by
   the kernel while they are in registers where it can, else in a second pass while the
   rows are in this worker's cache); counts the block's FLOPs, output bytes and residual
   bytes in st. */
void ipx__forward_compute_write(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                                float* tile, float* output, const ipx__epilogue* e, ipx_worker_stats* st);

/* The checks every forward run makes of an epilogue for a handle whose output has out_len
   floats: SUCCESS, UNSUPPORTED or INVALID_BUFFER_SIZE. */
ipx_status ipx__check_epilogue(const struct ipx_conv* cv, const ipx_conv_epilogue* e, size_t out_len);

#endif
