/// @file ipx.h
/// @brief ipx: a float32 grouped 2-D convolution engine run by an IPU-style worker pool.
///
/// Lifecycle (as XNNPACK's operators): ipx_conv_create() validates every parameter, packs
/// the weights and picks a kernel; ipx_conv_run() takes the buffers and a pool;
/// ipx_conv_destroy() frees. The pool (ipx_pool_create()) holds W persistent worker threads,
/// each with its own "tile memory", and runs bulk-synchronous supersteps: exchange (copy the
/// inputs and weights a block needs into tile memory, with padding; the pointwise kernel reads
/// its weights in place from the handle's packed copy, as an IPU keeps a layer's weights
/// resident in its tiles), compute from tile memory and write the outputs, then wait at a barrier. Blocks that do not depend on each other
/// (every run's) are handed out owner first: each worker takes its own contiguous range of
/// them, the same fraction of every pass (so consecutive layers keep a worker on the rows it
/// wrote), then steals single blocks from the back of the range with the most left; all meet
/// at one barrier when none is left.
///
/// Conventions:
/// - Every function returns an ::ipx_status; 0 (::IPX_STATUS_SUCCESS) means success and all
///   out-pointers are set. On failure out-pointers are left untouched unless stated.
/// - Letters: n batch, c input channels, k output channels, h x w input size, r x s kernel
///   size, g groups, p x q output size. Tensors are dense, C-contiguous, float32:
///   input NCHW [n][c][h][w], weight [k][c/g][r][s], bias [k], output [n][k][p][q].
/// - Semantics and output size follow torch.nn.functional.conv2d:
///   p = floor((h + pad_top + pad_bottom - dilation_h*(r-1) - 1) / stride_h) + 1.
/// - FLOP counts are 2 x multiply-accumulates (bias additions are not counted).
/// - The library never aborts, exits, prints or keeps global error state.
///
/// Thread-safety: different handles may be used from different threads at the same time.
/// One ::ipx_conv_t or ::ipx_pool_t is used by one call at a time: a second concurrent
/// ipx_conv_run() on the same conv or the same pool returns ::IPX_STATUS_BUSY instead of
/// racing, and destroying a handle that is running returns ::IPX_STATUS_BUSY.
/// ipx_pool_cancel() is the one call that may be made on a busy pool from another thread.
#ifndef IPX_H
#define IPX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(IPX_STATIC_BUILD)
#define IPX_API __attribute__((visibility("default")))
#else
#define IPX_API
#endif

/// Library version. The shared library's SONAME is libipx.so.MAJOR: a new major version
/// may change the ABI; minor versions only add. Compare IPX_VERSION (what a program was
/// compiled against) with ipx_version() (the library it runs with) to detect a mismatch.
#define IPX_VERSION_MAJOR 0
#define IPX_VERSION_MINOR 1
#define IPX_VERSION_PATCH 0
/// The version as one number, MAJOR * 10000 + MINOR * 100 + PATCH (0.1.0 is 100).
#define IPX_VERSION (IPX_VERSION_MAJOR * 10000 + IPX_VERSION_MINOR * 100 + IPX_VERSION_PATCH)

/// Default tile memory per worker: 624 KiB, the SRAM of one Graphcore IPU Mk2 tile.
#define IPX_DEFAULT_TILE_BYTES (624u * 1024u)
/// Largest accepted value of any single size parameter (n, c, k, h, w, r, s, g, stride,
/// dilation, padding): 2^30. Products are checked for overflow separately.
#define IPX_MAX_DIM (1 << 30)
/// Largest worker count a pool accepts.
#define IPX_MAX_WORKERS 1024

/// Status code of every ipx call. 0 is success; each failure names what was wrong, so
/// ipx_status_string() gives a message that names the parameter.
typedef enum ipx_status {
    /// The call succeeded and every output argument is set.
    IPX_STATUS_SUCCESS = 0,
    /// A required pointer argument was NULL.
    IPX_STATUS_NULL_POINTER = 1,
    /// n (batch) is outside 1..IPX_MAX_DIM.
    IPX_STATUS_INVALID_BATCH = 2,
    /// c (input channels) is outside 1..IPX_MAX_DIM.
    IPX_STATUS_INVALID_CHANNELS = 3,
    /// k (output channels) is outside 1..IPX_MAX_DIM.
    IPX_STATUS_INVALID_OUTPUT_CHANNELS = 4,
    /// g (groups) is outside 1..IPX_MAX_DIM or does not divide both c and k.
    IPX_STATUS_INVALID_GROUPS = 5,
    /// h or w (input size) is outside 1..IPX_MAX_DIM.
    IPX_STATUS_INVALID_INPUT_SIZE = 6,
    /// r or s (kernel size) is outside 1..IPX_MAX_DIM.
    IPX_STATUS_INVALID_KERNEL_SIZE = 7,
    /// stride_h or stride_w is outside 1..IPX_MAX_DIM.
    IPX_STATUS_INVALID_STRIDE = 8,
    /// dilation_h or dilation_w is outside 1..IPX_MAX_DIM.
    IPX_STATUS_INVALID_DILATION = 9,
    /// A padding is outside 0..IPX_MAX_DIM.
    IPX_STATUS_INVALID_PADDING = 10,
    /// The output would be empty: the dilated kernel is larger than the padded input.
    IPX_STATUS_EMPTY_OUTPUT = 11,
    /// An element or byte count does not fit in size_t / int64_t.
    IPX_STATUS_SIZE_OVERFLOW = 12,
    /// The algorithm is not one of ::ipx_algorithm.
    IPX_STATUS_INVALID_ALGORITHM = 13,
    /// flags holds bits that are not IPX_FLAG_* values.
    IPX_STATUS_INVALID_FLAGS = 14,
    /// The worker count is outside 0..IPX_MAX_WORKERS.
    IPX_STATUS_INVALID_WORKERS = 15,
    /// tile_bytes is below IPX_MIN_TILE_BYTES or above IPX_MAX_TILE_BYTES.
    IPX_STATUS_INVALID_TILE_BYTES = 16,
    /// A buffer length does not equal the length the convolution needs.
    IPX_STATUS_INVALID_BUFFER_SIZE = 17,
    /// The pool's tile memory is too small for the smallest block of this layer
    /// (see ipx_conv_info::min_tile_bytes).
    IPX_STATUS_TILE_TOO_SMALL = 18,
    /// An allocation failed.
    IPX_STATUS_OUT_OF_MEMORY = 19,
    /// The allocation would exceed the memory_limit set in the descriptor.
    IPX_STATUS_MEMORY_LIMIT = 20,
    /// Creating a worker thread or its synchronisation objects failed.
    IPX_STATUS_THREAD_ERROR = 21,
    /// The handle (conv or pool) is being used by another call right now.
    IPX_STATUS_BUSY = 22,
    /// The run was stopped by ipx_pool_cancel(); the output is incomplete.
    IPX_STATUS_CANCELLED = 23,
    /// The operation is not supported for this handle or configuration, or a descriptor's
    /// struct_size is one this library cannot read (see ipx_conv_desc::struct_size).
    IPX_STATUS_UNSUPPORTED = 24,
    /// hidden (squeeze-excite's reduced channel count) is outside 1..IPX_MAX_DIM.
    IPX_STATUS_INVALID_HIDDEN = 25,
    /// An activation is not one the call takes (see ::ipx_activation), or HardSigmoid's
    /// alpha or beta is not finite.
    IPX_STATUS_INVALID_ACTIVATION = 26,
} ipx_status;

