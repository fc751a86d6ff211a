/*
 * t3fs_usrbio.h — USRBIO from C: batched, zero-copy reads and writes of t3fs files through a
 * local t3fs node's usrbio actor. Header-only, libc only (C11 atomics as GCC/Clang builtins).
 * Layout and protocol: layout.ts and protocol.ts beside this file (keep them in step).
 *
 *   struct t3fs_usrbio io; struct t3fs_region r; struct t3fs_ring q; int fd;
 *   t3fs_connect(&io, NULL);                       // NULL: $T3FS_USRBIO_SOCKET or the default
 *   t3fs_region_create(&io, 64 << 20, &r);         // r.base: 64 MiB of shared memory
 *   t3fs_ring_create(&io, 64, &q);
 *   fd = t3fs_open(&io, "/data/x.bin", 0, 0);
 *   for (i = 0; i < 16; i++) t3fs_prep_read(&q, &r, (uint64_t)i << 20, fd, (uint64_t)i << 20, 1 << 20, i);
 *   t3fs_submit(&io, &q);
 *   n = t3fs_wait(&io, &q, cqes, 16, 16, 60000);   // results landed in r.base
 *   t3fs_close(&io);
 *
 * Every function returns >= 0 on success or -errno; t3fs_last_error(&io) has the server's code and
 * message for a failed request (e.g. "ERR_USRBIO_REGION: register-region: cannot map …").
 */
#ifndef T3FS_USRBIO_H
#define T3FS_USRBIO_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define T3FS_RING_MAGIC 0x4F493354u
#define T3FS_RING_VERSION 1u
#define T3FS_HEADER_BYTES 512u
#define T3FS_OFF_SQ_TAIL 64u
#define T3FS_OFF_SQ_HEAD 128u
#define T3FS_OFF_CQ_TAIL 192u
#define T3FS_OFF_CQ_HEAD 256u
#define T3FS_OFF_CQ_WAITING 320u
#define T3FS_OFF_SQ_NEED_WAKE 384u
#define T3FS_OFF_CQ_WAKE_MIN 448u
#define T3FS_OP_READ 1
#define T3FS_OP_WRITE 2
#define T3FS_MAX_RING_ENTRIES 4096u
#define T3FS_DEFAULT_SOCKET "/dev/shm/t3fs-usrbio.sock"

struct t3fs_sqe { uint8_t op, flags; uint16_t region; uint32_t fd; uint64_t buf_offset, file_offset, length, userdata, reserved; };
struct t3fs_cqe { uint32_t sq_index, reserved; int64_t result; uint64_t userdata; };
_Static_assert(sizeof(struct t3fs_sqe) == 48, "SQE is 48 bytes");
_Static_assert(sizeof(struct t3fs_cqe) == 24, "CQE is 24 bytes");

struct t3fs_usrbio { int sock; int next_id; char in[65536]; size_t in_len; char error[512]; };
struct t3fs_region { uint16_t id; uint8_t *base; uint64_t size; };
struct t3fs_ring { uint32_t id, entries; uint8_t *base; size_t size; struct t3fs_sqe *sq; struct t3fs_cqe *cq; };

static inline uint32_t *t3fs__word(const struct t3fs_ring *q, unsigned off) { return (uint32_t *)(q->base + off); }
static inline const char *t3fs_last_error(const struct t3fs_usrbio *io) { return io->error; }

static inline int t3fs__send(struct t3fs_usrbio *io, const char *line) {
  size_t len = strlen(line), done = 0;
  while (done < len) {
    ssize_t n = send(io->sock, line + done, len - done, MSG_NOSIGNAL);
    if (n < 0) { if (errno == EINTR) continue; return -errno; }
    done += (size_t)n;
  }
  return 0;
}

