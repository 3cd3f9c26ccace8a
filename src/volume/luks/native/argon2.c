/*
 * Argon2 (RFC 9106) for LUKS2 keyslots: diskpick's own N-API entry point over the reference
 * library libargon2 (the Password Hashing Competition's code, CC0 / Apache-2.0), compiled in
 * from the sources the `argon2` npm package ships (node_modules/argon2/argon2/, a build-time
 * dependency only) by scripts/native.ts.
 *
 * Why not that package at run time (issue 20): its install script (node-gyp-build) made
 * `npm install -g diskpick` warn, and its linux-x64 prebuild crashed (SIGSEGV) on load on the
 * Debian machine that builds diskpick, where the package only worked when node-gyp had built it
 * from source during the install. Built here on the same machine as the other addons.
 *
 * argon2Hash(type, password, salt, timeCost, memoryKiB, lanes, length, done): type 1 Argon2i,
 * 2 Argon2id (version 0x13); runs in libuv's thread pool (memory up to the caps of kdf.ts, which
 * are checked before this is called); done(null, key) or done(message).
 */
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "argon2.h"

typedef struct {
  napi_async_work work;
  napi_ref done;
  uint8_t *password, *salt, *out;
  size_t password_len, salt_len, out_len;
  uint32_t type, t, m, p;
  int rc;
} job_t;

static napi_value fail(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static void wipe_free(uint8_t *p, size_t n) {
  if (!p) return;
  volatile uint8_t *v = p;
  while (n--) *v++ = 0;
  free(p);
}

static void execute(napi_env env, void *data) {
  job_t *j = data;
  j->rc = argon2_hash(j->t, j->m, j->p, j->password, j->password_len, j->salt, j->salt_len, j->out, j->out_len, NULL, 0,
                      j->type == 1 ? Argon2_i : Argon2_id, ARGON2_VERSION_13);
}

static void complete(napi_env env, napi_status status, void *data) {
  job_t *j = data;
  napi_value cb, global, argv[2];
  napi_get_reference_value(env, j->done, &cb);
  napi_get_global(env, &global);
  napi_get_null(env, &argv[0]);
  napi_get_undefined(env, &argv[1]);
  if (status != napi_ok) {
    napi_create_string_utf8(env, "cancelled", NAPI_AUTO_LENGTH, &argv[0]);
  } else if (j->rc != ARGON2_OK) {
    napi_create_string_utf8(env, argon2_error_message(j->rc), NAPI_AUTO_LENGTH, &argv[0]);
  } else {
    void *copy;
    if (napi_create_buffer_copy(env, j->out_len, j->out, &copy, &argv[1]) != napi_ok) napi_create_string_utf8(env, "out of memory", NAPI_AUTO_LENGTH, &argv[0]);
  }
  wipe_free(j->password, j->password_len);
  wipe_free(j->out, j->out_len);
  free(j->salt);
  napi_delete_reference(env, j->done);
  napi_delete_async_work(env, j->work);
  free(j);
  napi_call_function(env, global, cb, 2, argv, NULL);
}

static uint8_t *copy_of(const void *p, size_t n) {
  uint8_t *c = malloc(n ? n : 1);
  if (c && n) memcpy(c, p, n);
  return c;
}

static napi_value argon2_hash_async(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 8) return fail(env, "argon2Hash: 8 arguments");
  uint32_t type, t, m, p, len;
  void *pw, *salt;
  size_t pw_len, salt_len;
  napi_valuetype cb_type;
  if (napi_get_value_uint32(env, argv[0], &type) != napi_ok || napi_get_buffer_info(env, argv[1], &pw, &pw_len) != napi_ok ||
      napi_get_buffer_info(env, argv[2], &salt, &salt_len) != napi_ok || napi_get_value_uint32(env, argv[3], &t) != napi_ok ||
      napi_get_value_uint32(env, argv[4], &m) != napi_ok || napi_get_value_uint32(env, argv[5], &p) != napi_ok ||
      napi_get_value_uint32(env, argv[6], &len) != napi_ok || napi_typeof(env, argv[7], &cb_type) != napi_ok || cb_type != napi_function) {
    return fail(env, "argon2Hash: bad arguments");
  }
  if (type != 1 && type != 2) return fail(env, "argon2Hash: type 1 (Argon2i) or 2 (Argon2id)");
  /* The library checks the rest (salt >= 8, t >= 1, m >= 8 p, ...); the output stays small. */
  if (len < 4 || len > 1024) return fail(env, "argon2Hash: output of 4 to 1024 bytes");
  job_t *j = calloc(1, sizeof *j);
  if (!j) return fail(env, "argon2Hash: out of memory");
  j->type = type, j->t = t, j->m = m, j->p = p;
  j->password = copy_of(pw, pw_len), j->password_len = pw_len;
  j->salt = copy_of(salt, salt_len), j->salt_len = salt_len;
  j->out = calloc(1, len), j->out_len = len;
  if (!j->password || !j->salt || !j->out) {
    wipe_free(j->password, pw_len);
    free(j->salt);
    free(j->out);
    free(j);
    return fail(env, "argon2Hash: out of memory");
  }
  napi_create_reference(env, argv[7], 1, &j->done);
  napi_value name;
  napi_create_string_utf8(env, "diskpick.argon2", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "argon2Hash", NAPI_AUTO_LENGTH, argon2_hash_async, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "argon2Hash", fn) != napi_ok) return NULL;
  return exports;
}
