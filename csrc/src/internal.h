/* Private declarations shared by the ipx sources; never included by ipx.h. */
#ifndef IPX_INTERNAL_H
#define IPX_INTERNAL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_gettime, sched_yield, sysconf */
#endif

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "ipx.h"

#define IPX_CACHE_LINE 64
/* Tile regions start on cache-line boundaries (in floats). */
#define IPX_ALIGN_FLOATS 16

static inline uint64_t ipx__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline int64_t ipx__round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
static inline int64_t ipx__div_up(int64_t x, int64_t m) { return (x + m - 1) / m; }
static inline int64_t ipx__min(int64_t a, int64_t b) { return a < b ? a : b; }
/* Saturating multiply: tile-footprint checks of huge layers then report "does not fit"
   instead of overflowing. */
static inline int64_t ipx__smul(int64_t a, int64_t b) {
    int64_t r;
    return __builtin_mul_overflow(a, b, &r) ? INT64_MAX / 4 : r;
}
/* Floats rounded up so every tile region starts on a 64-byte boundary. */
static inline size_t ipx__align_floats(int64_t x) { return (size_t)ipx__round_up(x, IPX_ALIGN_FLOATS); }
static inline int64_t ipx__max(int64_t a, int64_t b) { return a > b ? a : b; }
/* Worker w's claims [*lo, *hi) of `claims` split among `workers` in contiguous ranges: how the
   pool hands out a pass (pool.c assign_ranges), and so how the plans that model the busiest
   worker (forward.c busiest_share, fused_pair.c pair_busiest_flops) must split it. */
static inline void ipx__worker_range(int64_t claims, int64_t w, int64_t workers, int64_t* lo, int64_t* hi) {
    *lo = claims * w / workers;
    *hi = claims * (w + 1) / workers;
}

/* ---- pool (pool.c) ---- */

/* Work function a pool runs on every worker; returns nothing, reports through ctx. */
typedef void (*ipx__job_fn)(void* ctx, uint32_t worker);

/* One worker's counters and hand-off state, padded to its own cache lines so workers never
   share a line. */
typedef struct ipx__worker_slot {
    ipx_worker_stats stats;
    _Atomic uint64_t done_ns; /* when it finished its share of the current run (0: not yet) */
    _Atomic uint64_t range;   /* the running pass's claims it has left: first | end << 32 */
    _Atomic int32_t cpu;      /* the CPU it last ran its share on (sched_getcpu; -1 unknown) */
    char pad[IPX_CACHE_LINE * 2 - sizeof(ipx_worker_stats) - 2 * sizeof(uint64_t) - sizeof(int32_t)];
} ipx__worker_slot;

struct ipx_pool {
    uint32_t workers;
    uint64_t tile_bytes;
    uint64_t memory_limit; /* 0 = none */
    float* tiles;          /* workers * tile_stride floats, one block per worker */
    size_t tile_stride;    /* floats between two workers' tiles (page multiple) */
    pthread_t* threads;    /* workers - 1 threads; worker 0 is the caller */
    uint32_t threads_started;
    /* Hand-offs: a run is published by setting open_run and run_gen to its generation
       (workers wait for run_gen to change); a worker joins it by counting itself in active,
       then checking that open_run still holds its generation. The caller, its own share done,
       closes the run (open_run = 0) and waits for active to fall to 0: a worker that was not
       running yet skips the run instead of being waited for. Who sleeps on the condition
       variables says so in sleepers / caller_sleeps, so that a wake-up costs a system call
       only when someone sleeps. */
    pthread_mutex_t mutex;
    pthread_cond_t run_cond, done_cond;
    bool sync_ready;
    bool oversubscribed;   /* more workers than CPUs: yield while spinning */
    _Atomic uint32_t run_gen;
    _Atomic uint32_t open_run;
    _Atomic uint32_t active;
    _Atomic uint32_t finished; /* workers (not the caller) that ran their share of the run */
    _Atomic uint32_t sleepers;
    _Atomic int caller_sleeps;
    ipx__job_fn job;
    void* job_ctx;
    _Atomic int shutdown;
    _Atomic int cancel;
    _Atomic int in_use;
    int64_t claim_blocks;       /* blocks per claim of the running pass (see pool.c) */
    ipx__worker_slot* slots;
    ipx_run_stats last;
    /* Trace (ipx_pool_set_trace): NULL = off. Workers claim slots with trace_next; claims
       past trace_capacity are counted, not written. trace_run numbers the traced runs. */
    ipx_trace_event* trace;
    size_t trace_capacity;
    _Atomic uint64_t trace_next;
    uint32_t trace_run;
    uint64_t run_start_ns; /* start of the current run (the driver's clock) */
    uint64_t run_end_ns;   /* when the caller saw every worker finished */
};