/* Reads one line (a reply or an event) into `out`, waiting up to timeout_ms (-1: forever). 0: timed out. */
static inline int t3fs__line(struct t3fs_usrbio *io, char *out, size_t cap, int timeout_ms) {
  for (;;) {
    char *nl = memchr(io->in, '\n', io->in_len);
    if (nl != NULL) {
      size_t n = (size_t)(nl - io->in);
      if (n >= cap) return -EMSGSIZE;
      memcpy(out, io->in, n); out[n] = 0;
      memmove(io->in, nl + 1, io->in_len - n - 1); io->in_len -= n + 1;
      return 1;
    }
    if (io->in_len == sizeof io->in) return -EMSGSIZE;
    struct pollfd p = { io->sock, POLLIN, 0 };
    int r = poll(&p, 1, timeout_ms);
    if (r < 0) { if (errno == EINTR) continue; return -errno; }
    if (r == 0) return 0;
    ssize_t n = recv(io->sock, io->in + io->in_len, sizeof io->in - io->in_len, 0);
    if (n == 0) { snprintf(io->error, sizeof io->error, "ERR_USRBIO_DISCONNECTED: the server closed the connection"); return -ECONNRESET; }
    if (n < 0) { if (errno == EINTR) continue; return -errno; }
    io->in_len += (size_t)n;
  }
}

static inline long long t3fs__field(const char *line, const char *name) {
  char key[64]; snprintf(key, sizeof key, "\"%s\":", name);
  const char *p = strstr(line, key);
  return p == NULL ? -1 : strtoll(p + strlen(key), NULL, 10);
}

/* Sends a request (JSON without the closing brace: the id is appended) and waits for its reply. */
static inline int t3fs__request(struct t3fs_usrbio *io, const char *body, char *reply, size_t cap) {
  char line[1024];
  int id = ++io->next_id;
  snprintf(line, sizeof line, "%s,\"id\":%d}\n", body, id);
  int r = t3fs__send(io, line);
  if (r < 0) return r;
  for (;;) {
    r = t3fs__line(io, reply, cap, 30000);
    if (r < 0) return r;
    if (r == 0) { snprintf(io->error, sizeof io->error, "ERR_USRBIO_TIMEOUT: no reply within 30 s"); return -ETIMEDOUT; }
    if (t3fs__field(reply, "id") != id) continue; /* an event, or an older reply */
    if (strstr(reply, "\"ok\":true") != NULL) return 0;
    const char *code = strstr(reply, "\"code\":\""), *msg = strstr(reply, "\"message\":\"");
    snprintf(io->error, sizeof io->error, "%.*s: %s", code ? (int)strcspn(code + 8, "\"") : 0, code ? code + 8 : "", msg ? msg + 11 : "");
    return code != NULL && strncmp(code + 8, "ENOENT", 6) == 0 ? -ENOENT : -EINVAL;
  }
}

static inline int t3fs_connect(struct t3fs_usrbio *io, const char *path) {
  memset(io, 0, sizeof *io);
  if (path == NULL) path = getenv("T3FS_USRBIO_SOCKET");
  if (path == NULL) path = T3FS_DEFAULT_SOCKET;
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof a.sun_path) return -ENAMETOOLONG;
  strcpy(a.sun_path, path);
  io->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (io->sock < 0) return -errno;
  if (connect(io->sock, (struct sockaddr *)&a, sizeof a) < 0) {
    int e = errno; close(io->sock); io->sock = -1;
    snprintf(io->error, sizeof io->error, "connecting to %s: %s; is a t3fs node with the usrbio actor running?", path, strerror(e));
    return -e;
  }
  return 0;
}

/* Maps memory the server made (a size-sealed memfd at the reply's "path"), then lets it close its fd. */
static inline void *t3fs__map_server(struct t3fs_usrbio *io, const char *reply, const char *object, size_t size) {
  char path[128], body[128], ok[1024];
  const char *p = strstr(reply, "\"path\":\"");
  if (p == NULL) { errno = EPROTO; return NULL; }
  snprintf(path, sizeof path, "%.*s", (int)strcspn(p + 8, "\""), p + 8);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return NULL;
  void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (m == MAP_FAILED) return NULL;
  snprintf(body, sizeof body, "{\"op\":\"mapped\",\"object\":%lld", t3fs__field(reply, object));
  if (t3fs__request(io, body, ok, sizeof ok) < 0) { munmap(m, size); errno = EPROTO; return NULL; }
  return m;
}

