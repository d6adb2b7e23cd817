'use strict';
// udsbus-peercred: kernel-verified credentials of a Unix domain socket peer.
//
// CommonJS on purpose: a CJS entry point with plain `exports.x = ...`
// assignments can be loaded from ESM both via `import { getPeerCred } from
// 'udsbus-peercred'` (Node's cjs-module-lexer sees the named exports) and via
// `createRequire(import.meta.url)('udsbus-peercred')`, and it can load the
// .node binary with a plain require().

const path = require('node:path');

function loadBinding() {
  const candidates = ['Release', 'Debug'].map((dir) =>
    path.join(__dirname, 'build', dir, 'peercred.node'),
  );
  let firstError;
  for (const file of candidates) {
    try {
      return require(file);
    } catch (err) {
      if (!(err && err.code === 'MODULE_NOT_FOUND')) throw err;
      if (!firstError) firstError = err;
    }
  }
  const err = new Error(
    `udsbus-peercred: native binding not built (looked for ${candidates.join(', ')}); ` +
      'run `npm rebuild udsbus-peercred` (needs a C compiler, make and python3)',
  );
  err.code = 'ERR_PEERCRED_NOT_BUILT';
  err.cause = firstError;
  throw err;
}

const binding = loadBinding();

/**
 * Credentials of the peer of the connected AF_UNIX socket `fd`.
 * Throws an Error with `code` (e.g. 'EBADF', 'ENOTSOCK', 'EAFNOSUPPORT',
 * 'ENOTCONN'), negative `errno`, `syscall` and `fd` on failure.
 */
function getPeerCred(fd) {
  return binding.getPeerCred(fd);
}

/**
 * The OS file descriptor behind a net.Socket, or undefined.
 *
 * `socket._handle.fd` is an internal property, but it has been stable on
 * Unix-like platforms for as long as net.Socket has existed: libuv stream
 * handles (Pipe, TCP) expose their fd through it (Windows returns -1).
 */
function socketFd(socket) {
  const handle = socket && socket._handle;
  if (!handle) return undefined;
  const fd = handle.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : undefined;
}

function looksLikeUnixSocket(socket) {
  const ctor = socket._handle && socket._handle.constructor;
  const kind = ctor && ctor.name;
  if (kind === 'Pipe') return true; // AF_UNIX socket (or a pipe fd; the kernel says ENOTSOCK then)
  if (kind === 'TCP') return false;
  // Unknown handle type: IP sockets always have a remoteFamily once connected.
  return socket.remoteFamily === undefined;
}

/**
 * Credentials of the peer of a connected net.Socket, or undefined when the
 * socket has no fd (destroyed, not connected yet, Windows) or is not an
 * AF_UNIX socket (TCP, a plain pipe). Other failures throw as getPeerCred().
 */
function peerCredOfSocket(socket) {
  const fd = socketFd(socket);
  if (fd === undefined || !looksLikeUnixSocket(socket)) return undefined;
  try {
    return binding.getPeerCred(fd);
  } catch (err) {
    if (err && (err.code === 'EAFNOSUPPORT' || err.code === 'ENOTSOCK')) return undefined;
    throw err;
  }
}

/**
 * Send one datagram `message` to the AF_UNIX datagram socket `path` ('@name'
 * for an abstract socket): sd_notify(3) for $NOTIFY_SOCKET. Throws an Error
 * with `code` ('ENOENT', 'ECONNREFUSED', 'EAGAIN', ...) on failure.
 */
function sdNotify(path, message) {
  return binding.sdNotify(path, message);
}

exports.getPeerCred = getPeerCred;
exports.sdNotify = sdNotify;
exports.peerCredOfSocket = peerCredOfSocket;
exports.socketFd = socketFd;
