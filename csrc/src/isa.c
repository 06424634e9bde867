/* The instruction sets of this CPU and the one a new handle's kernels use. */
#include "internal.h"

#include <stdlib.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
int ipx_cpu_has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
int ipx_cpu_has_avx512(void) {
    __builtin_cpu_init();
    return ipx_cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512vl");
}
#else
int ipx_cpu_has_avx2(void) { return 0; }
int ipx_cpu_has_avx512(void) { return 0; }
#endif

/* The instruction set a handle's kernels use: the best the CPU has, unless the flag or
   IPX_FORCE_PORTABLE=1 asks for the portable path, or IPX_FORCE_AVX2=1 caps it at AVX2. */
static bool env_set(const char* name) {
    const char* v = getenv(name);
    return v && v[0] && v[0] != '0';
}
int32_t ipx__pick_isa(bool portable) {
    if (portable || env_set("IPX_FORCE_PORTABLE") || !ipx_cpu_has_avx2()) return IPX_ISA_PORTABLE;
    if (!env_set("IPX_FORCE_AVX2") && ipx_cpu_has_avx512()) return IPX_ISA_AVX512;
    return IPX_ISA_AVX2;
}
