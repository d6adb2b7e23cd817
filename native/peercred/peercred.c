/*
 * udsbus-peercred: kernel-verified credentials of a Unix domain socket peer.
 *
 *   getPeerCred(fd) -> { pid, uid, gid, groups }
 *
 * Uses getsockopt(SOL_SOCKET, SO_PEERCRED) for pid/uid/gid and
 * getsockopt(SOL_SOCKET, SO_PEERGROUPS) (Linux >= 4.13) for the supplementary
 * groups. The values are the credentials the peer had when it called
 * connect() (or listen(), for the client side of a connection); the kernel
 * records them, so the peer cannot forge them.
 *
 * Plain N-API (node_api.h); no node-addon-api.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* struct ucred */
#endif

#include <node_api.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __linux__
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>
#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59 /* include/uapi/asm-generic/socket.h, Linux 4.13 */
#endif
#endif

/* Give up after this many ERANGE rounds; the peer's group list is immutable
 * (it is a snapshot taken at connect time), so one retry is normally enough. */
#define MAX_GROUP_RETRIES 4

#define NAPI_CALL(env, call)                                                   \
  do {                                                                         \
    if ((call) != napi_ok) {                                                   \
      throw_napi_failure((env), #call);                                        \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

static void throw_napi_failure(napi_env env, const char *what) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return;
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  char msg[256];
  snprintf(msg, sizeof msg, "udsbus-peercred: N-API call failed: %s (%s)", what,
           info && info->error_message ? info->error_message : "unknown");
  napi_throw_error(env, NULL, msg);
}

static const char *errno_code(int err) {
  switch (err) {
  case EBADF: return "EBADF";
  case EFAULT: return "EFAULT";
  case EINVAL: return "EINVAL";
  case ENOPROTOOPT: return "ENOPROTOOPT";
  case ENOTSOCK: return "ENOTSOCK";
  case ENOTCONN: return "ENOTCONN";
  case ENOMEM: return "ENOMEM";
  case ENOBUFS: return "ENOBUFS";
  case ERANGE: return "ERANGE";
  case EPERM: return "EPERM";
  case EACCES: return "EACCES";
  case ENOSYS: return "ENOSYS";
  case EAFNOSUPPORT: return "EAFNOSUPPORT";
  case ENOENT: return "ENOENT";
  case ECONNREFUSED: return "ECONNREFUSED";
  case EAGAIN: return "EAGAIN";
  case ENAMETOOLONG: return "ENAMETOOLONG";
  case EMSGSIZE: return "EMSGSIZE";
#ifdef ENODATA
  case ENODATA: return "ENODATA";
#endif
  default: return "UNKNOWN";
  }
}

/*
 * Throw an Error shaped like Node's own system errors:
 *   message "getsockopt(SO_PEERCRED): EBADF (Bad file descriptor)"
 *   code    "EBADF"
 *   errno   -9          (negative, as in libuv / Node; util.getSystemErrorName works)
 *   syscall "getsockopt"
 *   fd      the fd that was queried
 */
static void throw_errno_sys(napi_env env, int err, const char *what, const char *syscall, int fd);

static void throw_errno(napi_env env, int err, const char *what, int fd) {
  throw_errno_sys(env, err, what, "getsockopt", fd);
}

static void throw_errno_sys(napi_env env, int err, const char *what, const char *syscall, int fd) {
  const char *code = errno_code(err);
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s (%s)", what, code, strerror(err));

  napi_value js_code, js_msg, error, v;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &js_code) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &js_msg) != napi_ok ||
      napi_create_error(env, js_code, js_msg, &error) != napi_ok) {
    napi_throw_error(env, code, msg);
    return;
  }
  if (napi_create_int32(env, -err, &v) == napi_ok)
    napi_set_named_property(env, error, "errno", v);
  if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, error, "syscall", v);
  if (napi_create_int32(env, fd, &v) == napi_ok)
    napi_set_named_property(env, error, "fd", v);
  napi_throw(env, error);
}

