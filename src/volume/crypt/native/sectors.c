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
#include <stdlib.h>
#include <string.h>

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

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "decryptSectors", NAPI_AUTO_LENGTH, decrypt_sectors, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "decryptSectors", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "decryptSectorsAsync", NAPI_AUTO_LENGTH, decrypt_sectors_async, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "decryptSectorsAsync", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "stretchSha256", NAPI_AUTO_LENGTH, stretch_sha256, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "stretchSha256", fn) != napi_ok) return NULL;
  return exports;
}
