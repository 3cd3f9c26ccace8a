/*
 * diskpick's FUSE binding: libfuse3 (high-level API, multi-threaded loop) for Node.js via N-API.
 *
 * Why it exists (docs/fuse.md, "Speed"): through fuse-native (libfuse2) every read is at most
 * 128 KiB (libfuse2 cannot negotiate larger requests with the kernel) and every request
 * round-trips from a libfuse thread to the JavaScript thread and back. A fuse-native mount that
 * fills nothing reached 0.80x of `diskpick cat`; libfuse3 asks the kernel for 1 MiB reads, and
 * reads of files whose bytes lie as they are in host files (raw images, uncompressed files)
 * are served here, in libfuse's own threads, by pread(2) on the image: JavaScript computes the
 * file's runs once, when the file is opened. Everything else (lookups, listings, reads that
 * need decoding) is asked of JavaScript, which answers through reply().
 *
 * One mount per process. Stat answers use the word layout of src/fuse/stat-words.ts (fillStatArray).
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE
#include <errno.h>
#include <fuse.h>
#include <node_api.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

enum op { OP_GETATTR, OP_READDIR, OP_OPEN, OP_READ, OP_RELEASE, OP_READLINK, OP_STATFS, OP_GETXATTR, OP_LISTXATTR, OP_LOG, OP_LSEEK };

/* A piece of an open file: `length` bytes at `offset` of host file `fd` (fd < 0: zeros). */
struct run {
  uint64_t start; /* offset in the file */
  uint64_t length;
  uint64_t offset;
  int fd;
};

/* fi->fh: JavaScript's handle number, and the file's runs when it gave them. */
struct handle {
  double js_fh;
  uint32_t nruns;
  uint64_t size;
  struct run runs[];
};

/* A request waiting in a libfuse thread for JavaScript's answer. Lives on that thread's stack. */
struct request {
  enum op op;
  double id;
  const char *path;
  const char *name;
  char *buf;
  size_t size;
  off_t off;
  int flags;
  struct handle *handle;
  struct stat *st;
  struct statvfs *sv;
  /* A readdir answer, filled in by the waiting libfuse thread (see op_readdir): freed there. */
  char *names;
  size_t names_len;
  uint32_t *mode_ino;
  size_t count;
  struct fuse_file_info *fi;
  napi_ref buffer; /* the read buffer as JavaScript saw it: detached once answered */
  int result;
  sem_t done;
};

/*
 * Requests JavaScript has not answered yet, by slot; an id is slot + generation * SLOTS so a
 * late second answer to a finished request finds a different id and is ignored. Touched only on
 * the JavaScript thread (js_call and reply both run there).
 */
#define SLOTS 65536
static struct request *pending[SLOTS];
static uint32_t next_slot;
static double generation;

static struct fuse *session;
static napi_threadsafe_function tsfn;
static pthread_t loop_thread;
static int loop_running;

static int ask(struct request *r) {
  r->result = -EIO;
  r->buffer = NULL;
  sem_init(&r->done, 0, 0);
  if (napi_call_threadsafe_function(tsfn, r, napi_tsfn_blocking) != napi_ok) {
    sem_destroy(&r->done);
    return -EIO;
  }
  while (sem_wait(&r->done) == -1 && errno == EINTR) {
  }
  sem_destroy(&r->done);
  return r->result;
}

/* ---- folders listed ahead ------------------------------------------------------------------ */

/*
 * Listings (and the folders' own stats) that JavaScript made ahead of a walker and offered
 * (offer() below): libfuse's threads answer the walker's LOOKUP and READDIR of such a folder
 * from here, without a trip to the JavaScript thread. Each is used once and freed (the kernel
 * keeps the names and attributes it got; a later request goes to JavaScript, which keeps its
 * listings); at most OFFERED_FOLDERS folders and OFFERED_MAX bytes wait at a time, beyond
 * which offers are refused — so a mount that is not being walked lists at most that far ahead.
 */
struct offered {
  struct offered *next;
  char *path;
  char *names; /* each ended by NUL; NULL once used */
  size_t names_len;
  uint32_t *mode_ino; /* st_mode, st_ino per name */
  size_t count;
  int has_stat;
  struct stat st;
  size_t bytes;
};

