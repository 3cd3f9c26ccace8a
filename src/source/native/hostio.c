/*
 * Hints to the host kernel about how an image file is read (posix_fadvise), which Node's fs
 * module does not offer. It reads nothing and parses nothing: each call passes a file
 * descriptor the caller opened and a byte range to the kernel, whose answer is returned.
 *
 * Why: a cold listing reads many small scattered pieces of an image (the MFT records of a
 * folder's sub-folders lie ~1000 records apart), each one a wait for the disk in turn;
 * POSIX_FADV_WILLNEED for all of them at once lets the disk fetch them side by side. And the
 * kernel's readahead, right for reading a file's bytes in order, reads past every metadata
 * read that looks sequential to it: POSIX_FADV_RANDOM on a second descriptor for those.
 * Measured numbers: src/source/hostio.ts.
 *
 * fadvise(fd, offset, length, advice): number  posix_fadvise's result (0, or an errno value).
 *   advice: 1 POSIX_FADV_RANDOM, 3 POSIX_FADV_WILLNEED (Linux's numbering, checked below).
 */
#include <node_api.h>
#include <fcntl.h>
#include <stdint.h>

#if POSIX_FADV_RANDOM != 1 || POSIX_FADV_WILLNEED != 3
#error "hostio.ts passes Linux's POSIX_FADV_* numbers"
#endif

static napi_value fadvise_fn(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t fd;
  int64_t offset, length;
  uint32_t advice;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int64(env, argv[1], &offset) != napi_ok ||
      napi_get_value_int64(env, argv[2], &length) != napi_ok || napi_get_value_uint32(env, argv[3], &advice) != napi_ok ||
      fd < 0 || offset < 0 || length < 0 || (advice != POSIX_FADV_RANDOM && advice != POSIX_FADV_WILLNEED)) {
    napi_throw_type_error(env, NULL, "fadvise: (fd, offset, length, advice 1 or 3)");
    return NULL;
  }
  napi_value out;
  if (napi_create_int32(env, posix_fadvise(fd, (off_t)offset, (off_t)length, (int)advice), &out) != napi_ok) return NULL;
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "fadvise", NAPI_AUTO_LENGTH, fadvise_fn, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "fadvise", fn) != napi_ok) return NULL;
  return exports;
}
