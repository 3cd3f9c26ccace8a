/*
 * Sector decryption for encrypted volumes (LUKS, BitLocker): many sectors per call, one OpenSSL
 * context whose IV is reset per sector. node:crypto cannot change a decipher's IV, so from
 * JavaScript every sector costs a fresh context (or the batched form in sector-cipher.ts, which
 * does the XTS/CBC arithmetic in JavaScript): measured in bench/luks.ts.
 *
 * It parses nothing from the image: JavaScript hands it a key, a buffer of whole sectors and
 * one 16-byte IV per sector, all sizes checked here. OpenSSL is Node's own (its symbols are
 * exported by the node binary; headers from Node's include/node/openssl).
 *
 * decryptSectors(cipher: string, key: Buffer, data: Buffer, sectorSize: number, ivs: Buffer)
 *   decrypts `data` in place; cipher is an OpenSSL name ("aes-256-xts", "aes-128-cbc", ...).
 * stretchSha256(state: Buffer(88)) runs BitLocker's password stretch in place: 2^20 times,
 *   state[0..32) = SHA-256(state) with the little-endian count at state[80..88) (see
 *   src/volume/bitlocker/protectors.ts): ~0.3 s here against ~10 s through node:crypto.
 */
#include <node_api.h>
#include <openssl/evp.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(call) do { if ((call) != napi_ok) return NULL; } while (0)

static napi_value fail(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

/* One context, its IV reset per sector; 1 on success. */
static int run_sectors(const EVP_CIPHER *cipher, const void *key, void *data, size_t data_len, uint32_t sector, const void *ivs) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (!ctx) return 0;
  int ok = EVP_DecryptInit_ex(ctx, cipher, NULL, key, NULL) == 1 && EVP_CIPHER_CTX_set_padding(ctx, 0) == 1;
  unsigned char *p = data;
  const unsigned char *iv = ivs;
  for (size_t i = 0; ok && i < data_len / sector; i++) {
    int out = 0;
    ok = EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, iv + i * 16) == 1 &&
         EVP_DecryptUpdate(ctx, p + i * sector, &out, p + i * sector, (int)sector) == 1 && out == (int)sector;
  }
  EVP_CIPHER_CTX_free(ctx);
  return ok;
}

static napi_value decrypt_sectors(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 5) return fail(env, "decryptSectors: 5 arguments");
  char name[32];
  size_t name_len = 0;
  CHECK(napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len));
  void *key, *data, *ivs;
  size_t key_len, data_len, ivs_len;
  CHECK(napi_get_buffer_info(env, argv[1], &key, &key_len));
  CHECK(napi_get_buffer_info(env, argv[2], &data, &data_len));
  uint32_t sector;
  CHECK(napi_get_value_uint32(env, argv[3], &sector));
  CHECK(napi_get_buffer_info(env, argv[4], &ivs, &ivs_len));
  const EVP_CIPHER *cipher = EVP_get_cipherbyname(name);
  if (!cipher) return fail(env, "decryptSectors: unknown cipher");
  if ((size_t)EVP_CIPHER_key_length(cipher) != key_len) return fail(env, "decryptSectors: wrong key length");
  if (sector < 16 || sector > 65536 || sector % 16 != 0) return fail(env, "decryptSectors: bad sector size");
  if (data_len % sector != 0 || ivs_len != (data_len / sector) * 16) return fail(env, "decryptSectors: sizes do not match");
  if (!run_sectors(cipher, key, data, data_len, sector, ivs)) return fail(env, "decryptSectors: OpenSSL failed");
  return NULL;
}

static napi_value stretch_sha256(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *state;
  size_t len;
  if (argc != 1 || napi_get_buffer_info(env, argv[0], &state, &len) != napi_ok || len != 88) return fail(env, "stretchSha256: an 88-byte buffer");
  unsigned char *s = state;
  const EVP_MD *md = EVP_sha256();
  for (uint64_t count = 0; count < 0x100000; count++) {
    for (int i = 0; i < 8; i++) s[80 + i] = (unsigned char)(count >> (8 * i));
    unsigned char out[32];
    unsigned int n = 0;
    if (EVP_Digest(s, 88, out, &n, md, NULL) != 1 || n != 32) return fail(env, "stretchSha256: OpenSSL failed");
    memcpy(s, out, 32);
  }
  return NULL;
}