#define OFFERED_BUCKETS 4096
#define OFFERED_MAX (16u << 20)
#define OFFERED_FOLDERS 1024
static struct offered *offered[OFFERED_BUCKETS];
static size_t offered_bytes, offered_count;
static pthread_mutex_t offered_lock = PTHREAD_MUTEX_INITIALIZER;

static uint32_t path_hash(const char *p) {
  uint32_t h = 2166136261u;
  for (; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
  return h % OFFERED_BUCKETS;
}

/* Unlinks and returns the entry of `path`, or NULL. Called with offered_lock held. */
static struct offered **offered_slot(const char *path) {
  struct offered **e = &offered[path_hash(path)];
  while (*e && strcmp((*e)->path, path) != 0) e = &(*e)->next;
  return e;
}

static void offered_free(struct offered *o) {
  offered_bytes -= o->bytes;
  offered_count--;
  free(o->path);
  free(o->names);
  free(o->mode_ino);
  free(o);
}

/* Drops the entry once neither its stat nor its listing is left. Called with offered_lock held. */
static void offered_release(struct offered **slot) {
  struct offered *o = *slot;
  if (o->names == NULL && !o->has_stat) {
    *slot = o->next;
    offered_free(o);
  }
}

/* The stat offered for `path`, taken (1), or 0. */
static int take_offered_stat(const char *path, struct stat *st) {
  int found = 0;
  pthread_mutex_lock(&offered_lock);
  struct offered **slot = offered_slot(path);
  if (*slot && (*slot)->has_stat) {
    *st = (*slot)->st;
    (*slot)->has_stat = 0;
    found = 1;
    offered_release(slot);
  }
  pthread_mutex_unlock(&offered_lock);
  return found;
}

/* The listing offered for `path`, taken out of the table (the caller frees it), or NULL. */
static struct offered *take_offered_listing(const char *path) {
  struct offered *taken = NULL;
  pthread_mutex_lock(&offered_lock);
  struct offered **slot = offered_slot(path);
  struct offered *o = *slot;
  if (o && o->names) {
    taken = calloc(1, sizeof *taken);
    if (taken) {
      taken->names = o->names;
      taken->names_len = o->names_len;
      taken->mode_ino = o->mode_ino;
      taken->count = o->count;
      o->names = NULL;
      o->mode_ino = NULL;
      /* A folder being read was looked up already (an open needs it): its stat is not needed. */
      o->has_stat = 0;
      offered_bytes -= o->names_len + 8 * o->count;
      o->bytes -= o->names_len + 8 * o->count;
      offered_release(slot);
    }
  }
  pthread_mutex_unlock(&offered_lock);
  return taken;
}

/*
 * A listing's names from JavaScript (a string, each name ended by "/", which no name holds) as
 * UTF-8 in new memory, each ended by NUL; NULL if empty, not a string or not "/"-ended. The
 * string is encoded here, once, where the JavaScript side made a Buffer of it first and this
 * side copied that (issue 27: one copy and one Buffer less per folder of a walk).
 */
static char *names_arg(napi_env env, napi_value v, size_t *len) {
  size_t n;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok || n == 0) return NULL;
  char *s = malloc(n + 1);
  if (s == NULL) return NULL;
  if (napi_get_value_string_utf8(env, v, s, n + 1, &n) != napi_ok || n == 0 || s[n - 1] != '/') {
    free(s);
    return NULL;
  }
  /* "/" is ASCII: never a byte of a longer UTF-8 sequence. */
  for (char *p = s; (p = memchr(p, '/', (size_t)(s + n - p))) != NULL; p++) *p = 0;
  *len = n;
  return s;
}

/*
 * A folder open for reading: its listing, from its first readdir to its releasedir. Entries are
 * given to libfuse with offsets (entry i's is i + 1), so libfuse asks for each of the kernel's
 * READDIR pages in turn and copies only that page's entries. Given without offsets, libfuse
 * kept every entry of the folder in its own list until the folder was closed: a malloc for the
 * entry, one for its name and their frees, 2 000 per folder of 1 000 names (perf, first cold
 * walk of the NTFS bench image: ~8 ms of malloc, free and arena growth on libfuse's threads).
 */
struct dirlist {
  char *names; /* each ended by NUL */
  size_t names_len;
  uint32_t *mode_ino; /* st_mode, st_ino per name */
  size_t count;
  size_t next, next_at; /* where the last page stopped: the next entry, and where its name is */
};

