/*
 * Peer measurements for bench/run.mjs, compiled at bench time when OpenBLAS is installed:
 *   cc -O3 -march=native bench/peers.c -lopenblas -lpthread -o <tmp>
 * slimlm never links OpenBLAS; this program only gives the same run a yardstick.
 *
 *   peers bandwidth MIB THREADS REPS        read-only sum over an array of MIB MiB
 *   peers sgemm M N K TRANSB THREADS REPS   cblas_sgemm, row-major; TRANSB=1 multiplies by W^T (W [n, k])
 *   peers sgemv N K THREADS REPS [MIB]      cblas_sgemv y = W x, W [n, k] f32, cycling through copies
 *                                           of W that together exceed MIB MiB (default 128: 4x a
 *                                           32 MiB L3, so that W streams from DRAM)
 *
 * Prints one JSON object: {"times_ms": [...], "bytes": ..., "flops": ...}; OpenBLAS threads come
 * from the THREADS argument (the caller also sets OPENBLAS_NUM_THREADS and OPENBLAS_CORETYPE).
 * Each measurement first repeats its operation for PEERS_WARMUP_MS (default 200) milliseconds,
 * as bench/run.mjs does for slimlm's kernels.
 */
#include <cblas.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

/* Milliseconds to keep repeating an operation before timing it. */
static double warmup_ms(void) {
  const char *value = getenv("PEERS_WARMUP_MS");
  return value ? atof(value) : 200.0;
}

static void *checked_alloc(size_t bytes) {
  void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (p == NULL) {
    fprintf(stderr, "peers: cannot allocate %zu bytes\n", bytes);
    exit(1);
  }
  return p;
}

static void print_times(const double *times, int reps, double bytes, double flops) {
  printf("{\"times_ms\": [");
  for (int i = 0; i < reps; i++) printf("%s%.6f", i ? ", " : "", times[i]);
  printf("], \"bytes\": %.0f, \"flops\": %.0f}\n", bytes, flops);
}

struct slice {
  const uint64_t *data;
  size_t count;
  uint64_t sum;
};

/* Eight independent sums so that the loop is bound by loads, not by add latency. */
static void *sum_slice(void *arg) {
  struct slice *s = arg;
  uint64_t acc[8] = {0};
  size_t i = 0;
  for (; i + 8 <= s->count; i += 8) {
    for (int j = 0; j < 8; j++) acc[j] += s->data[i + j];
  }
  for (; i < s->count; i++) acc[0] += s->data[i];
  uint64_t total = 0;
  for (int j = 0; j < 8; j++) total += acc[j];
  s->sum = total;
  return NULL;
}

static int bandwidth(size_t mib, int threads, int reps) {
  const size_t count = mib * 1024 * 1024 / sizeof(uint64_t);
  uint64_t *data = checked_alloc(count * sizeof(uint64_t));
  for (size_t i = 0; i < count; i++) data[i] = i;
  double *times = calloc(reps, sizeof(double));
  pthread_t *ids = calloc(threads, sizeof(pthread_t));
  struct slice *slices = calloc(threads, sizeof(struct slice));
  uint64_t check = 0;
  const double warm_until = now_ms() + warmup_ms();
  for (int r = -1; r < reps; r++) {
    if (r == 0 && now_ms() < warm_until) r = -1;
    const double start = now_ms();
    for (int t = 0; t < threads; t++) {
      const size_t begin = count * t / threads, end = count * (t + 1) / threads;
      slices[t] = (struct slice){data + begin, end - begin, 0};
      pthread_create(&ids[t], NULL, sum_slice, &slices[t]);
    }
    for (int t = 0; t < threads; t++) {
      pthread_join(ids[t], NULL);
      check += slices[t].sum;
    }
    if (r >= 0) times[r] = now_ms() - start;
  }
  if (check == 42) fprintf(stderr, "unlikely\n");
  print_times(times, reps, (double)count * sizeof(uint64_t), 0);
  return 0;
}

static void fill(float *p, size_t count, unsigned seed) {
  for (size_t i = 0; i < count; i++) {
    seed = seed * 1103515245u + 12345u;
    p[i] = (float)((seed >> 9) & 0xffff) / 65536.0f - 0.5f;
  }
}

static int sgemm(int m, int n, int k, int transB, int threads, int reps) {
  openblas_set_num_threads(threads);
  float *a = checked_alloc((size_t)m * k * sizeof(float));
  float *b = checked_alloc((size_t)k * n * sizeof(float));
  float *c = checked_alloc((size_t)m * n * sizeof(float));
  fill(a, (size_t)m * k, 1);
  fill(b, (size_t)k * n, 2);
  double *times = calloc(reps, sizeof(double));
  const double warm_until = now_ms() + warmup_ms();
  for (int r = -1; r < reps; r++) {
    if (r == 0 && now_ms() < warm_until) r = -1;
    const double start = now_ms();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, transB ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a, k, b,
                transB ? k : n, 0.0f, c, n);
    if (r >= 0) times[r] = now_ms() - start;
  }
  print_times(times, reps, 4.0 * ((double)m * k + (double)k * n + (double)m * n), 2.0 * m * n * k);
  return 0;
}

static int sgemv(int n, int k, int threads, int reps, size_t mib) {
  openblas_set_num_threads(threads);
  const size_t bytes = (size_t)n * k * sizeof(float);
  const int copies = (int)((mib << 20) / bytes) + 1;
  float **w = calloc(copies, sizeof(float *));
  for (int i = 0; i < copies; i++) {
    w[i] = checked_alloc(bytes);
    fill(w[i], (size_t)n * k, 3 + i);
  }
  float *x = checked_alloc(k * sizeof(float));
  float *y = checked_alloc(n * sizeof(float));
  fill(x, k, 99);
  double *times = calloc(reps, sizeof(double));
  const double warm_until = now_ms() + warmup_ms();
  int call = 0;
  for (int r = -copies; r < reps; r++) {
    if (r == 0 && now_ms() < warm_until) r = -1;
    const double start = now_ms();
    cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, w[call++ % copies], k, x, 1, 0.0f, y, 1);
    if (r >= 0) times[r] = now_ms() - start;
  }
  print_times(times, reps, (double)bytes, 2.0 * n * k);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "bandwidth") == 0) return bandwidth(atol(argv[2]), atoi(argv[3]), atoi(argv[4]));
  if (argc == 8 && strcmp(argv[1], "sgemm") == 0) {
    return sgemm(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), atoi(argv[7]));
  }
  if ((argc == 6 || argc == 7) && strcmp(argv[1], "sgemv") == 0) {
    return sgemv(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), argc == 7 ? (size_t)atol(argv[6]) : 128);
  }
  fprintf(stderr, "usage: peers bandwidth MIB THREADS REPS | sgemm M N K TRANSB THREADS REPS | sgemv N K THREADS REPS [MIB]\n");
  return 2;
}
