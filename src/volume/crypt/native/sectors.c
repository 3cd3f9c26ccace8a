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
#include <string.h>

#define CHECK(call) do { if ((call) != napi_ok) return NULL; } while (0)

static napi_value fail(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
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
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (!ctx) return fail(env, "decryptSectors: out of memory");
  int ok = EVP_DecryptInit_ex(ctx, cipher, NULL, key, NULL) == 1 && EVP_CIPHER_CTX_set_padding(ctx, 0) == 1;
  unsigned char *p = data;
  const unsigned char *iv = ivs;
  for (size_t i = 0; ok && i < data_len / sector; i++) {
    int out = 0;
    ok = EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, iv + i * 16) == 1 &&
         EVP_DecryptUpdate(ctx, p + i * sector, &out, p + i * sector, (int)sector) == 1 && out == (int)sector;
  }
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) return fail(env, "decryptSectors: OpenSSL failed");
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

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "decryptSectors", NAPI_AUTO_LENGTH, decrypt_sectors, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "decryptSectors", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "stretchSha256", NAPI_AUTO_LENGTH, stretch_sha256, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "stretchSha256", fn) != napi_ok) return NULL;
  return exports;
}