/// Convolution strategy.
typedef enum ipx_algorithm {
    /// Let the engine choose: the direct kernels, or the GEMM lowering (in the pointwise
    /// kernel's form, ::IPX_KERNEL_GEMM) for one group of fewer than 8 input and 8 or more
    /// output channels with a window up to 3x3 (network stems; larger windows, such as a
    /// 7x7 stem, run the channel kernel).
    IPX_ALGORITHM_AUTO = 0,
    /// Worker-local direct kernels: depthwise/small-group row kernel or the channel kernel.
    IPX_ALGORITHM_DIRECT = 1,
    /// im2col + SGEMM per group, the way GPU libraries lower convolutions.
    IPX_ALGORITHM_GEMM = 2,
    /// Winograd's minimal filtering F(2x2, 3x3) (::IPX_KERNEL_WINOGRAD) for dense layers
    /// (one group, 8 or more input and output channels) with a 3x3 window, stride 1 and
    /// dilation 1: 16 multiplications per 2x2 outputs and input channel instead of 36. Its
    /// results differ from the direct kernels' by rounding (the transforms of the input and the
    /// weights; on ResNet-50's layers its errors against float64 were smaller than the direct
    /// kernels', its sums being shorter), and an output whose window holds an infinity may be
    /// NaN where they give +-Inf (the transforms subtract). Other geometries run as
    /// ::IPX_ALGORITHM_AUTO; ipx_conv_get_info() reports which ran.
    IPX_ALGORITHM_WINOGRAD = 3,
} ipx_algorithm;

/// Kernel a conv handle runs (reported by ipx_conv_get_info()).
typedef enum ipx_kernel {
    /// Vectorised along output rows; used for depthwise and fewer than 8 input or 8 output
    /// channels per group.
    IPX_KERNEL_ROW = 1,
    /// Vectorised over output channels; used for >= 8 input and >= 8 output channels per
    /// group, and by ::IPX_ALGORITHM_AUTO for stems with windows larger than 3x3.
    IPX_KERNEL_CHANNEL = 2,
    /// im2col into tile memory, then a blocked SGEMM.
    IPX_KERNEL_GEMM = 3,
    /// Winograd F(2x2, 3x3): input tiles and weights transformed, 16 products summed over
    /// the input channels, the sums transformed back (::IPX_ALGORITHM_WINOGRAD).
    IPX_KERNEL_WINOGRAD = 4,
} ipx_kernel;

/// Instruction set the kernels of a handle use.
typedef enum ipx_isa {
    /// Portable C (GCC/Clang vector extensions lowered for the baseline target).
    IPX_ISA_PORTABLE = 0,
    /// x86-64 AVX2 + FMA, chosen at run time when the CPU supports both.
    IPX_ISA_AVX2 = 1,
    /// The same 8-wide kernels compiled for AVX-512F + AVX-512VL: 32 vector registers and
    /// FMAs that broadcast a weight straight from memory (the row kernel uses them; the
    /// others run their AVX2 code). Chosen at run time when the CPU supports both, unless
    /// the environment variable IPX_FORCE_AVX2=1 caps the choice at AVX2.
    IPX_ISA_AVX512 = 2,
} ipx_isa;

/// Flag for ipx_conv_desc::flags: use the portable kernels even when AVX2/FMA is available.
/// The environment variable IPX_FORCE_PORTABLE=1 has the same effect.
#define IPX_FLAG_PORTABLE 1u
/// Flag for ipx_conv_desc::flags: also prepare the backward-data pass (packs a transposed,
/// flipped copy of the weights), so that ipx_conv_run_backward_data() can be called.
#define IPX_FLAG_BACKWARD 2u

/// Activation an epilogue applies (ipx_conv_run_fused(), ipx_epilogue_run()).
typedef enum ipx_activation {
    IPX_ACTIVATION_NONE = 0,
    IPX_ACTIVATION_RELU = 1,      ///< max(x, 0)
    IPX_ACTIVATION_RELU6 = 2,     ///< min(max(x, 0), 6)
    IPX_ACTIVATION_SIGMOID = 3,   ///< 1 / (1 + exp(-x))
    IPX_ACTIVATION_SILU = 4,      ///< x * sigmoid(x) (swish)
    IPX_ACTIVATION_HARDSWISH = 5, ///< x * min(max(x + 3, 0), 6) / 6
    /// min(max(alpha * x + beta, 0), 1) (ONNX HardSigmoid; PyTorch's hardsigmoid is alpha
    /// 1/6, beta 1/2), with alpha and beta from the descriptor: the output activation of
    /// ipx_fc_create() and ipx_se_create() only.
    IPX_ACTIVATION_HARDSIGMOID = 6,
} ipx_activation;

