/* Small text forms shared by the plan's table and JSON. */
#include "readout/format.h"

#include <stdio.h>
#include <string.h>

void oi_format_shape(const oi_tensor *t, char *buf, size_t size)
{
    size_t n = 0;
    n += (size_t)snprintf(buf, size, "[");
    for (size_t i = 0; i < t->proto->n_dims && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? "," : "", (long long)t->proto->dims[i]);
    if (n < size)
        snprintf(buf + n, size - n, "]");
}

void oi_format_where(const oi_tensor *t, char *buf, size_t size)
{
    if (t->scope && *t->scope)
        snprintf(buf, size, "%s in %s", t->kind, t->scope);
    else
        snprintf(buf, size, "%s", t->kind);
}

/* A quantized decision: the float numbers, then how they are stored. */
static void quant_numbers(const oi_decision *d, char *buf, size_t size)
{
    char g[64], inner[200];
    oi_quant_granularity(d->q, g, sizeof g);
    if (d->kind == OI_FILL_QUANT) {
        oi_decision f = *d;
        f.kind = d->draw;
        oi_format_numbers(&f, inner, sizeof inner);
    } else {
        snprintf(inner, sizeof inner, "%s", d->reason);
    }
    snprintf(buf, size, "%s -> %s %s, %s%s, scales %s", inner, oi_quant_form_name(d->q->form), g,
             d->q->symmetric ? "symmetric" : "asymmetric",
             d->q->zero_float ? " (float zero points)" : "", d->q->keep_scale ? "kept" : "refit");
}

/* "N(0, 0.0589)", "U(-0.1, 0.1)", "1", "orthogonal 8x[32x32]" */
void oi_format_numbers(const oi_decision *d, char *buf, size_t size)
{
    switch (d->kind) {
    case OI_FILL_QUANT: case OI_FILL_QUANT_SCALE: case OI_FILL_QUANT_ZERO:
        quant_numbers(d, buf, size);
        break;
    case OI_FILL_CONSTANT: snprintf(buf, size, "%g", d->constant.value); break;
    case OI_FILL_UNIFORM: snprintf(buf, size, "U(%.4g, %.4g)", d->uniform.low, d->uniform.high); break;
    case OI_FILL_NORMAL: snprintf(buf, size, "N(%g, %.4g^2)", d->normal.mean, d->normal.std); break;
    case OI_FILL_TRUNC_NORMAL:
        snprintf(buf, size, "N(%g, %.4g^2) truncated", d->normal.mean, d->normal.std);
        break;
    case OI_FILL_ORTHOGONAL:
        snprintf(buf, size, "%lldx[%lldx%lld] gain %.4g", (long long)d->matrices,
                 (long long)d->rows, (long long)d->cols, d->matrix.gain);
        break;
    case OI_FILL_GATE_BIAS:
        snprintf(buf, size, "%g, %g on %d range%s from %lld", d->gate_bias.value, d->gate_bias.gate,
                 d->n_ranges, d->n_ranges > 1 ? "s" : "", (long long)d->range_start[0]);
        break;
    case OI_FILL_IDENTITY: snprintf(buf, size, "identity x %.4g", d->matrix.gain); break;
    case OI_FILL_SPARSE:
        snprintf(buf, size, "sparsity %g, N(0, %.4g^2)", d->sparse.sparsity, d->sparse.std);
        break;
    case OI_FILL_DISTINCT:
        snprintf(buf, size, "N(%g, %.4g^2) truncated, once per distinct value", d->normal.mean,
                 d->normal.std);
        break;
    case OI_FILL_COPY: case OI_FILL_NORMS: snprintf(buf, size, "%s", d->reason); break;
    default: snprintf(buf, size, "-"); break;
    }
}

/* The reason with its quoted names dropped, so like reasons group together:
 * "input 1 of Mul '/a/Mul' is not a weight slot" -> "input 1 of Mul is not a weight slot". */
void oi_format_reason_kind(const char *reason, char *buf, size_t size)
{
    size_t k = 0;
    int quoted = 0;
    for (const char *p = reason; *p && k + 1 < size; p++) {
        if (*p == '\'') {
            quoted = !quoted;
            if (!quoted && p[1] == ' ' && k > 0 && buf[k - 1] == ' ')
                p++;   /* no double space where the name was */
            continue;
        }
        if (!quoted)
            buf[k++] = *p;
    }
    buf[k] = '\0';
}

/* Long names elided in the middle: "encoder.layers.11...self_attn.weight". */
void oi_format_elide(const char *s, size_t width, char *buf, size_t size)
{
    size_t n = strlen(s);
    if (n <= width || width < 8 || size <= width) {
        snprintf(buf, size, "%s", s);
        return;
    }
    size_t head = (width - 3) / 2, tail = width - 3 - head;
    snprintf(buf, size, "%.*s...%s", (int)head, s, s + n - tail);
}
