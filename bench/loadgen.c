/*
 * loadgen: a WebSocket (RFC 6455) load generator for Wharf's benchmarks.
 *
 * One thread, epoll, libc only. Every connection does a real opening handshake (random
 * Sec-WebSocket-Key, checks the 101 and Sec-WebSocket-Accept, RFC 6455 §4.1), every client frame is
 * masked with a fresh random key (§5.3), and every echoed message is checked byte for byte against
 * what was sent (sequence number + pattern), so a server cannot win by cutting corners.
 *
 * Build: cc -O2 -o bench/bin/loadgen bench/loadgen.c
 *
 * Modes (each prints one JSON object on stdout; `hold` prints two, see below):
 *   loadgen echo      --port P [--size 32] [--text|--binary] [--connections 100] [--inflight 16]
 *                     [--duration 5] [--warmup 1] [--server-pid PID]
 *       Keeps `inflight` messages in flight on each connection; each echo that comes back validated is
 *       counted and replaced by a new message. Counts only after the warm-up.
 *   loadgen handshake --port P [--connections 32] [--duration 5] [--warmup 1] [--server-pid PID]
 *       `connections` clients loop: connect, upgrade, send a close frame (1000), wait for the server's
 *       close frame, close the socket. Counts completed cycles.
 *   loadgen hold      --port P [--connections 10000] [--duration 0]
 *       Opens the connections (at most 64 handshakes at a time), prints {"ready":...} on one line, then
 *       keeps them idle (answering pings) until stdin reaches end of file, SIGTERM/SIGINT, or
 *       `duration` seconds if given; then closes them and prints a summary line.
 *   loadgen broadcast --port P [--connections 100] [--duration 5] [--warmup 1] [--size 32]
 *       Opens the connections (at most 64 handshakes at a time, as `hold`); once none is still opening,
 *       connection 0 sends a message every time the previous one has reached every open connection (the
 *       server must relay each message to all connections, sender included). The warm-up starts then,
 *       so however long the connections took to open, the measured window begins after it. Connections
 *       still opening after CONNECT_LIMIT_S seconds end the run with an error. Counts deliveries per
 *       second.
 *
 * Common options: --host 127.0.0.1, --path /, --server-pid PID (reports the server's CPU time over the
 * measured window, read from /proc/PID/stat).
 *
 * Output fields: messages (validated echoes), messages_per_s, mb_per_s (payload megabytes (10^6) per
 * second in one direction), errors (validation failures, unexpected closes, failed connects and
 * handshakes), first_error, cpu_s / cpu_share (this process, getrusage, over the window; share of one
 * core; cpu_sys_s is its kernel part), server_cpu_s / server_cpu_share, machine_cpu_s /
 * machine_cpu_share (all cores, /proc/stat: what exceeds server + loadgen was some other process),
 * open_at_start / open_at_end / pending_at_end (connections open when the window started and ended, and
 * still handshaking at the end).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------------ */
/* SHA-1 (FIPS 180-4), written for this file: only the handshake's accept key needs it.              */

typedef struct {
  uint32_t h[5];
  uint64_t length;
  uint8_t block[64];
  size_t used;
} sha1_t;

static uint32_t rol32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(sha1_t *s, const uint8_t *b) {
  uint32_t w[80];
  for (int i = 0; i < 16; i++) {
    w[i] = ((uint32_t)b[4 * i] << 24) | ((uint32_t)b[4 * i + 1] << 16) |
           ((uint32_t)b[4 * i + 2] << 8) | b[4 * i + 3];
  }
  for (int i = 16; i < 80; i++) w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = s->h[0], bb = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];
  for (int i = 0; i < 80; i++) {
    uint32_t f, k;
    if (i < 20) {
      f = (bb & c) | (~bb & d);
      k = 0x5a827999;
    } else if (i < 40) {
      f = bb ^ c ^ d;
      k = 0x6ed9eba1;
    } else if (i < 60) {
      f = (bb & c) | (bb & d) | (c & d);
      k = 0x8f1bbcdc;
    } else {
      f = bb ^ c ^ d;
      k = 0xca62c1d6;
    }
    uint32_t t = rol32(a, 5) + f + e + k + w[i];
    e = d;
    d = c;
    c = rol32(bb, 30);
    bb = a;
    a = t;
  }
  s->h[0] += a;
  s->h[1] += bb;
  s->h[2] += c;
  s->h[3] += d;
  s->h[4] += e;
}

static void sha1_init(sha1_t *s) {
  s->h[0] = 0x67452301;
  s->h[1] = 0xefcdab89;
  s->h[2] = 0x98badcfe;
  s->h[3] = 0x10325476;
  s->h[4] = 0xc3d2e1f0;
  s->length = 0;
  s->used = 0;
}