/// What a forward run does to each output before it leaves the worker that computed it (in
/// the write phase of the block's superstep): output = act(conv + bias + residual), and
/// optionally each output channel's sum (a global average pool's, e.g. squeeze-excite's).
/// Zero-initialise: no residual, IPX_ACTIVATION_NONE, no sums.
typedef struct ipx_conv_epilogue {
    int32_t activation;    ///< an ::ipx_activation
    const float* residual; ///< NULL, or n*k*p*q floats (NCHW) added before the activation;
                           ///< must not overlap input or output
    size_t residual_len;   ///< floats in residual; must equal the output's
    float* channel_sums;   ///< NULL, or n*k floats: [image][channel] sum of the outputs
                           ///< (summed by blocks in any order: the last bits may vary by run)
    size_t channel_sums_len; ///< floats in channel_sums; must equal n*k
    const float* input_scale; ///< NULL, or n*c floats: [image][channel] factor each input
                              ///< channel is multiplied by as the exchange copies it into
                              ///< tile memory (squeeze-excite's channel scale); row and
                              ///< channel kernels only (else IPX_STATUS_UNSUPPORTED)
    size_t input_scale_len;   ///< floats in input_scale; must equal n*c
} ipx_conv_epilogue;

/// Shape and operation of ipx_epilogue_run(). Zero-initialise, then set every field.
typedef struct ipx_epilogue_desc {
    int64_t planes;     ///< images x channels, >= 1
    int64_t plane_len;  ///< floats per plane (h x w), >= 1
    int32_t activation; ///< an ::ipx_activation
    int32_t flags;      ///< 0 or IPX_FLAG_PORTABLE
} ipx_epilogue_desc;

/// Bits of ipx_pooling_desc::flags (with IPX_FLAG_PORTABLE). Without IPX_POOLING_AVERAGE the
/// pooling takes each window's maximum (padding never wins); with it, the window's mean.
#define IPX_POOLING_AVERAGE 4u
/// Average: divide by the window's size inside the padded input (padding counted, ONNX
/// count_include_pad=1, PyTorch's default) instead of by its real pixels (ONNX's default).
#define IPX_POOLING_COUNT_INCLUDE_PAD 8u
/// Output size rounded up instead of down (ceil_mode): a last window may reach past the
/// padding, as long as it starts inside the input or the leading padding (PyTorch and ONNX
/// Runtime drop a window that would start in the trailing padding).
#define IPX_POOLING_CEIL_MODE 16u

/// A max or average pooling (ipx_pooling_run). Zero-initialise, then set every size.
/// Output: p = floor_or_ceil((h + pad_top + pad_bottom - r) / stride_h) + 1, q likewise.
typedef struct ipx_pooling_desc {
    /// sizeof(ipx_pooling_desc) as the caller compiled it, or 0: as ipx_conv_desc::struct_size.
    uint32_t struct_size;
    uint32_t flags;                 ///< IPX_POOLING_* bits and IPX_FLAG_PORTABLE
    int64_t n, c, h, w;             ///< input: batch, channels, height, width (1..IPX_MAX_DIM)
    int64_t r, s;                   ///< window height and width (1..IPX_MAX_DIM)
    int64_t stride_h, stride_w;     ///< 1..IPX_MAX_DIM
    /// 0..IPX_MAX_DIM and smaller than the window along its axis (every window then holds a
    /// real pixel; ONNX Runtime's rule).
    int64_t pad_top, pad_bottom, pad_left, pad_right;
} ipx_pooling_desc;

/// A fully connected layer over a batch of vectors (ipx_fc_create()): output[i] =
/// act(weight x input[i] + bias) for i < n, input [n][c], weight [k][c] (PyTorch's Linear,
/// ONNX Gemm with transB), output [n][k]. Zero-initialise, then set every size.
typedef struct ipx_fc_desc {
    /// sizeof(ipx_fc_desc) as the caller compiled it, or 0: as ipx_conv_desc::struct_size.
    uint32_t struct_size;
    uint32_t flags;         ///< 0 or IPX_FLAG_PORTABLE
    int64_t n, c, k;        ///< vectors per run, inputs and outputs per vector (1..IPX_MAX_DIM)
    int32_t activation;     ///< an ::ipx_activation, HARDSIGMOID included
    float alpha, beta;      ///< IPX_ACTIVATION_HARDSIGMOID's (finite); ignored otherwise
    uint64_t memory_limit;  ///< bytes the handle may allocate; 0 = no limit
} ipx_fc_desc;

/// Squeeze-excite's excitation (ipx_se_create()): from each image's channel sums over an
/// h x w map, the channel scale the next convolution applies (ipx_conv_epilogue::input_scale):
/// scale[i] = gate(w2 act(w1 (sums[i] / (h w)) + b1) + b2), sums and scale [n][c], w1
/// [hidden][c], w2 [c][hidden] (the two 1x1 convolutions' weights). Zero-initialise, then set
/// every size.
typedef struct ipx_se_desc {
    /// sizeof(ipx_se_desc) as the caller compiled it, or 0: as ipx_conv_desc::struct_size.
    uint32_t struct_size;
    uint32_t flags;          ///< 0 or IPX_FLAG_PORTABLE
    int64_t n, c, hidden;    ///< batch, channels, reduced channels (1..IPX_MAX_DIM)
    int64_t h, w;            ///< the map the sums cover (1..IPX_MAX_DIM; 1 x 1: means given)
    int32_t activation;      ///< the hidden layer's ::ipx_activation (not HARDSIGMOID)
    int32_t gate;            ///< the output's ::ipx_activation: SIGMOID, HARDSIGMOID, ...
    float gate_alpha, gate_beta; ///< IPX_ACTIVATION_HARDSIGMOID's (finite); ignored otherwise
    uint64_t memory_limit;   ///< bytes the handle may allocate; 0 = no limit
} ipx_se_desc;

/// Facts about a fully connected handle (ipx_fc_get_info()).
typedef struct ipx_fc_info {
    uint64_t flops;           ///< FLOPs of one run (2 x multiply-adds of every layer, each once)
    uint64_t min_tile_bytes;  ///< smallest tile memory a pool needs to run this handle
    uint64_t allocated_bytes; ///< bytes the handle holds (packed weights and biases)
    int32_t isa;              ///< an ::ipx_isa value
    int32_t layers;           ///< 1 (ipx_fc_create()) or 2 (ipx_se_create())
} ipx_fc_info;

/// Smallest and largest accepted tile memory per worker.
#define IPX_MIN_TILE_BYTES 4096u
#define IPX_MAX_TILE_BYTES (1u << 30)

