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

uint16_t oi_f32_to_f16(float f);
uint16_t oi_f32_to_bf16(float f);
float oi_f16_to_f32(uint16_t h);
/* n at once (F16C / AVX2 where present): the same bits as one at a time. */
void oi_f32_to_f16_n(const float *v, size_t n, uint16_t *out);
void oi_f32_to_bf16_n(const float *v, size_t n, uint16_t *out);
float oi_bf16_to_f32(uint16_t h);

#endif
