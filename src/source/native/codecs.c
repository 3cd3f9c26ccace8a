/*
 * Codecs for compressed and checksummed data (Btrfs extents, later QCOW2 clusters): zstd
 * through the system's libzstd (libzstd1, BSD licence, in every Debian base; its headers,
 * libzstd-dev, are used when installed, else the few stable-API prototypes below), and
 * CRC-32C of many sectors at once with the SSE4.2 instruction where the CPU has it.
 *
 * Why native: fzstd (pure JavaScript) decodes Btrfs's 128 KiB zstd extents at ~15-50 MiB/s on
 * this machine against ~1 GiB/s for libzstd (measured in bench/btrfs.ts; docs/formats/btrfs.md),
 * and the JavaScript slicing-by-8 CRC-32C costs ~0.25 s per 256 MiB of data checked.
 *
 * It parses nothing from the image beyond what libzstd itself checks: every output is bounded by
 * the caller's buffer (ZSTD_decompressDCtx fails with dstSize_tooSmall rather than write past
 * it), the window is capped, and every error code is turned into a thrown message.
 *
 * zstdDecompress(src: Buffer, dst: Buffer): number  bytes written to dst (one or more frames).
 * zstdDecompressAsync(src, dst, done(err: string | null, n: number))  the same in libuv's pool.
 * zstdStreamNew(): an opaque streaming decoder (for one long stream: a .vma.zst of many GiB).
 * zstdStreamDecompress(decoder, src, dst, pos: Float64Array[2]): number  decodes from
 *   src[pos[0]…] into dst[pos[1]…], advancing both; returns libzstd's hint (0: a frame ended).
 * zstdCompress(src, dst, level): number  one frame of src into dst (ZSTD_compressBound room).
 * zstdCompressAsync(src, dst, level, done(err, n))  the same in libuv's pool.
 * crc32cSectors(buf, start, end, sectorSize, csums, csumAt): number  the index of the first
 *   sector of buf[start, end) whose standard CRC-32C differs from the LE32 at
 *   csums[csumAt + 4 i], or -1 when all match; undefined where the CPU has no SSE4.2.
 */
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<zstd.h>)
#include <zstd.h>
#define HAVE_ZSTD_H 1
#endif
#endif
#ifndef HAVE_ZSTD_H
/* The stable API of zstd.h (zstd >= 1.4.0), as libzstd.so.1 exports it. */
typedef struct ZSTD_DCtx_s ZSTD_DCtx;
typedef enum { ZSTD_d_windowLogMax = 100 } ZSTD_dParameter;
ZSTD_DCtx *ZSTD_createDCtx(void);
size_t ZSTD_freeDCtx(ZSTD_DCtx *dctx);
size_t ZSTD_decompressDCtx(ZSTD_DCtx *dctx, void *dst, size_t dstCapacity, const void *src, size_t srcSize);
size_t ZSTD_DCtx_setParameter(ZSTD_DCtx *dctx, ZSTD_dParameter param, int value);
unsigned ZSTD_isError(size_t code);
const char *ZSTD_getErrorName(size_t code);
unsigned ZSTD_versionNumber(void);
typedef struct ZSTD_inBuffer_s { const void *src; size_t size; size_t pos; } ZSTD_inBuffer;
typedef struct ZSTD_outBuffer_s { void *dst; size_t size; size_t pos; } ZSTD_outBuffer;
typedef ZSTD_DCtx ZSTD_DStream;
ZSTD_DStream *ZSTD_createDStream(void);
size_t ZSTD_freeDStream(ZSTD_DStream *zds);
size_t ZSTD_decompressStream(ZSTD_DStream *zds, ZSTD_outBuffer *output, ZSTD_inBuffer *input);
typedef struct ZSTD_CCtx_s ZSTD_CCtx;
ZSTD_CCtx *ZSTD_createCCtx(void);
size_t ZSTD_compressCCtx(ZSTD_CCtx *cctx, void *dst, size_t dstCapacity, const void *src, size_t srcSize, int compressionLevel);
#endif

#define CHECK(call) do { if ((call) != napi_ok) return NULL; } while (0)
/* 2^27 bytes: zstd's own default limit for a decoder's window (ZSTD_WINDOWLOG_LIMIT_DEFAULT). */
#define WINDOW_LOG_MAX 27

