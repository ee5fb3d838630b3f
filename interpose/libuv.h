/*
 * libuv 1.x's ABI, as far as carry's wrappers need it: declared here
 * rather than taken from its headers, so that libcarry builds without
 * them.  Handles and requests are opaque; libuv hands each callback its
 * handle or request first.
 */
#ifndef CARRY_LIBUV_H
#define CARRY_LIBUV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* The uv_fs_* calls: F(X, name, parameters between the request and the
 * callback, their names).  Each takes (loop, req, ..., cb). */
#define CARRY__UV_FS_CALLS(F, X) \
    F(X, close, (int file), (file)) \
    F(X, open, (const char *path, int flags, int mode), (path, flags, mode)) \
    F(X, read, (int file, const void *bufs, unsigned nbufs, int64_t offset), \
      (file, bufs, nbufs, offset)) \
    F(X, unlink, (const char *path), (path)) \
    F(X, write, (int file, const void *bufs, unsigned nbufs, int64_t offset), \
      (file, bufs, nbufs, offset)) \
    F(X, copyfile, (const char *path, const char *new_path, int flags), (path, new_path, flags)) \
    F(X, mkdir, (const char *path, int mode), (path, mode)) \
    F(X, mkdtemp, (const char *tpl), (tpl)) \
    F(X, mkstemp, (const char *tpl), (tpl)) \
    F(X, rmdir, (const char *path), (path)) \
    F(X, scandir, (const char *path, int flags), (path, flags)) \
    F(X, opendir, (const char *path), (path)) \
    F(X, readdir, (void *dir), (dir)) \
    F(X, closedir, (void *dir), (dir)) \
    F(X, stat, (const char *path), (path)) \
    F(X, fstat, (int file), (file)) \
    F(X, lstat, (const char *path), (path)) \
    F(X, statfs, (const char *path), (path)) \
    F(X, rename, (const char *path, const char *new_path), (path, new_path)) \
    F(X, fsync, (int file), (file)) \
    F(X, fdatasync, (int file), (file)) \
    F(X, ftruncate, (int file, int64_t offset), (file, offset)) \
    F(X, sendfile, (int out_fd, int in_fd, int64_t in_offset, size_t length), \
      (out_fd, in_fd, in_offset, length)) \
    F(X, access, (const char *path, int mode), (path, mode)) \
    F(X, chmod, (const char *path, int mode), (path, mode)) \
    F(X, fchmod, (int file, int mode), (file, mode)) \
    F(X, utime, (const char *path, double atime, double mtime), (path, atime, mtime)) \
    F(X, futime, (int file, double atime, double mtime), (file, atime, mtime)) \
    F(X, lutime, (const char *path, double atime, double mtime), (path, atime, mtime)) \
    F(X, link, (const char *path, const char *new_path), (path, new_path)) \
    F(X, symlink, (const char *path, const char *new_path, int flags), (path, new_path, flags)) \
    F(X, readlink, (const char *path), (path)) \
    F(X, realpath, (const char *path), (path)) \
    F(X, chown, (const char *path, uid_t uid, gid_t gid), (path, uid, gid)) \
    F(X, fchown, (int file, uid_t uid, gid_t gid), (file, uid, gid)) \
    F(X, lchown, (const char *path, uid_t uid, gid_t gid), (path, uid, gid))
/* (a, b) -> a, b: the lists above, as parameters or arguments. */
/* The calls that stop a handle's callbacks, each int uv_<name>(handle),
 * as F(X, name). */
#define CARRY__UV_STOPS(F, X) \
    F(X, timer_stop) F(X, idle_stop) F(X, check_stop) F(X, prepare_stop) F(X, poll_stop) \
    F(X, signal_stop) F(X, fs_event_stop) F(X, fs_poll_stop) F(X, read_stop) \
    F(X, udp_recv_stop)

#define CARRY__UNPAREN(...) __VA_ARGS__

#endif /* CARRY_LIBUV_H */