/// Parameters of a convolution. Zero-initialise, then set every size (sizes have no defaults;
/// stride and dilation must be >= 1). All fields are checked by ipx_conv_create().
typedef struct ipx_conv_desc {
    /// sizeof(ipx_conv_desc) as the caller compiled it, or 0 for this header's size. Later
    /// versions add fields only at the end: a library reads fields past struct_size as zero,
    /// and refuses (IPX_STATUS_UNSUPPORTED) a larger struct_size whose extra bytes are not
    /// zero (a field it does not know), or one below this first version's size.
    uint32_t struct_size;
    int64_t n, c, h, w;             ///< input: batch, channels, height, width (1..IPX_MAX_DIM)
    int64_t k, r, s, g;             ///< output channels, kernel height, width, groups
    int64_t stride_h, stride_w;     ///< 1..IPX_MAX_DIM
    int64_t dilation_h, dilation_w; ///< 1..IPX_MAX_DIM
    int64_t pad_top, pad_bottom, pad_left, pad_right; ///< 0..IPX_MAX_DIM, zero padding
    int32_t algorithm;              ///< an ::ipx_algorithm value
    uint32_t flags;                 ///< IPX_FLAG_* bits
    uint64_t memory_limit;          ///< bytes the handle may allocate; 0 = no limit
} ipx_conv_desc;

/// Facts about a created convolution.
typedef struct ipx_conv_info {
    int64_t p, q;            ///< output height and width
    int32_t kernel;          ///< an ::ipx_kernel value
    int32_t isa;             ///< an ::ipx_isa value
    int32_t algorithm;       ///< the ::ipx_algorithm chosen (never AUTO)
    uint64_t flops;          ///< FLOPs of one forward run (2 x MACs)
    uint64_t min_bytes;      ///< bytes of input + weights + bias + output (the compulsory traffic)
    uint64_t min_tile_bytes; ///< smallest tile memory a pool needs to run this handle
    uint64_t allocated_bytes;///< bytes the handle holds (packed weights, bias)
} ipx_conv_info;

/// Parameters of a pool. Zero means default for every field.
typedef struct ipx_pool_desc {
    uint32_t struct_size;   ///< sizeof(ipx_pool_desc) or 0, as ipx_conv_desc::struct_size
    uint32_t workers;       ///< worker count, 0 = the number of online CPUs; at most IPX_MAX_WORKERS
    uint64_t tile_bytes;    ///< tile memory per worker, 0 = IPX_DEFAULT_TILE_BYTES
    uint64_t memory_limit;  ///< bytes the pool may allocate (tiles included); 0 = no limit
} ipx_pool_desc;

/// Counters of one worker for the last run. Times are CLOCK_MONOTONIC nanoseconds.
typedef struct ipx_worker_stats {
    uint64_t flops;       ///< FLOPs computed (2 x MACs)
    uint64_t bytes_in;    ///< bytes brought in from outside the tile (inputs, weights, bias; im2col)
    uint64_t bytes_out;   ///< bytes of results written out of the tile
    uint64_t exchange_ns; ///< time copying into tile memory
    uint64_t compute_ns;  ///< time computing from tile memory and writing results
    uint64_t wait_ns;     ///< time waiting at barriers (for the others to finish their blocks)
    uint64_t supersteps;  ///< steps (a block's exchange + compute) this worker ran
} ipx_worker_stats;

/// Totals of the last run of a pool.
typedef struct ipx_run_stats {
    double wall_s;        ///< wall time of the whole run
    double gflop_s;       ///< total FLOPs / wall_s / 1e9
    double gb_s;          ///< (bytes_in + bytes_out) / wall_s / 1e9
    uint64_t flops;       ///< total FLOPs
    uint64_t bytes_in;    ///< total bytes copied into tile memory
    uint64_t bytes_out;   ///< total bytes written out
    uint64_t supersteps;  ///< the most steps one worker ran
    uint32_t workers;     ///< workers of the pool
    int32_t algorithm;    ///< ::ipx_algorithm that ran
    int32_t kernel;       ///< ::ipx_kernel that ran
    int32_t status;       ///< ::ipx_status the run returned
} ipx_run_stats;

/// Host limits measured by ipx_pool_measure_peaks().
typedef struct ipx_host_peaks {
    double peak_flop_s;   ///< FP32 FMA rate of all workers together, FLOP/s (2 per FMA lane)
    double mem_bw_b_s;    ///< STREAM triad over arrays larger than the caches, bytes/s
                          ///< (2 reads + 1 write per element, write-allocate not counted)
    double tile_bw_b_s;   ///< the same triad inside each worker's tile memory, bytes/s
    uint64_t array_bytes; ///< bytes of each triad array
    uint32_t workers;     ///< workers that ran the measurement
    int32_t isa;          ///< ::ipx_isa of the measured loops
} ipx_host_peaks;

/// Phase of a superstep a trace event spans (::ipx_trace_event::phase).
typedef enum ipx_trace_phase {
    /// Copying the block's inputs and weights into tile memory.
    IPX_TRACE_EXCHANGE = 0,
    /// Computing from tile memory and writing the block's outputs.
    IPX_TRACE_COMPUTE = 1,
    /// Waiting at the superstep's barrier for the other workers.
    IPX_TRACE_WAIT = 2,
    /// Waiting for the run to reach this worker: from the start of the run until the worker
    /// begins its first superstep (a sleeping worker's wake-up); superstep is 0.
    IPX_TRACE_START = 3,
    /// Worker 0 (the caller) waiting, after its last superstep, for every worker to finish
    /// the run; superstep is the run's last.
    IPX_TRACE_END = 4,
} ipx_trace_phase;

/// One span of one worker's run, recorded when tracing is on (ipx_pool_set_trace()).
/// Times are CLOCK_MONOTONIC nanoseconds, start_ns <= end_ns.
typedef struct ipx_trace_event {
    uint64_t start_ns;  ///< when the span began
    uint64_t end_ns;    ///< when it ended
    uint64_t superstep; ///< superstep of the run, from 0
    uint32_t run;       ///< traced run it belongs to: 0 for the first run after ipx_pool_set_trace()
    uint32_t worker;    ///< worker that spent it, 0..workers-1
    int32_t phase;      ///< an ::ipx_trace_phase
    uint32_t reserved;  ///< 0
} ipx_trace_event;

/// Opaque convolution handle.
typedef struct ipx_conv* ipx_conv_t;
/// Opaque worker pool handle.
typedef struct ipx_pool* ipx_pool_t;
/// Opaque fully connected handle (a classifier layer or squeeze-excite's excitation).
typedef struct ipx_fc* ipx_fc_t;

/// A static English message for a status, e.g. "invalid groups: g must be >= 1 and divide
/// both c and k". Unknown values give "unknown ipx status". Never NULL. Thread-safe.
IPX_API const char* ipx_status_string(ipx_status status);

