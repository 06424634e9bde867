/* Reading a caller's descriptor whatever version of the header it was compiled with. */
#ifndef IPX_DESC_H
#define IPX_DESC_H

#include "ipx.h"

#include <stddef.h>

/* Sizes of the first published layouts (0.1): the end of their last field. They stay fixed
   when fields are appended, so callers compiled against 0.1 keep working. */
#define IPX_CONV_DESC_SIZE_0_1 (offsetof(ipx_conv_desc, memory_limit) + sizeof(uint64_t))
#define IPX_POOL_DESC_SIZE_0_1 (offsetof(ipx_pool_desc, memory_limit) + sizeof(uint64_t))

/* Copies the descriptor src into dst (dst_size bytes: this library's layout). src's first
   field is its struct_size: 0 means dst_size; smaller than min_size (the first published
   layout) is IPX_STATUS_UNSUPPORTED; fields past it read as zero; bytes past dst_size (fields
   of a newer header) must be zero, else IPX_STATUS_UNSUPPORTED. */
ipx_status ipx__read_desc(void* dst, size_t dst_size, size_t min_size, const void* src);

#endif