static napi_value get_peer_cred(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));

  napi_valuetype type = napi_undefined;
  if (argc >= 1) NAPI_CALL(env, napi_typeof(env, argv[0], &type));
  if (type != napi_number) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "getPeerCred: fd must be a number");
    return NULL;
  }
  double dfd = 0;
  NAPI_CALL(env, napi_get_value_double(env, argv[0], &dfd));
  if (!(dfd >= 0 && dfd <= INT32_MAX) || dfd != (double)(int32_t)dfd) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "getPeerCred: fd must be a non-negative integer");
    return NULL;
  }
  int fd = (int)dfd;

#ifndef __linux__
  throw_errno(env, ENOSYS, "getsockopt(SO_PEERCRED)", fd);
  return NULL;
#else
  /* Only AF_UNIX peers have meaningful credentials. A TCP socket answers
   * SO_PEERCRED with {pid 0, uid -1, gid -1}, which must never be mistaken
   * for an identity. */
  int domain = 0;
  socklen_t dlen = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) != 0) {
    throw_errno(env, errno, "getsockopt(SO_DOMAIN)", fd);
    return NULL;
  }
  if (domain != AF_UNIX) {
    throw_errno(env, EAFNOSUPPORT, "getPeerCred: fd is not an AF_UNIX socket", fd);
    return NULL;
  }

  struct ucred cred;
  memset(&cred, 0, sizeof cred);
  socklen_t clen = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0) {
    throw_errno(env, errno, "getsockopt(SO_PEERCRED)", fd);
    return NULL;
  }
  /* Unconnected sockets have no peer credentials; the kernel then reports
   * pid 0 and uid/gid (uid_t)-1. */
  if (clen < sizeof cred || (cred.pid == 0 && cred.uid == (uid_t)-1)) {
    throw_errno(env, ENOTCONN, "getPeerCred: socket has no peer credentials", fd);
    return NULL;
  }

  /* Supplementary groups. Start with room for 32 and grow on ERANGE: the
   * kernel writes the required size back into optlen. */
  socklen_t cap = 32 * sizeof(gid_t);
  gid_t *groups = NULL;
  size_t ngroups = 0;
  bool have_groups = false;
  int last_err = ERANGE;
  for (int attempt = 0; attempt <= MAX_GROUP_RETRIES; attempt++) {
    gid_t *grown = realloc(groups, cap ? cap : sizeof(gid_t));
    if (grown == NULL) {
      free(groups);
      throw_errno(env, ENOMEM, "getsockopt(SO_PEERGROUPS)", fd);
      return NULL;
    }
    groups = grown;
    socklen_t glen = cap;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0) {
      ngroups = glen / sizeof(gid_t);
      have_groups = true;
      break;
    }
    last_err = errno;
    if (last_err == ERANGE && glen > cap) {
      cap = glen;
      continue;
    }
    break;
  }
  if (!have_groups) {
    if (last_err != ENOPROTOOPT) { /* ENOPROTOOPT: kernel < 4.13, use [gid] */
      free(groups);
      throw_errno(env, last_err, "getsockopt(SO_PEERGROUPS)", fd);
      return NULL;
    }
    ngroups = 0;
  }

  /* Result. `groups` is the kernel's supplementary list with the primary gid
   * added when missing (the same convention as process.getgroups()). */
  napi_value result, v, arr;
  NAPI_CALL(env, napi_create_object(env, &result));
  NAPI_CALL(env, napi_create_int64(env, (int64_t)cred.pid, &v));
  NAPI_CALL(env, napi_set_named_property(env, result, "pid", v));
  NAPI_CALL(env, napi_create_uint32(env, (uint32_t)cred.uid, &v));
  NAPI_CALL(env, napi_set_named_property(env, result, "uid", v));
  NAPI_CALL(env, napi_create_uint32(env, (uint32_t)cred.gid, &v));
  NAPI_CALL(env, napi_set_named_property(env, result, "gid", v));

  bool gid_listed = false;
  for (size_t i = 0; i < ngroups; i++)
    if (groups[i] == cred.gid) gid_listed = true;

  napi_status st = napi_create_array(env, &arr);
  uint32_t idx = 0;
  if (st == napi_ok && !gid_listed) {
    st = napi_create_uint32(env, (uint32_t)cred.gid, &v);
    if (st == napi_ok) st = napi_set_element(env, arr, idx++, v);
  }
  for (size_t i = 0; st == napi_ok && i < ngroups; i++) {
    st = napi_create_uint32(env, (uint32_t)groups[i], &v);
    if (st == napi_ok) st = napi_set_element(env, arr, idx++, v);
  }
  free(groups);
  NAPI_CALL(env, st);
  NAPI_CALL(env, napi_set_named_property(env, result, "groups", arr));
  return result;
