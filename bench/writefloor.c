/* The write floor: the time onnxinit would take if its values cost nothing.
 * Writes files of the given sizes under DIR (f0, f1, ...) as the fill does
 * (fill.c): one thread per core taking 256 KiB chunks, one thread at a time
 * in pwrite (as fill.c's workers take the file in turn), writeback started
 * on each finished 8 MiB window, then each file fsynced, and the folder;
 * files of 1 MiB or more have their blocks reserved first, as the save does.
 * The bytes are a fixed pseudo-random pattern (not zeros, which a disk or its
 * host may store cheaply).  Prints "writefloor <seconds>".
 *   oi-writefloor DIR SIZE [SIZE...]
 * Buffered writes with early writeback beat O_DIRECT here (1 to 8 writers,
 * 1-4 MiB each): this is the fastest durable write of the bytes we know. */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define CHUNK ((size_t)256 << 10)
#define WINDOW ((uint64_t)8 << 20)
#define MAX_FILES 4096

typedef struct {
    int fd[MAX_FILES];
    uint64_t size[MAX_FILES];
    int n;
    const uint8_t *pattern;
    uint64_t next;   /* chunk counter over all files, taken atomically */
    pthread_mutex_t file_lock;
    uint64_t chunks_before[MAX_FILES + 1];
} floor_run;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int write_chunk(floor_run *r, uint64_t c)
{
    int f = 0;
    while (c >= r->chunks_before[f + 1])
        f++;
    uint64_t at = (c - r->chunks_before[f]) * CHUNK, end = at + CHUNK;
    end = end > r->size[f] ? r->size[f] : end;
    pthread_mutex_lock(&r->file_lock);
    ssize_t w = pwrite(r->fd[f], r->pattern, (size_t)(end - at), (off_t)at);
    pthread_mutex_unlock(&r->file_lock);
    if (w != (ssize_t)(end - at))
        return -1;
    if (end / WINDOW != at / WINDOW)
        sync_file_range(r->fd[f], (off_t)(end / WINDOW * WINDOW - WINDOW), (off_t)WINDOW,
                        SYNC_FILE_RANGE_WRITE);
    return 0;
}

static void *worker(void *arg)
{
    floor_run *r = arg;
    for (uint64_t c; (c = __atomic_fetch_add(&r->next, 1, __ATOMIC_RELAXED)) < r->chunks_before[r->n];)
        if (write_chunk(r, c)) {
            perror("oi-writefloor: pwrite");
            exit(1);
        }
    return NULL;
}

int main(int argc, char **argv)
{
    static floor_run r;
    if (argc < 3 || argc - 2 > MAX_FILES) {
        fprintf(stderr, "usage: oi-writefloor DIR SIZE [SIZE...]\n");
        return 2;
    }
    uint8_t *pattern = malloc(CHUNK);
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; pattern && i < CHUNK; i++, x = x * 6364136223846793005u + 1442695040888963407u)
        pattern[i] = (uint8_t)(x >> 56);
    r.pattern = pattern;
    pthread_mutex_init(&r.file_lock, NULL);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = cores < 1 ? 1 : cores > 16 ? 16 : (int)cores;
    double t0 = now();
    for (r.n = 0; r.n < argc - 2; r.n++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/f%d", argv[1], r.n);
        r.size[r.n] = strtoull(argv[r.n + 2], NULL, 10);
        r.fd[r.n] = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (r.fd[r.n] < 0 || !pattern) {
            perror(path);
            return 1;
        }
        if (r.size[r.n] >= (1u << 20))   /* reserved as the tool's save does (oi_save_reserve) */
            fallocate(r.fd[r.n], 0, 0, (off_t)r.size[r.n]);
        r.chunks_before[r.n + 1] = r.chunks_before[r.n] + (r.size[r.n] + CHUNK - 1) / CHUNK;
    }
    pthread_t tid[16];
    for (int i = 0; i < threads; i++)
        pthread_create(&tid[i], NULL, worker, &r);
    for (int i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    for (int f = 0; f < r.n; f++)
        if (fsync(r.fd[f]) || close(r.fd[f])) {
            perror("oi-writefloor: fsync");
            return 1;
        }
    int dir = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0 || fsync(dir) || close(dir)) {
        perror(argv[1]);
        return 1;
    }
    printf("writefloor %.3f\n", now() - t0);
    free(pattern);
    return 0;
}
