/* libFuzzer harness: the --rules parser, and its rules matched and applied to
 * tensors of every role (the plan's rule path), on arbitrary text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze.h"
#include "plan/plan.h"
#include "plan/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    oi_rules *rules = NULL;
    oi_error err;
    if (oi_rules_parse(text, "fuzz.json", &rules, &err) == OI_OK) {
        int64_t dims[2] = {4, 3};
        Onnx__TensorProto proto = ONNX__TENSOR_PROTO__INIT;
        proto.n_dims = 2;
        proto.dims = dims;
        oi_tensor t = {.proto = &proto, .name = "layer.0.weight", .scope = "", .kind = "initializer",
                       .dtype = 1, .elem_size = 4, .n_elems = 12, .n_bytes = 48};
        for (int r = 0; r < OI_ROLE_COUNT; r++) {
            oi_weight w = {.role = (oi_role)r, .op = "Gemm", .layer = "", .rank = 2, .via = "",
                           .note = "", .reason = "", .module = "",
                           .fan_in = 3, .fan_out = 4, .gates = 1, .gain = 1.0, .tied_to = -1};
            w.dims[0] = 4;
            w.dims[1] = 3;
            oi_rules_match(rules, &t, &w);
        }
    }
    oi_rules_free(rules);
    free(text);
    return 0;
}