/// Library version as "MAJOR.MINOR.PATCH". Never NULL. Thread-safe.
IPX_API const char* ipx_version_string(void);

/// IPX_VERSION of the library the program runs with (the header's is the version it was
/// compiled against). Thread-safe.
IPX_API uint32_t ipx_version(void);

/// Number of online CPUs (at least 1). Thread-safe.
IPX_API uint32_t ipx_cpu_count(void);

/// Whether this CPU can run the AVX2/FMA kernels (1) or only the portable ones (0). Thread-safe.
IPX_API int ipx_cpu_has_avx2(void);

/// Whether this CPU can run the AVX-512 (F + VL) build of the kernels (1) or not (0).
/// Thread-safe.
IPX_API int ipx_cpu_has_avx512(void);

/// Output size of a convolution without creating it.
/// @param desc  parameters; must not be NULL.
/// @param p,q   receive the output height and width; must not be NULL.
/// @retval IPX_STATUS_SUCCESS, IPX_STATUS_NULL_POINTER, any IPX_STATUS_INVALID_* of the
///         sizes, IPX_STATUS_EMPTY_OUTPUT, IPX_STATUS_SIZE_OVERFLOW.
/// Thread-safe.
IPX_API ipx_status ipx_conv_output_size(const ipx_conv_desc* desc, int64_t* p, int64_t* q);

/// Create a convolution: validate desc, copy and pack the weights (and bias), pick a kernel.
/// The caller's weight and bias buffers may be freed after the call.
/// @param desc       parameters; must not be NULL.
/// @param weight     k * (c/g) * r * s floats, layout [k][c/g][r][s]; must not be NULL.
/// @param weight_len number of floats in weight; must equal k * (c/g) * r * s.
/// @param bias       k floats, or NULL for no bias.
/// @param bias_len   number of floats in bias; must be k when bias is not NULL (ignored if NULL).
/// @param conv_out   receives the handle; must not be NULL. Set to NULL on failure.
/// @retval IPX_STATUS_SUCCESS, IPX_STATUS_NULL_POINTER, IPX_STATUS_INVALID_* (names the
///         parameter), IPX_STATUS_EMPTY_OUTPUT, IPX_STATUS_SIZE_OVERFLOW,
///         IPX_STATUS_INVALID_BUFFER_SIZE, IPX_STATUS_MEMORY_LIMIT, IPX_STATUS_OUT_OF_MEMORY.
/// Thread-safe (creates a new handle).
IPX_API ipx_status ipx_conv_create(const ipx_conv_desc* desc, const float* weight,
                                   size_t weight_len, const float* bias, size_t bias_len,
                                   ipx_conv_t* conv_out);

/// Facts about a convolution (output size, kernel, ISA, FLOPs, tile memory it needs).
/// @param conv  handle; must not be NULL.
/// @param info  receives the facts; must not be NULL.
/// @retval IPX_STATUS_SUCCESS, IPX_STATUS_NULL_POINTER.
/// Thread-safe (reads immutable fields), also while the handle runs.
IPX_API ipx_status ipx_conv_get_info(ipx_conv_t conv, ipx_conv_info* info);

/// Run the forward convolution on a pool. Allocates nothing and creates no threads.
/// Blocks until every worker has finished (or the run was cancelled).
/// @param conv       handle; must not be NULL.
/// @param pool       pool to run on; must not be NULL (a 1-worker pool runs on the caller).
/// @param input      n*c*h*w floats, NCHW; must not be NULL.
/// @param input_len  floats in input; must equal n*c*h*w.
/// @param output     n*k*p*q floats, NCHW, fully overwritten; must not be NULL and must not
///                   overlap input.
/// @param output_len floats in output; must equal n*k*p*q.
/// @retval IPX_STATUS_SUCCESS, IPX_STATUS_NULL_POINTER, IPX_STATUS_INVALID_BUFFER_SIZE,
///         IPX_STATUS_TILE_TOO_SMALL, IPX_STATUS_BUSY (conv or pool in use by another call),
///         IPX_STATUS_CANCELLED (output incomplete).
/// Thread-safety: one call per conv and per pool at a time; see the file comment.
IPX_API ipx_status ipx_conv_run(ipx_conv_t conv, ipx_pool_t pool, const float* input,
                                size_t input_len, float* output, size_t output_len);

/// ipx_conv_run() with an epilogue applied to each block's outputs in the write phase of the
/// superstep that computed them (no pass of its own over the output): output = act(conv +
/// bias + residual). epilogue NULL is ipx_conv_run(). Sigmoid and SiLU use a polynomial exp
/// (relative error about 1e-7) of an argument clamped to +-87.
/// @retval as ipx_conv_run(), and IPX_STATUS_UNSUPPORTED (activation not an ::ipx_activation,
///         input_scale on a GEMM-lowered handle), IPX_STATUS_INVALID_BUFFER_SIZE (residual_len
///         != output_len, channel_sums_len != n*k, input_scale_len != n*c).
/// Thread-safety: as ipx_conv_run().
IPX_API ipx_status ipx_conv_run_fused(ipx_conv_t conv, ipx_pool_t pool, const float* input,
                                      size_t input_len, float* output, size_t output_len,
                                      const ipx_conv_epilogue* epilogue);

/// Two convolutions as one pass, the first's output kept in tile memory: first a depthwise
/// layer (row kernel: one input channel per group), second the pointwise layer reading its
/// output (1x1, stride 1, no padding, one group, c = first's k, on first's output size and
/// batch). Each block (output rows of one image) runs through both in one superstep: the
/// pointwise layer computes from the depthwise rows where they lie in the worker's tile, so
/// the intermediate tensor is never written to memory (the statistics count only what crossed
/// the tile's boundary). Results equal ipx_conv_run_fused() of first then second to float
/// rounding (a block's pixel count can change which kernel code path computes a pixel).
/// first_epilogue: activation only (residual, sums and input_scale must be NULL);
/// second_epilogue: as ipx_conv_run_fused() without input_scale. Either may be NULL.
/// @param input   first's n*c*h*w floats;  @param output  second's n*k*p*q floats.
/// @retval IPX_STATUS_SUCCESS, IPX_STATUS_NULL_POINTER, IPX_STATUS_UNSUPPORTED (a pair this
///         pass does not fuse, or an epilogue it does not take), IPX_STATUS_INVALID_BUFFER_SIZE,
///         IPX_STATUS_TILE_TOO_SMALL (a block of one row of both does not fit), IPX_STATUS_BUSY
///         (either handle or the pool in use), IPX_STATUS_CANCELLED.
/// Thread-safety: as ipx_conv_run() for both handles and the pool.
IPX_API ipx_status ipx_conv_run_pair(ipx_conv_t first, ipx_conv_t second, ipx_pool_t pool,
                                     const float* input, size_t input_len, float* output,
                                     size_t output_len, const ipx_conv_epilogue* first_epilogue,
                                     const ipx_conv_epilogue* second_epilogue);

