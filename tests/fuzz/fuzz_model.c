/* libFuzzer harness: the whole in-memory path.  bytes -> load -> graph ->
 * analyze -> plan (default, and with --materialize declarations) -> fill ->
 * encode; plus the wire scanner over the same bytes. */
#include <stdint.h>
#include <stdlib.h>

#include "analyze/analyze.h"
#include "fill/fill.h"
#include "graph/graph.h"
#include "model/model.h"
#include "save/save.h"
#include "model/model_wire.h"
#include "plan/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    oi_wire_scan scan;
    if (oi_wire_scan_model(data, size, 64, &scan) == 0)
        oi_wire_scan_free(&scan);
    oi_model *m = NULL;
    oi_graph *g = NULL;
    oi_analysis *a = NULL;
    oi_plan *p = NULL;
    oi_error err;
    if (oi_model_load_buffer(data, size, "/nonexistent-oi-fuzz", "fuzz.onnx", &m, &err))
        return 0;
    size_t declared;
    int materialize = size % 2;   /* half the inputs also take the --materialize path */
    oi_policy policy = {.materialize = materialize, .preset = (oi_preset)(size % 4)};
    if ((!materialize || oi_model_declare_inputs(m, &declared, &err) == OI_OK) &&
        oi_graph_build(m, &g, &err) == OI_OK && oi_analyze(m, g, &a, &err) == OI_OK &&
        oi_plan_build(m, a, &policy, &p, &err) == OI_OK &&
        oi_fill_model(m, p, (oi_seed){1, OI_STREAM_LATEST}, 1, (oi_fill_target){0}, NULL, NULL, &err) == OI_OK) {
        uint8_t *out;
        size_t len;
        if (oi_model_save_buffer(m, &out, &len, &err) == OI_OK)
            free(out);
    }
    oi_plan_free(p);
    oi_analysis_free(a);
    oi_graph_free(g);
    oi_model_free(m);
    return 0;
}
