/*
 * Sotto's media transport, the native half: one UDP socket shared by every peer, DTLS 1.2 with
 * the use_srtp extension (Node's own OpenSSL), SRTP/SRTCP (AES-128-GCM and AES-128-CM with
 * HMAC-SHA1-80) and batched sends. Everything runs on the JavaScript thread (a libuv poll handle
 * on the socket): no threads, no locks, no per-peer timers. STUN, SCTP and RTCP semantics live in
 * TypeScript (src/sfu/native/); what crosses into JavaScript is one call per datagram that is not
 * outgoing media, and what comes back is one call per packet to send.
 *
 * Datagram demultiplexing follows RFC 7983 on the first byte: 0–3 STUN, 20–63 DTLS, 128–191
 * RTP/RTCP. A peer is found by the source address ICE bound to it; a datagram from an address no
 * peer holds is passed up only when it is STUN (the first connectivity check), otherwise dropped.
 */
#define _GNU_SOURCE
#define OPENSSL_SUPPRESS_DEPRECATED
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define BATCH 64
#define SLOT_BYTES 1536
#define RECV_BATCH 32
#define BUCKETS 4096
#define MAX_STREAMS 16
#define PEER_INDEX_BITS 20
#define PEER_INDEX_MASK ((1u << PEER_INDEX_BITS) - 1)
#define HANDSHAKE_TIMEOUT_MS 30000

enum { EV_STUN = 0, EV_DATA = 1, EV_RTP = 2, EV_RTCP = 3, EV_CONNECTED = 4, EV_CLOSED = 5 };
enum { DTLS_NEW = 0, DTLS_HANDSHAKE = 1, DTLS_CONNECTED = 2, DTLS_DONE = 3 };
enum { PROFILE_CM_SHA1_80 = 1, PROFILE_GCM_128 = 7 };

typedef struct {
  int profile;
  EVP_CIPHER_CTX *rtp, *rtcp; /* keyed once: per packet only the IV is set */
  HMAC_CTX *rtp_auth, *rtcp_auth; /* CM only */
  uint8_t rtp_salt[14], rtcp_salt[14];
} srtp_keys;

typedef struct {
  uint32_t ssrc;
  uint32_t roc;
  uint16_t last_seq;
  uint8_t used;
  uint64_t window; /* inbound: replay bitmap below the highest index */
} srtp_stream;

struct sock;

typedef struct peer {
  uint32_t id;
  struct sock *sock;
  struct sockaddr_storage addr;
  socklen_t addrlen;
  int bound;
  int is_client;
  int dtls;
  uint64_t hs_started;
  SSL *ssl;
  BIO *rbio;
  int srtp_ready;
  srtp_keys tx, rx;
  srtp_stream out[MAX_STREAMS], in[MAX_STREAMS];
  uint32_t rtcp_index;
  struct peer *hnext;            /* address hash chain */
  struct peer *hs_next, *hs_prev; /* handshaking list */
  int dead;                       /* closed while a callback was running: freed after it */
  struct peer *grave_next;
} peer;

typedef struct sock {
  int id;
  int fd;
  int family;
  int closing;
  napi_env env;
  napi_ref cb;
  napi_async_context actx;
  SSL_CTX *ctx;
  uv_poll_t poll;
  uv_check_t check;
  uv_timer_t timer;
  int handles_open;
  peer *buckets[BUCKETS];
  peer *handshaking;
  /* outgoing batch */
  int n;
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_storage addrs[BATCH];
  uint8_t bufs[BATCH][SLOT_BYTES];
  /* incoming batch */
  struct mmsghdr rmsgs[RECV_BATCH];
  struct iovec riov[RECV_BATCH];
  struct sockaddr_storage raddrs[RECV_BATCH];
  uint8_t rbufs[RECV_BATCH][SLOT_BYTES];
  /* counters */
  double rx_datagrams, tx_datagrams, tx_dropped, rx_dropped, auth_failures, replays, send_calls;
} sock;

#define MAX_SOCKETS 4096
static sock **socks; /* by id; grows on demand up to MAX_SOCKETS (load-test clients hold one each) */
static int socks_cap;
static peer **peers;
static uint32_t *peer_gen;
static uint32_t peer_cap;
static uint32_t peer_free_hint;
static BIO_METHOD *write_method;
static int dispatching;
static peer *graveyard;
static void bury(void);

/* ------------------------------------------------------------------------------------------ */
/* small helpers */

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t rd32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static void wr32(uint8_t *p, uint32_t v) {
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

static uint32_t addr_hash(const struct sockaddr_storage *a) {
  uint32_t h = 2166136261u;
  const uint8_t *b;
  size_t n;
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)a;
    b = (const uint8_t *)&v4->sin_addr;
    n = 4;
    h = (h ^ v4->sin_port) * 16777619u;
  } else {
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)a;
    b = (const uint8_t *)&v6->sin6_addr;
    n = 16;
    h = (h ^ v6->sin6_port) * 16777619u;
  }
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 16777619u;
  return h & (BUCKETS - 1);
}

static int addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family) return 0;
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
  return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

static peer *find_by_addr(sock *s, const struct sockaddr_storage *a) {
  for (peer *p = s->buckets[addr_hash(a)]; p; p = p->hnext)
    if (addr_equal(&p->addr, a)) return p;
  return NULL;
}

static void unhash(peer *p) {
  if (!p->bound) return;
  peer **pp = &p->sock->buckets[addr_hash(&p->addr)];
  while (*pp && *pp != p) pp = &(*pp)->hnext;
  if (*pp) *pp = p->hnext;
  p->hnext = NULL;
  p->bound = 0;
}

static peer *peer_get(uint32_t id) {
  uint32_t idx = id & PEER_INDEX_MASK;
  if (idx >= peer_cap || !peers[idx] || peers[idx]->id != id) return NULL;
  return peers[idx];
}

static int parse_addr(const char *host, int port, struct sockaddr_storage *out, socklen_t *len) {
  memset(out, 0, sizeof *out);
  struct sockaddr_in *v4 = (struct sockaddr_in *)out;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *len = sizeof *v4;
    return 0;
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof *v6;
    return 0;
  }
  return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* calling into JavaScript */