static void sha1_update(sha1_t *s, const void *data, size_t n) {
  const uint8_t *p = data;
  s->length += n;
  while (n > 0) {
    size_t take = 64 - s->used < n ? 64 - s->used : n;
    memcpy(s->block + s->used, p, take);
    s->used += take;
    p += take;
    n -= take;
    if (s->used == 64) {
      sha1_block(s, s->block);
      s->used = 0;
    }
  }
}

static void sha1_final(sha1_t *s, uint8_t out[20]) {
  uint64_t bits = s->length * 8;
  uint8_t pad = 0x80;
  sha1_update(s, &pad, 1);
  pad = 0;
  while (s->used != 56) sha1_update(s, &pad, 1);
  uint8_t len[8];
  for (int i = 0; i < 8; i++) len[i] = (uint8_t)(bits >> (56 - 8 * i));
  sha1_update(s, len, 8);
  for (int i = 0; i < 5; i++) {
    out[4 * i] = (uint8_t)(s->h[i] >> 24);
    out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
    out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
    out[4 * i + 3] = (uint8_t)s->h[i];
  }
}

static void base64(const uint8_t *in, size_t n, char *out) {
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
    if (i + 2 < n) v |= in[i + 2];
    out[o++] = abc[(v >> 18) & 63];
    out[o++] = abc[(v >> 12) & 63];
    out[o++] = i + 1 < n ? abc[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? abc[v & 63] : '=';
  }
  out[o] = 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* Random numbers: xorshift64*, seeded from /dev/urandom. Masking keys need not be cryptographic here  */
/* (RFC 6455 §10.3 protects intermediaries; a benchmark has none), but they must vary per frame.       */

static uint64_t rng_state;

static uint64_t rng(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dULL;
}

static void rng_seed(void) {
  int fd = open("/dev/urandom", O_RDONLY);
  if (fd < 0 || read(fd, &rng_state, sizeof rng_state) != sizeof rng_state) {
    rng_state = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL;
  }
  if (fd >= 0) close(fd);
  if (rng_state == 0) rng_state = 1;
}

/* ------------------------------------------------------------------------------------------------ */
/* Options and global state                                                                         */

enum { MODE_ECHO, MODE_HANDSHAKE, MODE_HOLD, MODE_BROADCAST };

static struct {
  int mode;
  const char *host;
  int port;
  const char *path;
  size_t size;
  int text;
  int connections;
  int inflight;
  double duration;
  double warmup;
  int server_pid;
} opt = {MODE_ECHO, "127.0.0.1", 0, "/", 32, 1, 100, 16, 5, 1, 0};

/* Broadcast: how long opening the connections may take before the run gives up. */
#define CONNECT_LIMIT_S 45.0

static struct sockaddr_in server_addr;
static int epfd;
static volatile sig_atomic_t stop_signal = 0;

/* Counters; the measured window is the difference between two snapshots. */
typedef struct {
  uint64_t messages;
  uint64_t bytes;
  uint64_t errors;
  uint64_t handshakes;
} counters_t;
static counters_t count;
static char first_error[256];

/* When false, echoes are still validated but no new message is sent (the run is over). */
static int sending = 1;

/* The message pattern; bytes [0, SEQ_BYTES) of each message are replaced by its sequence number. */
static uint8_t *pattern;
#define SEQ_BYTES 8

static void error_at(const char *fmt, ...) {
  count.errors++;
  if (first_error[0] == 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(first_error, sizeof first_error, fmt, ap);
    va_end(ap);
    for (char *p = first_error; *p; p++) {
      if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = ' ';
    }
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* This process's CPU time in seconds; its kernel part in `*sys` when given. */
static double own_cpu_s(double *sys) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  if (sys != NULL) *sys = s;
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + s;
}

/* utime + stime of every thread of the process, from /proc/PID/stat (fields 14 and 15). */
static double proc_cpu_s(int pid) {
  if (pid <= 0) return 0;
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (p == NULL) return 0;
  unsigned long long utime = 0, stime = 0;
  /* After ")": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) {
    return 0;
  }
  return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Busy time of all cores together (everything but idle and iowait), from the first line of /proc/stat. */
static double machine_cpu_s(void) {
  char buf[512];
  int fd = open("/proc/stat", O_RDONLY);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  unsigned long long v[8] = {0};
  if (sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
             &v[5], &v[6], &v[7]) != 8) {
    return 0;
  }
  unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

/* ------------------------------------------------------------------------------------------------ */
/* Connections                                                                                      */

/* ST_CLOSED: both close frames exchanged; waiting for the server to close TCP (RFC 6455 §7.1.1). */
enum { ST_FREE, ST_CONNECTING, ST_UPGRADING, ST_OPEN, ST_CLOSING, ST_CLOSED };

typedef struct conn {
  int fd;
  int state;
  int index;
  char accept[32];
  /* Output not yet taken by the kernel: out[out_off, out_len). */
  uint8_t *out;
  size_t out_off, out_len, out_cap;
  /* The handshake response while it arrives. */
  char *head;
  size_t head_len;
  /* Frame parser. */
  uint8_t hdr[14];
  int hdr_len;
  int in_frame;
  int frame_op;
  int frame_fin;
  uint64_t frame_left;
  uint8_t ctl[125];
  size_t ctl_len;
  /* Message being received. */
  int in_message;
  int message_op;
  uint64_t message_off;
  /* Echo accounting: messages are numbered per connection and must come back in order. */
  uint64_t sent_seq;
  uint64_t recv_seq;
  int inflight;
} conn_t;

static conn_t *conns;
static int open_count;      /* connections past the handshake */
static int pending_count;   /* connections connecting or upgrading */
static int closed_by_server; /* open connections the server ended (hold mode) */

static void conn_close(conn_t *c);
static int conn_flush(conn_t *c);

static void out_reserve(conn_t *c, size_t n) {
  if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
  if (c->out_len + n <= c->out_cap) return;
  if (c->out_off > 0) {
    memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
    c->out_len -= c->out_off;
    c->out_off = 0;
    if (c->out_len + n <= c->out_cap) return;
  }
  size_t cap = c->out_cap ? c->out_cap : 256;
  while (cap < c->out_len + n) cap *= 2;
  uint8_t *p = realloc(c->out, cap);
  if (p == NULL) {
    perror("realloc");
    exit(1);
  }
  c->out = p;
  c->out_cap = cap;
}

/* Copies `n` bytes from `src` to `dst`, XORed with the 4-byte key, 8 bytes at a time. */
static void mask_copy(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4]) {
  uint64_t k8;
  uint8_t kb[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
  memcpy(&k8, kb, 8);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, src + i, 8);
    v ^= k8;
    memcpy(dst + i, &v, 8);
  }
  for (; i < n; i++) dst[i] = src[i] ^ key[i & 3];
}

/* Appends a masked client frame header (RFC 6455 §5.2, §5.3) with a fresh masking key and reserves
 * the payload; returns where the payload goes. */
static uint8_t *put_frame_header(conn_t *c, int opcode, size_t length, uint8_t key[4]) {
  out_reserve(c, 14 + length);
  uint8_t *h = c->out + c->out_len;
  size_t n = 0;
  h[n++] = (uint8_t)(0x80 | opcode);
  if (length < 126) {
    h[n++] = (uint8_t)(0x80 | length);
  } else if (length < 65536) {
    h[n++] = 0x80 | 126;
    h[n++] = (uint8_t)(length >> 8);
    h[n++] = (uint8_t)length;
  } else {
    h[n++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--) h[n++] = (uint8_t)((uint64_t)length >> (8 * i));
  }
  uint32_t k = (uint32_t)(rng() >> 32);
  memcpy(key, &k, 4);
  memcpy(h + n, key, 4);
  n += 4;
  c->out_len += n + length;
  return h + n;
}

static void send_control(conn_t *c, int opcode, const uint8_t *payload, size_t length) {
  uint8_t key[4];
  uint8_t *p = put_frame_header(c, opcode, length, key);
  mask_copy(p, payload, length, key);
}

/* The sequence-number prefix of message `seq`: little-endian bytes, or hex digits for text (ASCII). */
static void seq_bytes(uint64_t seq, uint8_t out[SEQ_BYTES]) {
  for (int i = 0; i < SEQ_BYTES; i++) {
    out[i] = opt.text ? (uint8_t)"0123456789abcdef"[(seq >> (4 * i)) & 15] : (uint8_t)(seq >> (8 * i));
  }
}

static void send_message(conn_t *c) {
  uint8_t key[4], seq[SEQ_BYTES];
  uint8_t *p = put_frame_header(c, opt.text ? 1 : 2, opt.size, key);
  mask_copy(p, pattern, opt.size, key);
  seq_bytes(c->sent_seq++, seq);
  size_t prefix = opt.size < SEQ_BYTES ? opt.size : SEQ_BYTES;
  for (size_t i = 0; i < prefix; i++) p[i] = seq[i] ^ key[i & 3];
  c->inflight++;
}

/* Checks payload bytes [off, off + n) of the message expected next on `c`. */
static int check_payload(conn_t *c, const uint8_t *p, size_t n, uint64_t off) {
  if (off + n > opt.size) return -1;
  size_t i = 0;
  if (off < SEQ_BYTES) {
    uint8_t seq[SEQ_BYTES];
    seq_bytes(c->recv_seq, seq);
    for (; i < n && off + i < SEQ_BYTES; i++) {
      if (p[i] != seq[off + i]) return -1;
    }
  }
  if (i < n && memcmp(p + i, pattern + off + i, n - i) != 0) return -1;
  return 0;
}

static void top_up(conn_t *c) {
  if (!sending) return;
  while (c->inflight < opt.inflight) send_message(c);
}

/* Broadcast mode: the shared state of the current round. */
static uint64_t bc_round;
static int bc_received;

static void bc_send_next(void) {
  conn_t *c = &conns[0];
  if (!sending || c->state != ST_OPEN) return;
  bc_received = 0;
  /* Every connection expects this round's sequence number next. */
  c->sent_seq = bc_round;
  send_message(c);
  conn_flush(c);
}

/* A complete, validated message arrived on `c`. */
static void on_message(conn_t *c) {
  count.messages++;
  count.bytes += opt.size;
  c->recv_seq++;
  if (opt.mode == MODE_BROADCAST) {
    c->inflight = 0;
    if (++bc_received == open_count) {
      bc_round++;
      for (int i = 0; i < opt.connections; i++) conns[i].recv_seq = bc_round;
      bc_send_next();
    }
    return;
  }
  c->inflight--;
  top_up(c);
}

static int on_frame_end(conn_t *c) {
  int op = c->frame_op;
  if (op == 0x8) {
    if (opt.mode == MODE_HANDSHAKE && c->state == ST_CLOSING) {
      /* RFC 6455 §7.1.1: the server closes TCP first, so TIME_WAIT stays on its side and the
       * client's ports are free for the next connect(). The cycle counts at its end of file. */
      c->state = ST_CLOSED;
      return 0;
    }
    int code = c->ctl_len >= 2 ? (c->ctl[0] << 8) | c->ctl[1] : 1005;
    if (opt.mode == MODE_HOLD) closed_by_server++;
    else error_at("server sent a close frame (code %d) on connection %d", code, c->index);
    conn_close(c);
    return -1;
  }
  if (op == 0x9) {
    if (c->state == ST_OPEN) send_control(c, 0xa, c->ctl, c->ctl_len);
    return 0;
  }
  if (op == 0xa) return 0;
  if (c->frame_fin) {
    c->in_message = 0;
    if (c->message_off != opt.size) {
      error_at("message of %llu bytes, expected %zu", (unsigned long long)c->message_off, opt.size);
      conn_close(c);
      return -1;
    }
    on_message(c);
  }
  return 0;
}

static int on_frame_header(conn_t *c) {
  uint8_t *h = c->hdr;
  if ((h[0] & 0x70) != 0) return error_at("reserved bits set in a server frame"), -1;
  if ((h[1] & 0x80) != 0) return error_at("masked server frame (RFC 6455 5.1)"), -1;
  int op = h[0] & 0x0f;
  uint64_t len = h[1] & 0x7f;
  if (len == 126) {
    len = ((uint64_t)h[2] << 8) | h[3];
  } else if (len == 127) {
    len = 0;
    for (int i = 2; i < 10; i++) len = (len << 8) | h[i];
  }
  c->frame_op = op;
  c->frame_fin = (h[0] & 0x80) != 0;
  c->frame_left = len;
  c->ctl_len = 0;
  if (op & 0x8) {
    if (len > 125 || !c->frame_fin) return error_at("invalid control frame"), -1;
    return 0;
  }
  if (op == 0) {
    if (!c->in_message) return error_at("continuation frame outside a message"), -1;
  } else {
    if (c->in_message) return error_at("new message inside a fragmented message"), -1;
    if (opt.mode == MODE_HANDSHAKE || opt.mode == MODE_HOLD) {
      return error_at("unexpected data frame"), -1;
    }
    if (op != (opt.text ? 1 : 2)) return error_at("echo has opcode %d", op), -1;
    c->in_message = 1;
    c->message_op = op;
    c->message_off = 0;
  }
  if (c->message_off + len > opt.size) return error_at("echoed message too long"), -1;
  return 0;
}

/* Frame bytes from the server, in arrival order. Returns -1 once the connection was closed. */
static int on_frames(conn_t *c, const uint8_t *p, size_t n) {
  while (n > 0 || (c->in_frame && c->frame_left == 0)) {
    if (!c->in_frame) {
      while (n > 0) {
        c->hdr[c->hdr_len++] = *p++;
        n--;
        if (c->hdr_len >= 2) {
          int l7 = c->hdr[1] & 0x7f;
          int need = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + ((c->hdr[1] & 0x80) ? 4 : 0);
          if (c->hdr_len == need) break;
        }
      }
      int l7 = c->hdr_len >= 2 ? c->hdr[1] & 0x7f : 0;
      int need = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + ((c->hdr_len >= 2 && (c->hdr[1] & 0x80)) ? 4 : 0);
      if (c->hdr_len < need) return 0;
      c->hdr_len = 0;
      if (on_frame_header(c) < 0) {
        if (c->fd >= 0) conn_close(c);
        return -1;
      }
      c->in_frame = 1;
    }
    size_t take = n < c->frame_left ? n : (size_t)c->frame_left;
    if (c->frame_op & 0x8) {
      memcpy(c->ctl + c->ctl_len, p, take);
      c->ctl_len += take;
    } else if (take > 0) {
      if (check_payload(c, p, take, c->message_off) < 0) {
        error_at("echo differs from the message sent (connection %d, message %llu)", c->index,
                 (unsigned long long)c->recv_seq);
        conn_close(c);
        return -1;
      }
      c->message_off += take;
    }
    p += take;
    n -= take;
    c->frame_left -= take;
    if (c->frame_left == 0) {
      c->in_frame = 0;
      if (on_frame_end(c) < 0) return -1;
    }
  }
  return 0;
}

static void conn_reset(conn_t *c) {
  c->fd = -1;
  c->state = ST_FREE;
  c->out_off = c->out_len = 0;
  free(c->head);
  c->head = NULL;
  c->head_len = 0;
  c->hdr_len = 0;
  c->in_frame = 0;
  c->in_message = 0;
  c->message_off = 0;
  c->sent_seq = c->recv_seq = 0;
  c->inflight = 0;
}

static void conn_close(conn_t *c) {
  if (c->fd < 0) return;
  if (c->state >= ST_OPEN) open_count--;
  else if (c->state == ST_CONNECTING || c->state == ST_UPGRADING) pending_count--;
  close(c->fd);
  int index = c->index;
  conn_reset(c);
  c->index = index;
}

static int conn_flush(conn_t *c) {
  while (c->out_off < c->out_len) {
    ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      if (errno == EINTR) continue;
      if (opt.mode == MODE_HOLD && c->state == ST_OPEN) closed_by_server++;
      else error_at("send: %s", strerror(errno));
      conn_close(c);
      return -1;
    }
    c->out_off += (size_t)w;
  }
  c->out_off = c->out_len = 0;
  return 0;
}

