/* Constants fixed by construction, recognised by their values: the feature
 * extractors audio and vision models carry inside the graph.  Each test is a
 * property a learned (trained or freshly drawn) tensor does not have:
 *  - DFT / STFT / inverse-STFT bases under any cosine-sum window (none, Hann,
 *    Hamming, Blackman), DCT matrices, windows: every line is a sum of at most
 *    five sinusoids (an order-10 linear recurrence predicts it exactly);
 *  - mel / bark / linear filterbanks: non-negative, one bump per filter;
 *  - identity, permutation, one-hot (pixel shuffle as a conv): one non-zero
 *    value per line, all equal;
 *  - blur, box, Sobel, Scharr, Laplacian kernels: a few distinct kernels of
 *    small integer ratios, each symmetric or antisymmetric under a flip. */
#include "analyze/analyze_internal.h"

#include <math.h>
#include <string.h>

#define LP_ORDER 10          /* five sinusoids: a Blackman window times a cosine */
#define LP_MIN_LEN 30        /* lines shorter than this cannot tell */
#define LP_TOLERANCE 1e-6    /* residual energy over line energy (float32 rounding ~1e-12) */
#define KERNEL_PATTERNS 4    /* distinct kernels a fixed filter bank has (Sobel x and y, ...) */
#define KERNEL_INT_MAX 1024  /* binomial 7x7: 400 */

/* A rows x cols matrix read along rows (by_rows) or columns. */
typedef struct {
    const float *v;
    int64_t rows, cols;
    int by_rows;
    float tiny;   /* |x| below this is rounding noise of a zero (sin(pi n) in float) */
} grid;

static int64_t lines_of(grid g) { return g.by_rows ? g.rows : g.cols; }
static int64_t len_of(grid g) { return g.by_rows ? g.cols : g.rows; }
static float at(grid g, int64_t line, int64_t i)
{
    return g.by_rows ? g.v[line * g.cols + i] : g.v[i * g.cols + line];
}

/* Solve (A + ridge) a = b for a small symmetric positive semi-definite A
 * (Cholesky; the ridge makes rank-deficient systems, a single sinusoid
 * asking an order-10 fit, solvable).  0 if not positive definite. */
static int solve_spd(double A[LP_ORDER][LP_ORDER], double *b, int p)
{
    double trace = 0;
    for (int i = 0; i < p; i++)
        trace += A[i][i];
    double ridge = 1e-11 * trace / p + 1e-300;
    for (int i = 0; i < p; i++)
        A[i][i] += ridge;
    for (int j = 0; j < p; j++) {
        double d = A[j][j];
        for (int k = 0; k < j; k++)
            d -= A[j][k] * A[j][k];
        if (!(d > 0))
            return 0;
        A[j][j] = sqrt(d);
        for (int i = j + 1; i < p; i++) {
            double s = A[i][j];
            for (int k = 0; k < j; k++)
                s -= A[i][k] * A[j][k];
            A[i][j] = s / A[j][j];
        }
    }
    for (int i = 0; i < p; i++) {   /* L y = b, then L^T a = y */
        for (int k = 0; k < i; k++)
            b[i] -= A[i][k] * b[k];
        b[i] /= A[i][i];
    }
    for (int i = p - 1; i >= 0; i--) {
        for (int k = i + 1; k < p; k++)
            b[i] -= A[k][i] * b[k];
        b[i] /= A[i][i];
    }
    return 1;
}

typedef enum { LINE_NO = 0, LINE_YES, LINE_TRIVIAL } line_verdict;

/* Is x[0..m) (zeros trimmed from both ends) a sum of at most LP_ORDER/2
 * sinusoids?  Constant or empty lines are trivial. */
static line_verdict sinusoid_line(grid g, int64_t line)
{
    int64_t len = len_of(g), lo = 0, hi = len;
    while (lo < hi && fabsf(at(g, line, lo)) <= g.tiny)
        lo++;
    while (hi > lo && fabsf(at(g, line, hi - 1)) <= g.tiny)
        hi--;
    float peak = 0.0f;
    for (int64_t i = lo; i < hi; i++)
        peak = fmaxf(peak, fabsf(at(g, line, i)));
    if (peak <= g.tiny * 16)
        return LINE_TRIVIAL;
    int constant = 1;
    for (int64_t i = lo + 1; constant && i < hi; i++)
        constant = at(g, line, i) == at(g, line, lo);
    if (constant)
        return LINE_TRIVIAL;
    if (hi - lo < LP_MIN_LEN)
        return LINE_NO;
    double A[LP_ORDER][LP_ORDER] = {{0}}, b[LP_ORDER] = {0}, energy = 0;
    for (int64_t n = lo + LP_ORDER; n < hi; n++) {
        double y = at(g, line, n);
        energy += y * y;
        for (int i = 0; i < LP_ORDER; i++) {
            double xi = at(g, line, n - 1 - i);
            b[i] += y * xi;
            for (int j = 0; j <= i; j++)
                A[i][j] += xi * at(g, line, n - 1 - j);
        }
    }
    for (int i = 0; i < LP_ORDER; i++)
        for (int j = i + 1; j < LP_ORDER; j++)
            A[i][j] = A[j][i];
    if (!(energy > 0) || !isfinite(energy) || !solve_spd(A, b, LP_ORDER))
        return LINE_NO;
    double residual = 0;
    for (int64_t n = lo + LP_ORDER; n < hi; n++) {
        double e = at(g, line, n);
        for (int i = 0; i < LP_ORDER; i++)
            e -= b[i] * at(g, line, n - 1 - i);
        residual += e * e;
    }
    return residual <= LP_TOLERANCE * energy ? LINE_YES : LINE_NO;
}