/* Whether names holds `count` names, each ended by NUL, within names_len bytes. */
static int names_hold(const char *names, size_t names_len, size_t count) {
  size_t at = 0, n = 0;
  while (n < count && at < names_len) {
    const char *end = memchr(names + at, 0, names_len - at);
    if (end == NULL) return 0;
    at = (size_t)(end - names) + 1;
    n++;
  }
  return n == count;
}

/* ---- answers, on the JavaScript thread ---------------------------------------------------- */

#define CHECK(call)                                                                                 \
  do {                                                                                             \
    if ((call) != napi_ok) goto fail;                                                              \
  } while (0)

static void finish(napi_env env, struct request *r, int result) {
  r->result = result;
  if (r->buffer) {
    /* The read buffer is libfuse's memory: after this answer it is reused or freed. */
    napi_value b, ab;
    size_t len;
    void *data;
    napi_typedarray_type type;
    size_t offset;
    if (napi_get_reference_value(env, r->buffer, &b) == napi_ok &&
        napi_get_typedarray_info(env, b, &type, &len, &data, &ab, &offset) == napi_ok) {
      napi_detach_arraybuffer(env, ab);
    }
    napi_delete_reference(env, r->buffer);
    r->buffer = NULL;
  }
  uint32_t slot = (uint32_t)((uint64_t)r->id % SLOTS);
  if (pending[slot] == r) pending[slot] = NULL;
  sem_post(&r->done);
}

static void js_call(napi_env env, napi_value fn, void *context, void *data) {
  (void)context;
  struct request *r = data;
  if (r->op == OP_LOG) {
    /* A note from a libfuse thread (no answer awaited): dispatch(OP_LOG, -1, path, text). */
    napi_value argv[4], ignored, global;
    if (env != NULL && napi_create_uint32(env, OP_LOG, &argv[0]) == napi_ok && napi_create_double(env, -1, &argv[1]) == napi_ok &&
        napi_create_string_utf8(env, r->path, NAPI_AUTO_LENGTH, &argv[2]) == napi_ok &&
        napi_create_string_utf8(env, r->name, NAPI_AUTO_LENGTH, &argv[3]) == napi_ok && napi_get_global(env, &global) == napi_ok &&
        napi_call_function(env, global, fn, 4, argv, &ignored) != napi_ok) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
    }
    free((void *)r->path);
    free((void *)r->name);
    free(r);
    return;
  }
  if (env == NULL) {
    r->result = -EIO;
    sem_post(&r->done);
    return;
  }
  uint32_t slot = next_slot;
  for (uint32_t i = 0; i < SLOTS && pending[slot]; i++) slot = (slot + 1) % SLOTS;
  if (pending[slot]) {
    r->result = -EBUSY;
    sem_post(&r->done);
    return;
  }
  next_slot = (slot + 1) % SLOTS;
  generation += 1;
  r->id = (double)slot + (double)SLOTS * generation;
  pending[slot] = r;

  napi_value argv[7];
  size_t argc = 3;
  CHECK(napi_create_uint32(env, r->op, &argv[0]));
  CHECK(napi_create_double(env, r->id, &argv[1]));
  CHECK(napi_create_string_utf8(env, r->path, NAPI_AUTO_LENGTH, &argv[2]));
  switch (r->op) {
    case OP_OPEN:
      CHECK(napi_create_int32(env, r->flags, &argv[argc++]));
      break;
    case OP_READ: {
      napi_value buf;
      CHECK(napi_create_double(env, r->handle->js_fh, &argv[argc++]));
      CHECK(napi_create_external_buffer(env, r->size, r->buf, NULL, NULL, &buf));
      CHECK(napi_create_reference(env, buf, 1, &r->buffer));
      argv[argc++] = buf;
      CHECK(napi_create_double(env, (double)r->size, &argv[argc++]));
      CHECK(napi_create_double(env, (double)r->off, &argv[argc++]));
      break;
    }
    case OP_RELEASE:
      CHECK(napi_create_double(env, r->handle->js_fh, &argv[argc++]));
      break;
    case OP_LSEEK:
      CHECK(napi_create_double(env, r->handle->js_fh, &argv[argc++]));
      CHECK(napi_create_double(env, (double)r->off, &argv[argc++]));
      CHECK(napi_create_int32(env, r->flags, &argv[argc++]));
      break;
    case OP_GETXATTR:
      CHECK(napi_create_string_utf8(env, r->name, NAPI_AUTO_LENGTH, &argv[argc++]));
      break;
    default:
      break;
  }
  napi_value global, ignored;
  CHECK(napi_get_global(env, &global));
  if (napi_call_function(env, global, fn, argc, argv, &ignored) != napi_ok) {
    /* The dispatcher answers every request itself; a throw means it could not: answer here. */
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    if (pending[slot] == r) finish(env, r, -EIO);
  }
  return;