static void conn_open(conn_t *c) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error_at("socket: %s", strerror(errno));
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->fd = fd;
  c->state = ST_CONNECTING;
  pending_count++;
  /* Registered after connect(): an unconnected socket polls as hung up. */
  if (connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr) < 0 && errno != EINPROGRESS) {
    error_at("connect: %s", strerror(errno));
    conn_close(c);
    return;
  }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    error_at("epoll_ctl: %s", strerror(errno));
    conn_close(c);
  }
}

/* Connected: send the opening handshake (RFC 6455 §4.1). */
static void on_connected(conn_t *c) {
  uint8_t nonce[16], digest[20];
  char key[32];
  for (int i = 0; i < 16; i += 8) {
    uint64_t r = rng();
    memcpy(nonce + i, &r, 8);
  }
  base64(nonce, 16, key);
  sha1_t s;
  sha1_init(&s);
  sha1_update(&s, key, strlen(key));
  sha1_update(&s, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
  sha1_final(&s, digest);
  base64(digest, 20, c->accept);
  char req[512];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   opt.path, opt.host, opt.port, key);
  out_reserve(c, (size_t)n);
  memcpy(c->out + c->out_len, req, (size_t)n);
  c->out_len += (size_t)n;
  c->state = ST_UPGRADING;
  conn_flush(c);
}