static void emit(sock *s, int kind, uint32_t peer_id, const uint8_t *data, size_t len, int num,
                 const char *text) {
  napi_env env = s->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, recv, argv[5], result;
  napi_get_reference_value(env, s->cb, &cb);
  napi_get_global(env, &recv); /* napi_make_callback needs an object as the receiver */
  napi_create_int32(env, kind, &argv[0]);
  napi_create_uint32(env, peer_id, &argv[1]);
  if (data) {
    void *copy;
    napi_create_buffer_copy(env, len, data, &copy, &argv[2]);
  } else {
    napi_get_undefined(env, &argv[2]);
  }
  napi_create_int32(env, num, &argv[3]);
  if (text)
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &argv[4]);
  else
    napi_get_undefined(env, &argv[4]);
  dispatching++;
  napi_status st = cb ? napi_make_callback(env, s->actx, recv, cb, 5, argv, &result) : napi_ok;
  dispatching--;
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

/* ------------------------------------------------------------------------------------------ */
/* SRTP (RFC 3711, RFC 7714) */

static void srtp_keys_free(srtp_keys *k) {
  if (k->rtp) EVP_CIPHER_CTX_free(k->rtp);
  if (k->rtcp) EVP_CIPHER_CTX_free(k->rtcp);
  if (k->rtp_auth) HMAC_CTX_free(k->rtp_auth);
  if (k->rtcp_auth) HMAC_CTX_free(k->rtcp_auth);
  memset(k, 0, sizeof *k);
}

/* The AES-CM key derivation function (RFC 3711 §4.3.1, key derivation rate 0). */
static int kdf(const uint8_t *master_key, const uint8_t *master_salt14, uint8_t label, uint8_t *out,
               int outlen) {
  uint8_t iv[16] = {0}, zeros[64] = {0};
  memcpy(iv, master_salt14, 14);
  iv[7] ^= label;
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int ok = c && EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), NULL, master_key, iv) == 1;
  int l = 0;
  ok = ok && EVP_EncryptUpdate(c, out, &l, zeros, outlen) == 1;
  EVP_CIPHER_CTX_free(c);
  return ok ? 0 : -1;
}

static int srtp_keys_init(srtp_keys *k, int profile, const uint8_t *mkey, const uint8_t *msalt,
                          int encrypt) {
  uint8_t salt14[14] = {0}, key[16], auth[20];
  int gcm = profile == PROFILE_GCM_128;
  memcpy(salt14, msalt, gcm ? 12 : 14);
  k->profile = profile;
  const EVP_CIPHER *cipher = gcm ? EVP_aes_128_gcm() : EVP_aes_128_ctr();
  for (int rtcp = 0; rtcp < 2; rtcp++) {
    uint8_t base = rtcp ? 3 : 0;
    if (kdf(mkey, salt14, base, key, 16) || kdf(mkey, salt14, base + 2, rtcp ? k->rtcp_salt : k->rtp_salt, 14))
      return -1;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c) return -1;
    if ((encrypt ? EVP_EncryptInit_ex(c, cipher, NULL, key, NULL) : EVP_DecryptInit_ex(c, cipher, NULL, key, NULL)) != 1) {
      EVP_CIPHER_CTX_free(c);
      return -1;
    }
    *(rtcp ? &k->rtcp : &k->rtp) = c;
    if (!gcm) {
      if (kdf(mkey, salt14, base + 1, auth, 20)) return -1;
      HMAC_CTX *h = HMAC_CTX_new();
      if (!h || HMAC_Init_ex(h, auth, 20, EVP_sha1(), NULL) != 1) return -1;
      *(rtcp ? &k->rtcp_auth : &k->rtp_auth) = h;
    }
  }
  OPENSSL_cleanse(key, sizeof key);
  OPENSSL_cleanse(auth, sizeof auth);
  return 0;
}

static int rtp_header_len(const uint8_t *p, int len) {
  if (len < 12) return -1;
  int h = 12 + (p[0] & 0x0f) * 4;
  if (p[0] & 0x10) {
    if (len < h + 4) return -1;
    h += 4 + rd16(p + h + 2) * 4;
  }
  return h <= len ? h : -1;
}

static void gcm_iv(uint8_t iv[12], const uint8_t *salt, uint32_t ssrc, uint32_t hi, uint32_t lo, int rtcp) {
  memset(iv, 0, 12);
  wr32(iv + 2, ssrc);
  if (rtcp) {
    wr32(iv + 8, lo);
  } else {
    wr32(iv + 6, hi);
    iv[10] = lo >> 8;
    iv[11] = lo;
  }
  for (int i = 0; i < 12; i++) iv[i] ^= salt[i];
}

static void cm_iv(uint8_t iv[16], const uint8_t *salt, uint32_t ssrc, uint64_t index, int index_at) {
  memcpy(iv, salt, 14);
  iv[14] = iv[15] = 0;
  iv[4] ^= ssrc >> 24;
  iv[5] ^= ssrc >> 16;
  iv[6] ^= ssrc >> 8;
  iv[7] ^= ssrc;
  for (int i = 13; i >= index_at; i--, index >>= 8) iv[i] ^= (uint8_t)index;
}

static srtp_stream *stream_for(srtp_stream *set, uint32_t ssrc, int create) {
  srtp_stream *free_slot = NULL;
  for (int i = 0; i < MAX_STREAMS; i++) {
    if (set[i].used && set[i].ssrc == ssrc) return &set[i];
    if (!set[i].used && !free_slot) free_slot = &set[i];
  }
  if (!create) return NULL;
  if (!free_slot) free_slot = &set[ssrc % MAX_STREAMS]; /* evict: a peer with > 16 sources */
  memset(free_slot, 0, sizeof *free_slot);
  free_slot->ssrc = ssrc;
  return free_slot;
}

/* The rollover counter a sequence number most likely belongs to (RFC 3711 Appendix A). */
static uint32_t guess_roc(const srtp_stream *s, uint16_t seq) {
  if (!s->used) return 0;
  if (s->last_seq < 32768) return (seq > s->last_seq && seq - s->last_seq > 32768) ? s->roc - 1 : s->roc;
  return (s->last_seq - 32768 > seq) ? s->roc + 1 : s->roc;
}

