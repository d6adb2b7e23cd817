import type { Socket } from 'node:net';

/** Kernel-verified credentials of a Unix domain socket peer, as of its connect()/listen(). */
export interface PeerCred {
  /** Peer process id (in this process's pid namespace; 0 if not visible in it). */
  pid: number;
  /** Peer effective uid. */
  uid: number;
  /** Peer effective gid. */
  gid: number;
  /**
   * Supplementary groups (SO_PEERGROUPS), with `gid` prepended if the kernel
   * list does not contain it. `[gid]` on kernels without SO_PEERGROUPS (< 4.13).
   */
  groups: number[];
}

/** Error thrown by getPeerCred(), shaped like Node's system errors. */
export interface PeerCredError extends Error {
  /** 'EBADF', 'ENOTSOCK', 'EAFNOSUPPORT' (not AF_UNIX), 'ENOTCONN' (no peer), ... */
  code: string;
  /** Negative errno, as in Node (util.getSystemErrorName(errno) === code). */
  errno: number;
  syscall: 'getsockopt';
  fd: number;
}

/**
 * Credentials of the peer of the connected AF_UNIX socket `fd`
 * (getsockopt SO_PEERCRED + SO_PEERGROUPS). Throws PeerCredError on failure,
 * TypeError/RangeError for a non-integer fd.
 */
export declare function getPeerCred(fd: number): PeerCred;

/**
 * Credentials of the peer of a connected net.Socket, or undefined when the
 * socket has no fd or is not an AF_UNIX socket (TCP, plain pipe).
 * Reads the internal `socket._handle.fd` (stable on Linux).
 */
export declare function peerCredOfSocket(socket: Socket): PeerCred | undefined;

/** The fd behind a net.Socket (`socket._handle.fd`), or undefined. */
export declare function socketFd(socket: Socket): number | undefined;

/**
 * One datagram `message` to the AF_UNIX datagram socket `path` ('@name' for an
 * abstract socket), as sd_notify(3) sends to $NOTIFY_SOCKET, from this process
 * (so systemd's NotifyAccess=main accepts it). Throws with `code` on failure.
 */
export declare function sdNotify(path: string, message: string): void;
