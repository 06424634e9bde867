/* Descriptor versions: each descriptor starts with struct_size, so a library built from a
   later header (more fields at the end) still reads what an older program set, and an older
   library refuses a newer program only when it asks for something the library lacks. */
#include "desc.h"

#include <string.h>

ipx_status ipx__read_desc(void* dst, size_t dst_size, size_t min_size, const void* src) {
    uint32_t size;
    memcpy(&size, src, sizeof size); /* struct_size is every descriptor's first field */
    size_t n = size == 0 ? dst_size : size;
    if (n < min_size) return IPX_STATUS_UNSUPPORTED;
    const unsigned char* extra = (const unsigned char*)src + dst_size;
    for (size_t i = 0; dst_size + i < n; i++)
        if (extra[i] != 0) return IPX_STATUS_UNSUPPORTED;
    memset(dst, 0, dst_size);
    memcpy(dst, src, n < dst_size ? n : dst_size);
    return IPX_STATUS_SUCCESS;
}