/* Encrypts an RTP packet in place (buffer has room for the tag); returns the new length. */
static int srtp_protect(peer *p, uint8_t *pkt, int len) {
  int h = rtp_header_len(pkt, len);
  if (h < 0) return -1;
  uint32_t ssrc = rd32(pkt + 8);
  uint16_t seq = rd16(pkt + 2);
  srtp_stream *s = stream_for(p->out, ssrc, 1);
  uint32_t roc = guess_roc(s, seq);
  if (!s->used || (((uint64_t)roc << 16) | seq) > (((uint64_t)s->roc << 16) | s->last_seq)) {
    s->used = 1;
    s->roc = roc;
    s->last_seq = seq;
  }
  srtp_keys *k = &p->tx;
  int outl;
  if (k->profile == PROFILE_GCM_128) {
    uint8_t iv[12];
    gcm_iv(iv, k->rtp_salt, ssrc, roc, seq, 0);
    if (EVP_EncryptInit_ex(k->rtp, NULL, NULL, NULL, iv) != 1 || EVP_EncryptUpdate(k->rtp, NULL, &outl, pkt, h) != 1 ||
        EVP_EncryptUpdate(k->rtp, pkt + h, &outl, pkt + h, len - h) != 1 ||
        EVP_EncryptFinal_ex(k->rtp, pkt + len, &outl) != 1 ||
        EVP_CIPHER_CTX_ctrl(k->rtp, EVP_CTRL_GCM_GET_TAG, 16, pkt + len) != 1)
      return -1;
    return len + 16;
  }
  uint8_t iv[16], mac[EVP_MAX_MD_SIZE], rocb[4];
  unsigned maclen;
  cm_iv(iv, k->rtp_salt, ssrc, ((uint64_t)roc << 16) | seq, 8);
  if (EVP_EncryptInit_ex(k->rtp, NULL, NULL, NULL, iv) != 1 ||
      EVP_EncryptUpdate(k->rtp, pkt + h, &outl, pkt + h, len - h) != 1)
    return -1;
  wr32(rocb, roc);
  HMAC_Init_ex(k->rtp_auth, NULL, 0, NULL, NULL);
  HMAC_Update(k->rtp_auth, pkt, len);
  HMAC_Update(k->rtp_auth, rocb, 4);
  HMAC_Final(k->rtp_auth, mac, &maclen);
  memcpy(pkt + len, mac, 10);
  return len + 10;
}

/* Decrypts and authenticates an SRTP packet in place; returns the RTP length or -1. */
static int srtp_unprotect(peer *p, uint8_t *pkt, int len) {
  srtp_keys *k = &p->rx;
  int gcm = k->profile == PROFILE_GCM_128;
  int tag = gcm ? 16 : 10;
  int h = rtp_header_len(pkt, len - tag);
  if (h < 0) return -1;
  uint32_t ssrc = rd32(pkt + 8);
  uint16_t seq = rd16(pkt + 2);
  srtp_stream *s = stream_for(p->in, ssrc, 1);
  uint32_t v = guess_roc(s, seq);
  uint64_t index = ((uint64_t)v << 16) | seq;
  uint64_t highest = ((uint64_t)s->roc << 16) | s->last_seq;
  if (s->used && index <= highest) {
    uint64_t back = highest - index;
    if (back >= 64 || (s->window >> back) & 1) {
      p->sock->replays++;
      return -1;
    }
  }
  int body = len - tag - h, outl;
  if (gcm) {
    uint8_t iv[12];
    gcm_iv(iv, k->rtp_salt, ssrc, v, seq, 0);
    if (EVP_DecryptInit_ex(k->rtp, NULL, NULL, NULL, iv) != 1 || EVP_DecryptUpdate(k->rtp, NULL, &outl, pkt, h) != 1 ||
        EVP_DecryptUpdate(k->rtp, pkt + h, &outl, pkt + h, body) != 1 ||
        EVP_CIPHER_CTX_ctrl(k->rtp, EVP_CTRL_GCM_SET_TAG, 16, pkt + h + body) != 1 ||
        EVP_DecryptFinal_ex(k->rtp, pkt + h + body, &outl) != 1) {
      p->sock->auth_failures++;
      return -1;
    }
  } else {
    uint8_t mac[EVP_MAX_MD_SIZE], rocb[4], iv[16];
    unsigned maclen;
    wr32(rocb, v);
    HMAC_Init_ex(k->rtp_auth, NULL, 0, NULL, NULL);
    HMAC_Update(k->rtp_auth, pkt, len - tag);
    HMAC_Update(k->rtp_auth, rocb, 4);
    HMAC_Final(k->rtp_auth, mac, &maclen);
    if (CRYPTO_memcmp(mac, pkt + len - tag, 10) != 0) {
      p->sock->auth_failures++;
      return -1;
    }
    cm_iv(iv, k->rtp_salt, ssrc, index, 8);
    if (EVP_DecryptInit_ex(k->rtp, NULL, NULL, NULL, iv) != 1 || EVP_DecryptUpdate(k->rtp, pkt + h, &outl, pkt + h, body) != 1)
      return -1;
  }
  /* authentic: move the window */
  if (!s->used) {
    s->used = 1;
    s->roc = v;
    s->last_seq = seq;
    s->window = 1;
  } else if (index > highest) {
    uint64_t shift = index - highest;
    s->window = shift >= 64 ? 1 : (s->window << shift) | 1;
    s->roc = v;
    s->last_seq = seq;
  } else {
    s->window |= 1ull << (highest - index);
  }
  return len - tag;
}

static int srtcp_protect(peer *p, uint8_t *pkt, int len) {
  if (len < 8) return -1;
  srtp_keys *k = &p->tx;
  uint32_t ssrc = rd32(pkt + 4);
  uint32_t index = p->rtcp_index = (p->rtcp_index + 1) & 0x7fffffff;
  uint8_t eidx[4];
  wr32(eidx, 0x80000000u | index);
  int outl;
  if (k->profile == PROFILE_GCM_128) {
    uint8_t iv[12];
    gcm_iv(iv, k->rtcp_salt, ssrc, 0, index, 1);
    if (EVP_EncryptInit_ex(k->rtcp, NULL, NULL, NULL, iv) != 1 || EVP_EncryptUpdate(k->rtcp, NULL, &outl, pkt, 8) != 1 ||
        EVP_EncryptUpdate(k->rtcp, NULL, &outl, eidx, 4) != 1 ||
        EVP_EncryptUpdate(k->rtcp, pkt + 8, &outl, pkt + 8, len - 8) != 1 ||
        EVP_EncryptFinal_ex(k->rtcp, pkt + len, &outl) != 1 ||
        EVP_CIPHER_CTX_ctrl(k->rtcp, EVP_CTRL_GCM_GET_TAG, 16, pkt + len) != 1)
      return -1;
    memcpy(pkt + len + 16, eidx, 4);
    return len + 20;
  }
  uint8_t iv[16], mac[EVP_MAX_MD_SIZE];
  unsigned maclen;
  cm_iv(iv, k->rtcp_salt, ssrc, index, 10);
  if (EVP_EncryptInit_ex(k->rtcp, NULL, NULL, NULL, iv) != 1 ||
      EVP_EncryptUpdate(k->rtcp, pkt + 8, &outl, pkt + 8, len - 8) != 1)
    return -1;
  memcpy(pkt + len, eidx, 4);
  HMAC_Init_ex(k->rtcp_auth, NULL, 0, NULL, NULL);
  HMAC_Update(k->rtcp_auth, pkt, len + 4);
  HMAC_Final(k->rtcp_auth, mac, &maclen);
  memcpy(pkt + len + 4, mac, 10);
  return len + 14;
}