#endif
}

/*
 * sdNotify(path, message): one datagram to systemd's notification socket
 * ($NOTIFY_SOCKET), as sd_notify(3) sends it. Node's core has no AF_UNIX
 * SOCK_DGRAM, and sending from this process (not a helper like
 * systemd-notify) matters: with NotifyAccess=main systemd only believes
 * messages whose sender is the service's main pid. A path starting with '@'
 * names an abstract socket. Blocking sendto on a fresh socket; systemd's
 * socket never makes it wait in practice, and MSG_DONTWAIT turns a stuck
 * receiver into EAGAIN instead of a hang.
 */
static napi_value sd_notify_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
  char msg[4096];
  size_t plen = 0, mlen = 0;
  napi_valuetype t0 = napi_undefined, t1 = napi_undefined;
  if (argc >= 2) {
    NAPI_CALL(env, napi_typeof(env, argv[0], &t0));
    NAPI_CALL(env, napi_typeof(env, argv[1], &t1));
  }
  if (t0 != napi_string || t1 != napi_string) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "sdNotify: path and message must be strings");
    return NULL;
  }
  NAPI_CALL(env, napi_get_value_string_utf8(env, argv[0], path, sizeof path, &plen));
  NAPI_CALL(env, napi_get_value_string_utf8(env, argv[1], msg, sizeof msg, &mlen));
  if (plen == 0 || plen >= sizeof path - 1) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "sdNotify: path is empty or too long for a Unix socket address");
    return NULL;
  }
  if (mlen >= sizeof msg - 1) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "sdNotify: message is longer than 4 KB");
    return NULL;
  }
#ifndef __linux__
  throw_errno_sys(env, ENOSYS, "sdNotify", "sendto", -1);
  return NULL;
#else
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path, plen);
  if (path[0] == '@') addr.sun_path[0] = 0; /* abstract namespace */
  socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + (path[0] == '@' ? 0 : 1));
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno_sys(env, errno, "sdNotify: socket", "socket", -1);
    return NULL;
  }
  ssize_t n = sendto(fd, msg, mlen, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&addr, alen);
  int err = errno;
  close(fd);
  if (n < 0) {
    throw_errno_sys(env, err, "sdNotify: sendto", "sendto", -1);
    return NULL;
  }
  napi_value undef;
  NAPI_CALL(env, napi_get_undefined(env, &undef));
  return undef;
#endif
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  NAPI_CALL(env, napi_create_function(env, "getPeerCred", NAPI_AUTO_LENGTH,
                                      get_peer_cred, NULL, &fn));
  NAPI_CALL(env, napi_set_named_property(env, exports, "getPeerCred", fn));
  NAPI_CALL(env, napi_create_function(env, "sdNotify", NAPI_AUTO_LENGTH,
                                      sd_notify_send, NULL, &fn));
  NAPI_CALL(env, napi_set_named_property(env, exports, "sdNotify", fn));
  return exports;
}