fail:
  if (pending[slot] == r) finish(env, r, -EIO);
}

/* The memory of a typed array of the given type, and its element count. */
static int typed_array(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *count) {
  napi_typedarray_type type;
  size_t offset;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, count, data, &ab, &offset) != napi_ok || type != want) return -1;
  return 0;
}

static uint64_t u64_at(const uint32_t *w) { return (uint64_t)w[0] | ((uint64_t)w[1] << 32); }

/* Milliseconds in two words (ops.ts fillStatArray) to a timespec. */
static struct timespec time_at(const uint32_t *w) {
  uint64_t ms = u64_at(w);
  struct timespec t = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L };
  return t;
}

#define STAT_WORDS 18

static void stat_from_words(struct stat *st, const uint32_t *w) {
  memset(st, 0, sizeof *st);
  st->st_mode = w[0];
  st->st_uid = w[1];
  st->st_gid = w[2];
  st->st_size = (off_t)u64_at(w + 3);
  st->st_dev = w[5];
  st->st_nlink = w[6];
  st->st_ino = w[7];
  st->st_rdev = w[8];
  st->st_blksize = w[9];
  st->st_blocks = (blkcnt_t)u64_at(w + 10);
  st->st_atim = time_at(w + 12);
  st->st_mtim = time_at(w + 14);
  st->st_ctim = time_at(w + 16);
}

/* A value for getxattr/listxattr: the length alone when asked with size 0, ERANGE when too small. */
static int copy_value(napi_env env, napi_value v, char *buf, size_t size) {
  void *data;
  size_t len;
  if (napi_get_buffer_info(env, v, &data, &len) != napi_ok) return -EIO;
  if (size == 0) return (int)len;
  if (len > size) return -ERANGE;
  memcpy(buf, data, len);
  return (int)len;
}

/*
 * reply(id, result, a?, b?): JavaScript's answer to request `id`. By operation:
 *   getattr  a = stat words (Uint32Array)
 *   readdir  a = names (string, each ended by "/"), b = st_mode, st_ino per name (Uint32Array, 2 words each)
 *   open     a = its handle number; b = the file's runs, or null (Float64Array: length, fd, offset per run)
 *   read     result = bytes written into the buffer
 *   readlink a = target (string)
 *   statfs   a = Float64Array(11): bsize frsize blocks bfree bavail files ffree favail fsid flag namemax
 *   getxattr, listxattr  a = the value (Buffer; list: names each ended by NUL)
 *   lseek    a = the offset found (SEEK_DATA/SEEK_HOLE; no data there is -ENXIO)
 * A negative result is -errno and nothing else is read.
 */
