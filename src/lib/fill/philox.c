/* Random123's Philox4x32-R, OI_PHILOX_BATCH counters at a time.
 *
 * Structure-of-arrays form built from Random123's own constants: AVX-512 and
 * AVX2 by hand in 32-bit lanes, and a portable loop the compiler vectorizes;
 * all give the same bits (tests check each against philox4x32_R()).  R is 10
 * for stream 1 and 7 for stream 2. */
#include "fill/fill_internal.h"

#include <Random123/philox.h>

#define BATCH OI_PHILOX_BATCH
#define MAX_ROUNDS 10   /* stream 1's; the AVX-512 round keys are sized by it */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define OI_PHILOX_AVX2 1

/* The rounds on eight counters at once, in 32-bit lanes: the
 * 32x32->64 products of even lanes and (shifted down) odd lanes, their high
 * and low halves blended back into place.  Bit-identical to the portable
 * loop below (tested against Random123). */
__attribute__((target("avx2")))
static void philox_batch_avx2(uint64_t key, uint32_t stream, int rounds, uint64_t first,
                              size_t batches, uint32_t (*out)[4][OI_PHILOX_BATCH])
{
    const __m256i m0 = _mm256_set1_epi64x(PHILOX_M4x32_0), m1 = _mm256_set1_epi64x(PHILOX_M4x32_1);
    const __m256i w0 = _mm256_set1_epi32((int)PHILOX_W32_0), w1 = _mm256_set1_epi32((int)PHILOX_W32_1);
    for (size_t j = 0; j < batches * BATCH; j += 8) {
        uint32_t lo[8], hi[8];
        for (int i = 0; i < 8; i++) {
            uint64_t b = first + (uint64_t)(j + i);
            lo[i] = (uint32_t)b;
            hi[i] = (uint32_t)(b >> 32);
        }
        __m256i c0 = _mm256_loadu_si256((const __m256i *)lo);
        __m256i c1 = _mm256_loadu_si256((const __m256i *)hi);
        __m256i c2 = _mm256_set1_epi32((int)stream), c3 = _mm256_setzero_si256();
        __m256i a0 = _mm256_set1_epi32((int)(uint32_t)key);
        __m256i a1 = _mm256_set1_epi32((int)(uint32_t)(key >> 32));
        for (int round = 0; round < rounds; round++) {
            __m256i e0 = _mm256_mul_epu32(c0, m0), o0 = _mm256_mul_epu32(_mm256_srli_epi64(c0, 32), m0);
            __m256i e1 = _mm256_mul_epu32(c2, m1), o1 = _mm256_mul_epu32(_mm256_srli_epi64(c2, 32), m1);
            __m256i lo0 = _mm256_blend_epi32(e0, _mm256_slli_epi64(o0, 32), 0xAA);
            __m256i hi0 = _mm256_blend_epi32(_mm256_srli_epi64(e0, 32), o0, 0xAA);
            __m256i lo1 = _mm256_blend_epi32(e1, _mm256_slli_epi64(o1, 32), 0xAA);
            __m256i hi1 = _mm256_blend_epi32(_mm256_srli_epi64(e1, 32), o1, 0xAA);
            c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), a0);
            c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), a1);
            c1 = lo1;
            c3 = lo0;
            a0 = _mm256_add_epi32(a0, w0);
            a1 = _mm256_add_epi32(a1, w1);
        }
        uint32_t(*o)[BATCH] = out[j / BATCH];
        _mm256_storeu_si256((__m256i *)&o[0][j % BATCH], c0);
        _mm256_storeu_si256((__m256i *)&o[1][j % BATCH], c1);
        _mm256_storeu_si256((__m256i *)&o[2][j % BATCH], c2);
        _mm256_storeu_si256((__m256i *)&o[3][j % BATCH], c3);
    }
}

/* AVX-512: GROUPS groups of sixteen counters side by side so their rounds
 * overlap; the round's three-way XOR is one ternary-logic op and the round
 * keys are computed once.  The products' halves are put in place by masked
 * dword shuffles (one op each where shift+blend took two): 1.4x faster here. */