/// ipx_conv_run_pair() with an expand layer before the pair (an inverted-residual block of
/// MobileNetV2 / EfficientNet without squeeze-excite: 1x1 expand, depthwise, 1x1 project):
/// expand is a 1x1, stride 1, unpadded, one-group layer whose output is first's whole input
/// (k = first's c, same batch and size) and that runs on the pointwise kernel (maps of 16
/// pixels or more). Each block computes the expand's output rows its depthwise rows read,
/// every channel, into the worker's tile, so the block's widest tensor is never written to
/// memory either; a worker's next block of the same image reuses the rows the two share.
/// Results equal ipx_conv_run_fused() of expand, first and second in turn to float rounding.
/// expand_epilogue: activation only; the others as ipx_conv_run_pair().
/// @param input   expand's n*c*h*w floats;  @param output  second's n*k*p*q floats.
/// @retval as ipx_conv_run_pair(); IPX_STATUS_NULL_POINTER also for expand NULL.
/// Thread-safety: as ipx_conv_run() for the three handles and the pool.
IPX_API ipx_status ipx_conv_run_block(ipx_conv_t expand, ipx_conv_t first, ipx_conv_t second, ipx_pool_t pool,
                                      const float* input, size_t input_len, float* output,
                                      size_t output_len, const ipx_conv_epilogue* expand_epilogue,
                                      const ipx_conv_epilogue* first_epilogue,
                                      const ipx_conv_epilogue* second_epilogue);

/// Backward data: the gradient of the loss with respect to the input, given the gradient with
/// respect to the output (torch.nn.grad.conv2d_input). Computed on the pool as a forward
/// convolution of the stride-upsampled output gradient with the flipped weights; the
/// statistics count the FLOPs executed, which for stride > 1 include the inserted zeros.
/// Needs a handle created with IPX_FLAG_BACKWARD. Allocates nothing.
/// @param grad_output      n*k*p*q floats (NCHW); must not be NULL.
/// @param grad_output_len  must equal n*k*p*q.
/// @param grad_input       n*c*h*w floats, fully overwritten; must not be NULL.
/// @param grad_input_len   must equal n*c*h*w.
/// @retval IPX_STATUS_SUCCESS, IPX_STATUS_NULL_POINTER, IPX_STATUS_UNSUPPORTED (created without
///         IPX_FLAG_BACKWARD), IPX_STATUS_INVALID_BUFFER_SIZE, IPX_STATUS_TILE_TOO_SMALL,
///         IPX_STATUS_BUSY, IPX_STATUS_CANCELLED.
/// Thread-safety: as ipx_conv_run().
IPX_API ipx_status ipx_conv_run_backward_data(ipx_conv_t conv, ipx_pool_t pool,
                                              const float* grad_output, size_t grad_output_len,
                                              float* grad_input, size_t grad_input_len);

/// Backward weights: the gradient with respect to the weights (torch.nn.grad.conv2d_weight)
/// and, if grad_bias is not NULL, the bias (the sum of grad_output over n, p, q). Each worker
/// owns blocks of output channels and keeps their weight gradient in its tile memory while
/// it streams the batch and the output rows through in supersteps. Works on any handle (the
/// handle's weights are not used). Allocates nothing.
/// @param grad_output      n*k*p*q floats; must not be NULL.
/// @param input            n*c*h*w floats (the forward input); must not be NULL.
/// @param grad_weight      k*(c/g)*r*s floats, fully overwritten; must not be NULL.
/// @param grad_bias        k floats, fully overwritten, or NULL to skip.
/// @param *_len            element counts; each must equal the size above (grad_bias_len is
///                         ignored when grad_bias is NULL).
/// @retval IPX_STATUS_SUCCESS, IPX_STATUS_NULL_POINTER, IPX_STATUS_INVALID_BUFFER_SIZE,
///         IPX_STATUS_TILE_TOO_SMALL, IPX_STATUS_BUSY, IPX_STATUS_CANCELLED.
/// Thread-safety: as ipx_conv_run().
IPX_API ipx_status ipx_conv_run_backward_weights(ipx_conv_t conv, ipx_pool_t pool,
                                                 const float* grad_output, size_t grad_output_len,
                                                 const float* input, size_t input_len,
                                                 float* grad_weight, size_t grad_weight_len,
                                                 float* grad_bias, size_t grad_bias_len);

/// Destroy a convolution. NULL is accepted and does nothing (returns success).
/// @retval IPX_STATUS_SUCCESS, IPX_STATUS_BUSY (the handle is running; nothing is freed).
IPX_API ipx_status ipx_conv_destroy(ipx_conv_t conv);

/// A layer's epilogue in place, as its own superstep on the pool (each worker takes whole
/// planes). data holds planes x plane_len floats (planes = images x channels); for each plane p
/// and each of its elements: data = act(data * plane_scale[p] + residual), and plane_sums[p] =
/// the sum of the plane's results. plane_scale NULL means 1 (a squeeze-excite channel scale
/// otherwise), residual NULL adds nothing, plane_sums NULL skips the sums (a global average
/// pool otherwise); with none of them and no activation, data is only read. residual
/// (residual_len == data_len) must not overlap data; plane_scale and plane_sums hold planes
/// floats. Allocates nothing.
/// @retval IPX_STATUS_SUCCESS, IPX_STATUS_NULL_POINTER (pool, desc or data NULL),
///         IPX_STATUS_UNSUPPORTED (activation not an ::ipx_activation), IPX_STATUS_INVALID_FLAGS,
///         IPX_STATUS_INVALID_BUFFER_SIZE (planes or plane_len < 1, data_len != planes *
///         plane_len, residual_len != data_len), IPX_STATUS_BUSY, IPX_STATUS_CANCELLED.
/// Thread-safety: as ipx_conv_run() for the pool.
IPX_API ipx_status ipx_epilogue_run(ipx_pool_t pool, const ipx_epilogue_desc* desc, float* data,
                                    size_t data_len, const float* residual, size_t residual_len,
                                    const float* plane_scale, float* plane_sums);

