/* A C program linked statically against libonnxinit.a with the flags of
 * `pkg-config --static --libs onnxinit`: plans a model and prints its JSON size. */
#include <onnxinit.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    oi_ctx *ctx = oi_ctx_new();
    oi_error err;
    if (oi_plan_file(ctx, argv[1], OI_FORMAT_JSON, stdout, &err) != OI_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    oi_ctx_free(ctx);
    return 0;
}