static inline int t3fs_region_create(struct t3fs_usrbio *io, uint64_t size, struct t3fs_region *out) {
  char body[128], reply[1024];
  snprintf(body, sizeof body, "{\"op\":\"create-region\",\"sizeBytes\":%llu", (unsigned long long)size);
  int r = t3fs__request(io, body, reply, sizeof reply);
  if (r < 0) return r;
  void *p = t3fs__map_server(io, reply, "region", (size_t)size);
  if (p == NULL) return -errno;
  out->id = (uint16_t)t3fs__field(reply, "region"); out->base = p; out->size = size;
  return 0;
}

static inline int t3fs_ring_create(struct t3fs_usrbio *io, uint32_t entries, struct t3fs_ring *out) {
  if (entries == 0 || entries > T3FS_MAX_RING_ENTRIES || (entries & (entries - 1)) != 0) {
    snprintf(io->error, sizeof io->error, "ERR_USRBIO_RING: ring entries is %u; accepted: a power of two from 1 to %u", entries, T3FS_MAX_RING_ENTRIES);
    return -EINVAL;
  }
  char body[128], reply[1024];
  size_t size = T3FS_HEADER_BYTES + (size_t)entries * (sizeof(struct t3fs_sqe) + sizeof(struct t3fs_cqe));
  snprintf(body, sizeof body, "{\"op\":\"create-ring\",\"entries\":%u", entries);
  int r = t3fs__request(io, body, reply, sizeof reply);
  if (r < 0) return r;
  uint8_t *p = t3fs__map_server(io, reply, "ring", size);
  if (p == NULL) return -errno;
  out->id = (uint32_t)t3fs__field(reply, "ring"); out->entries = entries; out->base = p; out->size = size;
  out->sq = (struct t3fs_sqe *)(p + T3FS_HEADER_BYTES);
  out->cq = (struct t3fs_cqe *)(p + T3FS_HEADER_BYTES + entries * sizeof(struct t3fs_sqe));
  return 0;
}

/* Opens a t3fs file through the server; returns its fd (a server-side number, not a kernel fd). */
static inline int t3fs_open(struct t3fs_usrbio *io, const char *path, int write, int create) {
  char body[1024], reply[1024];
  if (strlen(path) > 900 || strpbrk(path, "\"\\") != NULL) return -EINVAL;
  snprintf(body, sizeof body, "{\"op\":\"open\",\"path\":\"%s\",\"write\":%s,\"create\":%s", path, write ? "true" : "false", create ? "true" : "false");
  int r = t3fs__request(io, body, reply, sizeof reply);
  return r < 0 ? r : (int)t3fs__field(reply, "fd");
}

static inline int t3fs_close_file(struct t3fs_usrbio *io, int fd) {
  char body[128], reply[1024];
  snprintf(body, sizeof body, "{\"op\":\"close\",\"fd\":%d", fd);
  return t3fs__request(io, body, reply, sizeof reply);
}