static napi_value reply(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  double id;
  int32_t result;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return NULL;
  if (napi_get_value_double(env, argv[0], &id) != napi_ok || napi_get_value_int32(env, argv[1], &result) != napi_ok) return NULL;
  if (!(id >= 0)) return NULL;
  struct request *r = pending[(uint32_t)((uint64_t)id % SLOTS)];
  if (r == NULL || r->id != id) return NULL; /* answered already */
  if (result < 0) {
    finish(env, r, result);
    return NULL;
  }
  switch (r->op) {
    case OP_GETATTR: {
      uint32_t *w;
      size_t n;
      if (argc < 3 || typed_array(env, argv[2], napi_uint32_array, (void **)&w, &n) != 0 || n < STAT_WORDS) goto bad;
      stat_from_words(r->st, w);
      break;
    }
    case OP_READDIR: {
      /* Names in one string (no napi call per name), copied with their words for the waiting
         libfuse thread, which fills the answer: the entries are not added on this thread, the
         one that lists folders. */
      uint32_t *w;
      size_t n, blen;
      char *names;
      if (argc < 4 || typed_array(env, argv[3], napi_uint32_array, (void **)&w, &n) != 0 || (names = names_arg(env, argv[2], &blen)) == NULL) goto bad;
      uint32_t *mi = malloc(4 * n + 4);
      if (mi == NULL) {
        free(names);
        goto bad;
      }
      memcpy(mi, w, 4 * n);
      r->names = names;
      r->names_len = blen;
      r->mode_ino = mi;
      r->count = n / 2;
      break;
    }
    case OP_OPEN: {
      double js_fh, *runs = NULL;
      size_t n = 0;
      napi_valuetype t = napi_undefined;
      if (argc < 3 || napi_get_value_double(env, argv[2], &js_fh) != napi_ok) goto bad;
      if (argc >= 4) napi_typeof(env, argv[3], &t);
      if (t == napi_object && (typed_array(env, argv[3], napi_float64_array, (void **)&runs, &n) != 0 || n % 3 != 0)) goto bad;
      size_t count = n / 3;
      struct handle *h = malloc(sizeof *h + count * sizeof(struct run));
      if (h == NULL) {
        result = -ENOMEM;
        break;
      }
      h->js_fh = js_fh;
      h->nruns = (uint32_t)count;
      h->size = 0;
      for (size_t i = 0; i < count; i++) {
        h->runs[i].start = h->size;
        h->runs[i].length = (uint64_t)runs[3 * i];
        h->runs[i].fd = (int)runs[3 * i + 1];
        h->runs[i].offset = (uint64_t)runs[3 * i + 2];
        h->size += h->runs[i].length;
      }
      r->fi->fh = (uint64_t)(uintptr_t)h;
      break;
    }
    case OP_READLINK: {
      size_t len;
      if (argc < 3 || r->size == 0 || napi_get_value_string_utf8(env, argv[2], r->buf, r->size, &len) != napi_ok) goto bad;
      result = 0;
      break;
    }
    case OP_STATFS: {
      double *v;
      size_t n;
      if (argc < 3 || typed_array(env, argv[2], napi_float64_array, (void **)&v, &n) != 0 || n < 11) goto bad;
      memset(r->sv, 0, sizeof *r->sv);
      r->sv->f_bsize = (unsigned long)v[0];
      r->sv->f_frsize = (unsigned long)v[1];
      r->sv->f_blocks = (fsblkcnt_t)v[2];
      r->sv->f_bfree = (fsblkcnt_t)v[3];
      r->sv->f_bavail = (fsblkcnt_t)v[4];
      r->sv->f_files = (fsfilcnt_t)v[5];
      r->sv->f_ffree = (fsfilcnt_t)v[6];
      r->sv->f_favail = (fsfilcnt_t)v[7];
      r->sv->f_fsid = (unsigned long)v[8];
      r->sv->f_flag = (unsigned long)v[9];
      r->sv->f_namemax = (unsigned long)v[10];
      break;
    }
    case OP_LSEEK: {
      double at;
      if (argc < 3 || napi_get_value_double(env, argv[2], &at) != napi_ok || !(at >= 0) || at > 9007199254740992.0) goto bad;
      r->off = (off_t)at;
      break;
    }
    case OP_GETXATTR:
    case OP_LISTXATTR:
      if (argc < 3) goto bad;
      result = copy_value(env, argv[2], r->buf, r->size);
      break;
    default:
      break;
  }
  finish(env, r, result);
  return NULL;
bad:
  /* Not thrown: a throw inside an answer's promise callback would end the mount process. */
  finish(env, r, -EIO);
  return NULL;
}

/* ---- libfuse operations, on libfuse's threads --------------------------------------------- */

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
  /* st_ino from JavaScript, not libfuse's own counter: hard links share a number (libfuse3 has
     no -o use_ino). */
  cfg->use_ino = 1;
  /* As large as the kernel allows; the mount also raises the bdi readahead (root only). */
  conn->max_readahead = UINT32_MAX;
  /* No READDIRPLUS: libfuse would then ask getattr of every entry of every listing (libfuse3's
     high-level readdirplus looks each one up), where `find` needs only names and types:
     measured, the first `find` of 100 000 files took 0.37 s with it against 0.25 s without. */
  conn->want &= ~(unsigned)(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
  return NULL;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
  (void)fi;
  if (take_offered_stat(path, st)) return 0;
  struct request r = { .op = OP_GETATTR, .path = path, .st = st };
  return ask(&r);
}

static int op_opendir(const char *path, struct fuse_file_info *fi) {
  (void)path;
  struct dirlist *d = calloc(1, sizeof *d);
  if (d == NULL) return -ENOMEM;
  fi->fh = (uint64_t)(uintptr_t)d;
  return 0;
}