static int srtcp_unprotect(peer *p, uint8_t *pkt, int len) {
  srtp_keys *k = &p->rx;
  int gcm = k->profile == PROFILE_GCM_128;
  int tag = gcm ? 16 : 10;
  if (len < 8 + 4 + tag) return -1;
  uint32_t ssrc = rd32(pkt + 4);
  int body;
  if (gcm) {
    uint8_t *eidx = pkt + len - 4;
    if (!(eidx[0] & 0x80)) return -1; /* unencrypted SRTCP: not offered by any browser */
    uint32_t index = rd32(eidx) & 0x7fffffff;
    body = len - 8 - 4 - tag;
    uint8_t iv[12];
    int l;
    gcm_iv(iv, k->rtcp_salt, ssrc, 0, index, 1);
    if (EVP_DecryptInit_ex(k->rtcp, NULL, NULL, NULL, iv) != 1 || EVP_DecryptUpdate(k->rtcp, NULL, &l, pkt, 8) != 1 ||
        EVP_DecryptUpdate(k->rtcp, NULL, &l, eidx, 4) != 1 ||
        EVP_DecryptUpdate(k->rtcp, pkt + 8, &l, pkt + 8, body) != 1 ||
        EVP_CIPHER_CTX_ctrl(k->rtcp, EVP_CTRL_GCM_SET_TAG, 16, pkt + 8 + body) != 1 ||
        EVP_DecryptFinal_ex(k->rtcp, pkt + 8 + body, &l) != 1) {
      p->sock->auth_failures++;
      return -1;
    }
    return 8 + body;
  }
  uint8_t mac[EVP_MAX_MD_SIZE], iv[16];
  unsigned maclen;
  HMAC_Init_ex(k->rtcp_auth, NULL, 0, NULL, NULL);
  HMAC_Update(k->rtcp_auth, pkt, len - tag);
  HMAC_Final(k->rtcp_auth, mac, &maclen);
  if (CRYPTO_memcmp(mac, pkt + len - tag, 10) != 0) {
    p->sock->auth_failures++;
    return -1;
  }
  uint8_t *eidx = pkt + len - tag - 4;
  body = len - tag - 4 - 8;
  if (eidx[0] & 0x80) {
    int l;
    cm_iv(iv, k->rtcp_salt, ssrc, rd32(eidx) & 0x7fffffff, 10);
    if (EVP_DecryptInit_ex(k->rtcp, NULL, NULL, NULL, iv) != 1 || EVP_DecryptUpdate(k->rtcp, pkt + 8, &l, pkt + 8, body) != 1)
      return -1;
  }
  return 8 + body;
}

/* ------------------------------------------------------------------------------------------ */
/* sending */

static void flush(sock *s) {
  int off = 0;
  while (off < s->n) {
    int r = sendmmsg(s->fd, s->msgs + off, s->n - off, 0);
    s->send_calls++;
    if (r <= 0) {
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        s->tx_dropped++; /* this datagram's address is unusable: skip it, send the rest */
        off++;
        continue;
      }
      s->tx_dropped += s->n - off; /* the socket buffer is full */
      break;
    }
    s->tx_datagrams += r;
    off += r;
  }
  s->n = 0;
}

static uint8_t *slot_for(sock *s, peer *p) {
  if (s->n == BATCH) flush(s);
  int i = s->n;
  memcpy(&s->addrs[i], &p->addr, p->addrlen);
  s->msgs[i].msg_hdr.msg_namelen = p->addrlen;
  return s->bufs[i];
}

static void commit_slot(sock *s, int len) {
  s->iov[s->n].iov_len = len;
  s->n++;
}

static void send_raw(sock *s, const struct sockaddr_storage *a, socklen_t alen, const uint8_t *d, size_t len) {
  if (sendto(s->fd, d, len, 0, (const struct sockaddr *)a, alen) < 0)
    s->tx_dropped++;
  else
    s->tx_datagrams++;
}

/* ------------------------------------------------------------------------------------------ */
/* DTLS */

static int bio_write(BIO *b, const char *data, int len) {
  peer *p = BIO_get_data(b);
  if (p && p->bound) send_raw(p->sock, &p->addr, p->addrlen, (const uint8_t *)data, len);
  return len;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)b;
  (void)num;
  (void)ptr;
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_DGRAM_QUERY_MTU:
      return 1200;
    default:
      return 0;
  }
}

static int accept_any(int ok, X509_STORE_CTX *c) {
  (void)ok;
  (void)c;
  return 1; /* the certificate is checked against the SDP fingerprint in JavaScript */
}

static void hs_unlink(peer *p) {
  if (p->hs_prev)
    p->hs_prev->hs_next = p->hs_next;
  else if (p->sock->handshaking == p)
    p->sock->handshaking = p->hs_next;
  if (p->hs_next) p->hs_next->hs_prev = p->hs_prev;
  p->hs_next = p->hs_prev = NULL;
}

static void hs_link(peer *p) {
  p->hs_next = p->sock->handshaking;
  p->hs_prev = NULL;
  if (p->hs_next) p->hs_next->hs_prev = p;
  p->sock->handshaking = p;
  p->hs_started = now_ms();
  if (!uv_is_active((uv_handle_t *)&p->sock->timer)) uv_timer_again(&p->sock->timer);
}

static void dtls_fail(peer *p, const char *why) {
  if (p->dtls == DTLS_DONE) return;
  hs_unlink(p);
  p->dtls = DTLS_DONE;
  p->srtp_ready = 0;
  emit(p->sock, EV_CLOSED, p->id, NULL, 0, 0, why);
}