/* The value of header `name` in a response head (NUL-terminated), trimmed, into `out`. */
static int header_value(const char *head, const char *name, char *out, size_t cap) {
  size_t name_len = strlen(name);
  for (const char *line = strstr(head, "\r\n"); line != NULL; line = strstr(line, "\r\n")) {
    line += 2;
    if (strncasecmp(line, name, name_len) == 0 && line[name_len] == ':') {
      const char *v = line + name_len + 1;
      while (*v == ' ' || *v == '\t') v++;
      const char *e = strstr(v, "\r\n");
      if (e == NULL) e = v + strlen(v);
      while (e > v && (e[-1] == ' ' || e[-1] == '\t')) e--;
      size_t len = (size_t)(e - v) < cap - 1 ? (size_t)(e - v) : cap - 1;
      memcpy(out, v, len);
      out[len] = 0;
      return 0;
    }
  }
  return -1;
}

/* The handshake response completed: check it (RFC 6455 §4.1, client steps 1–4). */
static int on_response(conn_t *c, size_t head_end) {
  char *head = c->head;
  head[head_end] = 0;
  char value[128];
  if (strncmp(head, "HTTP/1.1 101", 12) != 0) {
    char *eol = strstr(head, "\r\n");
    if (eol) *eol = 0;
    return error_at("handshake answered '%s'", head), -1;
  }
  if (header_value(head, "upgrade", value, sizeof value) < 0 || strcasecmp(value, "websocket") != 0) {
    return error_at("handshake response without Upgrade: websocket"), -1;
  }
  if (header_value(head, "sec-websocket-accept", value, sizeof value) < 0 ||
      strcmp(value, c->accept) != 0) {
    return error_at("wrong Sec-WebSocket-Accept"), -1;
  }
  return 0;
}

