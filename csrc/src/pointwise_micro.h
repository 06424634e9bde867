/* The pointwise kernel's register block (kernel_pointwise.c) for one vector width, included
   once per width with V (the float vector type), VL (its floats) and F(name) (the functions'
   names) defined; no include guard. The AVX-512 build runs the 16-float one (zmm registers:
   half the instructions per FMA of two 8-float ones), the others the 8-float one.

   MR channels x NV pixel vectors: out[m][0 .. nvalid) = act(bias[m] + sum_c w[c*8 + m] * x[c][..]
   + res[m][..]) (res NULL: nothing added; ACT a constant per build, none when not fused), and
   each stored channel's results added to sums[m*VL ..] (VL floats per channel, when not NULL).
   x's channels are xk floats apart and its pixel vectors xv (input rows: npad and VL; panels:
   VL and K * VL, kernel_pointwise.c), w is an 8-channel packed block (offset to the block's first of MR);
   only the first `mstore` channels are real (the rest pad kg up to 8) and stored. The
   epilogue's operations are the separate pass's (epilogue.c), so the outputs do not depend on
   which one applied it. */
IPX_INLINE void F(pw_micro)(const float* x, int64_t xk, int64_t xv, const float* w, const float* bias, int64_t cg,
                            float* out, const float* res, float* sums, int64_t plane, int64_t nvalid,
                            int64_t mstore, const int MR, const int NV, const int32_t ACT,
                            const int ISA) {
    V acc[PW_MR_MAX][PW_NV_MAX];
    for (int m = 0; m < MR; m++)
        for (int v = 0; v < NV; v++) acc[m][v] = F(splat)(bias[m]);
    for (int64_t c = 0; c < cg; c++, x += xk, w += 8) {
        V xs[PW_NV_MAX];
        for (int v = 0; v < NV; v++) xs[v] = F(load)(x + xv * v);
        for (int m = 0; m < MR; m++) {
            const float wm = w[m];
            for (int v = 0; v < NV; v++) acc[m][v] += xs[v] * wm;
        }
    }
    if (nvalid == NV * VL && mstore == MR) {
        for (int m = 0; m < MR; m++)
            for (int v = 0; v < NV; v++) {
                V a = acc[m][v];
                if (res) a += F(load)(res + m * plane + VL * v);
                a = F(activation)(a, ACT, ISA);
                if (sums) F(store)(sums + m * VL, F(load)(sums + m * VL) + a);
                F(store)(out + m * plane + VL * v, a);
            }
        return;
    }
    /* a partial block: the accumulators leave their registers by constant indices first (a
       loop over m < mstore indexing acc kept the whole array on the stack, the hot loop too) */
    float t[PW_MR_MAX][PW_NV_MAX * VL];
    for (int m = 0; m < MR; m++)
        for (int v = 0; v < NV; v++) F(store)(t[m] + VL * v, acc[m][v]);
    const int64_t n = ipx__min(nvalid, NV * VL);
    for (int m = 0; m < MR && m < mstore; m++) {
        float* o = out + m * plane;
        float tmp[PW_NV_MAX * VL], rtmp[PW_NV_MAX * VL] = {0};
        if (res)
            for (int64_t i = 0; i < n; i++) rtmp[i] = res[m * plane + i];
        for (int v = 0; v < NV; v++) {
            V a = F(load)(t[m] + VL * v);
            if (res) a += F(load)(rtmp + VL * v);
            F(store)(tmp + VL * v, F(activation)(a, ACT, ISA));
        }
        for (int64_t i = 0; i < n; i++) o[i] = tmp[i];
        if (sums) {
            for (int64_t i = n; i < NV * VL; i++) tmp[i] = 0.0f; /* lanes past the strip: not results */
            for (int v = 0; v < NV; v++) F(store)(sums + m * VL, F(load)(sums + m * VL) + F(load)(tmp + VL * v));
        }
    }
}

/* The register blocks of one strip's pixels [p0, p0 + spix - tail) (tail: the last pixels,
   left to pw_tail_pixel) for MR output channels from m0: the pixel vectors in equal chunks of
   at most NVMAX (7 vectors: 3 + 2 + 2, not 3 + 3 + 1, whose 1-vector block loads a weight for
   every FMA); each channel's sum of results added to S[m0 + m] when S is not NULL. */
IPX_INLINE void F(pw_sweep)(const float* X, int64_t xk, int64_t xv, const float* w, const float* B, int64_t kdim,
                            float* Y, const float* R, float* S, int64_t plane, int64_t npix, int64_t p0,
                            int64_t spix, int64_t tail, int64_t m0, int64_t mstore, const int MR,
                            const int NVMAX, const int32_t ACT, const int ISA) {
    const int64_t vectors = (spix - tail) / VL + ((spix - tail) % VL != 0);
    const int64_t chunks = ipx__div_up(vectors, NVMAX);
    const int64_t base = chunks ? vectors / chunks : 0, extra = chunks ? vectors % chunks : 0;
    float sums[PW_MR_MAX * VL] = {0};
    for (int64_t c = 0, i0 = p0; c < chunks; c++) {
        const int nv = (int)(base + (c < extra));
        const int64_t nvalid = ipx__min(VL * nv, npix - i0);
        float* o = Y + m0 * plane + i0;
        const float* r = R ? R + m0 * plane + i0 : NULL;
#define PW_CALL(NV) F(pw_micro)(X + i0 / VL * xv, xk, xv, w, B + m0, kdim, o, r, S ? sums : NULL, plane, nvalid, mstore, MR, NV, ACT, ISA)
        if (nv >= 3 && NVMAX >= 3) PW_CALL(3);
        else if (nv == 2) PW_CALL(2);
        else PW_CALL(1);
#undef PW_CALL
        /* the sums stay in memory, not in registers the FMA loop needs (there they pushed an
           accumulator of the fused builds onto the stack) */
        if (S) __asm__ volatile("" : : "r"(sums) : "memory");
        i0 += VL * nv;
    }
    for (int64_t m = 0; S && chunks && m < mstore; m++) {
        float total = 0.0f;
        for (int l = 0; l < VL; l++) total += sums[m * VL + l];
        ipx__add_float(S + m0 + m, total);
    }
}