/* Non-negative, one contiguous bump rising to its peak and falling after. */
static line_verdict bump_line(grid g, int64_t line, int64_t *peak, int64_t *width)
{
    int64_t len = len_of(g), lo = 0, hi = len, top;
    while (lo < hi && at(g, line, lo) == 0.0f)
        lo++;
    while (hi > lo && at(g, line, hi - 1) == 0.0f)
        hi--;
    if (lo == hi)
        return LINE_TRIVIAL;
    top = lo;
    for (int64_t i = lo; i < hi; i++) {
        if (!(at(g, line, i) > 0.0f))
            return LINE_NO;
        if (at(g, line, i) > at(g, line, top))
            top = i;
    }
    float slack = at(g, line, top) * 1e-5f;
    for (int64_t i = lo + 1; i <= top; i++)
        if (at(g, line, i) < at(g, line, i - 1) - slack)
            return LINE_NO;
    for (int64_t i = top + 1; i < hi; i++)
        if (at(g, line, i) > at(g, line, i - 1) + slack)
            return LINE_NO;
    *peak = top;
    *width = hi - lo;
    return LINE_YES;
}

/* One non-zero value per line, the same value everywhere. */
static line_verdict one_hot_line(grid g, int64_t line, float *value)
{
    int64_t found = 0;
    for (int64_t i = 0; i < len_of(g); i++) {
        float x = at(g, line, i);
        if (x == 0.0f)
            continue;
        if (found++ || (*value != 0.0f && x != *value))
            return LINE_NO;
        *value = x;
    }
    return found ? LINE_YES : LINE_NO;
}

typedef enum { TEST_SINUSOIDS, TEST_BUMPS, TEST_ONE_HOT } line_test;

/* Every line passes (trivial ones allowed) and enough of them are real. */
static int lines_pass(grid g, line_test test, int64_t min_real)
{
    int64_t real = 0, widths = 0, peaks_differ = 0, first_peak = -1;
    float value = 0.0f;
    for (int64_t l = 0; l < lines_of(g); l++) {
        int64_t peak = 0, width = 0;
        line_verdict v = test == TEST_SINUSOIDS ? sinusoid_line(g, l)
                         : test == TEST_BUMPS   ? bump_line(g, l, &peak, &width)
                                                : one_hot_line(g, l, &value);
        if (v == LINE_NO)
            return 0;
        if (v == LINE_YES) {
            real++;
            widths += width;
            peaks_differ |= first_peak >= 0 && peak != first_peak;
            if (first_peak < 0)
                first_peak = peak;
        }
    }
    if (real < min_real)
        return 0;
    if (test == TEST_BUMPS)   /* filters at different places, each narrower than the line */
        return peaks_differ && widths * 4 < real * len_of(g) * 3;
    return 1;
}

/* ---- kernels ---- */

/* All values small integer multiples of one unit: the smallest magnitude
 * divided by 1..12 (Scharr's 3 and 10 share the unit 1). */
static int integer_ratios(const float *k, int64_t n)
{
    float least = 0;
    for (int64_t i = 0; i < n; i++)
        if (k[i] != 0.0f && (least == 0.0f || fabsf(k[i]) < least))
            least = fabsf(k[i]);
    if (least == 0.0f)
        return 0;
    for (int parts = 1; parts <= 12; parts++) {
        double unit = (double)least / parts;
        int64_t i = 0;
        for (; i < n; i++) {
            double q = k[i] / unit;
            if (fabs(q) > KERNEL_INT_MAX || fabs(q - nearbyint(q)) > 1e-4)
                break;
        }
        if (i == n)
            return 1;
    }
    return 0;
}

/* Equal to +-itself flipped along one spatial axis (or transposed, when square 2-D). */
static int symmetric_kernel(const float *k, const int64_t *dims, int rank, int64_t n)
{
    for (int axis = 0; axis <= rank; axis++) {
        if (axis == rank && !(rank == 2 && dims[0] == dims[1]))
            break;
        int64_t inner = oi_dims_product(dims, axis + 1, rank);
        for (int sign = -1; sign <= 1; sign += 2) {
            int same = 1;
            for (int64_t i = 0; same && i < n; i++) {
                int64_t j;
                if (axis == rank)
                    j = (i % dims[1]) * dims[1] + i / dims[1];
                else {
                    int64_t c = i / inner % dims[axis];
                    j = i + (dims[axis] - 1 - 2 * c) * inner;
                }
                same = fabsf(k[j] - (float)sign * k[i]) <= 1e-6f * (fabsf(k[i]) + 1e-30f);
            }
            if (same)
                return 1;
        }
    }
    return 0;
}