/* Queues one I/O; returns its SQE index, -ERANGE outside the region, -EAGAIN when the ring is full. */
static inline long t3fs_prep(struct t3fs_ring *q, int op, const struct t3fs_region *r, uint64_t buf_offset, int fd, uint64_t file_offset, uint64_t length, uint64_t userdata) {
  if (buf_offset > r->size || length > r->size - buf_offset) return -ERANGE;
  uint32_t tail = *t3fs__word(q, T3FS_OFF_SQ_TAIL);
  if (tail - __atomic_load_n(t3fs__word(q, T3FS_OFF_SQ_HEAD), __ATOMIC_ACQUIRE) >= q->entries) return -EAGAIN;
  struct t3fs_sqe s = { (uint8_t)op, 0, r->id, (uint32_t)fd, buf_offset, file_offset, length, userdata, 0 };
  q->sq[tail & (q->entries - 1)] = s;
  __atomic_store_n(t3fs__word(q, T3FS_OFF_SQ_TAIL), tail + 1, __ATOMIC_SEQ_CST);
  return (long)tail;
}
static inline long t3fs_prep_read(struct t3fs_ring *q, const struct t3fs_region *r, uint64_t buf_offset, int fd, uint64_t file_offset, uint64_t length, uint64_t userdata) {
  return t3fs_prep(q, T3FS_OP_READ, r, buf_offset, fd, file_offset, length, userdata);
}
static inline long t3fs_prep_write(struct t3fs_ring *q, const struct t3fs_region *r, uint64_t buf_offset, int fd, uint64_t file_offset, uint64_t length, uint64_t userdata) {
  return t3fs_prep(q, T3FS_OP_WRITE, r, buf_offset, fd, file_offset, length, userdata);
}

static inline int t3fs__ring(struct t3fs_usrbio *io, const struct t3fs_ring *q) {
  char line[64];
  snprintf(line, sizeof line, "{\"op\":\"submit\",\"ring\":%u}\n", q->id);
  return t3fs__send(io, line);
}

/* Hands queued SQEs to the server: rings the doorbell only when it is idle (sqNeedWake). */
static inline int t3fs_submit(struct t3fs_usrbio *io, const struct t3fs_ring *q) {
  uint32_t tail = __atomic_load_n(t3fs__word(q, T3FS_OFF_SQ_TAIL), __ATOMIC_SEQ_CST);
  if (__atomic_load_n(t3fs__word(q, T3FS_OFF_SQ_NEED_WAKE), __ATOMIC_SEQ_CST) == 1 && tail != __atomic_load_n(t3fs__word(q, T3FS_OFF_SQ_HEAD), __ATOMIC_SEQ_CST)) return t3fs__ring(io, q);
  return 0;
}

/* Reaps up to `max` CQEs into `out`, waiting until at least `min` arrived; returns how many, or -ETIMEDOUT. */
static inline int t3fs_wait(struct t3fs_usrbio *io, struct t3fs_ring *q, struct t3fs_cqe *out, int max, int min, int timeout_ms) {
  int got = 0, waited_ms = 0;
  char line[1024];
  for (;;) {
    uint32_t head = *t3fs__word(q, T3FS_OFF_CQ_HEAD), tail = __atomic_load_n(t3fs__word(q, T3FS_OFF_CQ_TAIL), __ATOMIC_ACQUIRE);
    int before = got;
    while (head != tail && got < max) out[got++] = q->cq[head++ & (q->entries - 1)];
    __atomic_store_n(t3fs__word(q, T3FS_OFF_CQ_HEAD), head, __ATOMIC_SEQ_CST);
    /* The server pauses while the CQ is full: tell it there is room. */
    if (got > before && *t3fs__word(q, T3FS_OFF_SQ_TAIL) != __atomic_load_n(t3fs__word(q, T3FS_OFF_SQ_HEAD), __ATOMIC_SEQ_CST)) t3fs__ring(io, q);
    if (got >= min || got == max) return got;
    /* Say we wait, then look once more: a CQE stored before the server saw the flag is reaped now. */
    __atomic_store_n(t3fs__word(q, T3FS_OFF_CQ_WAKE_MIN), (uint32_t)(min - got), __ATOMIC_SEQ_CST);
    __atomic_store_n(t3fs__word(q, T3FS_OFF_CQ_WAITING), 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(t3fs__word(q, T3FS_OFF_CQ_TAIL), __ATOMIC_SEQ_CST) != head) continue;
    if (timeout_ms >= 0 && waited_ms >= timeout_ms) return -ETIMEDOUT;
    int r = t3fs__line(io, line, sizeof line, 100);
    if (r < 0) return r;
    if (r == 0) waited_ms += 100;
  }
}

static inline void t3fs_close(struct t3fs_usrbio *io) {
  if (io->sock >= 0) close(io->sock);
  io->sock = -1;
}

#endif
