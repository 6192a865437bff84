/* qcodec — codes, scales and zero points of quantized weights (qcodec.h). */
#include "model/qcodec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dtype.h"

const char *oi_quant_form_name(oi_quant_form f)
{
    static const char *const names[] = {"", "QDQ", "integer", "QLinear", "MatMulNBits",
                                          "GatherBlockQuantized"};
    return (size_t)f < sizeof names / sizeof *names ? names[f] : "?";
}

void oi_quant_granularity(const oi_quant *q, char *out, size_t size)
{
    if (q->axis < 0)
        snprintf(out, size, "per-tensor");
    else if (q->block > 0)
        snprintf(out, size, "blocks of %lld (axis %d)", (long long)q->block, q->axis);
    else
        snprintf(out, size, "per-channel (axis %d)", q->axis);
}

uint64_t oi_quant_groups(const oi_quant *q)
{
    if (q->axis < 0)
        return 1;
    if (q->block > 0)
        return (uint64_t)(q->outer * ((q->len + q->block - 1) / q->block) * q->inner);
    return (uint64_t)q->len;
}

uint64_t oi_quant_group_of(const oi_quant *q, uint64_t i)
{
    if (q->axis < 0)
        return 0;
    uint64_t inner = (uint64_t)q->inner, len = (uint64_t)q->len;
    uint64_t a = i / inner % len;
    if (q->block <= 0)
        return a;
    uint64_t o = i / (inner * len), nb = (len + (uint64_t)q->block - 1) / (uint64_t)q->block;
    return (o * nb + a / (uint64_t)q->block) * inner + i % inner;
}

uint64_t oi_quant_zero_index(const oi_quant *q, uint64_t g)
{
    if (!q->packed || q->zero_row <= 0)
        return g;
    uint64_t nb = (uint64_t)((q->len + q->block - 1) / q->block);
    return g / nb * (uint64_t)q->zero_row + g % nb;
}

int64_t oi_quant_centre(int32_t codes)
{
    int64_t lo, hi;
    oi_dtype_int_range(codes, &lo, &hi);
    return lo < 0 ? 0 : (hi + 1) / 2;
}

oi_status oi_quant_read_params(oi_model *m, const oi_quant *q, float *scale, float *zero,
                               oi_error *err)
{
    uint64_t groups = oi_quant_groups(q);
    const oi_tensor *s = oi_model_tensor(m, (size_t)q->scale);
    if (s->n_elems != groups)
        return oi_fail(err, OI_ERR_FORMAT, "tensor '%s': %llu scales for %llu groups", s->name,
                       (unsigned long long)s->n_elems, (unsigned long long)groups);
    float *f = oi_model_read_floats(m, s, err);
    if (!f)
        return err ? err->status : OI_ERR_NOMEM;
    memcpy(scale, f, groups * sizeof *f);
    free(f);
    const oi_tensor *z = q->zero >= 0 ? oi_model_tensor(m, (size_t)q->zero) : NULL;
    if (z && q->zero_float) {
        if (!(f = oi_model_read_floats(m, z, err)))
            return err ? err->status : OI_ERR_NOMEM;
        memcpy(zero, f, groups * sizeof *f);
        free(f);
        return OI_OK;
    }
    uint8_t *zb = z ? malloc(z->n_bytes ? z->n_bytes : 1) : NULL;
    if (z && (!zb || oi_model_read(m, z, zb, err))) {
        free(zb);
        return zb ? err->status : oi_fail(err, OI_ERR_NOMEM, "out of memory");
    }
    for (uint64_t k = 0; k < groups; k++)   /* absent (and float8) zero points: the centre */
        zero[k] = (float)(z && !oi_dtype_is_float8(q->codes)
                              ? oi_code_get(q->codes, zb, oi_quant_zero_index(q, k))
                              : oi_quant_centre(q->codes));
    free(zb);
    return OI_OK;
}

double oi_quant_value(const oi_quant *q, int64_t code, uint64_t i, const float *scale,
                      const float *zero, double *step)
{
    uint64_t g = oi_quant_group_of(q, i);
    if (step)
        *step = scale[g];
    if (oi_dtype_is_float8(q->codes))
        return (double)oi_f8_to_f32(q->codes, (uint8_t)code) * scale[g];
    return ((double)code - zero[g]) * scale[g];
}