static int op_releasedir(const char *path, struct fuse_file_info *fi) {
  (void)path;
  struct dirlist *d = (struct dirlist *)(uintptr_t)fi->fh;
  if (d != NULL) {
    free(d->names);
    free(d->mode_ino);
    free(d);
  }
  return 0;
}

/* The folder's listing into d: the one offered for it, else JavaScript's answer. */
static int load_listing(const char *path, struct dirlist *d) {
  struct offered *o = take_offered_listing(path);
  if (o != NULL) {
    if (names_hold(o->names, o->names_len, o->count)) {
      d->names = o->names;
      d->names_len = o->names_len;
      d->mode_ino = o->mode_ino;
      d->count = o->count;
      free(o);
      return 0;
    }
    free(o->names);
    free(o->mode_ino);
    free(o);
  }
  struct request r = { .op = OP_READDIR, .path = path };
  int res = ask(&r);
  if (res == 0 && (r.names == NULL || !names_hold(r.names, r.names_len, r.count))) res = -EIO;
  if (res != 0) {
    free(r.names);
    free(r.mode_ino);
    return res;
  }
  d->names = r.names;
  d->names_len = r.names_len;
  d->mode_ino = r.mode_ino;
  d->count = r.count;
  return 0;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off, struct fuse_file_info *fi, enum fuse_readdir_flags flags) {
  (void)flags;
  struct dirlist *d = (struct dirlist *)(uintptr_t)fi->fh;
  if (d == NULL) return -EBADF;
  if (d->names == NULL) {
    int res = load_listing(path, d);
    if (res != 0) return res;
  }
  if (off < 0 || (uint64_t)off >= d->count) return 0;
  size_t i = (size_t)off, at = 0;
  if (i == d->next) at = d->next_at;
  else /* a seek (seekdir): the name's place counted from the start (names_hold checked them) */
    for (size_t k = 0; k < i; k++) at += strlen(d->names + at) + 1;
  struct stat st;
  memset(&st, 0, sizeof st);
  for (; i < d->count; i++) {
    const char *name = d->names + at;
    st.st_mode = d->mode_ino[2 * i];
    st.st_ino = d->mode_ino[2 * i + 1];
    if (filler(buf, name, &st, (off_t)(i + 1), 0) != 0) break;
    at += strlen(name) + 1;
  }
  d->next = i;
  d->next_at = at;
  return 0;
}

static int op_open(const char *path, struct fuse_file_info *fi) {
  struct request r = { .op = OP_OPEN, .path = path, .flags = fi->flags, .fi = fi };
  fi->fh = 0;
  return ask(&r);
}

/*
 * One line for the mount's log from a libfuse thread, as a failing read through JavaScript
 * writes one (the issue: EIO and one log line). Not waited for; dropped if the queue is gone.
 */
static void note(const char *path, const char *fmt, ...) {
  char text[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  struct request *r = calloc(1, sizeof *r);
  if (r == NULL) return;
  r->op = OP_LOG;
  r->path = strdup(path);
  r->name = strdup(text);
  if (r->path == NULL || r->name == NULL || napi_call_threadsafe_function(tsfn, r, napi_tsfn_nonblocking) != napi_ok) {
    free((void *)r->path);
    free((void *)r->name);
    free(r);
  }
}

/* The bytes of a file made of runs, read here: no round trip to JavaScript. */
static int read_runs(const char *path, struct handle *h, char *buf, size_t size, off_t off) {
  if ((uint64_t)off >= h->size) return 0;
  if (size > h->size - (uint64_t)off) size = (size_t)(h->size - (uint64_t)off);
  uint32_t lo = 0, hi = h->nruns;
  while (hi - lo > 1) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (h->runs[mid].start <= (uint64_t)off) lo = mid;
    else hi = mid;
  }
  size_t done = 0;
  for (uint32_t i = lo; done < size && i < h->nruns; i++) {
    const struct run *run = &h->runs[i];
    uint64_t at = (uint64_t)off + done - run->start;
    size_t n = size - done;
    if (n > run->length - at) n = (size_t)(run->length - at);
    if (run->fd < 0) {
      memset(buf + done, 0, n);
      done += n;
      continue;
    }
    size_t got = 0;
    while (got < n) {
      ssize_t k = pread(run->fd, buf + done + got, n - got, (off_t)(run->offset + at + got));
      if (k < 0 && errno == EINTR) continue;
      if (k < 0) {
        int err = errno;
        note(path, "cannot read the image at byte %llu: %s", (unsigned long long)(run->offset + at + got), strerror(err));
        return -err;
      }
      if (k == 0) {
        note(path, "truncated: the image ends before byte %llu, where the file's data lies (the image changed after mounting)",
             (unsigned long long)(run->offset + at + got));
        return -EIO;
      }
      got += (size_t)k;
    }
    done += n;
  }
  return (int)done;
}