static napi_value fail(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

/* One context per thread (the main thread and each of libuv's pool threads), made on first use. */
static __thread ZSTD_DCtx *thread_dctx;

static ZSTD_DCtx *dctx_here(void) {
  if (!thread_dctx) {
    thread_dctx = ZSTD_createDCtx();
    if (thread_dctx) ZSTD_DCtx_setParameter(thread_dctx, ZSTD_d_windowLogMax, WINDOW_LOG_MAX);
  }
  return thread_dctx;
}

/* Decodes src into dst; the byte count, or (size_t)-1 with *err set. */
static size_t zstd_run(const void *src, size_t src_len, void *dst, size_t dst_len, const char **err) {
  ZSTD_DCtx *d = dctx_here();
  if (!d) {
    *err = "out of memory";
    return (size_t)-1;
  }
  size_t r = ZSTD_decompressDCtx(d, dst, dst_len, src, src_len);
  if (ZSTD_isError(r)) {
    *err = ZSTD_getErrorName(r);
    return (size_t)-1;
  }
  return r;
}

static napi_value zstd_decompress(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *src, *dst;
  size_t src_len, dst_len;
  if (argc != 2 || napi_get_buffer_info(env, argv[0], &src, &src_len) != napi_ok || napi_get_buffer_info(env, argv[1], &dst, &dst_len) != napi_ok) {
    return fail(env, "zstdDecompress: two buffers");
  }
  const char *err = NULL;
  size_t n = zstd_run(src, src_len, dst, dst_len, &err);
  if (n == (size_t)-1) return fail(env, err);
  napi_value out;
  CHECK(napi_create_double(env, (double)n, &out));
  return out;
}

typedef struct {
  napi_async_work work;
  napi_ref refs[2];
  napi_ref done;
  void *src, *dst;
  size_t src_len, dst_len, n;
  const char *err;
  /* A compression job (zstdCompressAsync) at `level`, else a decompression. */
  int compress, level;
} zjob_t;

static __thread ZSTD_CCtx *thread_cctx;

static void zjob_execute(napi_env env, void *p) {
  zjob_t *j = p;
  if (!j->compress) {
    j->n = zstd_run(j->src, j->src_len, j->dst, j->dst_len, &j->err);
    return;
  }
  if (!thread_cctx) thread_cctx = ZSTD_createCCtx();
  if (!thread_cctx) {
    j->err = "out of memory";
    j->n = (size_t)-1;
    return;
  }
  size_t r = ZSTD_compressCCtx(thread_cctx, j->dst, j->dst_len, j->src, j->src_len, j->level);
  if (ZSTD_isError(r)) {
    j->err = ZSTD_getErrorName(r);
    j->n = (size_t)-1;
  } else {
    j->n = r;
  }
}

static void zjob_complete(napi_env env, napi_status status, void *p) {
  zjob_t *j = p;
  napi_value cb, global, args[2];
  napi_get_reference_value(env, j->done, &cb);
  napi_get_global(env, &global);
  if (status == napi_ok && j->n != (size_t)-1) {
    napi_get_null(env, &args[0]);
    napi_create_double(env, (double)j->n, &args[1]);
  } else {
    napi_create_string_utf8(env, j->err ? j->err : "cancelled", NAPI_AUTO_LENGTH, &args[0]);
    napi_create_double(env, 0, &args[1]);
  }
  for (int i = 0; i < 2; i++) napi_delete_reference(env, j->refs[i]);
  napi_delete_reference(env, j->done);
  napi_delete_async_work(env, j->work);
  free(j);
  napi_call_function(env, global, cb, 2, args, NULL);
}

static napi_value zstd_decompress_async(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype t;
  if (argc != 3 || napi_typeof(env, argv[2], &t) != napi_ok || t != napi_function) return fail(env, "zstdDecompressAsync: two buffers and a callback");
  zjob_t *j = calloc(1, sizeof *j);
  if (!j) return fail(env, "zstdDecompressAsync: out of memory");
  if (napi_get_buffer_info(env, argv[0], &j->src, &j->src_len) != napi_ok || napi_get_buffer_info(env, argv[1], &j->dst, &j->dst_len) != napi_ok) {
    free(j);
    return fail(env, "zstdDecompressAsync: two buffers and a callback");
  }
  napi_create_reference(env, argv[0], 1, &j->refs[0]);
  napi_create_reference(env, argv[1], 1, &j->refs[1]);
  napi_create_reference(env, argv[2], 1, &j->done);
  napi_value resource_name;
  napi_create_string_utf8(env, "diskpick.zstdDecompress", NAPI_AUTO_LENGTH, &resource_name);
  napi_create_async_work(env, NULL, resource_name, zjob_execute, zjob_complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return NULL;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const unsigned char *p, size_t n) {
  uint64_t c = crc;
  while (n && ((uintptr_t)p & 7)) {
    c = _mm_crc32_u8((uint32_t)c, *p++);
    n--;
  }
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    c = _mm_crc32_u64(c, w);
  }
  while (n--) c = _mm_crc32_u8((uint32_t)c, *p++);
  return (uint32_t)c;
}

static napi_value crc32c_sectors(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *buf, *csums;
  size_t buf_len, csums_len;
  uint32_t start, end, sector, csum_at;
  if (argc != 6 || napi_get_buffer_info(env, argv[0], &buf, &buf_len) != napi_ok || napi_get_value_uint32(env, argv[1], &start) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &end) != napi_ok || napi_get_value_uint32(env, argv[3], &sector) != napi_ok ||
      napi_get_buffer_info(env, argv[4], &csums, &csums_len) != napi_ok || napi_get_value_uint32(env, argv[5], &csum_at) != napi_ok) {
    return fail(env, "crc32cSectors: (buf, start, end, sectorSize, csums, csumAt)");
  }
  if (sector == 0 || start > end || end > buf_len || (end - start) % sector != 0) return fail(env, "crc32cSectors: the range is not whole sectors of the buffer");
  size_t count = (end - start) / sector;
  if (csum_at > csums_len || (csums_len - csum_at) / 4 < count) return fail(env, "crc32cSectors: fewer checksums than sectors");
  const unsigned char *p = (const unsigned char *)buf + start;
  const unsigned char *s = (const unsigned char *)csums + csum_at;
  double bad = -1;
  for (size_t i = 0; i < count; i++) {
    uint32_t c = ~crc32c_hw(0xffffffffu, p + i * sector, sector);
    uint32_t want = (uint32_t)s[4 * i] | ((uint32_t)s[4 * i + 1] << 8) | ((uint32_t)s[4 * i + 2] << 16) | ((uint32_t)s[4 * i + 3] << 24);
    if (c != want) {
      bad = (double)i;
      break;
    }
  }
  napi_value out;
  CHECK(napi_create_double(env, bad, &out));
  return out;
}
#endif

