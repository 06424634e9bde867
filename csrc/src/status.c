/* Status messages: one static string per ipx_status, naming the parameter at fault. */
#include "internal.h"

const char* ipx_status_string(ipx_status status) {
    switch (status) {
    case IPX_STATUS_SUCCESS: return "success";
    case IPX_STATUS_NULL_POINTER: return "a required pointer argument is NULL";
    case IPX_STATUS_INVALID_BATCH: return "invalid n (batch): must be in 1..2^30";
    case IPX_STATUS_INVALID_CHANNELS: return "invalid c (input channels): must be in 1..2^30";
    case IPX_STATUS_INVALID_OUTPUT_CHANNELS:
        return "invalid k (output channels): must be in 1..2^30";
    case IPX_STATUS_INVALID_GROUPS:
        return "invalid g (groups): must be in 1..2^30 and divide both c and k";
    case IPX_STATUS_INVALID_INPUT_SIZE: return "invalid h or w (input size): must be in 1..2^30";
    case IPX_STATUS_INVALID_KERNEL_SIZE: return "invalid r or s (kernel size): must be in 1..2^30";
    case IPX_STATUS_INVALID_STRIDE: return "invalid stride: must be in 1..2^30";
    case IPX_STATUS_INVALID_DILATION: return "invalid dilation: must be in 1..2^30";
    case IPX_STATUS_INVALID_PADDING: return "invalid padding: each side must be in 0..2^30";
    case IPX_STATUS_EMPTY_OUTPUT:
        return "empty output: the dilated kernel is larger than the padded input";
    case IPX_STATUS_SIZE_OVERFLOW: return "size overflow: an element or byte count is too large";
    case IPX_STATUS_INVALID_ALGORITHM: return "invalid algorithm: not an ipx_algorithm value";
    case IPX_STATUS_INVALID_FLAGS: return "invalid flags: unknown bits set";
    case IPX_STATUS_INVALID_WORKERS: return "invalid workers: must be in 0..1024 (0 = CPU count)";
    case IPX_STATUS_INVALID_TILE_BYTES:
        return "invalid tile_bytes: must be 0 (default) or in 4096..2^30";
    case IPX_STATUS_INVALID_BUFFER_SIZE:
        return "invalid buffer size: a buffer length differs from what the convolution needs";
    case IPX_STATUS_TILE_TOO_SMALL:
        return "tile memory too small for the smallest block of this layer";
    case IPX_STATUS_OUT_OF_MEMORY: return "out of memory";
    case IPX_STATUS_MEMORY_LIMIT: return "memory limit exceeded";
    case IPX_STATUS_THREAD_ERROR: return "could not create a worker thread";
    case IPX_STATUS_BUSY: return "handle busy: in use by another call";
    case IPX_STATUS_CANCELLED: return "cancelled";
    case IPX_STATUS_INVALID_HIDDEN:
        return "invalid hidden (squeeze-excite's reduced channels): must be in 1..2^30";
    case IPX_STATUS_INVALID_ACTIVATION:
        return "invalid activation: not one this call takes, or HardSigmoid's alpha/beta not finite";
    case IPX_STATUS_UNSUPPORTED: return "unsupported operation for this handle, or a descriptor struct_size this library does not know";
    }
    return "unknown ipx status";
}

