#include "common/dtype.h"

#include <math.h>
#include <string.h>

#include "onnx.pb-c.h"

#define DT(x) ONNX__TENSOR_PROTO__DATA_TYPE__##x

size_t oi_dtype_size(int32_t dtype)
{
    switch (dtype) {
    case DT(FLOAT): case DT(INT32): case DT(UINT32): return 4;
    case DT(UINT8): case DT(INT8): case DT(BOOL): return 1;
    case OI_DT_FLOAT8E4M3FN: case OI_DT_FLOAT8E4M3FNUZ: case OI_DT_FLOAT8E5M2:
    case OI_DT_FLOAT8E5M2FNUZ: return 1;
    case DT(UINT16): case DT(INT16): case DT(FLOAT16): case DT(BFLOAT16): return 2;
    case DT(INT64): case DT(DOUBLE): case DT(UINT64): case DT(COMPLEX64): return 8;
    case DT(COMPLEX128): return 16;
    default: return 0;
    }
}

const char *oi_dtype_name(int32_t dtype)
{
    static const char *const newer[] = {"FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2",
                                        "FLOAT8E5M2FNUZ", "UINT4", "INT4"};
    if (dtype >= OI_DT_FLOAT8E4M3FN && dtype <= OI_DT_INT4)
        return newer[dtype - OI_DT_FLOAT8E4M3FN];
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&onnx__tensor_proto__data_type__descriptor, dtype);
    return v ? v->name : "unknown";
}

int oi_dtype_is_float(int32_t dtype)
{
    return dtype == DT(FLOAT) || dtype == DT(FLOAT16) || dtype == DT(BFLOAT16) ||
           dtype == DT(DOUBLE);
}

unsigned oi_dtype_bits(int32_t dtype)
{
    return dtype == OI_DT_INT4 || dtype == OI_DT_UINT4 ? 4 : 8 * (unsigned)oi_dtype_size(dtype);
}

uint64_t oi_dtype_payload_bytes(int32_t dtype, uint64_t n)
{
    unsigned bits = oi_dtype_bits(dtype);
    return bits == 4 ? n / 2 + n % 2 : n * (bits / 8);
}

int oi_dtype_is_float8(int32_t dtype)
{
    return dtype >= OI_DT_FLOAT8E4M3FN && dtype <= OI_DT_FLOAT8E5M2FNUZ;
}

void oi_dtype_int_range(int32_t dtype, int64_t *lo, int64_t *hi)
{
    switch (dtype) {
    case DT(INT8): *lo = -128; *hi = 127; return;
    case DT(UINT8): *lo = 0; *hi = 255; return;
    case DT(INT16): *lo = -32768; *hi = 32767; return;
    case DT(UINT16): *lo = 0; *hi = 65535; return;
    case DT(INT32): *lo = INT32_MIN; *hi = INT32_MAX; return;
    case OI_DT_INT4: *lo = -8; *hi = 7; return;
    case OI_DT_UINT4: *lo = 0; *hi = 15; return;
    default: *lo = *hi = 0; return;
    }
}

int oi_dtype_is_quantized(int32_t dtype)
{
    int64_t lo, hi;
    oi_dtype_int_range(dtype, &lo, &hi);
    return hi != 0 || oi_dtype_is_float8(dtype);
}

double oi_float_get(int32_t dtype, const void *buf, uint64_t i)
{
    const uint8_t *b = buf;
    float f;
    double d;
    uint16_t h;
    switch (dtype) {
    case DT(FLOAT): memcpy(&f, b + 4 * i, 4); return f;
    case DT(DOUBLE): memcpy(&d, b + 8 * i, 8); return d;
    case DT(FLOAT16): memcpy(&h, b + 2 * i, 2); return oi_f16_to_f32(h);
    case DT(BFLOAT16): memcpy(&h, b + 2 * i, 2); return oi_bf16_to_f32(h);
    default: return NAN;
    }
}

int64_t oi_code_get(int32_t dtype, const void *buf, uint64_t i)
{
    const uint8_t *b = buf;
    int16_t s16;
    uint16_t u16;
    int32_t s32;
    switch (dtype) {
    case DT(INT8): return (int8_t)b[i];
    case DT(UINT8): return b[i];
    case DT(INT16): memcpy(&s16, b + 2 * i, 2); return s16;
    case DT(UINT16): memcpy(&u16, b + 2 * i, 2); return u16;
    case DT(INT32): memcpy(&s32, b + 4 * i, 4); return s32;
    case OI_DT_UINT4: return (b[i / 2] >> (4 * (i % 2))) & 15;
    case OI_DT_FLOAT8E4M3FN: case OI_DT_FLOAT8E4M3FNUZ: case OI_DT_FLOAT8E5M2:
    case OI_DT_FLOAT8E5M2FNUZ: return b[i];   /* the byte (oi_f8_to_f32 gives its value) */
    case OI_DT_INT4: {
        int v = (b[i / 2] >> (4 * (i % 2))) & 15;
        return v >= 8 ? v - 16 : v;
    }
    default: return 0;
    }
}