static void dstream_free(napi_env env, void *data, void *hint) {
  ZSTD_freeDStream((ZSTD_DStream *)data);
}

static napi_value zstd_stream_new(napi_env env, napi_callback_info info) {
  ZSTD_DStream *d = ZSTD_createDStream();
  if (!d) return fail(env, "zstdStreamNew: out of memory");
  ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, WINDOW_LOG_MAX);
  napi_value out;
  if (napi_create_external(env, d, dstream_free, NULL, &out) != napi_ok) {
    ZSTD_freeDStream(d);
    return fail(env, "zstdStreamNew: cannot wrap the decoder");
  }
  return out;
}

static napi_value zstd_stream_decompress(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *d = NULL, *src, *dst, *posv;
  size_t src_len, dst_len, pos_len;
  napi_typedarray_type pt;
  napi_value ab;
  size_t pos_off;
  if (argc != 4 || napi_get_value_external(env, argv[0], &d) != napi_ok || !d ||
      napi_get_buffer_info(env, argv[1], &src, &src_len) != napi_ok || napi_get_buffer_info(env, argv[2], &dst, &dst_len) != napi_ok ||
      napi_get_typedarray_info(env, argv[3], &pt, &pos_len, &posv, &ab, &pos_off) != napi_ok || pt != napi_float64_array || pos_len < 2) {
    return fail(env, "zstdStreamDecompress: a decoder, two buffers and a Float64Array of two positions");
  }
  double *pos = (double *)posv;
  /* Positions outside the buffers would let libzstd read or write out of them. */
  if (!(pos[0] >= 0 && pos[0] <= (double)src_len && pos[1] >= 0 && pos[1] <= (double)dst_len)) return fail(env, "zstdStreamDecompress: positions outside the buffers");
  ZSTD_inBuffer in = { src, src_len, (size_t)pos[0] };
  ZSTD_outBuffer out = { dst, dst_len, (size_t)pos[1] };
  size_t r = ZSTD_decompressStream((ZSTD_DStream *)d, &out, &in);
  if (ZSTD_isError(r)) return fail(env, ZSTD_getErrorName(r));
  pos[0] = (double)in.pos;
  pos[1] = (double)out.pos;
  napi_value v;
  CHECK(napi_create_double(env, (double)r, &v));
  return v;
}