#define GROUPS 2
__attribute__((target("avx512f")))
static void philox_batch_avx512(uint64_t key, uint32_t stream, int rounds, uint64_t first,
                                size_t batches, uint32_t (*out)[4][OI_PHILOX_BATCH])
{
    const __m512i m0 = _mm512_set1_epi64(PHILOX_M4x32_0), m1 = _mm512_set1_epi64(PHILOX_M4x32_1);
    const __m512i step = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    __m512i k0[MAX_ROUNDS], k1[MAX_ROUNDS];
    for (int r = 0; r < rounds && r < MAX_ROUNDS; r++) {
        k0[r] = _mm512_set1_epi32((int)((uint32_t)key + (uint32_t)r * PHILOX_W32_0));
        k1[r] = _mm512_set1_epi32((int)((uint32_t)(key >> 32) + (uint32_t)r * PHILOX_W32_1));
    }
    for (size_t j = 0; j < batches * BATCH; j += 16 * GROUPS) {
        __m512i c0[GROUPS], c1[GROUPS], c2[GROUPS], c3[GROUPS];
        for (int g = 0; g < GROUPS; g++) {
            uint64_t b = first + (uint64_t)(j + 16 * g);
            if ((uint32_t)b <= UINT32_MAX - 15) {   /* no carry into the high word in this group */
                c0[g] = _mm512_add_epi32(_mm512_set1_epi32((int)(uint32_t)b), step);
                c1[g] = _mm512_set1_epi32((int)(uint32_t)(b >> 32));
            } else {
                uint32_t lo[16], hi[16];
                for (int i = 0; i < 16; i++) {
                    lo[i] = (uint32_t)(b + (uint64_t)i);
                    hi[i] = (uint32_t)((b + (uint64_t)i) >> 32);
                }
                c0[g] = _mm512_loadu_si512(lo);
                c1[g] = _mm512_loadu_si512(hi);
            }
            c2[g] = _mm512_set1_epi32((int)stream);
            c3[g] = _mm512_setzero_si512();
        }
        for (int r = 0; r < rounds && r < MAX_ROUNDS; r++)
            for (int g = 0; g < GROUPS; g++) {
                /* even lanes' products e, odd lanes' (moved down by a shuffle) o */
                __m512i e0 = _mm512_mul_epu32(c0[g], m0);
                __m512i o0 = _mm512_mul_epu32(_mm512_shuffle_epi32(c0[g], _MM_PERM_DDBB), m0);
                __m512i e1 = _mm512_mul_epu32(c2[g], m1);
                __m512i o1 = _mm512_mul_epu32(_mm512_shuffle_epi32(c2[g], _MM_PERM_DDBB), m1);
                /* low halves: e's in place, o's low dword up into odd lanes;
                 * high halves: o's in place, e's high dword down into even lanes */
                __m512i lo0 = _mm512_mask_shuffle_epi32(e0, 0xAAAA, o0, _MM_PERM_CCAA);
                __m512i hi0 = _mm512_mask_shuffle_epi32(o0, 0x5555, e0, _MM_PERM_DDBB);
                __m512i lo1 = _mm512_mask_shuffle_epi32(e1, 0xAAAA, o1, _MM_PERM_CCAA);
                __m512i hi1 = _mm512_mask_shuffle_epi32(o1, 0x5555, e1, _MM_PERM_DDBB);
                c0[g] = _mm512_ternarylogic_epi32(hi1, c1[g], k0[r], 0x96);   /* a ^ b ^ c */
                c2[g] = _mm512_ternarylogic_epi32(hi0, c3[g], k1[r], 0x96);
                c1[g] = lo1;
                c3[g] = lo0;
            }
        uint32_t(*o)[BATCH] = out[j / BATCH];   /* 16 * GROUPS divides BATCH */
        for (int g = 0; g < GROUPS; g++) {
            _mm512_storeu_si512(&o[0][j % BATCH + 16 * g], c0[g]);
            _mm512_storeu_si512(&o[1][j % BATCH + 16 * g], c1[g]);
            _mm512_storeu_si512(&o[2][j % BATCH + 16 * g], c2[g]);
            _mm512_storeu_si512(&o[3][j % BATCH + 16 * g], c3[g]);
        }
    }
}
#endif

