/* libFuzzer harness: the file path with external data.  The input is
 * [4-byte model length][model bytes][data file bytes]; both are written to a
 * private folder (data under the names the seeds use) and the model goes
 * through oi_reinit_file: mapped load, wire scan and skeleton, external data
 * checks, the patch save and the full encode. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "onnxinit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void put(const char *name, const uint8_t *p, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(p, 1, n, f);
        fclose(f);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/oi-fuzz-ext-%d", (int)getpid());
        char cmd[128];
        snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
        if (system(cmd) != 0)
            return 0;
    }
    if (size < 4)
        return 0;
    uint32_t n;
    memcpy(&n, data, 4);
    if (n > size - 4)
        n = (uint32_t)(size - 4);
    put("m.onnx", data + 4, n);
    put("external.onnx.data", data + 4 + n, size - 4 - n);
    put("w.bin", data + 4 + n, size - 4 - n);
    char in[128], out[128];
    snprintf(in, sizeof in, "%s/m.onnx", dir);
    snprintf(out, sizeof out, "%s/out.onnx", dir);
    oi_ctx *ctx = oi_ctx_new();
    oi_ctx_set_param(ctx, OI_P_OVERWRITE, 1, NULL);
    oi_ctx_set_param(ctx, OI_P_THREADS, 1, NULL);
    oi_ctx_set_param(ctx, OI_P_FULL_ENCODE, (int64_t)(size % 2), NULL);
    oi_reinit_file(ctx, in, out, NULL, NULL);   /* err NULL: must not matter */
    oi_ctx_free(ctx);
    return 0;
}
