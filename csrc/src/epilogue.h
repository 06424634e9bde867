/* The epilogue's vector body (epilogue.c), shared by ipx_epilogue_run and the forward passes'
   write phase (forward.c). */
#ifndef IPX_EPILOGUE_H
#define IPX_EPILOGUE_H

#include <stdint.h>

/* Planes [p0, p1) of len floats each: out = act(out * scale[p] + residual) and sums[p] = the
   plane's sum of results; scale, residual and sums may be NULL (1, nothing, not wanted);
   act an ipx_activation; built for the ipx_isa isa. */
#define IPX__EPILOGUE_PARAMS                                                                 \
    float *out, const float *residual, const float *scale, float *sums, int64_t p0, int64_t p1, \
        int64_t len, int32_t act
void ipx__epilogue_apply(int32_t isa, IPX__EPILOGUE_PARAMS);

#endif
