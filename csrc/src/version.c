// The library's version, from the header's macros (the one place it is written).
#include "ipx.h"

#define IPX_STR_(x) #x
#define IPX_STR(x) IPX_STR_(x)

const char* ipx_version_string(void) {
    return IPX_STR(IPX_VERSION_MAJOR) "." IPX_STR(IPX_VERSION_MINOR) "." IPX_STR(IPX_VERSION_PATCH);
}

uint32_t ipx_version(void) { return IPX_VERSION; }