/*
 * decryptSectorsAsync(cipher, key, data, sectorSize, ivs, done): the same in libuv's thread pool,
 * so a big read is decrypted while the main thread writes out the one before. key, data and ivs
 * are held by references until done(errorMessage | null) runs.
 */
typedef struct {
  napi_async_work work;
  napi_ref refs[3];
  napi_ref done;
  const EVP_CIPHER *cipher;
  void *key, *data, *ivs;
  size_t data_len;
  uint32_t sector;
  int ok;
} job_t;

static void job_execute(napi_env env, void *p) {
  job_t *j = p;
  j->ok = run_sectors(j->cipher, j->key, j->data, j->data_len, j->sector, j->ivs);
}

static void job_complete(napi_env env, napi_status status, void *p) {
  job_t *j = p;
  napi_value cb, global, arg;
  napi_get_reference_value(env, j->done, &cb);
  napi_get_global(env, &global);
  if (status == napi_ok && j->ok) napi_get_null(env, &arg);
  else napi_create_string_utf8(env, "decryptSectors: OpenSSL failed", NAPI_AUTO_LENGTH, &arg);
  for (int i = 0; i < 3; i++) napi_delete_reference(env, j->refs[i]);
  napi_delete_reference(env, j->done);
  napi_delete_async_work(env, j->work);
  free(j);
  napi_call_function(env, global, cb, 1, &arg, NULL);
}

static napi_value decrypt_sectors_async(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 6) return fail(env, "decryptSectorsAsync: 6 arguments");
  char name[32];
  size_t name_len = 0;
  CHECK(napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len));
  job_t *j = calloc(1, sizeof *j);
  if (!j) return fail(env, "decryptSectorsAsync: out of memory");
  size_t key_len, ivs_len;
  if (napi_get_buffer_info(env, argv[1], &j->key, &key_len) != napi_ok || napi_get_buffer_info(env, argv[2], &j->data, &j->data_len) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &j->sector) != napi_ok || napi_get_buffer_info(env, argv[4], &j->ivs, &ivs_len) != napi_ok) {
    free(j);
    return fail(env, "decryptSectorsAsync: bad arguments");
  }
  j->cipher = EVP_get_cipherbyname(name);
  const char *bad = !j->cipher ? "decryptSectorsAsync: unknown cipher"
    : (size_t)EVP_CIPHER_key_length(j->cipher) != key_len ? "decryptSectorsAsync: wrong key length"
    : (j->sector < 16 || j->sector > 65536 || j->sector % 16 != 0) ? "decryptSectorsAsync: bad sector size"
    : (j->data_len % j->sector != 0 || ivs_len != (j->data_len / j->sector) * 16) ? "decryptSectorsAsync: sizes do not match" : NULL;
  if (bad) {
    free(j);
    return fail(env, bad);
  }
  napi_create_reference(env, argv[1], 1, &j->refs[0]);
  napi_create_reference(env, argv[2], 1, &j->refs[1]);
  napi_create_reference(env, argv[4], 1, &j->refs[2]);
  napi_create_reference(env, argv[5], 1, &j->done);
  napi_value resource_name;
  napi_create_string_utf8(env, "diskpick.decryptSectors", NAPI_AUTO_LENGTH, &resource_name);
  napi_create_async_work(env, NULL, resource_name, job_execute, job_complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return NULL;
}

/*
 * readDecryptAsync(cipher, key, fd, fileOffset, data, sectorSize, firstIv, ivStep, ivBits, done):
 * one pool job that preads `data.length` bytes of the host file `fd` at `fileOffset` into `data`
 * and decrypts them there, the IVs counted in C (plain64, or plain: cut to 32 bits): sector i
 * has IV number firstIv + i * ivStep. No trip back to JavaScript between the read and the
 * decryption, and no IV buffer. For raw and fixed images, whose decrypted volume lies in the
 * host file as it is (ByteSource.hostRuns); see docs/formats/luks.md for the measurements.
 * done(null) on success, done(message) with the errno's text, or "short" where the file ends.
 */
typedef struct {
  napi_async_work work;
  napi_ref refs[2];
  napi_ref done;
  const EVP_CIPHER *cipher;
  void *key, *data;
  size_t data_len;
  int fd;
  int64_t file_offset;
  uint64_t first_iv, iv_step;
  uint32_t sector, iv_bits;
  int err; /* 0, an errno, or -1 (short read), -2 (OpenSSL) */
} rd_job_t;

