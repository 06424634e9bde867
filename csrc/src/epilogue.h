/* The epilogue's vector body (epilogue.c), shared by ipx_epilogue_run and the forward passes'
   write phase (forward.c), and its per-vector activations, which kernels that apply the
   epilogue in their write (kernel_pointwise.c) inline with the activation a constant. */
#ifndef IPX_EPILOGUE_H
#define IPX_EPILOGUE_H

#include <stdint.h>

#include "internal.h"
#include "vec.h"

/* Planes [p0, p1) of len floats each: out = act(out * scale[p] + residual) and sums[p] = the
   plane's sum of results; scale, residual and sums may be NULL (1, nothing, not wanted);
   act an ipx_activation; built for the ipx_isa isa. */
#define IPX__EPILOGUE_PARAMS                                                                 \
    float *out, const float *residual, const float *scale, float *sums, int64_t p0, int64_t p1, \
        int64_t len, int32_t act
void ipx__epilogue_apply(int32_t isa, IPX__EPILOGUE_PARAMS);

typedef int32_t ipx_i8 __attribute__((vector_size(32)));

typedef int32_t ipx_i16 __attribute__((vector_size(64)));

/* v8_exp, v8_sigmoid, v8_activation... for the kernels' 8-float vectors; v16_ the same for 16
   (one AVX-512 register), which the separate pass uses: the same operations per lane, so the
   same bits. */
#define V ipx_v8
#define I ipx_i8
#define F(name) v8_##name
#include "activations.h"
#define V ipx_v16
#define I ipx_i16
#define F(name) v16_##name
#include "activations.h"

#endif