/* Runs job on every worker (caller = worker 0) and returns when all finished (each slot's
   done_ns says when, pool->run_end_ns when the caller saw the last). Resets the per-worker
   counters first. Returns whether the run was cancelled (a cancel pending at its end). Passes
   (ipx__pool_run_pass) run on the workers that start before the caller has finished its
   share: their blocks are handed out dynamically. */
bool ipx__pool_run(ipx_pool_t pool, ipx__job_fn job, void* ctx);
static inline float* ipx__pool_tile(ipx_pool_t pool, uint32_t worker) {
    return pool->tiles + (size_t)worker * pool->tile_stride;
}
static inline ipx_worker_stats* ipx__pool_stats(ipx_pool_t pool, uint32_t worker) {
    return &pool->slots[worker].stats;
}
/* In-use guard: 1 if acquired, 0 if someone holds it. */
static inline int ipx__try_acquire(_Atomic int* flag) {
    int expected = 0;
    return atomic_compare_exchange_strong(flag, &expected, 1);
}
static inline void ipx__release(_Atomic int* flag) { atomic_store(flag, 0); }

/* A block of work: what one worker computes in one superstep (or, for backward weights, the
   slice of a block's reduction one superstep adds). */
typedef struct ipx__block {
    int64_t n;       /* image */
    int64_t g0, gb;  /* first group, groups in block */
    int64_t k0, kb;  /* first output channel within the group, channels (gb > 1 only when
                        kb covers whole groups) */
    int64_t p0, pb;  /* first output row, rows */
} ipx__block;

/* One worker's superstep, as the driver hands it to a pass's phases. */
typedef struct ipx__step {
    int64_t block, chunk;     /* block index, and which of its `chunks` supersteps */
    bool fresh;               /* the worker's first superstep of this run */
    float* tile;              /* the worker's tile memory */
    ipx_worker_stats* stats;  /* the worker's counters (bytes, FLOPs: the phases count) */
    ipx__block b;             /* set by the exchange phase for the compute phase */
    int64_t in_key, w_key;    /* what the tile holds, in the pass's keys (-1: nothing) */
} ipx__step;

/* A pass as the pool runs it: `blocks` handed out to the workers (owner first, pool.c),
   `claim` consecutive blocks at a time (0: one), each block `chunks` steps long on the worker
   that claimed it; a step is an exchange phase (copies into tile memory) and a compute phase
   (tile memory only, then the block's outputs written); the run ends when no block is left
   and every worker has finished its last.
   Blocks must not depend on each other. Callers embed it first in their own context. */
typedef struct ipx__pass {
    ipx_pool_t pool;
    int64_t blocks, chunks, claim;
    void (*exchange)(const struct ipx__pass* pass, ipx__step* s);
    void (*compute)(const struct ipx__pass* pass, ipx__step* s);
    int32_t kernel, algorithm; /* what the statistics report */
} ipx__pass;

/* The one driver: runs pass on every worker when plan_status is SUCCESS (the pass's blocks
   were planned), timing each phase and the waits, and leaves the run's
   statistics in pool->last (a failed plan leaves zeros and its status). Returns the run's
   status (CANCELLED when a cancel stopped it). The caller holds the in-use guards. */
ipx_status ipx__pool_run_pass(ipx__pass* pass, ipx_status plan_status);

/* ---- handles and kernels ---- */

/* Instruction set for a new handle (isa.c): an ipx_isa value. */
int32_t ipx__pick_isa(bool portable);
#define IPX__ISA_COUNT 3

/* Tiling of a layer for a pool: how big a block is and where it lives in tile memory. */
typedef struct ipx__plan {
    int64_t gb, kb, pb;          /* block sizes: groups, output channels, rows */
    int64_t n_gblk, n_kblk, n_pblk;
    int64_t blocks;              /* n * n_gblk * n_kblk * n_pblk */
    int64_t rows_in;             /* input rows a full block reads */
    int64_t row_len;             /* floats per tile input row (per phase for the row kernel) */
    int64_t panel;               /* pointwise kernel: pixels per input panel (0: input rows) */
    int64_t panel_floats;        /* pointwise kernel: floats from one input panel to the next */
    int64_t in_data, wt_data;    /* floats of input data (unpadded) and weights a block reads */
    size_t in_off, w_off, b_off, out_off, end; /* tile regions, in floats */
} ipx__plan;

