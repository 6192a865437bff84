// A C++ application using the installed header and library: compiles with
// g++ (extern "C", no C-only types in the header) and re-initializes a model
// in memory.
#include <onnxinit.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    std::ifstream in(argv[1], std::ios::binary);
    std::vector<char> model((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    oi_ctx *ctx = oi_ctx_new();
    oi_error err;
    oi_ctx_set_seed(ctx, 1);
    if (oi_ctx_set_preset(ctx, "torch", &err) != OI_OK)
        return 1;
    void *out = nullptr;
    size_t len = 0;
    oi_summary sum = OI_SUMMARY_INIT;
    if (oi_reinit_to_memory(ctx, model.data(), model.size(), &out, &len, &sum, &err) != OI_OK) {
        std::fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    std::printf("%s %llu %zu\n", oi_version_string(), (unsigned long long)sum.rewritten, len);
    oi_summary_clear(&sum);
    oi_free(out);
    oi_ctx_free(ctx);
    return 0;
}
