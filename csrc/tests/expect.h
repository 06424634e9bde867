/* What the depthwise and pooling test programs share: a failure counter with EXPECT, and
   reproducible inputs in [-1, 1). */
#ifndef IPX_TESTS_EXPECT_H
#define IPX_TESTS_EXPECT_H

#include <stdio.h>

static int failures;
#define EXPECT(cond)                                                                     \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            failures++;                                                                  \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);          \
        }                                                                                \
    } while (0)

static inline float frand(unsigned* seed) {
    *seed = *seed * 1103515245u + 12345u;
    return (float)(*seed >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
}

#endif