/* Tile floats a layout needs when any region is this large: "does not fit" (saturated). */
#define IPX__TILE_HUGE (INT64_MAX / 4)

/* Lays a block's regions out in tile memory in order (input rows, weights, bias, outputs;
   each aligned), fills plan when it is not NULL and returns the floats used (IPX__TILE_HUGE
   when a region is absurdly large). in_data: the input floats without the layout's padding. */
static inline int64_t ipx__plan_layout(ipx__plan* plan, int64_t rows_in, int64_t row_len,
                                       int64_t in_data, int64_t in, int64_t wt, int64_t nbias,
                                       int64_t out) {
    if (plan) {
        plan->rows_in = rows_in;
        plan->row_len = row_len;
        plan->panel = 0;
        plan->panel_floats = 0;
        plan->in_data = in_data;
        plan->wt_data = wt;
    }
    if (in >= INT64_MAX / 8 || wt >= INT64_MAX / 8 || out >= INT64_MAX / 8) return IPX__TILE_HUGE;
    size_t w_off = ipx__align_floats(in);
    size_t b_off = w_off + ipx__align_floats(wt);
    size_t out_off = b_off + ipx__align_floats(nbias);
    size_t end = out_off + ipx__align_floats(out);
    if (plan) {
        plan->in_off = 0;
        plan->w_off = w_off;
        plan->b_off = b_off;
        plan->out_off = out_off;
        plan->end = end;
    }
    return (int64_t)end;
}

/* One step of shrinking a block (gb groups x kb output channels x pb output rows) that does
   not fit tile memory: groups first, then output channels (halved in multiples of kmin;
   kmin = kb: never) when they dominate the tile (k_big) or the block is one row, then rows.
   Returns false when nothing is left to halve. */
static inline bool ipx__halve_block(int64_t* gb, int64_t* kb, int64_t* pb, int64_t kmin, bool k_big) {
    if (*gb > 1)
        *gb = ipx__div_up(*gb, 2);
    else if (*kb > kmin && (k_big || *pb == 1))
        *kb = ipx__round_up(ipx__div_up(*kb, 2), kmin);
    else if (*pb > 1)
        *pb = ipx__div_up(*pb, 2);
    else
        return false;
    return true;
}

/* Records the block sizes in plan and how many blocks cut g groups, k_all output channels
   and p output rows. */
static inline void ipx__plan_blocks(ipx__plan* plan, int64_t g, int64_t k_all, int64_t p, int64_t gb,
                                    int64_t kb, int64_t pb) {
    plan->gb = gb;
    plan->kb = kb;
    plan->pb = pb;
    plan->n_gblk = ipx__div_up(g, gb);
    plan->n_kblk = ipx__div_up(k_all, kb);
    plan->n_pblk = ipx__div_up(p, pb);
}

/* What an exchange copies: bits of its `loads` argument. */
enum {
    IPX__LOAD_INPUT = 1,   /* the block's input rows (the tile holds other rows) */
    IPX__LOAD_WEIGHTS = 2, /* its weights and bias */
    IPX__FRESH_TILE = 4,   /* the worker's first block of this run: the tile holds another
                              run's data */
};

struct ipx_conv;

/* A forward run's epilogue as the kernels see it: out = act(out + residual) (residual laid
   out as the output, or NULL), and each output channel's sum of results added to
   channel_sums[n * k + channel] (with ipx__add_float) when not NULL. */
typedef struct ipx__epilogue {
    const float* residual;
    float* channel_sums;
    int32_t activation;
} ipx__epilogue;

/* A forward kernel's operations in one instruction-set build, chosen at create: the handle
   never tests its kernel or ISA again. */
