/* Names of presets and fill kinds: below both plan.c and rules.c, which use them. */
#include "plan/plan.h"

#include <string.h>

const char *oi_fill_name(oi_fill_kind k)
{
    static const char *const names[] = {
        "none", "constant", "uniform", "normal", "trunc_normal", "orthogonal", "identity",
        "sparse", "gate_bias", "distinct", "copy", "quantized", "quant_scale", "quant_zero_point",
        "norms",
    };
    return (size_t)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

static const char *const preset_names[] = {"default", "torch", "keras", "transformer", "normfree"};
#define N_PRESETS (sizeof preset_names / sizeof *preset_names)

int oi_preset_parse(const char *name)
{
    for (int i = 0; i < (int)N_PRESETS; i++)
        if (strcmp(name, preset_names[i]) == 0)
            return i;
    return -1;
}

const char *oi_preset_name(oi_preset p) { return (unsigned)p < N_PRESETS ? preset_names[p] : "?"; }
