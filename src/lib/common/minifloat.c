/* Float8 as ONNX defines it (E4M3FN, E4M3FNUZ, E5M2, E5M2FNUZ): decoding by
 * formula, encoding by search over the 128 non-negative codes, so rounding
 * (nearest, ties to the even code) and saturation hold by construction. */
#include "common/dtype.h"

#include <math.h>

typedef struct {
    int exp_bits, man_bits, bias;
    int fnuz;        /* no -0 and no infinity; 0x80 is the NaN */
    int finite;      /* E4M3FN: no infinity; S.1111.111 are the NaNs */
} f8_kind;

static f8_kind kind_of(int32_t dtype)
{
    switch (dtype) {
    case OI_DT_FLOAT8E4M3FN: return (f8_kind){4, 3, 7, 0, 1};
    case OI_DT_FLOAT8E4M3FNUZ: return (f8_kind){4, 3, 8, 1, 1};
    case OI_DT_FLOAT8E5M2FNUZ: return (f8_kind){5, 2, 16, 1, 1};
    default: return (f8_kind){5, 2, 15, 0, 0};   /* E5M2: IEEE-like */
    }
}

static int is_nan_code(f8_kind k, uint8_t b)
{
    int e = (b >> k.man_bits) & ((1 << k.exp_bits) - 1), m = b & ((1 << k.man_bits) - 1);
    if (k.fnuz)
        return b == 0x80;
    if (k.finite)
        return (b & 0x7f) == 0x7f;
    return e == (1 << k.exp_bits) - 1 && m != 0;
}

static int is_inf_code(f8_kind k, uint8_t b)
{
    return !k.fnuz && !k.finite && (b & 0x7f) == 0x7c;
}

float oi_f8_to_f32(int32_t dtype, uint8_t b)
{
    f8_kind k = kind_of(dtype);
    if (is_nan_code(k, b))
        return NAN;
    if (is_inf_code(k, b))
        return b & 0x80 ? -INFINITY : INFINITY;
    int e = (b >> k.man_bits) & ((1 << k.exp_bits) - 1), m = b & ((1 << k.man_bits) - 1);
    float v = e == 0 ? ldexpf((float)m, 1 - k.bias - k.man_bits)
                     : ldexpf((float)(m + (1 << k.man_bits)), e - k.bias - k.man_bits);
    return b & 0x80 ? -v : v;
}

/* The finite non-negative codes in increasing order (code c has value table[c]). */
static int finite_table(f8_kind k, int32_t dtype, float table[128])
{
    int n = 0;
    for (int c = 0; c < 128; c++) {
        if (is_nan_code(k, (uint8_t)c) || is_inf_code(k, (uint8_t)c))
            break;
        table[n++] = oi_f8_to_f32(dtype, (uint8_t)c);
    }
    return n;
}

float oi_f8_max(int32_t dtype)
{
    float table[128];
    int n = finite_table(kind_of(dtype), dtype, table);
    return table[n - 1];
}

void oi_f32_to_f8_n(int32_t dtype, const float *v, size_t n, uint8_t *out)
{
    f8_kind k = kind_of(dtype);
    float table[128];
    int count = finite_table(k, dtype, table);
    uint8_t nan = k.fnuz ? 0x80 : k.finite ? 0x7f : 0x7e;
    for (size_t i = 0; i < n; i++) {
        float x = v[i], a = fabsf(x);
        if (isnan(x)) {
            out[i] = nan;
            continue;
        }
        int lo = 0, hi = count - 1;   /* largest code with table[code] <= a */
        if (a >= table[hi]) {
            lo = hi;                  /* saturate */
        } else {
            while (lo < hi) {
                int mid = (lo + hi + 1) / 2;
                if (table[mid] <= a)
                    lo = mid;
                else
                    hi = mid - 1;
            }
            float below = a - table[lo], above = table[lo + 1] - a;
            if (above < below || (above == below && (lo & 1)))
                lo++;
        }
        uint8_t code = (uint8_t)lo;
        out[i] = x < 0 && !(k.fnuz && code == 0) ? (uint8_t)(code | 0x80) : code;
    }
}