static void dtls_connected(peer *p) {
  hs_unlink(p);
  const SRTP_PROTECTION_PROFILE *prof = SSL_get_selected_srtp_profile(p->ssl);
  if (!prof || (prof->id != PROFILE_GCM_128 && prof->id != PROFILE_CM_SHA1_80)) {
    dtls_fail(p, "no SRTP profile in common");
    return;
  }
  int gcm = prof->id == PROFILE_GCM_128;
  int kl = 16, sl = gcm ? 12 : 14;
  uint8_t m[2 * (16 + 14)];
  if (SSL_export_keying_material(p->ssl, m, 2 * (kl + sl), "EXTRACTOR-dtls_srtp", 19, NULL, 0, 0) != 1) {
    dtls_fail(p, "keying material export failed");
    return;
  }
  const uint8_t *ck = m, *sk = m + kl, *cs = m + 2 * kl, *ss = m + 2 * kl + sl;
  int ok = srtp_keys_init(&p->tx, prof->id, p->is_client ? ck : sk, p->is_client ? cs : ss, 1) == 0 &&
           srtp_keys_init(&p->rx, prof->id, p->is_client ? sk : ck, p->is_client ? ss : cs, 0) == 0;
  OPENSSL_cleanse(m, sizeof m);
  if (!ok) {
    dtls_fail(p, "SRTP key setup failed");
    return;
  }
  p->dtls = DTLS_CONNECTED;
  p->srtp_ready = 1;
  X509 *cert = SSL_get1_peer_certificate(p->ssl);
  uint8_t *der = NULL;
  int derlen = cert ? i2d_X509(cert, &der) : -1;
  X509_free(cert);
  if (derlen <= 0) {
    dtls_fail(p, "the peer sent no certificate");
    return;
  }
  emit(p->sock, EV_CONNECTED, p->id, der, derlen, prof->id, NULL);
  OPENSSL_free(der);
}

static void dtls_step(peer *p) {
  int r = SSL_do_handshake(p->ssl);
  if (r == 1) {
    dtls_connected(p);
    return;
  }
  int e = SSL_get_error(p->ssl, r);
  if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
    char why[160];
    unsigned long code = ERR_get_error();
    snprintf(why, sizeof why, "DTLS handshake failed: %s", code ? ERR_reason_error_string(code) : "protocol error");
    ERR_clear_error();
    dtls_fail(p, why);
  }
}

static void dtls_input(peer *p, const uint8_t *data, int len) {
  if (!p->ssl || p->dtls == DTLS_DONE) return;
  BIO_write(p->rbio, data, len);
  if (p->dtls == DTLS_NEW) { /* we are the server and this is the ClientHello */
    if (p->is_client) goto out;
    p->dtls = DTLS_HANDSHAKE;
    hs_link(p);
  }
  if (p->dtls == DTLS_HANDSHAKE) dtls_step(p);
  if (p->dead) return;
  if (p->dtls == DTLS_CONNECTED) {
    uint8_t buf[SLOT_BYTES * 2];
    for (;;) {
      int n = SSL_read(p->ssl, buf, sizeof buf);
      if (n > 0) {
        emit(p->sock, EV_DATA, p->id, buf, n, 0, NULL);
        if (p->dead) return; /* closed from JavaScript */
        continue;
      }
      int e = SSL_get_error(p->ssl, n);
      if (e == SSL_ERROR_ZERO_RETURN) dtls_fail(p, "closed by the peer");
      ERR_clear_error();
      break;
    }
  }
out:
  (void)BIO_reset(p->rbio);
}

static void on_timer(uv_timer_t *t) {
  sock *s = t->data;
  uint64_t now = now_ms();
  peer *p = s->handshaking;
  while (p) {
    peer *next = p->hs_next;
    if (now - p->hs_started > HANDSHAKE_TIMEOUT_MS)
      dtls_fail(p, "DTLS handshake timed out");
    else if (DTLSv1_handle_timeout(p->ssl) < 0)
      dtls_fail(p, "DTLS retransmission failed");
    p = next;
  }
  if (!s->handshaking) uv_timer_stop(t);
  if (!s->closing) flush(s);
  bury();
}

/* ------------------------------------------------------------------------------------------ */
/* receiving */

static void on_datagram(sock *s, uint8_t *d, int len, struct sockaddr_storage *from) {
  s->rx_datagrams++;
  if (len < 1) return;
  uint8_t b0 = d[0];
  peer *p = find_by_addr(s, from);
  if (b0 <= 3) {
    char host[INET6_ADDRSTRLEN] = "";
    int port;
    if (from->ss_family == AF_INET) {
      struct sockaddr_in *v4 = (struct sockaddr_in *)from;
      inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
      port = ntohs(v4->sin_port);
    } else {
      struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)from;
      inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
      port = ntohs(v6->sin6_port);
    }
    emit(s, EV_STUN, p ? p->id : 0, d, len, port, host);
    return;
  }
  if (!p) {
    s->rx_dropped++;
    return;
  }
  if (b0 >= 20 && b0 <= 63) {
    dtls_input(p, d, len);
    return;
  }
  if (b0 >= 128 && b0 <= 191 && p->srtp_ready && len >= 12) {
    uint8_t pt = d[1];
    if (pt >= 192 && pt <= 223) {
      int n = srtcp_unprotect(p, d, len);
      if (n > 0) emit(s, EV_RTCP, p->id, d, n, 0, NULL);
    } else {
      int n = srtp_unprotect(p, d, len);
      if (n > 0) emit(s, EV_RTP, p->id, d, n, 0, NULL);
    }
    return;
  }
  s->rx_dropped++;
}

static void on_readable(uv_poll_t *h, int status, int events) {
  sock *s = h->data;
  if (status < 0 || !(events & UV_READABLE) || s->closing) return;
  for (int round = 0; round < 8 && !s->closing; round++) {
    for (int i = 0; i < RECV_BATCH; i++) {
      s->rmsgs[i].msg_hdr.msg_namelen = sizeof s->raddrs[i];
      s->riov[i].iov_len = SLOT_BYTES;
    }
    int n = recvmmsg(s->fd, s->rmsgs, RECV_BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) break;
    for (int i = 0; i < n && !s->closing; i++) {
      if (s->rmsgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
        s->rx_dropped++;
        continue;
      }
      on_datagram(s, s->rbufs[i], (int)s->rmsgs[i].msg_len, &s->raddrs[i]);
    }
    if (n < RECV_BATCH) break;
  }
  if (!s->closing) flush(s);
  bury();
}

static void on_check(uv_check_t *h) {
  sock *s = h->data;
  if (s->n) flush(s);
}