static int op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  struct handle *h = (struct handle *)(uintptr_t)fi->fh;
  if (h == NULL) return -EBADF;
  if (h->nruns > 0) return read_runs(path, h, buf, size, off);
  struct request r = { .op = OP_READ, .path = path, .buf = buf, .size = size, .off = off, .handle = h };
  return ask(&r);
}

static int op_release(const char *path, struct fuse_file_info *fi) {
  struct handle *h = (struct handle *)(uintptr_t)fi->fh;
  if (h == NULL) return 0;
  struct request r = { .op = OP_RELEASE, .path = path, .handle = h };
  ask(&r);
  free(h);
  fi->fh = 0;
  return 0;
}

static int op_readlink(const char *path, char *buf, size_t size) {
  struct request r = { .op = OP_READLINK, .path = path, .buf = buf, .size = size };
  return ask(&r);
}

static int op_statfs(const char *path, struct statvfs *sv) {
  struct request r = { .op = OP_STATFS, .path = path, .sv = sv };
  return ask(&r);
}

static int op_getxattr(const char *path, const char *name, char *buf, size_t size) {
  struct request r = { .op = OP_GETXATTR, .path = path, .name = name, .buf = buf, .size = size };
  return ask(&r);
}

static int op_listxattr(const char *path, char *buf, size_t size) {
  struct request r = { .op = OP_LISTXATTR, .path = path, .buf = buf, .size = size };
  return ask(&r);
}

/*
 * SEEK_DATA / SEEK_HOLE (the kernel handles the other whences itself): answered by JavaScript
 * from the file's data ranges (ByteSource.dataRanges, what sparse extracts use), so `cp` and
 * other sparse-aware readers skip holes instead of reading a 1 TiB file's zeros.
 */
static off_t op_lseek(const char *path, off_t off, int whence, struct fuse_file_info *fi) {
  struct handle *h = (struct handle *)(uintptr_t)fi->fh;
  if (h == NULL) return -EBADF;
  if (whence != SEEK_DATA && whence != SEEK_HOLE) return -EINVAL;
  if (off < 0) return -ENXIO;
  struct request r = { .op = OP_LSEEK, .path = path, .off = off, .flags = whence, .handle = h };
  int result = ask(&r);
  return result < 0 ? (off_t)result : r.off;
}

static const struct fuse_operations operations = {
  .init = op_init,
  .getattr = op_getattr,
  .opendir = op_opendir,
  .readdir = op_readdir,
  .releasedir = op_releasedir,
  .open = op_open,
  .read = op_read,
  .release = op_release,
  .readlink = op_readlink,
  .statfs = op_statfs,
  .getxattr = op_getxattr,
  .listxattr = op_listxattr,
  .lseek = op_lseek,
};

static void *run_loop(void *arg) {
  (void)arg;
  fuse_loop_mt(session, 0);
  /* Unmounted (by fusermount -u, umount, or the kernel): nothing more will be asked. */
  fuse_unmount(session);
  fuse_destroy(session);
  session = NULL;
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  return NULL;
}

/* ---- mount(), from JavaScript --------------------------------------------------------------- */

static napi_value throw_error(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static char *string_arg(napi_env env, napi_value v) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (s && napi_get_value_string_utf8(env, v, s, len + 1, &len) != napi_ok) {
    free(s);
    return NULL;
  }
  return s;
}

/*
 * mount(mountpoint, options, dispatch): mounts and starts serving. `options` are libfuse
 * arguments ("-o", "ro,…"); dispatch(op, id, path, …) is called for every request that needs
 * JavaScript and must end in reply(id, …) exactly once. Throws when libfuse refuses (its
 * reason is on stderr).
 */