IPX_INLINE void F(pw_compute_epilogue)(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                                       float* tile, float* output, const ipx__epilogue* e, const int32_t ACT,
                                       const int ISA) {
    const int MR = PW_T_MR, VLEN = VL, NVMAX = PW_T_NV;
    const ipx_conv_desc* d = &cv->d;
    /* the GEMM's K: cg input channels (1x1), or cg*r*s im2col rows (ipx__im2col_kernel) */
    const int64_t kdim = cv->cg * d->r * d->s, kb = b->kb, npad = plan->row_len, npix = b->pb * cv->q;
    const int64_t plane = cv->p * cv->q, kvalid = ipx__min(kb, cv->kg - b->k0);
    const int64_t strip = ipx__max(VLEN * NVMAX * 4, PW_STRIP_FLOATS / kdim / (VLEN * NVMAX) * (VLEN * NVMAX));
    /* floats between an input pixel's channels and between its pixel vectors (and where pixel
       i lies: i / VL * xv + i % VL): panels (plan->panel == VL) or rows */
    const int64_t xk = plan->panel ? VLEN : npad, xv = plan->panel ? plan->panel_floats : VLEN;
    const int64_t group_floats = plan->panel ? pw_group_floats(plan) : kdim * npad;
    for (int64_t j = 0; j < b->gb; j++) {
        const float* X = tile + plan->in_off + j * group_floats;
        /* whole groups (gb > 1) or one group's channel range: contiguous either way */
        const size_t first = (size_t)((b->g0 + j) * cv->kg8 + b->k0);
        const float* W = cv->weight + first * (size_t)kdim;
        const float* B = cv->bias + first;
        const int64_t ch0 = b->n * d->k + (b->g0 + j) * cv->kg + b->k0; /* the block's first plane */
        float* Y = output + (ch0 * cv->p + b->p0) * cv->q;
        const float* R = e && e->residual ? e->residual + (Y - output) : NULL;
        float* S = e ? e->channel_sums : NULL;
        for (int64_t p0 = 0; p0 < npix; p0 += strip) {
            const int64_t spix = ipx__min(strip, npix - p0);
            const int64_t tail = spix % VLEN <= PW_T_TAIL ? spix % VLEN : 0; /* pixels left to pw_tail_pixel */
            for (int64_t m0 = 0; m0 < kvalid; m0 += MR) {
                const float* w = W + m0 / 8 * 8 * kdim + m0 % 8;
                const int64_t mstore = ipx__min(MR, kvalid - m0);
                F(pw_sweep)(X, xk, xv, w, B, kdim, Y, R, S ? S + ch0 : NULL, plane, npix, p0, spix, tail, m0, mstore,
                            MR, NVMAX, ACT, ISA);
            }
            for (int64_t m8 = 0; tail && m8 < kvalid; m8 += 32) {
                const int nb = (int)ipx__min(4, ipx__div_up(kvalid - m8, 8));
                float tsums[32] = {0};
                for (int64_t i = p0 + spix - tail; i < p0 + spix; i++) {
#define PW_TAIL_CALL(NB)                                                                                \
    pw_tail_pixel(X + i / VLEN * xv + i % VLEN, xk, W + m8 * kdim, B + m8, kdim, Y + m8 * plane + i, R ? R + m8 * plane + i : NULL, \
                  tsums, plane, kvalid - m8, NB, ACT, ISA)
                    if (nb == 4) PW_TAIL_CALL(4);
                    else if (nb == 3) PW_TAIL_CALL(3);
                    else if (nb == 2) PW_TAIL_CALL(2);
                    else PW_TAIL_CALL(1);
#undef PW_TAIL_CALL
                }
                for (int64_t m = 0; S && m < ipx__min(32, kvalid - m8); m++) ipx__add_float(S + ch0 + m8 + m, tsums[m]);
            }
        }
    }
}

/* The epilogue in the kernel's write: one build of the loop nest per activation, so that no
   vector goes through a switch. */
IPX_INLINE void F(pw_compute_fused_body)(const struct ipx_conv* cv, const ipx__plan* plan, const ipx__block* b,
                                         float* tile, float* output, const ipx__epilogue* e, const int ISA) {
    switch (e->activation) {
#define PW_ACT(ACT) case ACT: F(pw_compute_epilogue)(cv, plan, b, tile, output, e, ACT, ISA); break;
    PW_ACT(IPX_ACTIVATION_RELU)
    PW_ACT(IPX_ACTIVATION_RELU6)
    PW_ACT(IPX_ACTIVATION_SIGMOID)
    PW_ACT(IPX_ACTIVATION_SILU)
    PW_ACT(IPX_ACTIVATION_HARDSWISH)
    default: F(pw_compute_epilogue)(cv, plan, b, tile, output, e, IPX_ACTIVATION_NONE, ISA);
#undef PW_ACT
    }
}


#undef V
#undef VL
#undef F
#undef PW_T_MR
#undef PW_T_NV
#undef PW_T_TAIL