static int run_sectors_counted(const EVP_CIPHER *cipher, const void *key, void *data, size_t data_len, uint32_t sector, uint64_t first, uint64_t step, uint32_t bits) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (!ctx) return 0;
  int ok = EVP_DecryptInit_ex(ctx, cipher, NULL, key, NULL) == 1 && EVP_CIPHER_CTX_set_padding(ctx, 0) == 1;
  unsigned char *p = data;
  unsigned char iv[16];
  for (size_t i = 0; ok && i < data_len / sector; i++) {
    uint64_t n = first + i * step;
    if (bits == 32) n &= 0xffffffffu;
    memset(iv, 0, sizeof iv);
    for (int b = 0; b < 8; b++) iv[b] = (unsigned char)(n >> (8 * b));
    int out = 0;
    ok = EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, iv) == 1 &&
         EVP_DecryptUpdate(ctx, p + i * sector, &out, p + i * sector, (int)sector) == 1 && out == (int)sector;
  }
  EVP_CIPHER_CTX_free(ctx);
  return ok;
}

static void rd_execute(napi_env env, void *p) {
  rd_job_t *j = p;
  unsigned char *d = j->data;
  size_t done = 0;
  while (done < j->data_len) {
    ssize_t got = pread(j->fd, d + done, j->data_len - done, (off_t)(j->file_offset + (int64_t)done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) { j->err = errno; return; }
    if (got == 0) { j->err = -1; return; }
    done += (size_t)got;
  }
  if (!run_sectors_counted(j->cipher, j->key, j->data, j->data_len, j->sector, j->first_iv, j->iv_step, j->iv_bits)) j->err = -2;
}

static void rd_complete(napi_env env, napi_status status, void *p) {
  rd_job_t *j = p;
  napi_value cb, global, arg;
  napi_get_reference_value(env, j->done, &cb);
  napi_get_global(env, &global);
  const char *msg = status != napi_ok ? "cancelled" : j->err == 0 ? NULL : j->err == -1 ? "short" : j->err == -2 ? "OpenSSL failed" : strerror(j->err);
  if (msg) napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &arg);
  else napi_get_null(env, &arg);
  for (int i = 0; i < 2; i++) napi_delete_reference(env, j->refs[i]);
  napi_delete_reference(env, j->done);
  napi_delete_async_work(env, j->work);
  free(j);
  napi_call_function(env, global, cb, 1, &arg, NULL);
}

static napi_value read_decrypt_async(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 10) return fail(env, "readDecryptAsync: 10 arguments");
  char name[32];
  size_t name_len = 0;
  CHECK(napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len));
  rd_job_t *j = calloc(1, sizeof *j);
  if (!j) return fail(env, "readDecryptAsync: out of memory");
  size_t key_len;
  int32_t fd;
  double file_offset, first_iv;
  uint32_t step;
  if (napi_get_buffer_info(env, argv[1], &j->key, &key_len) != napi_ok || napi_get_value_int32(env, argv[2], &fd) != napi_ok ||
      napi_get_value_double(env, argv[3], &file_offset) != napi_ok || napi_get_buffer_info(env, argv[4], &j->data, &j->data_len) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &j->sector) != napi_ok || napi_get_value_double(env, argv[6], &first_iv) != napi_ok ||
      napi_get_value_uint32(env, argv[7], &step) != napi_ok || napi_get_value_uint32(env, argv[8], &j->iv_bits) != napi_ok) {
    free(j);
    return fail(env, "readDecryptAsync: bad arguments");
  }
  j->fd = fd;
  j->file_offset = (int64_t)file_offset;
  j->first_iv = (uint64_t)first_iv;
  j->iv_step = step;
  j->cipher = EVP_get_cipherbyname(name);
  /* 2^53: the largest offset a JavaScript number holds exactly. */
  const double exact = 9007199254740992.0;
  const char *bad = !j->cipher ? "readDecryptAsync: unknown cipher"
    : (size_t)EVP_CIPHER_key_length(j->cipher) != key_len ? "readDecryptAsync: wrong key length"
    : (j->sector < 16 || j->sector > 65536 || j->sector % 16 != 0) ? "readDecryptAsync: bad sector size"
    : j->data_len % j->sector != 0 ? "readDecryptAsync: not whole sectors"
    : (fd < 0 || !(file_offset >= 0 && file_offset < exact) || !(first_iv >= 0 && first_iv < exact)) ? "readDecryptAsync: bad file offset or IV"
    : (j->iv_bits != 32 && j->iv_bits != 64) ? "readDecryptAsync: IV bits 32 or 64" : NULL;
  if (bad) {
    free(j);
    return fail(env, bad);
  }
  napi_create_reference(env, argv[1], 1, &j->refs[0]);
  napi_create_reference(env, argv[4], 1, &j->refs[1]);
  napi_create_reference(env, argv[9], 1, &j->done);
  napi_value resource_name;
  napi_create_string_utf8(env, "diskpick.readDecrypt", NAPI_AUTO_LENGTH, &resource_name);
  napi_create_async_work(env, NULL, resource_name, rd_execute, rd_complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return NULL;
}