static void start_open(conn_t *c);

static void on_readable(conn_t *c, uint8_t *buf, size_t cap, uint32_t events) {
  for (;;) {
    ssize_t n = recv(c->fd, buf, cap, 0);
    if (c->state == ST_CLOSED && (n == 0 || (n < 0 && errno == ECONNRESET))) {
      count.handshakes++;
      conn_close(c);
      return;
    }
    if (n == 0) {
      if (opt.mode == MODE_HOLD && c->state == ST_OPEN) closed_by_server++;
      else error_at("server closed the connection (state %d)", c->state);
      conn_close(c);
      return;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      if (opt.mode == MODE_HOLD && c->state == ST_OPEN) closed_by_server++;
      else error_at("recv: %s", strerror(errno));
      conn_close(c);
      return;
    }
    const uint8_t *p = buf;
    size_t len = (size_t)n;
    if (c->state == ST_UPGRADING) {
      if (c->head == NULL) c->head = malloc(8193);
      size_t take = len < 8192 - c->head_len ? len : 8192 - c->head_len;
      memcpy(c->head + c->head_len, p, take);
      size_t old = c->head_len;
      c->head_len += take;
      c->head[c->head_len] = 0;
      /* The blank line may straddle reads: search from 3 bytes before the new ones. */
      size_t from = old > 3 ? old - 3 : 0;
      char *end = strstr(c->head + from, "\r\n\r\n");
      if (end == NULL) {
        if (c->head_len == 8192) {
          error_at("handshake response head too large");
          conn_close(c);
          return;
        }
        continue;
      }
      size_t head_end = (size_t)(end - c->head) + 4;
      if (on_response(c, head_end) < 0) {
        conn_close(c);
        return;
      }
      size_t consumed = head_end - old;
      p += consumed;
      len -= consumed;
      free(c->head);
      c->head = NULL;
      c->head_len = 0;
      pending_count--;
      open_count++;
      c->state = ST_OPEN;
      start_open(c);
      if (c->fd < 0) return;
    }
    if (len > 0 && on_frames(c, p, len) < 0) return;
    if (c->out_len > c->out_off && conn_flush(c) < 0) return;
    /* A short read drained the socket; with edge triggering, later data raises a new event, so the
     * recv() that would only return EAGAIN is skipped (one syscall per event saved). Not when the
     * peer's FIN came with this event: its end of file raises no new one. */
    if ((size_t)n < cap && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
  }
}

/* The connection just opened: what each mode does first. */
static void start_open(conn_t *c) {
  switch (opt.mode) {
  case MODE_ECHO:
    top_up(c);
    break;
  case MODE_HANDSHAKE: {
    static const uint8_t normal[2] = {0x03, 0xe8}; /* 1000 */
    send_control(c, 0x8, normal, 2);
    c->state = ST_CLOSING;
    break;
  }
  case MODE_BROADCAST:
    c->recv_seq = bc_round;
    break;
  default:
    break;
  }
  conn_flush(c);
}

static void on_event(conn_t *c, uint32_t events, uint8_t *buf, size_t cap) {
  if (c->fd < 0) return; /* closed earlier in this batch */
  if (c->state == ST_CONNECTING) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    /* Writable without an error flag means connected; the syscall is saved on the common path. */
    if (events & (EPOLLERR | EPOLLHUP)) getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err == 0 && (events & (EPOLLERR | EPOLLHUP))) err = ECONNREFUSED;
    if (err != 0) {
      error_at("connect: %s", strerror(err));
      conn_close(c);
      return;
    }
    on_connected(c);
    if (c->fd < 0) return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    on_readable(c, buf, cap, events);
    if (c->fd < 0) return;
  }
  if ((events & EPOLLOUT) && c->out_len > c->out_off) conn_flush(c);
}