typedef struct ipx__kernel {
    int32_t id;        /* the ipx_kernel value statistics report */
    int32_t k_vector;  /* blocks hold a group's output channels in multiples of this (the
                          channel kernel's vectors of 8); 0: always all of them */
    /* pack (at create): weights and bias from PyTorch's layout into the kernel's
       (cv->weight_len and cv->bias_len floats; bias NULL: zeros). */
    void (*pack)(const struct ipx_conv* cv, const float* weight, const float* bias, float* wpack,
                 float* bpack);
    /* plan: floats of tile memory for a block of gb groups x kb output channels x pb output
       rows; lays the regions out in plan when it is not NULL. */
    int64_t (*plan)(const struct ipx_conv* cv, int64_t gb, int64_t kb, int64_t pb, ipx__plan* plan);
    /* exchange: copies what `loads` asks for of block b into the tile; returns the floats
       copied in. */
    uint64_t (*exchange)(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                         const float* input, float* tile, unsigned loads);
    /* compute and write: the block's outputs from the tile into output (NCHW). */
    void (*compute)(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                    float* tile, float* output);
    /* compute with the epilogue applied while the results are in registers (NULL: the kernel
       has none, and the forward pass makes a second pass over the block's outputs). */
    void (*compute_fused)(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                          float* tile, float* output, const ipx__epilogue* e);
    /* The forward planner splits a block's rows for more blocks only while each keeps at
       least this many output pixels, else its output channels (0: rows first, as before). */
    int64_t min_block_pixels;
    /* The forward planner cuts a layer's groups into blocks of a multiple of this many while
       there are more (0: any count). */
    int64_t g_vector;
    /* The kernel a run uses instead when tile memory cannot hold one block of this one, on
       the same handle and packed weights (NULL: none; the run fails with TILE_TOO_SMALL). */
    const struct ipx__kernel* fallback;
    /* Multiplies the block's input channels in the tile by scale[n * c + channel] (a
       squeeze-excite scale applied in the exchange). NULL: the tile input holds each
       channel's rows_in rows of row_len floats one after the other (the channel and
       pointwise kernels' layout). */
    void (*scale_input)(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b, float* tile,
                        const float* scale);
    /* Floats pack writes to wpack where the kernel keeps more than the weights (NULL: g * kg
       rounded up to k_vector * cg * r * s). */
    int64_t (*weight_floats)(const ipx_conv_desc* d);
    /* exchange with the block's input channels multiplied by scale[channel - first of the
       block] as they are copied in (NULL: the forward pass copies, then scales the tile). */
    uint64_t (*exchange_scaled)(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                                const float* input, float* tile, unsigned loads, const float* scale);
} ipx__kernel;


/* *dst += v for a float other workers add to at the same time (compare-and-swap on its bits). */
void ipx__add_float(float* dst, float v);

/* The kernels, one table entry per ipx_isa. Row kernel (kernel_row.c): depthwise, channel
   multipliers, < 8 in or < 8 out per group; its exchange zeroes the whole input region on
   a fresh tile, later blocks copy only the data and zero only whole padding rows (padding
   columns are never written, so they stay zero); plan->gb must be the largest block's group
   count. Channel kernel (kernel_channel.c): >= 8 in, >= 8 out per group, vectorised over
   output channels. GEMM lowering (kernel_gemm.c): im2col into tile memory + blocked SGEMM. */
extern const ipx__kernel ipx__row_kernel[IPX__ISA_COUNT];
extern const ipx__kernel ipx__channel_kernel[IPX__ISA_COUNT];
extern const ipx__kernel ipx__gemm_kernel[IPX__ISA_COUNT];
/* Winograd F(2x2, 3x3) (kernel_winograd.c): one group, >= 8 in and out, 3x3, stride and
   dilation 1, the channel kernel's tile input; what ipx__winograd_supports accepts. */
extern const ipx__kernel ipx__winograd_kernel[IPX__ISA_COUNT];
bool ipx__winograd_supports(const ipx_conv_desc* d, bool upsampled);
/* The channel kernel's path for 1x1 convolutions without padding (kernel_pointwise.c):
   pixels vectorised, the tile input a [c][pixels] matrix. Reports IPX_KERNEL_CHANNEL. */
extern const ipx__kernel ipx__pointwise_kernel[IPX__ISA_COUNT];
/* The pointwise kernel's compute on an im2col of the input (kernel_pointwise.c): one-group
   layers with fewer than 8 input channels (stems). Reports IPX_KERNEL_GEMM. */
extern const ipx__kernel ipx__im2col_kernel[IPX__ISA_COUNT];
/* Channel-blocked depthwise kernel (kernel_nchwc.c): 3x3 and 5x5, stride 1 or 2, on the maps
   where it beats the row kernel in the ISA's build (ipx__nchwc_supports; pixels: p * q).
   Reports IPX_KERNEL_ROW (a depthwise path); its tile input is [c/16][rows][cols][16]. Its
   packed weights are PyTorch's layout, which its fallback (the row kernel, for a tile too
   small for one channel block) reads, followed by a [c/16][taps][16] copy for itself. */
