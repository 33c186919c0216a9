"""File access inside a workspace that never follows a symlink.

Every path is walked one segment at a time from a descriptor of the workspace root with
`O_NOFOLLOW`, so a symlink anywhere on the way (swapped in at any moment) is refused rather than
followed. Writes go to a temp file created exclusively in the target directory, then fsync,
rename over the target, and fsync of the directory.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from toolbelt.errors import Forbidden, InvalidArgument, NotFound, OutOfScope, ToolError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_TMP_MARK = ".tb-tmp-"


@dataclass(frozen=True, slots=True)
class Entry:
    path: str
    kind: str  # "file" | "dir"
    size: int


def _symlink_error(path: str, for_write: bool) -> ToolError:
    cls = Forbidden if for_write else OutOfScope
    return cls(
        f"{path} goes through a symlink, which is never followed.",
        hint="Use the real path of the file inside your scope (see fs_list).",
        details={"path": path, "reason": "symlink"},
    )


class SafeRoot:
    """Symlink-refusing access to the files under one workspace directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        #: Test hook: called with a step name between the steps of an atomic write.
        self.fault: Callable[[str], None] | None = None

    # -- directories -------------------------------------------------------------------------
    def _open_root(self) -> int:
        return os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def _open_dir(self, parts: list[str], path: str, *, create: bool, for_write: bool) -> int:
        """Open the directory `parts` (relative to root) segment by segment."""
        fd = self._open_root()
        try:
            for part in parts:
                try:
                    nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise NotFound(
                            f"{path} does not exist.",
                            hint="List what exists with fs_list.",
                            details={"path": path},
                        ) from None
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o755, dir_fd=fd)
                        os.fsync(fd)
                    try:
                        nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                    except OSError as exc:
                        raise self._dir_error(exc, path, for_write, part, fd) from None
                except OSError as exc:
                    raise self._dir_error(exc, path, for_write, part, fd) from None
                os.close(fd)
                fd = nfd
            return fd
        except BaseException:
            os.close(fd)
            raise

    @staticmethod
    def _dir_error(
        exc: OSError, path: str, for_write: bool, part: str | None = None, dir_fd: int = -1
    ) -> ToolError:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            return _symlink_error(path, for_write)
        # O_DIRECTORY|O_NOFOLLOW on a symlink (even one to a directory) fails with ENOTDIR.
        if exc.errno == errno.ENOTDIR and part is not None:
            with contextlib.suppress(OSError):
                if stat.S_ISLNK(os.stat(part, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                    return _symlink_error(path, for_write)
        if exc.errno == errno.ENOTDIR:
            return InvalidArgument(
                f"A parent of {path} is not a directory.",
                hint="Use fs_list to see the workspace layout.",
                details={"path": path},
            )
        return InvalidArgument(
            f"{path} cannot be opened: {exc.strerror}.",
            hint="Use fs_list to see what you can open.",
            details={"path": path},
        )

    # -- reads -------------------------------------------------------------------------------
    def read_bytes(
        self, path: str, *, max_bytes: int | None = None, for_write: bool = False
    ) -> bytes | None:
        """The file's bytes, or None when it does not exist. Refuses symlinks and non-files
        (as `forbidden` when the read is the first step of a write)."""
        *parents, name = path.split("/")
        try:
            dfd = self._open_dir(parents, path, create=False, for_write=for_write)
        except NotFound:
            return None
        try:
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
            except FileNotFoundError:
                return None
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.EMLINK):
                    raise _symlink_error(path, for_write) from None
                raise self._dir_error(exc, path, for_write) from None
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise InvalidArgument(
                        f"{path} is not a regular file.",
                        hint="Use fs_list to find files; directories are listed, not read.",
                        details={"path": path},
                    )
                if max_bytes is not None and st.st_size > max_bytes:
                    raise InvalidArgument(
                        f"{path} is {st.st_size} bytes, over the {max_bytes}-byte read limit.",
                        hint="Read a line range with fs_read start_line/end_line.",
                        details={"path": path, "size": st.st_size, "limit": max_bytes},
                    )
                chunks = []
                while True:
                    chunk = os.read(fd, 1 << 20)
                    if not chunk:
                        break
                    chunks.append(chunk)
                return b"".join(chunks)
            finally:
                os.close(fd)
        finally:
            os.close(dfd)

    def kind(self, path: str) -> str | None:
        """ "file", "dir", "symlink", "other", or None when missing (never follows links)."""
        *parents, name = path.split("/")
        try:
            dfd = self._open_dir(parents, path, create=False, for_write=False)
        except NotFound:
            return None
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        finally:
            os.close(dfd)
        if stat.S_ISLNK(st.st_mode):
            return "symlink"
        if stat.S_ISDIR(st.st_mode):
            return "dir"
        if stat.S_ISREG(st.st_mode):
            return "file"
        return "other"

    def walk(self, path: str) -> Iterator[Entry]:
        """Every directory and regular file under `path` ("." for all), sorted, no symlinks."""
        parts = [] if path == "." else path.split("/")
        dfd = self._open_dir(parts, path, create=False, for_write=False)
        prefix = "" if path == "." else path + "/"
        try:
            for dirpath, dirnames, filenames, fd in os.fwalk(".", dir_fd=dfd):
                # fwalk never descends into a symlinked directory; never list one either.
                dirnames[:] = sorted(
                    d
                    for d in dirnames
                    if stat.S_ISDIR(os.stat(d, dir_fd=fd, follow_symlinks=False).st_mode)
                )
                rel = "" if dirpath == "." else dirpath[2:] + "/"
                for name in sorted(filenames):
                    if _TMP_MARK in name:
                        continue
                    try:
                        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if stat.S_ISREG(st.st_mode):
                        yield Entry(prefix + rel + name, "file", st.st_size)
                for name in dirnames:
                    yield Entry(prefix + rel + name, "dir", 0)
        finally:
            os.close(dfd)

    # -- writes ------------------------------------------------------------------------------
    def _step(self, name: str) -> None:
        if self.fault is not None:
            self.fault(name)

    def write_atomic(self, path: str, data: bytes, *, durable: bool = True) -> None:
        """Replace (or create) `path` with `data` durably, never following a symlink.

        `durable=False` skips the file's and the directory's fsync (still atomic: a reader
        sees the old or the new bytes): for a copy written in bulk and synced once after
        (`Workspace.replay`)."""
        *parents, name = path.split("/")
        dfd = self._open_dir(parents, path, create=True, for_write=True)
        try:
            try:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                if not stat.S_ISREG(st.st_mode):
                    raise (
                        _symlink_error(path, True)
                        if stat.S_ISLNK(st.st_mode)
                        else Forbidden(
                            f"{path} exists and is not a regular file.",
                            hint="Write to a new .md path instead.",
                            details={"path": path},
                        )
                    )
                mode = stat.S_IMODE(st.st_mode)
            except FileNotFoundError:
                mode = 0o644
            tmp = f".{name[:100]}{_TMP_MARK}{secrets.token_hex(6)}"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(tmp, flags, mode, dir_fd=dfd)
            try:
                try:
                    view = memoryview(data)
                    while view:
                        written = os.write(fd, view)
                        view = view[written:]
                    if durable:
                        os.fsync(fd)
                finally:
                    os.close(fd)
                self._step("file_synced")
                os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=dfd)
                raise
            self._step("file_renamed")
            if durable:
                os.fsync(dfd)
        finally:
            os.close(dfd)

    def remove_file(self, path: str) -> None:
        """Remove the regular file `path` durably (a missing file is fine; never a symlink).

        Only the write pipeline uses it: to undo a file that a failed call had just created.
        """
        *parents, name = path.split("/")
        try:
            dfd = self._open_dir(parents, path, create=False, for_write=True)
        except NotFound:
            return
        try:
            try:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                return
            if not stat.S_ISREG(st.st_mode):
                raise Forbidden(f"{path} is not a regular file.", details={"path": path})
            os.unlink(name, dir_fd=dfd)
            os.fsync(dfd)
        finally:
            os.close(dfd)