/* ------------------------------------------------------------------------------------------------ */

static void on_signal(int sig) {
  (void)sig;
  stop_signal = 1;
}

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen echo|handshake|hold|broadcast --port P [--host H] [--path /] [--size N]\n"
          "       [--text|--binary] [--connections N] [--inflight N] [--duration S] [--warmup S]\n"
          "       [--server-pid PID]\n");
  exit(2);
}

static void parse_args(int argc, char **argv) {
  if (argc < 2) usage();
  if (strcmp(argv[1], "echo") == 0) opt.mode = MODE_ECHO;
  else if (strcmp(argv[1], "handshake") == 0) opt.mode = MODE_HANDSHAKE, opt.connections = 32;
  else if (strcmp(argv[1], "hold") == 0) opt.mode = MODE_HOLD, opt.connections = 10000, opt.duration = 0;
  else if (strcmp(argv[1], "broadcast") == 0) opt.mode = MODE_BROADCAST;
  else usage();
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--text") == 0) opt.text = 1;
    else if (strcmp(a, "--binary") == 0) opt.text = 0;
    else if (v == NULL) usage();
    else if (strcmp(a, "--host") == 0) opt.host = v, i++;
    else if (strcmp(a, "--port") == 0) opt.port = atoi(v), i++;
    else if (strcmp(a, "--path") == 0) opt.path = v, i++;
    else if (strcmp(a, "--size") == 0) opt.size = (size_t)strtoull(v, NULL, 10), i++;
    else if (strcmp(a, "--connections") == 0) opt.connections = atoi(v), i++;
    else if (strcmp(a, "--inflight") == 0) opt.inflight = atoi(v), i++;
    else if (strcmp(a, "--duration") == 0) opt.duration = atof(v), i++;
    else if (strcmp(a, "--warmup") == 0) opt.warmup = atof(v), i++;
    else if (strcmp(a, "--server-pid") == 0) opt.server_pid = atoi(v), i++;
    else usage();
  }
  if (opt.port <= 0 || opt.connections <= 0 || opt.inflight <= 0) usage();
  if (opt.mode == MODE_BROADCAST) opt.inflight = 1;
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  rng_seed();
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  memset(&server_addr, 0, sizeof server_addr);
  server_addr.sin_family = AF_INET;
  server_addr.sin_port = htons((uint16_t)opt.port);
  if (inet_pton(AF_INET, opt.host, &server_addr.sin_addr) != 1) {
    fprintf(stderr, "loadgen: --host must be an IPv4 address\n");
    return 2;
  }

  pattern = malloc(opt.size ? opt.size : 1);
  for (size_t i = 0; i < opt.size; i++) {
    /* Printable ASCII for text (always valid UTF-8), any byte for binary. */
    uint64_t r = rng();
    pattern[i] = opt.text ? (uint8_t)(' ' + (r >> 33) % 95) : (uint8_t)(r >> 56);
  }

  epfd = epoll_create1(EPOLL_CLOEXEC);
  conns = calloc((size_t)opt.connections, sizeof *conns);
  for (int i = 0; i < opt.connections; i++) {
    conn_reset(&conns[i]);
    conns[i].index = i;
  }

  size_t cap = 256 * 1024;
  uint8_t *buf = malloc(cap);
  struct epoll_event events[1024];
  /* Hold and broadcast: at most this many handshakes at once, under the listen backlogs of the servers
   * (128–511), so no SYN is dropped and retried a second or more later. */
  int max_pending = opt.mode == MODE_HOLD || opt.mode == MODE_BROADCAST ? 64 : opt.connections;
  int next_to_open = 0;

  double start = now_s();
  /* Broadcast: the warm-up counts from when every connection is open (0 until then). */
  double connected_at = 0;
  double window_start = 0, window_end = 0;
  double cpu_start = 0, sys_start = 0, server_cpu_start = 0, machine_cpu_start = 0;
  int open_at_start = 0;
  counters_t at_start = {0};
  int measuring = 0;

  if (opt.mode == MODE_HOLD) {
    /* stdin reaching end of file means stop; not every stdin can be watched (e.g. /dev/null). */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLHUP, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev);
  }

  int ready_printed = 0;
  double ready_at = 0;
  int stdin_closed = 0;
  while (!stop_signal && !stdin_closed) {
    /* Open connections: all at once, except hold's and broadcast's limit on concurrent handshakes. */
    if (opt.mode == MODE_HANDSHAKE) {
      if (sending) {
        for (int i = 0; i < opt.connections; i++) {
          if (conns[i].fd < 0) conn_open(&conns[i]);
        }
      }
    } else {
      while (next_to_open < opt.connections && pending_count < max_pending) {
        conn_open(&conns[next_to_open++]);
      }
    }

    int n = epoll_wait(epfd, events, 1024, 5);
    for (int i = 0; i < n; i++) {
      conn_t *c = events[i].data.ptr;
      if (c == NULL) {
        ssize_t r = read(0, buf, cap);
        if (r <= 0) stdin_closed = 1;
        continue;
      }
      on_event(c, events[i].events, buf, cap);
    }

    double t = now_s();
    if (opt.mode == MODE_HOLD) {
      if (!ready_printed && next_to_open == opt.connections && pending_count == 0) {
        ready_printed = 1;
        ready_at = t;
        printf("{\"mode\":\"hold\",\"ready\":%d,\"errors\":%llu,\"open_s\":%.3f,\"first_error\":\"%s\"}\n",
               open_count, (unsigned long long)count.errors, t - start, first_error);
        fflush(stdout);
      }
      if (ready_printed && opt.duration > 0 && t - ready_at >= opt.duration) break;
      continue;
    }
    if (opt.mode == MODE_BROADCAST && connected_at == 0) {
      if (next_to_open == opt.connections && pending_count == 0) {
        /* Every connection is open (or failed, which counted as an error): the first broadcast goes
         * now, and the warm-up starts. */
        connected_at = t;
        bc_send_next();
      } else if (t - start >= CONNECT_LIMIT_S) {
        error_at("%d connections still opening after %.0f s",
                 opt.connections - next_to_open + pending_count, CONNECT_LIMIT_S);
        break;
      }
      continue;
    }
    if (!measuring && t - (opt.mode == MODE_BROADCAST ? connected_at : start) >= opt.warmup) {
      measuring = 1;
      window_start = t;
      at_start = count;
      cpu_start = own_cpu_s(&sys_start);
      server_cpu_start = proc_cpu_s(opt.server_pid);
      machine_cpu_start = machine_cpu_s();
      open_at_start = open_count;
    }
    if (measuring && t - window_start >= opt.duration) {
      window_end = t;
      break;
    }
  }

  if (opt.mode == MODE_HOLD) {
    int still_open = open_count;
    for (int i = 0; i < opt.connections; i++) conn_close(&conns[i]);
    printf("{\"mode\":\"hold\",\"held\":%d,\"closed_by_server\":%d,\"errors\":%llu,\"first_error\":\"%s\"}\n",
           still_open, closed_by_server, (unsigned long long)count.errors, first_error);
    return 0;
  }

  sending = 0;
  double sys_end;
  double cpu = own_cpu_s(&sys_end) - cpu_start;
  double sys = sys_end - sys_start;
  double server_cpu = proc_cpu_s(opt.server_pid) - server_cpu_start;
  double machine_cpu = machine_cpu_s() - machine_cpu_start;
  if (window_end == 0) window_end = now_s();
  double wall = window_end - window_start;
  if (!measuring || wall <= 0) wall = 1e-9;
  uint64_t messages = count.messages - at_start.messages;
  uint64_t bytes = count.bytes - at_start.bytes;
  uint64_t handshakes = count.handshakes - at_start.handshakes;
  int still_open = open_count;
  const char *modes[] = {"echo", "handshake", "hold", "broadcast"};
  printf("{\"mode\":\"%s\",\"size\":%zu,\"text\":%s,\"connections\":%d,\"inflight\":%d,"
         "\"duration_s\":%.3f,\"messages\":%llu,\"messages_per_s\":%.1f,\"mb_per_s\":%.2f,"
         "\"handshakes\":%llu,\"handshakes_per_s\":%.1f,\"open_at_start\":%d,\"open_at_end\":%d,"
         "\"pending_at_end\":%d,\"errors\":%llu,\"first_error\":\"%s\",\"cpu_s\":%.3f,"
         "\"cpu_sys_s\":%.3f,\"cpu_share\":%.3f,\"server_pid\":%d,\"server_cpu_s\":%.3f,"
         "\"server_cpu_share\":%.3f,"
         "\"machine_cpu_s\":%.3f,\"machine_cpu_share\":%.3f}\n",
         modes[opt.mode], opt.size, opt.text ? "true" : "false", opt.connections, opt.inflight, wall,
         (unsigned long long)messages, (double)messages / wall, (double)bytes / wall / 1e6,
         (unsigned long long)handshakes, (double)handshakes / wall, open_at_start, still_open,
         pending_count, (unsigned long long)count.errors, first_error, cpu, sys, cpu / wall, opt.server_pid,
         server_cpu, server_cpu / wall, machine_cpu, machine_cpu / wall);
  fflush(stdout);
  for (int i = 0; i < opt.connections; i++) conn_close(&conns[i]);
  return 0;
}