extern const ipx__kernel ipx__nchwc_kernel[IPX__ISA_COUNT];
bool ipx__nchwc_supports(const ipx_conv_desc* d, bool upsampled, int64_t pixels, int32_t isa);
/* pack for kernels that keep PyTorch's layout (row, GEMM): a copy. */
void ipx__pack_as_is(const struct ipx_conv* cv, const float* weight, const float* bias,
                     float* wpack, float* bpack);
/* pack of the channel and pointwise kernels: per group, blocks of 8 output channels (zero
   beyond kg), [g][kg8/8][cg*r*s][8]; bias [g][kg8]. */
void ipx__pack_k8(const struct ipx_conv* cv, const float* weight, const float* bias, float* wpack,
                  float* bpack);

/* Backward weights' kernel (backward_weights.c), chosen at create like the forward one. */
struct ipx__bw_kernel;
const struct ipx__bw_kernel* ipx__bw_kernel_for(const struct ipx_conv* cv);
uint64_t ipx__bw_min_tile_bytes(const struct ipx_conv* cv);

struct ipx_conv {
    /* Geometry the kernels compute. For a backward-data handle (bwd below) it is the
       equivalent forward convolution over the upsampled gradient: pads may be negative and
       uh x uw is the input upsampling (zeros between rows/columns; 1 for forward). */
    ipx_conv_desc d;
    int64_t uh, uw;
    int64_t p, q, cg, kg;       /* output size, channels per group in / out */
    int32_t isa, algorithm;
    const ipx__kernel* kernel;  /* forward (and, on bwd, backward-data) kernel, this ISA */
    const struct ipx__bw_kernel* bw_kernel; /* backward weights */
    float* weight;              /* row kernel: [k][cg][r][s]; channel kernel: packed */
    float* bias;                /* k floats (row) or g * kg8 floats (channel); zeros if none */
    int64_t kg8;                /* kg rounded up to 8 (channel kernel) */
    size_t weight_len, bias_len;
    uint64_t flops, min_bytes, allocated_bytes;
    struct ipx_conv* bwd;       /* backward-data handle (IPX_FLAG_BACKWARD), or NULL */
    _Atomic int in_use;
};

/* cv on its kernel's fallback (view filled and returned), or NULL when the kernel has none. */
static inline const struct ipx_conv* ipx__fallback_view(const struct ipx_conv* cv, struct ipx_conv* view) {
    if (cv->kernel->fallback == NULL) return NULL;
    memcpy(view, cv, sizeof *view);
    view->kernel = cv->kernel->fallback;
    return view;
}

/* In-use guards of a handle and a pool for one run: both or neither (BUSY). */
static inline ipx_status ipx__acquire_pair(struct ipx_conv* conv, ipx_pool_t pool) {
    if (!ipx__try_acquire(&conv->in_use)) return IPX_STATUS_BUSY;
    if (!ipx__try_acquire(&pool->in_use)) {
        ipx__release(&conv->in_use);
        return IPX_STATUS_BUSY;
    }
    return IPX_STATUS_SUCCESS;
}
static inline void ipx__release_pair(struct ipx_conv* conv, ipx_pool_t pool) {
    ipx__release(&pool->in_use);
    ipx__release(&conv->in_use);
}

/* ---- tile rows (tile_rows.c): the zero-padded input rows of the row and channel kernels ---- */

/* Input rows a block of pb output rows reads. */
static inline int64_t ipx__rows_in(const ipx_conv_desc* d, int64_t pb) {
    return (pb - 1) * d->stride_h + (d->r - 1) * d->dilation_h + 1;
}

/* Source row for tile row `up` (a row of the upsampled, padded input), or NULL for zeros. */
static inline const float* ipx__src_row(const struct ipx_conv* cv, const float* plane, int64_t up) {
    if (cv->uh == 1) /* forward and stride-1 backward data: no division */
        return up < 0 || up >= cv->d.h ? NULL : plane + up * cv->d.w;
    if (up < 0 || up % cv->uh != 0 || up / cv->uh >= cv->d.h) return NULL;
    return plane + (up / cv->uh) * cv->d.w;
}
/* Fill one tile row: padded column j holds input column (j - pl) / uw when that divides
   exactly and is in range, else zero; split into sw phases of row_len (j -> phase j % sw,
   index j / sw). src NULL gives a zero row. */
void ipx__fill_row(float* dst, const float* src, int64_t w, int64_t pl, int64_t uw, int64_t sw,
                   int64_t row_len);
/* The same without upsampling (uw = 1), padding with `fill` instead of zero. */
void ipx__fill_row_with(float* dst, const float* src, int64_t w, int64_t pl, int64_t sw, int64_t row_len,
                        float fill);

#endif
