/* The engine's activations in double, the reference the C tests compare against
   (alpha, beta: hardsigmoid's slope and offset; unused by the others). */
#ifndef IPX_TESTS_ACT_REF_H
#define IPX_TESTS_ACT_REF_H

#include <math.h>

#include "ipx.h"

static double act_ref(double x, int act, double alpha, double beta) {
    double s = 1.0 / (1.0 + exp(-x)), t = alpha * x + beta;
    switch (act) {
    case IPX_ACTIVATION_RELU: return x > 0 ? x : 0;
    case IPX_ACTIVATION_RELU6: return x < 0 ? 0 : x > 6 ? 6 : x;
    case IPX_ACTIVATION_SIGMOID: return s;
    case IPX_ACTIVATION_SILU: return x * s;
    case IPX_ACTIVATION_HARDSWISH: return x * (x + 3 < 0 ? 0 : x + 3 > 6 ? 6 : x + 3) / 6;
    case IPX_ACTIVATION_HARDSIGMOID: return t < 0 ? 0 : t > 1 ? 1 : t;
    default: return x;
    }
}

#endif