/// Output size of a pooling (see ipx_pooling_desc).
/// @retval IPX_STATUS_SUCCESS, IPX_STATUS_NULL_POINTER, IPX_STATUS_UNSUPPORTED (struct_size),
///         IPX_STATUS_INVALID_BATCH, _CHANNELS, _INPUT_SIZE, _KERNEL_SIZE (r or s), _STRIDE,
///         _PADDING (a side outside 0..IPX_MAX_DIM or not smaller than the window),
///         IPX_STATUS_INVALID_FLAGS, IPX_STATUS_EMPTY_OUTPUT (window larger than the padded
///         input), IPX_STATUS_SIZE_OVERFLOW.
/// Thread-safe (touches nothing shared).
IPX_API ipx_status ipx_pooling_output_size(const ipx_pooling_desc* desc, int64_t* p, int64_t* q);

/// Max or average pooling of an NCHW tensor on the pool, as bulk-synchronous supersteps: each
/// worker copies a block's padded input rows (channels x rows of one image) into its tile
/// memory, computes from it and writes the block's output rows. A window as large as the
/// unpadded input (global pooling) is summed or compared in place instead, whole planes per
/// worker. The statistics count one FLOP per window element (an add or a compare). Allocates
/// nothing.
/// @param input       n*c*h*w floats (NCHW); must not be NULL.
/// @param output      n*c*p*q floats, fully overwritten; must not be NULL or overlap input.
/// @param *_len       element counts; each must equal the size above.
/// @retval as ipx_pooling_output_size(), and IPX_STATUS_INVALID_BUFFER_SIZE,
///         IPX_STATUS_TILE_TOO_SMALL (one row block of one channel does not fit), IPX_STATUS_BUSY,
///         IPX_STATUS_CANCELLED (output incomplete).
/// Thread-safety: as ipx_conv_run() for the pool.
IPX_API ipx_status ipx_pooling_run(ipx_pool_t pool, const ipx_pooling_desc* desc, const float* input,
                                   size_t input_len, float* output, size_t output_len);

/// Create a fully connected layer (see ipx_fc_desc): validate desc, copy and pack the weights
/// (and bias). The caller's buffers may be freed after the call.
/// @param weight     k*c floats, [k][c]; must not be NULL.  @param weight_len  must equal k*c.
/// @param bias       k floats, or NULL for none.            @param bias_len    k (ignored if NULL).
/// @param fc_out     receives the handle; must not be NULL. Set to NULL on failure.
/// @retval IPX_STATUS_SUCCESS, IPX_STATUS_NULL_POINTER, IPX_STATUS_UNSUPPORTED (struct_size),
///         IPX_STATUS_INVALID_BATCH (n), _CHANNELS (c), _OUTPUT_CHANNELS (k), _ACTIVATION,
///         _FLAGS, IPX_STATUS_SIZE_OVERFLOW, IPX_STATUS_INVALID_BUFFER_SIZE,
///         IPX_STATUS_MEMORY_LIMIT, IPX_STATUS_OUT_OF_MEMORY.
/// Thread-safe (creates a new handle).
IPX_API ipx_status ipx_fc_create(const ipx_fc_desc* desc, const float* weight, size_t weight_len,
                                 const float* bias, size_t bias_len, ipx_fc_t* fc_out);

/// Create squeeze-excite's excitation (see ipx_se_desc) as a two-layer fully connected handle,
/// run by ipx_fc_run() with the channel sums as input and the channel scale as output.
/// @param w1  hidden*c floats, [hidden][c]; must not be NULL.   @param w1_len  hidden*c.
/// @param b1  hidden floats, or NULL for none.                   @param b1_len  hidden.
/// @param w2  c*hidden floats, [c][hidden]; must not be NULL.   @param w2_len  c*hidden.
/// @param b2  c floats, or NULL for none.                        @param b2_len  c.
/// @param fc_out  receives the handle; must not be NULL. Set to NULL on failure.
/// @retval as ipx_fc_create(), and IPX_STATUS_INVALID_HIDDEN, IPX_STATUS_INVALID_INPUT_SIZE
///         (h or w).
/// Thread-safe (creates a new handle).
IPX_API ipx_status ipx_se_create(const ipx_se_desc* desc, const float* w1, size_t w1_len,
                                 const float* b1, size_t b1_len, const float* w2, size_t w2_len,
                                 const float* b2, size_t b2_len, ipx_fc_t* fc_out);

/// Facts about a fully connected handle.
/// @retval IPX_STATUS_SUCCESS, IPX_STATUS_NULL_POINTER (fc or info NULL).
/// Thread-safe (reads immutable fields), also while the handle runs.
IPX_API ipx_status ipx_fc_get_info(ipx_fc_t fc, ipx_fc_info* info);

/// Run a fully connected handle on the pool as one superstep pass: each worker takes blocks
/// of images x output vectors, copies the images' inputs into its tile memory (scaled to
/// means for squeeze-excite), computes every layer from there (a two-layer block computes its
/// images' hidden layer itself, so blocks never wait for each other) and writes the block's
/// outputs, the activation applied in registers. Sigmoid and SiLU as ipx_conv_run_fused().
/// Outputs are summed in input order from the bias, so they do not depend on the pool.
/// Allocates nothing.
/// @param input   n*c floats ([n][c]: squeeze-excite's channel sums); must not be NULL.
/// @param output  n*k floats ([n][k]; squeeze-excite: the [n][c] scale), fully overwritten;
///                must not be NULL or overlap input.
/// @param *_len   element counts; each must equal the size above.
/// @retval IPX_STATUS_SUCCESS, IPX_STATUS_NULL_POINTER, IPX_STATUS_INVALID_BUFFER_SIZE,
///         IPX_STATUS_TILE_TOO_SMALL (one image's rows do not fit; see ipx_fc_info),
///         IPX_STATUS_BUSY (fc or pool in use by another call), IPX_STATUS_CANCELLED.
/// Thread-safety: as ipx_conv_run() for the handle and the pool.
IPX_API ipx_status ipx_fc_run(ipx_fc_t fc, ipx_pool_t pool, const float* input, size_t input_len,
                              float* output, size_t output_len);