/* ------------------------------------------------------------------------------------------ */
/* JavaScript API */

#define CHECK(call)                                                  \
  do {                                                               \
    if ((call) != napi_ok) {                                         \
      napi_throw_error(env, "ERR_SOTTO_NATIVE", "invalid argument"); \
      return NULL;                                                   \
    }                                                                \
  } while (0)

/* Declares `argv` with this call's first n arguments (missing ones read as undefined). */
#define ARGS(n)                                                    \
  napi_value argv[n];                                              \
  do {                                                             \
    size_t argc_ = (n);                                            \
    CHECK(napi_get_cb_info(env, info, &argc_, argv, NULL, NULL));  \
  } while (0)

static napi_value throw_code(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

static napi_value js_undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static napi_value js_bool(napi_env env, int v) {
  napi_value b;
  napi_get_boolean(env, v, &b);
  return b;
}

static sock *sock_arg(napi_env env, napi_value v) {
  int32_t id;
  if (napi_get_value_int32(env, v, &id) != napi_ok || id < 0 || id >= socks_cap || !socks[id] || socks[id]->closing)
    return NULL;
  return socks[id];
}

static peer *peer_arg(napi_env env, napi_value v) {
  uint32_t id;
  if (napi_get_value_uint32(env, v, &id) != napi_ok) return NULL;
  return peer_get(id);
}

static SSL_CTX *make_ctx(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len, char *err) {
  SSL_CTX *ctx = SSL_CTX_new(DTLS_method());
  if (!ctx) return NULL;
  BIO *cb = BIO_new_mem_buf(cert_pem, (int)cert_len), *kb = BIO_new_mem_buf(key_pem, (int)key_len);
  X509 *cert = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
  EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
  BIO_free(cb);
  BIO_free(kb);
  int ok = cert && key && SSL_CTX_use_certificate(ctx, cert) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1 &&
           SSL_CTX_check_private_key(ctx) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!ok) {
    strcpy(err, "the DTLS certificate or key does not load");
    SSL_CTX_free(ctx);
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);
  SSL_CTX_set_cipher_list(ctx,
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-"
                          "SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384");
  SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any);
  SSL_CTX_set_options(ctx, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_read_ahead(ctx, 1);
  if (SSL_CTX_set_tlsext_use_srtp(ctx, "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80") != 0) {
    strcpy(err, "this OpenSSL has no DTLS-SRTP");
    SSL_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

/* open(host, port, certPem, keyPem, onEvent) → socket id */
static napi_value js_open(napi_env env, napi_callback_info info) {
  ARGS(5);
  char host[64], cert[16384], key[8192];
  size_t hl, cl, kl;
  int32_t port;
  CHECK(napi_get_value_string_utf8(env, argv[0], host, sizeof host, &hl));
  CHECK(napi_get_value_int32(env, argv[1], &port));
  CHECK(napi_get_value_string_utf8(env, argv[2], cert, sizeof cert, &cl));
  CHECK(napi_get_value_string_utf8(env, argv[3], key, sizeof key, &kl));
  int id = -1;
  for (int i = 0; i < socks_cap; i++)
    if (!socks[i]) {
      id = i;
      break;
    }
  if (id < 0) {
    if (socks_cap >= MAX_SOCKETS) return throw_code(env, "ERR_SOTTO_NATIVE", "too many media sockets in one process");
    int cap = socks_cap ? socks_cap * 2 : 16;
    sock **grown = realloc(socks, cap * sizeof *socks);
    if (!grown) return throw_code(env, "ERR_SOTTO_NATIVE", "out of memory");
    memset(grown + socks_cap, 0, (cap - socks_cap) * sizeof *socks);
    id = socks_cap;
    socks = grown;
    socks_cap = cap;
  }
  struct sockaddr_storage a;
  socklen_t alen;
  if (port < 0 || port > 65535 || parse_addr(host, port, &a, &alen) != 0)
    return throw_code(env, "ERR_SOTTO_ADDRESS", "not an IP address and port");
  char err[128] = "";
  SSL_CTX *ctx = make_ctx(cert, cl, key, kl, err);
  if (!ctx) return throw_code(env, "ERR_SOTTO_DTLS", err);
  int fd = socket(a.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    SSL_CTX_free(ctx);
    return throw_code(env, "ERR_SOTTO_SOCKET", strerror(errno));
  }
  int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  if (bind(fd, (struct sockaddr *)&a, alen) != 0) {
    int e = errno;
    close(fd);
    SSL_CTX_free(ctx);
    return throw_code(env, e == EADDRINUSE ? "EADDRINUSE" : "ERR_SOTTO_SOCKET", strerror(e));
  }
  sock *s = calloc(1, sizeof *s);
  s->id = id;
  s->fd = fd;
  s->family = a.ss_family;
  s->env = env;
  s->ctx = ctx;
  for (int i = 0; i < BATCH; i++) {
    s->iov[i].iov_base = s->bufs[i];
    s->msgs[i].msg_hdr.msg_iov = &s->iov[i];
    s->msgs[i].msg_hdr.msg_iovlen = 1;
    s->msgs[i].msg_hdr.msg_name = &s->addrs[i];
  }
  for (int i = 0; i < RECV_BATCH; i++) {
    s->riov[i].iov_base = s->rbufs[i];
    s->rmsgs[i].msg_hdr.msg_iov = &s->riov[i];
    s->rmsgs[i].msg_hdr.msg_iovlen = 1;
    s->rmsgs[i].msg_hdr.msg_name = &s->raddrs[i];
  }
  napi_create_reference(env, argv[4], 1, &s->cb);
  napi_value name;
  napi_create_string_utf8(env, "sotto:media-socket", NAPI_AUTO_LENGTH, &name);
  napi_value resource;
  napi_create_object(env, &resource);
  napi_async_init(env, resource, name, &s->actx);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &s->poll, fd);
  s->poll.data = s;
  uv_poll_start(&s->poll, UV_READABLE, on_readable);
  uv_check_init(loop, &s->check);
  s->check.data = s;
  uv_check_start(&s->check, on_check);
  uv_unref((uv_handle_t *)&s->check);
  uv_timer_init(loop, &s->timer);
  s->timer.data = s;
  uv_timer_start(&s->timer, on_timer, 50, 50);
  uv_timer_stop(&s->timer);
  uv_unref((uv_handle_t *)&s->timer);
  s->handles_open = 3;
  socks[id] = s;
  napi_value out;
  napi_create_int32(env, id, &out);
  return out;
}

static void peer_free(peer *p) {
  if (p->ssl) SSL_free(p->ssl); /* frees both BIOs */
  srtp_keys_free(&p->tx);
  srtp_keys_free(&p->rx);
  OPENSSL_cleanse(p, sizeof *p);
  free(p);
}

/* Forgets a peer at once; its memory goes when no native frame can still hold it. */
static void peer_retire(peer *p) {
  if (p->dead) return;
  p->dead = 1;
  p->srtp_ready = 0;
  hs_unlink(p);
  unhash(p);
  uint32_t idx = p->id & PEER_INDEX_MASK;
  peers[idx] = NULL;
  peer_gen[idx]++;
  if (idx < peer_free_hint) peer_free_hint = idx;
  if (dispatching) {
    p->grave_next = graveyard;
    graveyard = p;
  } else {
    peer_free(p);
  }
}

static void bury(void) {
  while (graveyard) {
    peer *p = graveyard;
    graveyard = p->grave_next;
    peer_free(p);
  }
}

static void on_handle_closed(uv_handle_t *h) {
  sock *s = h->data;
  if (--s->handles_open == 0) free(s);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  sock *s = sock_arg(env, argv[0]);
  if (!s) return js_undefined(env);
  flush(s);
  s->closing = 1;
  for (uint32_t i = 0; i < peer_cap; i++)
    if (peers[i] && peers[i]->sock == s) peer_retire(peers[i]);
  socks[s->id] = NULL;
  uv_poll_stop(&s->poll);
  close(s->fd);
  napi_delete_reference(env, s->cb);
  napi_async_destroy(env, s->actx);
  SSL_CTX_free(s->ctx);
  uv_close((uv_handle_t *)&s->poll, on_handle_closed);
  uv_close((uv_handle_t *)&s->check, on_handle_closed);
  uv_close((uv_handle_t *)&s->timer, on_handle_closed);
  return js_undefined(env);
}

/* peerNew(socket, isDtlsClient) → peer id */
static napi_value js_peer_new(napi_env env, napi_callback_info info) {
  ARGS(2);
  sock *s = sock_arg(env, argv[0]);
  bool client;
  if (!s) return throw_code(env, "ERR_SOTTO_CLOSED", "the media socket is closed");
  CHECK(napi_get_value_bool(env, argv[1], &client));
  uint32_t idx = peer_free_hint;
  while (idx < peer_cap && peers[idx]) idx++;
  if (idx >= peer_cap) {
    uint32_t cap = peer_cap ? peer_cap * 2 : 1024;
    if (cap > PEER_INDEX_MASK) return throw_code(env, "ERR_SOTTO_NATIVE", "too many peers");
    peers = realloc(peers, cap * sizeof *peers);
    peer_gen = realloc(peer_gen, cap * sizeof *peer_gen);
    memset(peers + peer_cap, 0, (cap - peer_cap) * sizeof *peers);
    memset(peer_gen + peer_cap, 0, (cap - peer_cap) * sizeof *peer_gen);
    peer_cap = cap;
  }
  peer_free_hint = idx + 1;
  peer *p = calloc(1, sizeof *p);
  p->id = idx | ((peer_gen[idx] & 0x7ff) << PEER_INDEX_BITS) | 0x80000000u; /* never 0 */
  p->sock = s;
  p->is_client = client;
  p->ssl = SSL_new(s->ctx);
  p->rbio = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(p->rbio, -1);
  BIO *w = BIO_new(write_method);
  BIO_set_data(w, p);
  BIO_set_init(w, 1);
  SSL_set_bio(p->ssl, p->rbio, w);
  DTLS_set_link_mtu(p->ssl, 1200);
  if (client)
    SSL_set_connect_state(p->ssl);
  else
    SSL_set_accept_state(p->ssl);
  peers[idx] = p;
  napi_value out;
  napi_create_uint32(env, p->id, &out);
  return out;
}

/* peerBind(peer, host, port): ICE chose this address; a DTLS client starts its handshake. */
static napi_value js_peer_bind(napi_env env, napi_callback_info info) {
  ARGS(3);
  peer *p = peer_arg(env, argv[0]);
  char host[64];
  size_t hl;
  int32_t port;
  CHECK(napi_get_value_string_utf8(env, argv[1], host, sizeof host, &hl));
  CHECK(napi_get_value_int32(env, argv[2], &port));
  if (!p) return js_bool(env, 0);
  struct sockaddr_storage a;
  socklen_t alen;
  if (parse_addr(host, port, &a, &alen) != 0) return throw_code(env, "ERR_SOTTO_ADDRESS", "not an IP address");
  peer *other = find_by_addr(p->sock, &a);
  if (other && other != p) unhash(other); /* the address moved to another peer (a reconnect) */
  if (other != p) {
    unhash(p);
    memcpy(&p->addr, &a, sizeof a);
    p->addrlen = alen;
    uint32_t b = addr_hash(&a);
    p->hnext = p->sock->buckets[b];
    p->sock->buckets[b] = p;
    p->bound = 1;
  }
  if (p->is_client && p->dtls == DTLS_NEW) {
    p->dtls = DTLS_HANDSHAKE;
    hs_link(p);
    dtls_step(p);
  }
  return js_bool(env, 1);
}

/* peerUnbind(peer): the address no longer consents (RFC 7675): nothing more is sent to it, nothing
 * from it is accepted, until ICE binds an address again. */
static napi_value js_peer_unbind(napi_env env, napi_callback_info info) {
  ARGS(1);
  peer *p = peer_arg(env, argv[0]);
  if (!p || !p->bound) return js_bool(env, 0);
  unhash(p);
  return js_bool(env, 1);
}

static napi_value js_peer_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  peer *p = peer_arg(env, argv[0]);
  if (!p) return js_undefined(env);
  if (p->dtls == DTLS_CONNECTED) {
    SSL_shutdown(p->ssl); /* close_notify: the browser learns at once */
    ERR_clear_error();
  }
  peer_retire(p);
  return js_undefined(env);
}