/*
 * afMerge(hash, material, keyBytes, stripes): LUKS's anti-forensic merge (see
 * src/volume/luks/af.ts for the formula), returning the key as a new Buffer. In JavaScript it
 * costs one node:crypto Hash object per digest-sized piece (8000 for a 64-byte key and 4000
 * stripes): 18-60 ms of a LUKS open, against well under 1 ms here.
 */
static napi_value af_merge(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 4) return fail(env, "afMerge: 4 arguments");
  char name[32];
  size_t name_len = 0;
  void *material;
  size_t material_len;
  uint32_t key_bytes, stripes;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len) != napi_ok || napi_get_buffer_info(env, argv[1], &material, &material_len) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &key_bytes) != napi_ok || napi_get_value_uint32(env, argv[3], &stripes) != napi_ok) return fail(env, "afMerge: bad arguments");
  const EVP_MD *md = EVP_get_digestbyname(name);
  if (!md) return fail(env, "afMerge: unknown hash");
  size_t ds = (size_t)EVP_MD_size(md);
  if (key_bytes == 0 || key_bytes > 1024 || stripes == 0 || (uint64_t)key_bytes * stripes > material_len || ds == 0 || ds > EVP_MAX_MD_SIZE) return fail(env, "afMerge: sizes do not match");
  unsigned char d[1024], next[1024], h[EVP_MAX_MD_SIZE];
  memset(d, 0, key_bytes);
  const unsigned char *m = material;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx) return fail(env, "afMerge: out of memory");
  int ok = 1;
  for (uint32_t i = 0; ok && i + 1 < stripes; i++) {
    for (uint32_t b = 0; b < key_bytes; b++) d[b] ^= m[(size_t)i * key_bytes + b];
    for (uint32_t piece = 0, at = 0; ok && at < key_bytes; piece++, at += (uint32_t)ds) {
      unsigned char be[4] = { (unsigned char)(piece >> 24), (unsigned char)(piece >> 16), (unsigned char)(piece >> 8), (unsigned char)piece };
      size_t len = key_bytes - at < ds ? key_bytes - at : ds;
      ok = EVP_DigestInit_ex(ctx, md, NULL) == 1 && EVP_DigestUpdate(ctx, be, 4) == 1 && EVP_DigestUpdate(ctx, d + at, len) == 1 && EVP_DigestFinal_ex(ctx, h, NULL) == 1;
      memcpy(next + at, h, len);
    }
    memcpy(d, next, key_bytes);
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) return fail(env, "afMerge: OpenSSL failed");
  const unsigned char *last = m + (size_t)(stripes - 1) * key_bytes;
  for (uint32_t b = 0; b < key_bytes; b++) d[b] ^= last[b];
  napi_value out;
  void *outp;
  if (napi_create_buffer_copy(env, key_bytes, d, &outp, &out) != napi_ok) return NULL;
  OPENSSL_cleanse(d, sizeof d);
  OPENSSL_cleanse(next, sizeof next);
  OPENSSL_cleanse(h, sizeof h);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "decryptSectors", NAPI_AUTO_LENGTH, decrypt_sectors, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "decryptSectors", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "decryptSectorsAsync", NAPI_AUTO_LENGTH, decrypt_sectors_async, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "decryptSectorsAsync", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "readDecryptAsync", NAPI_AUTO_LENGTH, read_decrypt_async, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "readDecryptAsync", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "afMerge", NAPI_AUTO_LENGTH, af_merge, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "afMerge", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "stretchSha256", NAPI_AUTO_LENGTH, stretch_sha256, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "stretchSha256", fn) != napi_ok) return NULL;
  return exports;
}
