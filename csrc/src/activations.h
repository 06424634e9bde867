/* The activations of epilogue.h for one vector width, included once per width with V (the float
   vector type), I (its int32 twin) and F(name) (the functions' names) defined; no include guard. */
IPX_INLINE V F(splat)(float x) { return (V){0} + x; }
/* a where mask (all ones) else b: C has no vector ?:, so select through the bits. */
IPX_INLINE V F(select)(I mask, V a, V b) {
    I ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    ia = (ia & mask) | (ib & ~mask);
    memcpy(&a, &ia, sizeof a);
    return a;
}
/* a > b ? a : b per lane (a NaN in either: b), and min the same with <. ISA, the calling build's
   ipx_isa (a constant): the x86 builds with AVX use the max and min instructions, whose lane
   semantics these are (epilogue.h), so every build gives the same bits. */
IPX_INLINE V F(max)(V a, V b, const int ISA) {
    (void)ISA; /* the select everywhere but GCC's x86 builds */
#if IPX_X86_MINMAX
    if (ISA != IPX_ISA_PORTABLE) return F(x86_max)(a, b, ISA);
#endif
    return F(select)(a > b, a, b);
}
IPX_INLINE V F(min)(V a, V b, const int ISA) {
    (void)ISA;
#if IPX_X86_MINMAX
    if (ISA != IPX_ISA_PORTABLE) return F(x86_min)(a, b, ISA);
#endif
    return F(select)(a < b, a, b);
}

/* x clamped to [lo, hi]; NaN stays NaN (it fails both comparisons and passes through). */
IPX_INLINE V F(clamp)(V x, float lo, float hi, const int ISA) {
    x = F(max)(F(splat)(lo), x, ISA); /* lo > x ? lo : x */
    return F(min)(F(splat)(hi), x, ISA);
}

/* exp(x) for x in [-88, 88] (callers clamp; NaN gives NaN). x = n ln2 + r with n the nearest
   integer to x / ln2: adding 1.5 * 2^23 rounds x / ln2 to an integer, which lands in the low
   bits of the sum's mantissa (with the exponent bias 127 added alongside), and a shift by 23
   moves those bits into a float's exponent field: 2^n, no conversion instructions. r = x - n ln2
   in two steps (ln2's first 9 bits times n is exact), |r| <= ln2/2, and exp(r) = 1 + r + ... by
   a degree-6 polynomial whose coefficients were fitted for the least maximum relative error
   on that interval (scripts/fit_exp_poly.py: 3.8e-9 in exact arithmetic, below float's 6e-8
   rounding); n + 127 = 0 at x = -88 gives 2^n = 0, exp's underflow. */
IPX_INLINE V F(exp)(V x) {
    const float shifter = 12582912.0f + 127.0f; /* 1.5 * 2^23, bias included */
    V t = x * F(splat)(1.44269504088896341f) + F(splat)(shifter);
    V fn = t - F(splat)(shifter);
    V r = x - fn * F(splat)(0.693359375f) - fn * F(splat)(-2.12194440e-4f);
    V p = F(splat)(1.381461276e-3f);
    p = p * r + F(splat)(8.368710056e-3f);
    p = p * r + F(splat)(4.166838899e-2f);
    p = p * r + F(splat)(1.666652113e-1f);
    p = p * r + F(splat)(4.999999404e-1f);
    p = p * r + F(splat)(1.0f);
    p = p * r + F(splat)(1.0f);
    I bits;
    memcpy(&bits, &t, sizeof bits);
    bits <<= 23; /* n + 127 into the exponent; the shifter's own bits leave at the top */
    V scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* 1 + exp(-x), the sigmoid's denominator; the clamp keeps exp finite (sigmoid(-87) is 1.6e-38,
   the limit 0 to within float's normal range). A division, not a reciprocal estimate refined
   by Newton steps: on this Zen 4 the divider runs beside the FMA pipes, and the estimate and its
   two FMAs cost more than the division (a SiLU loop on 8-float vectors: 0.39 ns per float with
   the division, 0.48 with vrcp14ps and a Newton step, 0.46 with vrcpps). */
IPX_INLINE V F(sigmoid_denominator)(V x, const int ISA) {
    return F(splat)(1.0f) + F(exp)(-F(clamp)(x, -87.0f, 87.0f, ISA));
}

/* 1 / (1 + exp(-x)) (F(sigmoid_denominator)). */
IPX_INLINE V F(sigmoid)(V x, const int ISA) { return F(splat)(1.0f) / F(sigmoid_denominator)(x, ISA); }

/* act(x); ISA as for F(max). */
IPX_INLINE V F(activation)(V x, int32_t act, const int ISA) {
    switch (act) {
    case IPX_ACTIVATION_RELU: return F(max)(x, F(splat)(0.0f), ISA);
    case IPX_ACTIVATION_RELU6: return F(min)(F(max)(x, F(splat)(0.0f), ISA), F(splat)(6.0f), ISA);
    case IPX_ACTIVATION_SIGMOID: return F(sigmoid)(x, ISA);
    case IPX_ACTIVATION_SILU: return x / F(sigmoid_denominator)(x, ISA); /* one rounding */
    case IPX_ACTIVATION_HARDSWISH:
        return x * F(min)(F(max)(x + F(splat)(3.0f), F(splat)(0.0f), ISA), F(splat)(6.0f), ISA) *
               F(splat)(1.0f / 6.0f);
    default: return x;
    }
}

#undef V
#undef I
#undef F