/* Conv weights [M, C/g, k...]: at most a few distinct non-zero kernels, each
 * of small integer ratios and symmetric or antisymmetric; an equal kernel
 * only as an average (its values sum to 1 over the kernel or the window). */
static int fixed_kernels(const float *v, const int64_t *dims, int rank, int64_t slices,
                         int64_t in_per_group)
{
    int64_t n = oi_dims_product(dims, 2, rank);
    if (rank < 3 || n < 2 || n > 4096)
        return 0;
    const float *patterns[KERNEL_PATTERNS];
    int distinct = 0;
    for (int64_t s = 0; s < slices; s++) {
        const float *k = v + s * n;
        int zero = 1, seen = 0;
        for (int64_t i = 0; zero && i < n; i++)
            zero = k[i] == 0.0f;
        for (int p = 0; !zero && !seen && p < distinct; p++)
            seen = memcmp(patterns[p], k, (size_t)n * sizeof *k) == 0;
        if (zero || seen)
            continue;
        if (distinct == KERNEL_PATTERNS || !integer_ratios(k, n) ||
            !symmetric_kernel(k, dims + 2, rank - 2, n))
            return 0;
        int equal = 1;
        for (int64_t i = 1; equal && i < n; i++)
            equal = k[i] == k[0];
        double mean = (double)k[0] * (double)n;
        if (equal && fabs(mean - 1) > 1e-5 && fabs(mean * (double)in_per_group - 1) > 1e-5 &&
            k[0] != 1.0f)
            return 0;
        patterns[distinct++] = k;
    }
    return distinct > 0;
}

/* ---- the verdict ---- */

const char *oi_values_fixed(const int64_t *dims, int rank, const float *v, uint64_t n)
{
    int lead = 0;
    if (n < 8 || rank > OI_MAX_RANK)
        return NULL;
    while (lead < rank - 1 && dims[lead] == 1)
        lead++;
    int64_t rows = rank ? dims[lead] : 1, cols = rows > 0 ? (int64_t)(n / (uint64_t)rows) : 0;
    if (rows <= 0 || cols <= 0 || (uint64_t)rows * (uint64_t)cols != n)
        return NULL;
    int64_t in_per_group = rank > 1 ? dims[1] : 1;
    if (rank >= 3 && fixed_kernels(v, dims, rank, dims[0] * in_per_group, in_per_group))
        return "fixed filter kernels (few distinct, integer ratios, symmetric: blur, box, "
               "Sobel, Laplacian, identity): kept";
    float top = 0.0f;
    for (uint64_t i = 0; i < n; i++)
        top = fmaxf(top, fabsf(v[i]));
    grid by_rows = {v, rows, cols, 1, top * 1e-6f}, by_cols = {v, rows, cols, 0, top * 1e-6f};
    int64_t need = rows > 1 && cols > 1 ? 2 : 1;
    if (rows > 1 && cols > 1 && (lines_pass(by_rows, TEST_ONE_HOT, 2) ||
                                 lines_pass(by_cols, TEST_ONE_HOT, 2)))
        return "selection matrix (one equal non-zero per line: identity, permutation, "
               "one-hot): kept";
    if (lines_pass(by_rows, TEST_SINUSOIDS, need) || (rows >= LP_MIN_LEN && cols > 1 &&
                                                     lines_pass(by_cols, TEST_SINUSOIDS, need)))
        return "fixed sinusoidal basis (DFT / STFT / DCT rows under a cosine window, or a "
               "window): kept";
    if (rows > 1 && cols > 1 && (lines_pass(by_rows, TEST_BUMPS, 2) ||
                                 lines_pass(by_cols, TEST_BUMPS, 2)))
        return "filterbank (non-negative, one bump per filter: mel, bark, linear): kept";
    return NULL;
}

/* torch's buffers by name: what an exporter kept of register_buffer. */
int oi_name_is_buffer(const char *name)
{
    static const char *const marks[] = {"buffer", "running_mean", "running_var",
                                        "num_batches_tracked", NULL};
    for (size_t i = 0; marks[i]; i++)
        if (strstr(name, marks[i]))
            return 1;
    return 0;
}

int oi_name_is_parameter(const char *name)
{
    static const char *const last[] = {"weight", "bias", "scale", "gamma", "beta", "alpha",
                                       "shift", "kernel", "gain", "g", "lambda", NULL};
    if (oi_exporter_named(name) || oi_name_is_buffer(name))
        return 0;
    if (strstr(name, "ReadVariableOp"))
        return 1;
    const char *dot = strrchr(name, '.'), *c = dot ? dot + 1 : name;   /* torch's top level: "scale" */
    if ((c[0] == 'w' || c[0] == 'b') && c[1] == '_' && c[2] >= '0' && c[2] <= '9')
        return 1;   /* PaddlePaddle: conv2d_3.w_0, linear_1.b_0 */
    for (size_t i = 0; last[i]; i++)
        if (strcmp(c, last[i]) == 0)
            return 1;
    return 0;
}
