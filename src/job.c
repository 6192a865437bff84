/* The whole job for one model: load -> re-initialize -> save. */
#include "onnxinit.h"
#include "model.h"

#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void oi_options_init(oi_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->external_threshold = 1024;
}

oi_status oi_reinit_file(const char *input, const char *output, const oi_options *opts,
                         oi_summary *summary, oi_error *err)
{
    oi_summary sum = {0};
    double t0 = now();
    oi_model *m;
    if (oi_model_load(input, &m, err))
        return err->status;
    double t1 = now();
    sum.tensors = oi_model_tensor_count(m);
    sum.left_alone = sum.tensors;
    double t2 = now();
    oi_save_opts so = {
        .overwrite = opts->overwrite,
        .allow_same_file = opts->in_place,
        .external_name = opts->external_name,
        .externalize = opts->externalize,
        .external_threshold = opts->external_threshold,
    };
    oi_status s = oi_model_save(m, output, &so, err);
    oi_model_free(m);
    sum.seconds_load = t1 - t0;
    sum.seconds_work = t2 - t1;
    sum.seconds_save = now() - t2;
    if (summary)
        *summary = sum;
    return s;
}