void oi_code_set(int32_t dtype, void *buf, uint64_t i, int64_t v)
{
    uint8_t *b = buf;
    int16_t s16 = (int16_t)v;
    uint16_t u16 = (uint16_t)v;
    int32_t s32 = (int32_t)v;
    switch (dtype) {
    case DT(INT8): case DT(UINT8): b[i] = (uint8_t)v; break;
    case DT(INT16): memcpy(b + 2 * i, &s16, 2); break;
    case DT(UINT16): memcpy(b + 2 * i, &u16, 2); break;
    case DT(INT32): memcpy(b + 4 * i, &s32, 4); break;
    case OI_DT_UINT4: case OI_DT_INT4: {
        unsigned shift = 4 * (unsigned)(i % 2);
        b[i / 2] = (uint8_t)((b[i / 2] & ~(15u << shift)) | (((unsigned)v & 15u) << shift));
        break;
    }
    default: break;
    }
}

uint16_t oi_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, a = x & 0x7fffffff;
    if (a >= 0x7f800000)
        return (uint16_t)(sign | (a > 0x7f800000 ? 0x7e00 : 0x7c00));
    if (a >= 0x477ff000)                    /* rounds to beyond 65504 */
        return (uint16_t)(sign | 0x7c00);
    if (a < 0x38800000) {                   /* half subnormal: scale and round (RNE) */
        float v;
        memcpy(&v, &a, 4);
        return (uint16_t)(sign | (uint32_t)lrintf(v * 16777216.0f));
    }
    uint32_t h = ((a >> 23) - 112) << 10 | ((a >> 13) & 0x3ff), rem = a & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
        h++;
    return (uint16_t)(sign | h);
}

uint16_t oi_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((x >> 16) | 0x40);
    return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

float oi_f16_to_f32(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY)
                                                      : ldexpf((float)(m + 1024), e - 25);
    return (h & 0x8000) ? -v : v;
}

float oi_bf16_to_f32(uint16_t h)
{
    uint32_t x = (uint32_t)h << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* ---- many at once: F16C / AVX2 where the CPU has them, the same bits ---- */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

__attribute__((target("avx2,f16c")))
static size_t f16_avx2(const float *v, size_t n, uint16_t *out)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(v + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(out + i), h);
    }
    return i;
}

__attribute__((target("avx2")))
static __m256i bf16_lanes(__m256i x)
{
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(x, _mm256_set1_epi32(0x7fff)),
                                                   lsb), 16);
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0x7fffffff)),
                                     _mm256_set1_epi32(0x7f800000));
    __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(0x40));
    return _mm256_blendv_epi8(r, quiet, nan);
}

__attribute__((target("avx2")))
static size_t bf16_avx2(const float *v, size_t n, uint16_t *out)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i a = bf16_lanes(_mm256_loadu_si256((const __m256i *)(v + i)));
        __m256i b = bf16_lanes(_mm256_loadu_si256((const __m256i *)(v + i + 8)));
        __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);
        _mm256_storeu_si256((__m256i *)(out + i), packed);
    }
    return i;
}

/* AVX-512F: 16 lanes, the same rounding as the AVX2 forms above. */
__attribute__((target("avx512f")))
static size_t f16_avx512(const float *v, size_t n, uint16_t *out)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h = _mm512_cvtps_ph(_mm512_loadu_ps(v + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_si256((__m256i *)(out + i), h);
    }
    return i;
}

__attribute__((target("avx512f")))
static size_t bf16_avx512(const float *v, size_t n, uint16_t *out)
{
    const __m512i one = _mm512_set1_epi32(1), half = _mm512_set1_epi32(0x7fff);
    const __m512i abs = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i x = _mm512_loadu_si512(v + i), hi = _mm512_srli_epi32(x, 16);
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(x, half),
                                                       _mm512_and_si512(hi, one)), 16);
        __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(x, abs), inf);
        r = _mm512_mask_or_epi32(r, nan, hi, _mm512_set1_epi32(0x40));
        _mm256_storeu_si256((__m256i *)(out + i), _mm512_cvtepi32_epi16(r));
    }
    return i;
}
#endif

/* Floats to float16 (bf = 0) or bfloat16 (bf = 1) by one implementation
 * (0 portable, 1 AVX2+F16C, 2 AVX-512F), the rest of n portably. */
static void to_16(int isa, int bf, const float *v, size_t n, uint16_t *out)
{
    size_t i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    if (isa == 2)
        i = bf ? bf16_avx512(v, n, out) : f16_avx512(v, n, out);
    else if (isa == 1)
        i = bf ? bf16_avx2(v, n, out) : f16_avx2(v, n, out);
#else
    (void)isa;
#endif
    for (; i < n; i++)
        out[i] = bf ? oi_f32_to_bf16(v[i]) : oi_f32_to_f16(v[i]);
}

static int best_isa(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f"))
        return 2;
    if (__builtin_cpu_supports("avx2"))   /* every AVX2 CPU has F16C (it came first) */
        return 1;
#endif
    return 0;
}

void oi_f32_to_f16_n(const float *v, size_t n, uint16_t *out) { to_16(best_isa(), 0, v, n, out); }

void oi_f32_to_bf16_n(const float *v, size_t n, uint16_t *out) { to_16(best_isa(), 1, v, n, out); }

int oi_f32_to_16_isa(int isa, int bf, const float *v, size_t n, uint16_t *out)
{
    if (isa < 0 || isa > best_isa())
        return 0;
    to_16(isa, bf, v, n, out);
    return 1;
}

float oi_float_stored(int32_t dtype, float f)
{
    if (dtype == DT(FLOAT16))
        return oi_f16_to_f32(oi_f32_to_f16(f));
    return dtype == DT(BFLOAT16) ? oi_bf16_to_f32(oi_f32_to_bf16(f)) : f;
}