static napi_value mount(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) return throw_error(env, "mount(mountpoint, options, dispatch)");
  if (session != NULL || loop_running) return throw_error(env, "already mounted in this process");
  uint32_t nopts;
  if (napi_get_array_length(env, argv[1], &nopts) != napi_ok) return throw_error(env, "options must be an array of strings");

  char *mnt = string_arg(env, argv[0]);
  char **args = calloc(nopts + 2, sizeof(char *));
  if (mnt == NULL || args == NULL) return throw_error(env, "out of memory");
  args[0] = strdup("diskpick");
  for (uint32_t i = 0; i < nopts; i++) {
    napi_value v;
    if (napi_get_element(env, argv[1], i, &v) != napi_ok || (args[i + 1] = string_arg(env, v)) == NULL) return throw_error(env, "options must be strings");
  }
  struct fuse_args fargs = FUSE_ARGS_INIT((int)nopts + 1, args);
  struct fuse *f = fuse_new(&fargs, &operations, sizeof operations, NULL);
  fuse_opt_free_args(&fargs);
  if (f == NULL) {
    free(mnt);
    return throw_error(env, "libfuse refused the mount options");
  }
  if (fuse_mount(f, mnt) != 0) {
    fuse_destroy(f);
    free(mnt);
    return throw_error(env, "libfuse refused the mount");
  }
  free(mnt);

  napi_value name;
  napi_create_string_utf8(env, "diskpick-fuse3", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[2], NULL, name, 0, 1, NULL, NULL, NULL, js_call, &tsfn) != napi_ok) {
    fuse_unmount(f);
    fuse_destroy(f);
    return throw_error(env, "cannot create the request queue");
  }
  /* The mount does not keep the process alive by itself: the mount command decides when to leave. */
  napi_unref_threadsafe_function(env, tsfn);
  session = f;
  if (pthread_create(&loop_thread, NULL, run_loop, NULL) != 0) {
    session = NULL;
    fuse_unmount(f);
    fuse_destroy(f);
    napi_release_threadsafe_function(tsfn, napi_tsfn_abort);
    return throw_error(env, "cannot start the FUSE thread");
  }
  loop_running = 1;
  pthread_detach(loop_thread);
  return NULL;
}

/*
 * offer(path, names, modeIno, statWords): a folder's listing made ahead of the walker (names
 * in one string, each ended by "/"; st_mode/st_ino per name) and its own stat, for libfuse's threads to answer
 * from (see "folders listed ahead"). Returns false when refused (over OFFERED_MAX, already
 * offered, not mounted, malformed).
 */
static napi_value offer(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], result;
  int ok = 0;
  char *path = NULL, *names = NULL;
  uint32_t *mi = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 || session == NULL) goto done;
  uint32_t *src_mi, *words;
  size_t blen = 0, n, nw;
  if (typed_array(env, argv[2], napi_uint32_array, (void **)&src_mi, &n) != 0 ||
      typed_array(env, argv[3], napi_uint32_array, (void **)&words, &nw) != 0 || nw < STAT_WORDS)
    goto done;
  names = names_arg(env, argv[1], &blen);
  path = string_arg(env, argv[0]);
  mi = malloc(4 * n + 4);
  if (path == NULL || names == NULL || mi == NULL) goto done;
  size_t bytes = blen + 4 * n + sizeof(struct offered);
  memcpy(mi, src_mi, 4 * n);
  pthread_mutex_lock(&offered_lock);
  struct offered **slot = offered_slot(path);
  if (*slot == NULL && offered_bytes + bytes <= OFFERED_MAX && offered_count < OFFERED_FOLDERS) {
    struct offered *o = calloc(1, sizeof *o);
    if (o) {
      o->path = path;
      o->names = names;
      o->names_len = blen;
      o->mode_ino = mi;
      o->count = n / 2;
      o->has_stat = 1;
      stat_from_words(&o->st, words);
      o->bytes = bytes;
      offered_bytes += bytes;
      offered_count++;
      *slot = o;
      path = NULL;
      names = NULL;
      mi = NULL;
      ok = 1;
    }
  }
  pthread_mutex_unlock(&offered_lock);
done:
  free(path);
  free(names);
  free(mi);
  napi_get_boolean(env, ok, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "mount", NULL, mount, NULL, NULL, NULL, napi_default, NULL },
    { "reply", NULL, reply, NULL, NULL, NULL, napi_default, NULL },
    { "offer", NULL, offer, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
