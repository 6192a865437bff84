/* dtype — what onnxinit knows of ONNX element types: sizes, names, which are
 * floats, and the 16-bit float conversions (round to nearest even). */
#ifndef OI_DTYPE_H
#define OI_DTYPE_H

#include <stddef.h>
#include <stdint.h>

/* Bytes per element in raw_data; 0 for strings and unknown codes. */
size_t oi_dtype_size(int32_t dtype);
/* "FLOAT", "INT64", ...; "unknown" for codes the schema does not name. */
const char *oi_dtype_name(int32_t dtype);
/* FLOAT, FLOAT16, BFLOAT16, DOUBLE: the types weights are filled in. */
int oi_dtype_is_float(int32_t dtype);

/* Type codes newer than Debian's schema; TensorProto.data_type is an int32,
 * so they pass through the decoder untouched. */
enum {
    OI_DT_FLOAT8E4M3FN = 17, OI_DT_FLOAT8E4M3FNUZ = 18, OI_DT_FLOAT8E5M2 = 19,
    OI_DT_FLOAT8E5M2FNUZ = 20, OI_DT_UINT4 = 21, OI_DT_INT4 = 22,
};
/* Bits per element (4 for INT4/UINT4, packed two to a byte, low nibble first); 0 unknown. */
unsigned oi_dtype_bits(int32_t dtype);
/* Bytes that n elements take in raw_data (packed types round up); 0 if unknown. */
uint64_t oi_dtype_payload_bytes(int32_t dtype, uint64_t n);
/* The integer and float8 types quantized weights are stored in. */
int oi_dtype_is_quantized(int32_t dtype);
int oi_dtype_is_float8(int32_t dtype);
/* Integer types: the range [lo, hi] (0, 0 for other types). */
void oi_dtype_int_range(int32_t dtype, int64_t *lo, int64_t *hi);

/* Integer codes in a payload: element i of an INT8/UINT8/INT16/UINT16/INT32/
 * INT4/UINT4 buffer (4-bit: two a byte, low nibble first); of a float8 buffer,
 * its byte. */
int64_t oi_code_get(int32_t dtype, const void *buf, uint64_t i);
/* Element i of a FLOAT, DOUBLE, FLOAT16 or BFLOAT16 buffer (other types: NaN). */
double oi_float_get(int32_t dtype, const void *buf, uint64_t i);
void oi_code_set(int32_t dtype, void *buf, uint64_t i, int64_t v);

/* Float8 (ONNX's four kinds): round to nearest even, saturating to the
 * largest finite value (QuantizeLinear's saturate=1); NaN stays NaN. */
void oi_f32_to_f8_n(int32_t dtype, const float *v, size_t n, uint8_t *out);
float oi_f8_to_f32(int32_t dtype, uint8_t b);
/* The largest finite float8 value of the kind. */
float oi_f8_max(int32_t dtype);

uint16_t oi_f32_to_f16(float f);
uint16_t oi_f32_to_bf16(float f);
float oi_f16_to_f32(uint16_t h);
/* n at once (F16C / AVX2 where present): the same bits as one at a time. */
void oi_f32_to_f16_n(const float *v, size_t n, uint16_t *out);
void oi_f32_to_bf16_n(const float *v, size_t n, uint16_t *out);
/* For tests: one implementation of either (0 portable, 1 AVX2+F16C,
 * 2 AVX-512F; bf selects bfloat16); 0 when this CPU lacks it. */
int oi_f32_to_16_isa(int isa, int bf, const float *v, size_t n, uint16_t *out);
float oi_bf16_to_f32(uint16_t h);
/* f as a tensor of dtype stores it: float16 / bfloat16 round to nearest even,
 * anything else keeps it. */
float oi_float_stored(int32_t dtype, float f);

#endif