/// Destroy a fully connected handle. NULL is accepted and does nothing (returns success).
/// @retval IPX_STATUS_SUCCESS, IPX_STATUS_BUSY (the handle is running; nothing is freed).
IPX_API ipx_status ipx_fc_destroy(ipx_fc_t fc);

/// Create a worker pool: start workers-1 threads (the caller of a run is worker 0) and
/// allocate and touch every worker's tile memory, so runs never fault in fresh pages.
/// @param desc      parameters, or NULL for all defaults.
/// @param pool_out  receives the handle; must not be NULL. Set to NULL on failure.
/// @retval IPX_STATUS_SUCCESS, IPX_STATUS_NULL_POINTER, IPX_STATUS_INVALID_WORKERS,
///         IPX_STATUS_INVALID_TILE_BYTES, IPX_STATUS_SIZE_OVERFLOW, IPX_STATUS_MEMORY_LIMIT,
///         IPX_STATUS_OUT_OF_MEMORY, IPX_STATUS_THREAD_ERROR.
/// Thread-safe (creates a new handle).
IPX_API ipx_status ipx_pool_create(const ipx_pool_desc* desc, ipx_pool_t* pool_out);

/// Destroy a pool: stop and join its threads, free its tiles. NULL does nothing.
/// @retval IPX_STATUS_SUCCESS, IPX_STATUS_BUSY (a run is in progress; nothing is freed).
IPX_API ipx_status ipx_pool_destroy(ipx_pool_t pool);

/// Worker count and tile memory per worker of a pool.
/// @param workers, tile_bytes  receive the values; either may be NULL to skip it.
/// @retval IPX_STATUS_SUCCESS, IPX_STATUS_NULL_POINTER (pool is NULL).
/// Thread-safe (immutable fields).
IPX_API ipx_status ipx_pool_get_config(ipx_pool_t pool, uint32_t* workers, uint64_t* tile_bytes);

/// Ask the pool to stop: the run in progress (or, if none, the next run) stops at its next
/// superstep barrier and returns IPX_STATUS_CANCELLED. The request is consumed by that run.
/// @retval IPX_STATUS_SUCCESS, IPX_STATUS_NULL_POINTER.
/// Thread-safe: may be called from any thread while the pool is running.
IPX_API ipx_status ipx_pool_cancel(ipx_pool_t pool);

/// Statistics of the pool's last completed (or cancelled) run.
/// @param totals      receives the totals, or NULL to skip them.
/// @param per_worker  array of `count` entries receiving each worker's counters, or NULL.
/// @param count       entries in per_worker; must be at least the worker count when
///                    per_worker is not NULL.
/// @retval IPX_STATUS_SUCCESS, IPX_STATUS_NULL_POINTER (pool is NULL),
///         IPX_STATUS_INVALID_BUFFER_SIZE (count too small), IPX_STATUS_BUSY (a run is in
///         progress).
IPX_API ipx_status ipx_pool_get_stats(ipx_pool_t pool, ipx_run_stats* totals,
                                      ipx_worker_stats* per_worker, size_t count);

/// Record every run of the pool as trace events (the host's version of an IPU execution
/// trace): each worker's exchange, compute and barrier-wait span of every superstep, its wait
/// for the run to start and the caller's wait for the run to end, in the order workers claim
/// them: together they cover each worker's part of the run's wall time. Runs append to the buffer
/// until the next call; events that do not fit are counted (ipx_pool_get_trace()), never
/// written. Tracing off costs a run one predictable branch per superstep; on, it allocates
/// nothing. ipx_pool_measure_peaks() is not traced.
/// @param events    buffer of capacity events the pool writes during its runs, or NULL (with
///                  capacity 0) to stop tracing. It must stay valid until tracing is stopped
///                  or the pool destroyed; read it only while no run is in progress.
/// @param capacity  events the buffer holds: 1..SIZE_MAX when events is not NULL, 0 when NULL.
/// @retval IPX_STATUS_SUCCESS (counters reset), IPX_STATUS_NULL_POINTER (pool NULL, or events
///         NULL with capacity > 0), IPX_STATUS_INVALID_BUFFER_SIZE (events with capacity 0),
///         IPX_STATUS_BUSY (a run is in progress; nothing changes).
/// Thread-safety: as ipx_conv_run() for the pool.
IPX_API ipx_status ipx_pool_set_trace(ipx_pool_t pool, ipx_trace_event* events, size_t capacity);

/// How much of the trace buffer the runs since ipx_pool_set_trace() filled.
/// @param recorded  receives the events written (the buffer's first entries), or NULL.
/// @param dropped   receives the events that did not fit, or NULL.
/// @retval IPX_STATUS_SUCCESS (both 0 when tracing is off), IPX_STATUS_NULL_POINTER (pool
///         NULL), IPX_STATUS_BUSY (a run is in progress).
/// Thread-safety: as ipx_conv_run() for the pool.
IPX_API ipx_status ipx_pool_get_trace(ipx_pool_t pool, size_t* recorded, uint64_t* dropped);

/// Measure the host's limits on a pool: the FP32 FMA peak (independent FMA chains in
/// registers on every worker at once; each worker's best of 5 on its own thread CPU clock,
/// summed), the STREAM-triad bandwidth over three arrays of
/// array_bytes each (split among the workers, best of 5 after a warm-up), and the triad
/// inside tile memory. Takes about a second; allocates and touches the arrays (this is a
/// measurement, not a convolution run).
/// @param array_bytes  bytes per triad array, 0 = 64 MiB; 4096..2^36. Use several times the
///                     last-level cache.
/// @param flags        0 or IPX_FLAG_PORTABLE (measure the portable loops).
/// @param out          receives the results; must not be NULL.
/// @retval IPX_STATUS_SUCCESS, IPX_STATUS_NULL_POINTER, IPX_STATUS_INVALID_FLAGS,
///         IPX_STATUS_INVALID_BUFFER_SIZE, IPX_STATUS_MEMORY_LIMIT (3 arrays exceed the pool's
///         memory_limit), IPX_STATUS_OUT_OF_MEMORY, IPX_STATUS_BUSY, IPX_STATUS_CANCELLED.
/// Thread-safety: as ipx_conv_run() for the pool.
IPX_API ipx_status ipx_pool_measure_peaks(ipx_pool_t pool, uint64_t array_bytes, int32_t flags,
                                          ipx_host_peaks* out);

#ifdef __cplusplus
}
#endif

#endif /* IPX_H */
