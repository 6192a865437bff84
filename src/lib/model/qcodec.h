/* qcodec — how quantized weights are stored: the layout of their codes,
 * scales and zero points, and the arithmetic between codes and values.  Below
 * the analysis (which finds the layout) and the fill and read-out (which write
 * and show codes), so all three share one codec. */
#ifndef OI_MODEL_QCODEC_H
#define OI_MODEL_QCODEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "model/model.h"

/* How a quantized weight is stored and used (DESIGN.md, README "Quantized models"). */
typedef enum {
    OI_QUANT_NONE = 0,
    OI_QUANT_QDQ,        /* DequantizeLinear(q, scale, zero point) feeding a float layer */
    OI_QUANT_INTEGER,    /* ConvInteger / MatMulInteger, rescaled by a float Mul after */
    OI_QUANT_QLINEAR,    /* QLinearConv / QLinearMatMul */
    OI_QUANT_NBITS,      /* com.microsoft MatMulNBits: blockwise, packed into bytes */
    OI_QUANT_GATHER,     /* com.microsoft GatherBlockQuantized: a blockwise embedding table */
} oi_quant_form;

typedef struct oi_quant {
    oi_quant_form form;
    size_t node;              /* the DequantizeLinear / integer / QLinear / MatMulNBits node */
    long weight;              /* QSCALE, QZERO, QLinear int32 bias: the quantized weight (-1) */
    long scale, zero;         /* their catalogue indices (-1: none) */
    long in_scale;            /* QLinear int32 bias: the input's scale (bias scale = in x w) */
    int axis;                 /* -1 per tensor, else the stored axis scales run along */
    int64_t block;            /* elements per block along axis; 0 per axis */
    int64_t outer, len, inner;   /* the stored layout around axis: outer x len x inner */
    int64_t valid;            /* packed: the real row length (NBITS pads K to whole blocks) */
    int32_t codes;            /* dtype of the codes (packed: UINT4 or UINT8 in its bytes) */
    /* Codes packed into UINT8 bytes row by row (MatMulNBits, GatherBlockQuantized
     * on uint8): outer x len logical codes, zero points default to the centre and
     * each row of zero points pads to whole bytes. */
    int packed;
    int64_t zero_row;         /* packed: zero-point codes per row (rows pad to bytes) */
    int zero_float;           /* MatMulNBits: float zero points, one per block, unrounded */
    int symmetric;            /* zero point absent or at the type's centre: stays there */
    int keep_scale;           /* scale / zero point shared with other uses: kept as is */
} oi_quant;

/* The quantization groups (one scale each), and the group of element i of the
 * stored layout (packed: of the unpacked codes). */
uint64_t oi_quant_groups(const oi_quant *q);
uint64_t oi_quant_group_of(const oi_quant *q, uint64_t i);
/* Where group g's zero point sits among the zero tensor's codes (packed rows pad to bytes). */
uint64_t oi_quant_zero_index(const oi_quant *q, uint64_t g);
/* The zero point at the centre of a code type's range: 0 signed, 2^(bits-1) unsigned. */
int64_t oi_quant_centre(int32_t codes);
/* The stored scale and zero point of each group (oi_quant_groups of them); an
 * absent zero point reads as the centre, a float8 one as 0. */
oi_status oi_quant_read_params(oi_model *model, const oi_quant *q, float *scale, float *zero,
                               oi_error *err);
/* Element i's code (oi_code_get), dequantized with those parameters; *step
 * (if not NULL): its group's scale, the distance between neighbouring values. */
double oi_quant_value(const oi_quant *q, int64_t code, uint64_t i, const float *scale,
                      const float *zero, double *step);

/* "per-tensor", "per-channel(axis 0)", "blocks of 32 (axis 1)" for the read-out. */
void oi_quant_granularity(const oi_quant *q, char *out, size_t size);
const char *oi_quant_form_name(oi_quant_form f);

#endif