static napi_value zstd_compress_async(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype t;
  int32_t level;
  if (argc != 4 || napi_typeof(env, argv[3], &t) != napi_ok || t != napi_function || napi_get_value_int32(env, argv[2], &level) != napi_ok) {
    return fail(env, "zstdCompressAsync: two buffers, a level and a callback");
  }
  zjob_t *j = calloc(1, sizeof *j);
  if (!j) return fail(env, "zstdCompressAsync: out of memory");
  if (napi_get_buffer_info(env, argv[0], &j->src, &j->src_len) != napi_ok || napi_get_buffer_info(env, argv[1], &j->dst, &j->dst_len) != napi_ok) {
    free(j);
    return fail(env, "zstdCompressAsync: two buffers, a level and a callback");
  }
  j->compress = 1;
  j->level = level;
  napi_create_reference(env, argv[0], 1, &j->refs[0]);
  napi_create_reference(env, argv[1], 1, &j->refs[1]);
  napi_create_reference(env, argv[3], 1, &j->done);
  napi_value resource_name;
  napi_create_string_utf8(env, "diskpick.zstdCompress", NAPI_AUTO_LENGTH, &resource_name);
  napi_create_async_work(env, NULL, resource_name, zjob_execute, zjob_complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return NULL;
}

static napi_value zstd_compress(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *src, *dst;
  size_t src_len, dst_len;
  int32_t level;
  if (argc != 3 || napi_get_buffer_info(env, argv[0], &src, &src_len) != napi_ok || napi_get_buffer_info(env, argv[1], &dst, &dst_len) != napi_ok ||
      napi_get_value_int32(env, argv[2], &level) != napi_ok) {
    return fail(env, "zstdCompress: two buffers and a level");
  }
  if (!thread_cctx) thread_cctx = ZSTD_createCCtx();
  if (!thread_cctx) return fail(env, "zstdCompress: out of memory");
  size_t r = ZSTD_compressCCtx(thread_cctx, dst, dst_len, src, src_len, level);
  if (ZSTD_isError(r)) return fail(env, ZSTD_getErrorName(r));
  napi_value v;
  CHECK(napi_create_double(env, (double)r, &v));
  return v;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "zstdStreamNew", NAPI_AUTO_LENGTH, zstd_stream_new, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "zstdStreamNew", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "zstdStreamDecompress", NAPI_AUTO_LENGTH, zstd_stream_decompress, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "zstdStreamDecompress", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "zstdCompress", NAPI_AUTO_LENGTH, zstd_compress, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "zstdCompress", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "zstdCompressAsync", NAPI_AUTO_LENGTH, zstd_compress_async, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "zstdCompressAsync", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "zstdDecompress", NAPI_AUTO_LENGTH, zstd_decompress, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "zstdDecompress", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "zstdDecompressAsync", NAPI_AUTO_LENGTH, zstd_decompress_async, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "zstdDecompressAsync", fn) != napi_ok) return NULL;
  napi_value v;
  if (napi_create_uint32(env, ZSTD_versionNumber(), &v) != napi_ok || napi_set_named_property(env, exports, "zstdVersion", v) != napi_ok) return NULL;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("sse4.2")) {
    if (napi_create_function(env, "crc32cSectors", NAPI_AUTO_LENGTH, crc32c_sectors, NULL, &fn) != napi_ok) return NULL;
    if (napi_set_named_property(env, exports, "crc32cSectors", fn) != napi_ok) return NULL;
  }
#endif
  return exports;
}