static int buffer_arg(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) {
    if (napi_is_buffer(env, v, &is) != napi_ok || !is) return -1;
  }
  napi_typedarray_type t;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &t, len, (void **)data, &ab, &off) != napi_ok) return -1;
  return t == napi_uint8_array ? 0 : -1;
}

/* sendStun(socket, host, port, bytes) */
static napi_value js_send_stun(napi_env env, napi_callback_info info) {
  ARGS(4);
  sock *s = sock_arg(env, argv[0]);
  char host[64];
  size_t hl, len;
  int32_t port;
  uint8_t *d;
  CHECK(napi_get_value_string_utf8(env, argv[1], host, sizeof host, &hl));
  CHECK(napi_get_value_int32(env, argv[2], &port));
  if (buffer_arg(env, argv[3], &d, &len)) return throw_code(env, "ERR_SOTTO_NATIVE", "bytes expected");
  if (!s) return js_bool(env, 0);
  struct sockaddr_storage a;
  socklen_t alen;
  if (parse_addr(host, port, &a, &alen) != 0) return throw_code(env, "ERR_SOTTO_ADDRESS", "not an IP address");
  send_raw(s, &a, alen, d, len);
  return js_bool(env, 1);
}

/* sendData(peer, bytes): DTLS application data (SCTP). */
static napi_value js_send_data(napi_env env, napi_callback_info info) {
  size_t len;
  uint8_t *d;
  ARGS(2);
  peer *p = peer_arg(env, argv[0]);
  if (buffer_arg(env, argv[1], &d, &len)) return throw_code(env, "ERR_SOTTO_NATIVE", "bytes expected");
  if (!p || p->dtls != DTLS_CONNECTED || !p->bound) return js_bool(env, 0);
  int r = SSL_write(p->ssl, d, (int)len);
  if (r <= 0) ERR_clear_error();
  return js_bool(env, r > 0);
}