/* Counters (first+j, stream, 0) for j < BATCH: one counter per iteration,
 * its rounds in registers; with `rounds` a constant the compiler unrolls them
 * and runs the iterations side by side in vectors. */
static inline __attribute__((always_inline))
void philox_portable(uint64_t key, uint32_t stream, int rounds, uint64_t first, size_t batches,
                     uint32_t (*out)[4][OI_PHILOX_BATCH])
{
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (size_t j = 0; j < batches * BATCH; j++) {
        uint64_t b = first + (uint64_t)j;
        uint32_t c0 = (uint32_t)b, c1 = (uint32_t)(b >> 32), c2 = stream, c3 = 0;
        uint32_t a0 = k0, a1 = k1;
        for (int round = 0; round < rounds; round++) {
            uint64_t p0 = (uint64_t)PHILOX_M4x32_0 * c0, p1 = (uint64_t)PHILOX_M4x32_1 * c2;
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ a0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ a1;
            c1 = (uint32_t)p1;
            c3 = (uint32_t)p0;
            c0 = n0;
            c2 = n2;
            a0 += PHILOX_W32_0;
            a1 += PHILOX_W32_1;
        }
        out[j / BATCH][0][j % BATCH] = c0;
        out[j / BATCH][1][j % BATCH] = c1;
        out[j / BATCH][2][j % BATCH] = c2;
        out[j / BATCH][3][j % BATCH] = c3;
    }
}

/* Built for the baseline only: wherever AVX2 exists the hand-written kernels
 * above run instead (so tests of "the portable one" test the baseline build). */
static void philox10_portable(uint64_t key, uint32_t stream, uint64_t first, size_t batches,
                              uint32_t (*out)[4][OI_PHILOX_BATCH])
{
    philox_portable(key, stream, 10, first, batches, out);
}

static void philox7_portable(uint64_t key, uint32_t stream, uint64_t first, size_t batches,
                             uint32_t (*out)[4][OI_PHILOX_BATCH])
{
    philox_portable(key, stream, 7, first, batches, out);
}

static void portable(uint64_t key, uint32_t stream, int rounds, uint64_t first, size_t batches,
                     uint32_t (*out)[4][OI_PHILOX_BATCH])
{
    if (rounds == 7)
        philox7_portable(key, stream, first, batches, out);
    else
        philox10_portable(key, stream, first, batches, out);
}

/* The portable loop or, where the CPU has them, AVX-512 / AVX2: the same bits either way. */
void oi_philox_batches(int rounds, uint64_t key, uint32_t stream, uint64_t first, size_t batches,
                       uint32_t (*out)[4][OI_PHILOX_BATCH])
{
#ifdef OI_PHILOX_AVX2
    if (__builtin_cpu_supports("avx512f")) {
        philox_batch_avx512(key, stream, rounds, first, batches, out);
        return;
    }
    if (__builtin_cpu_supports("avx2")) {
        philox_batch_avx2(key, stream, rounds, first, batches, out);
        return;
    }
#endif
    portable(key, stream, rounds, first, batches, out);
}

void oi_philox_batch(int rounds, uint64_t key, uint32_t stream, uint64_t first,
                     uint32_t out[4][OI_PHILOX_BATCH])
{
    oi_philox_batches(rounds, key, stream, first, 1, (uint32_t (*)[4][OI_PHILOX_BATCH])out);
}

int oi_philox_batch_isa(int isa, int rounds, uint64_t key, uint32_t stream, uint64_t first,
                        size_t batches, uint32_t (*out)[4][OI_PHILOX_BATCH])
{
    switch (isa) {
    case 0: portable(key, stream, rounds, first, batches, out); return 1;
#ifdef OI_PHILOX_AVX2
    case 1:
        if (!__builtin_cpu_supports("avx2"))
            return 0;
        philox_batch_avx2(key, stream, rounds, first, batches, out);
        return 1;
    case 2:
        if (!__builtin_cpu_supports("avx512f"))
            return 0;
        philox_batch_avx512(key, stream, rounds, first, batches, out);
        return 1;
#endif
    default: return 0;
    }
}
