/* The C second process of the USRBIO tests, through t3fs_usrbio.h:
 *   usrbio-c-driver SOCKET PATH SIZE OUT COPY
 * reads t3fs PATH (SIZE bytes) in one batch of 1 MiB reads into a region and saves the region to
 * the local file OUT, then writes the region to t3fs COPY in one batch of 256 KiB writes (in
 * reverse order); checks a full ring (-EAGAIN) and a missing file (-ENOENT); prints one JSON line. */
#include "../../../actors/client/usrbio/t3fs_usrbio.h"

int main(int argc, char **argv) {
  if (argc != 6) { fprintf(stderr, "usage: %s SOCKET PATH SIZE OUT COPY\n", argv[0]); return 2; }
  struct t3fs_usrbio io; struct t3fs_region r; struct t3fs_ring q; struct t3fs_cqe cqes[256];
  uint64_t size = strtoull(argv[3], NULL, 10), mib = 1 << 20, piece = 256 << 10;
  int rc = t3fs_connect(&io, argv[1]);
  if (rc < 0) { fprintf(stderr, "connect: %d %s\n", rc, t3fs_last_error(&io)); return 1; }
  if ((rc = t3fs_region_create(&io, size, &r)) < 0 || (rc = t3fs_ring_create(&io, 256, &q)) < 0) { fprintf(stderr, "setup: %d %s\n", rc, t3fs_last_error(&io)); return 1; }
  int fd = t3fs_open(&io, argv[2], 0, 0);
  if (fd < 0) { fprintf(stderr, "open: %d %s\n", fd, t3fs_last_error(&io)); return 1; }
  int n = 0;
  for (uint64_t at = 0; at < size; at += mib, n++) t3fs_prep_read(&q, &r, at, fd, at, size - at < mib ? size - at : mib, at);
  t3fs_submit(&io, &q);
  uint64_t bytes = 0; int got = 0, failed = 0;
  while (got < n) {
    int k = t3fs_wait(&io, &q, cqes, 256, 1, 60000);
    if (k < 0) { fprintf(stderr, "wait: %d\n", k); return 1; }
    for (int i = 0; i < k; i++) { if (cqes[i].result < 0) failed++; else bytes += (uint64_t)cqes[i].result; }
    got += k;
  }
  FILE *out = fopen(argv[4], "wb");
  fwrite(r.base, 1, size, out);
  fclose(out);
  int wfd = t3fs_open(&io, argv[5], 1, 1);
  if (wfd < 0) { fprintf(stderr, "open for write: %d %s\n", wfd, t3fs_last_error(&io)); return 1; }
  int w = (int)((size + piece - 1) / piece);
  for (int i = w - 1; i >= 0; i--) {
    uint64_t at = (uint64_t)i * piece;
    t3fs_prep_write(&q, &r, at, wfd, at, size - at < piece ? size - at : piece, at);
  }
  t3fs_submit(&io, &q);
  uint64_t written = 0;
  for (int done = 0; done < w;) {
    int k = t3fs_wait(&io, &q, cqes, 256, 1, 60000);
    if (k < 0) { fprintf(stderr, "wait: %d\n", k); return 1; }
    for (int i = 0; i < k; i++) { if (cqes[i].result < 0) failed++; else written += (uint64_t)cqes[i].result; }
    done += k;
  }
  t3fs_close_file(&io, wfd);
  struct t3fs_ring small;
  t3fs_ring_create(&io, 2, &small);
  long full = 0;
  for (int i = 0; i < 3; i++) full = t3fs_prep_read(&small, &r, 0, fd, 0, 10, i);
  long range = t3fs_prep_read(&q, &r, size - 5, fd, 0, 10, 0);
  int missing = t3fs_open(&io, "/no/such/file", 0, 0);
  printf("{\"reads\":%d,\"bytes\":%llu,\"writes\":%d,\"written\":%llu,\"failed\":%d,\"full\":%ld,\"range\":%ld,\"missing\":%d,\"missingError\":\"%.*s\"}\n",
         n, (unsigned long long)bytes, w, (unsigned long long)written, failed, full, range, missing, (int)strcspn(t3fs_last_error(&io), ":\"\\"), t3fs_last_error(&io));
  t3fs_close(&io);
  return 0;
}