/* sendRtp(peer, rtp) / sendRtcp(peer, rtcp): protected into the batch, sent after this turn. */
static napi_value send_media(napi_env env, napi_callback_info info, int rtcp) {
  size_t len;
  uint8_t *d;
  ARGS(2);
  peer *p = peer_arg(env, argv[0]);
  if (buffer_arg(env, argv[1], &d, &len)) return throw_code(env, "ERR_SOTTO_NATIVE", "bytes expected");
  if (!p || !p->srtp_ready || !p->bound || len < 8 || len > SLOT_BYTES - 32) return js_bool(env, 0);
  sock *s = p->sock;
  uint8_t *slot = slot_for(s, p);
  memcpy(slot, d, len);
  int n = rtcp ? srtcp_protect(p, slot, (int)len) : srtp_protect(p, slot, (int)len);
  if (n < 0) return js_bool(env, 0);
  commit_slot(s, n);
  return js_bool(env, 1);
}

static napi_value js_send_rtp(napi_env env, napi_callback_info info) { return send_media(env, info, 0); }
static napi_value js_send_rtcp(napi_env env, napi_callback_info info) { return send_media(env, info, 1); }

static void set_num(napi_env env, napi_value o, const char *k, double v) {
  napi_value n;
  napi_create_double(env, v, &n);
  napi_set_named_property(env, o, k, n);
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  napi_value o;
  ARGS(1);
  sock *s = sock_arg(env, argv[0]);
  if (!s) return js_undefined(env);
  napi_create_object(env, &o);
  set_num(env, o, "rxDatagrams", s->rx_datagrams);
  set_num(env, o, "rxDropped", s->rx_dropped);
  set_num(env, o, "txDatagrams", s->tx_datagrams);
  set_num(env, o, "txDropped", s->tx_dropped);
  set_num(env, o, "sendCalls", s->send_calls);
  set_num(env, o, "authFailures", s->auth_failures);
  set_num(env, o, "replays", s->replays);
  return o;
}

/* localPort(socket): the bound port (for port 0). */
static napi_value js_local_port(napi_env env, napi_callback_info info) {
  napi_value out;
  ARGS(1);
  sock *s = sock_arg(env, argv[0]);
  if (!s) return js_undefined(env);
  struct sockaddr_storage a;
  socklen_t l = sizeof a;
  getsockname(s->fd, (struct sockaddr *)&a, &l);
  int port = a.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&a)->sin_port)
                                    : ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
  napi_create_int32(env, port, &out);
  return out;
}

/* kdf(masterKey16, masterSalt14, label, length): the SRTP key derivation, for known-answer tests. */
static napi_value js_kdf(napi_env env, napi_callback_info info) {
  size_t kl, sl;
  napi_value out;
  uint8_t *k, *s, *o;
  int32_t label, len;
  ARGS(4);
  if (buffer_arg(env, argv[0], &k, &kl) || buffer_arg(env, argv[1], &s, &sl) || kl != 16 || sl != 14)
    return throw_code(env, "ERR_SOTTO_NATIVE", "a 16-byte key and a 14-byte salt expected");
  CHECK(napi_get_value_int32(env, argv[2], &label));
  CHECK(napi_get_value_int32(env, argv[3], &len));
  if (len < 1 || len > 64 || label < 0 || label > 5) return throw_code(env, "ERR_SOTTO_NATIVE", "bad label or length");
  CHECK(napi_create_buffer(env, len, (void **)&o, &out));
  if (kdf(k, s, (uint8_t)label, o, len)) return throw_code(env, "ERR_SOTTO_NATIVE", "kdf failed");
  return out;
}

NAPI_MODULE_INIT() {
  if (!write_method) {
    write_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sotto-udp");
    BIO_meth_set_write(write_method, bio_write);
    BIO_meth_set_ctrl(write_method, bio_ctrl);
  }
  napi_property_descriptor props[] = {
      {"open", 0, js_open, 0, 0, 0, napi_default, 0},
      {"close", 0, js_close, 0, 0, 0, napi_default, 0},
      {"localPort", 0, js_local_port, 0, 0, 0, napi_default, 0},
      {"peerNew", 0, js_peer_new, 0, 0, 0, napi_default, 0},
      {"peerBind", 0, js_peer_bind, 0, 0, 0, napi_default, 0},
      {"peerClose", 0, js_peer_close, 0, 0, 0, napi_default, 0},
      {"peerUnbind", 0, js_peer_unbind, 0, 0, 0, napi_default, 0},
      {"sendStun", 0, js_send_stun, 0, 0, 0, napi_default, 0},
      {"sendData", 0, js_send_data, 0, 0, 0, napi_default, 0},
      {"sendRtp", 0, js_send_rtp, 0, 0, 0, napi_default, 0},
      {"sendRtcp", 0, js_send_rtcp, 0, 0, 0, napi_default, 0},
      {"stats", 0, js_stats, 0, 0, 0, napi_default, 0},
      {"kdf", 0, js_kdf, 0, 0, 0, napi_default, 0},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
