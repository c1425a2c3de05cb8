"""What INPUT names: the files of a batch, found once each (:func:`find_inputs`).

INPUT is a folder (searched recursively), a glob, one mel or sound file, or a text file
listing paths. The search of a folder or a glob follows the rule docs/batch.md states for
symbolic links, loops and OUTDIR, and reports what it passed over instead of skipping it
silently. :mod:`invmel_core.batch.plan` turns the files into tasks.
"""

from __future__ import annotations

import codecs
import fnmatch
import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG

from invmel_core.errors import InputError
from invmel_core.io import loading

__all__ = ["Found", "discover", "find_inputs", "INPUT_EXTENSIONS"]

INPUT_EXTENSIONS = loading.MELSPEC_EXTENSIONS + loading.AUDIO_EXTENSIONS
LIST_SEPARATOR = "|"  # TTS file lists: "path|transcript"
LIST_HEAD_BYTES = 1 << 16  # what is read of a list file before deciding it is text


@dataclass
class Found:
    """What INPUT names: ``root`` (the folder names and outputs are relative to), the
    ``files`` to render, and what was ``passed_over`` on the way: ``(path, reason, unreadable)``
    triples, ``unreadable`` True for what could not be read (a failure), False for a link not
    followed or an earlier output (by the stated rule; reported, never a failure)."""

    root: Path
    files: list[Path]
    passed_over: list[tuple[str, str, bool]] = field(default_factory=list)


def discover(inputs: str | os.PathLike, outdir: str | os.PathLike | None = None) -> tuple[Path, list[Path]]:
    """``(root, files)``: the inputs INPUT names, in a stable order, and the folder their
    names (and the output tree) are relative to.

    INPUT is a folder (searched recursively for mel and sound files, hidden ones left out),
    a glob (``**`` matches folders at any depth; the root is the part before the first
    wildcard), one mel or sound file, or a text file listing paths, one a line (relative
    to the list's folder; blank lines, ``#`` comments and anything after a ``|``, as in TTS
    file lists, are ignored). Listed files are taken as they are, whatever their extension.
    Symbolic links: see :func:`find_inputs`.
    """
    found = find_inputs(inputs, outdir)
    return found.root, found.files


def find_inputs(inputs: str | os.PathLike, outdir: str | os.PathLike | None = None) -> Found:
    """:func:`discover`, with what was passed over and why.

    The walk (of a folder or a glob) follows symbolic links to files and to folders outside
    the input root, and visits every real folder and file once: a link to a folder inside
    the root (that folder is searched under its own name), a link to a folder already
    searched (a loop such as ``self -> .``, or a second link to it) and a second link to
    the same file are passed over and reported. OUTDIR, reached directly or through a link,
    is never searched, and no file inside it is an input (earlier outputs are no inputs). A
    folder that cannot be listed, or an input-like name that cannot be read (a broken link),
    is reported as unreadable.
    """
    text = os.fspath(inputs)
    path = Path(text)
    out = None if outdir is None else _absolute(outdir)
    if glob.has_magic(text) and not path.exists():
        root = _absolute(Path(*_until_magic(path.parts)))
        pattern = Path(text).parts[len(Path(*_until_magic(path.parts)).parts):]
        walker = _Walker(root, out, descend=lambda names: _could_match(pattern, names),
                         keep=lambda names: _name_extension(names[-1]) in INPUT_EXTENSIONS and _matches(pattern, names))
        return walker.walk()
    if path.is_dir():
        return _Walker(_absolute(path), out, descend=lambda names: not names[-1].startswith("."),
                       keep=lambda names: not names[-1].startswith(".")
                       and _name_extension(names[-1]) in INPUT_EXTENSIONS).walk()
    if not path.exists():
        raise InputError(f"INPUT {text!r} does not exist (give a folder, a glob or a file listing paths)")
    if _extension(path) in INPUT_EXTENSIONS:
        return Found(_absolute(path.parent), [_absolute(path)])
    files = _read_list(path)
    found = Found(Path(os.path.commonpath([os.path.dirname(p) for p in files])), [])
    guard = _OutGuard(out, found.root)
    for name in files:
        if guard.inside(name):
            found.passed_over.append((name, "inside --outdir (earlier outputs are no inputs)", False))
        else:
            found.files.append(Path(name))
    return found


def _absolute(path) -> Path:
    """Absolute, ``..`` folded, symbolic links kept: a linked file keeps its place in the tree."""
    return Path(os.path.abspath(path))


def _until_magic(parts):
    for part in parts:
        if glob.has_magic(part):
            return
        yield part


def _extension(path: Path) -> str:
    return path.suffix.lower().lstrip(".")


def _name_extension(name: str) -> str:
    return os.path.splitext(name)[1][1:].lower()


def _hidden_ok(part: str, name: str) -> bool:
    """Wildcards match no hidden name (as in :mod:`glob`) unless the pattern part starts with a dot."""
    return not name.startswith(".") or part.startswith(".")


def _matches(pattern: tuple, names: tuple) -> bool:
    """Whether the path ``names`` (components under the glob's root) matches ``pattern``."""
    if not pattern:
        return not names
    if pattern[0] == "**":
        return any(_matches(pattern[1:], names[i:]) for i in range(len(names) + 1)
                   if not any(n.startswith(".") for n in names[:i]))
    return bool(names) and fnmatch.fnmatchcase(names[0], pattern[0]) and _hidden_ok(pattern[0], names[0]) \
        and _matches(pattern[1:], names[1:])


def _could_match(pattern: tuple, names: tuple) -> bool:
    """Whether a file under the folder ``names`` could match ``pattern`` (worth searching)."""
    if not names:
        return True
    if not pattern:
        return False
    if pattern[0] == "**":
        return _could_match(pattern[1:], names) or (not names[0].startswith(".") and _could_match(pattern, names[1:]))
    return fnmatch.fnmatchcase(names[0], pattern[0]) and _hidden_ok(pattern[0], names[0]) \
        and _could_match(pattern[1:], names[1:])


def _within(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it (both absolute and normalised)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class _OutGuard:
    """Tells what lies inside OUTDIR, by resolved path (symbolic links followed)."""

    def __init__(self, out: Path | None, root: Path):
        self.out = None if out is None else os.path.realpath(out)
        root = os.path.realpath(root)
        # INPUT inside OUTDIR (``batch data/mels -o data``): its own files are inputs
        self.root_inside = root if self.out is not None and root != self.out and _within(root, self.out) else None

    def inside(self, path, real: str | None = None) -> bool:
        """Whether the file or folder ``path`` (resolved: ``real``) is OUTDIR or lies inside it."""
        if self.out is None:
            return False
        real = os.path.realpath(path) if real is None else real
        return _within(real, self.out) and not (self.root_inside and _within(real, self.root_inside))


class _Walker:
    """Walk ``root`` once per real folder (loops by ``(st_dev, st_ino)``), as :func:`find_inputs` says."""

    def __init__(self, root: Path, out: Path | None, descend, keep):
        self.root, self.descend, self.keep = root, descend, keep
        self.guard = _OutGuard(out, root)
        self.real_root = os.path.realpath(root)

    def walk(self) -> Found:
        found = Found(self.root, [])
        if not self.root.is_dir():
            return found
        try:
            root_stat = os.stat(self.root)
        except OSError as exc:
            raise InputError(f"cannot read INPUT {str(self.root)!r}: {exc.strerror or exc}") from None
        seen = {(root_stat.st_dev, root_stat.st_ino)}
        files: dict[str, tuple] = {}  # resolved path -> (the path found to it, whether a link)
        passed = found.passed_over
        stack = [(str(self.root), (), self.real_root)]
        while stack:
            folder, names, real_folder = stack.pop()
            try:
                with os.scandir(folder) as listing:
                    entries = sorted(listing, key=lambda e: e.name)
            except OSError as exc:
                passed.append((folder, f"cannot list this folder: {exc.strerror or exc}", True))
                continue
            folders = []
            for entry in entries:
                here, path = names + (entry.name,), entry.path
                try:
                    is_dir = entry.is_dir()  # follows links
                    is_link = entry.is_symlink()
                except OSError as exc:
                    passed.append((path, f"cannot read it: {exc.strerror or exc}", True))
                    continue
                if is_dir and not self.descend(here) or not is_dir and not self.keep(here):
                    continue  # hidden, not in the glob's way, not a mel or sound file
                real = os.path.realpath(path) if is_link else os.path.join(real_folder, entry.name)
                if is_dir:
                    if self.guard.inside(path, real):  # OUTDIR inside the input folder: documented, silent
                        if is_link:
                            passed.append((path, "leads into --outdir (earlier outputs are no inputs)",
                                           False))
                        continue
                    why = self._not_followed(entry, real, seen)
                    if why:
                        passed.append((path, why, why.startswith("cannot")))
                    else:
                        folders.append((path, here, real))
                    continue
                try:
                    regular = S_ISREG(entry.stat().st_mode) if is_link else entry.is_file(follow_symlinks=False)
                except OSError as exc:
                    passed.append((path, f"cannot read it: {exc.strerror or exc}" + (" (a broken link)" if is_link
                                                                                     else ""), True))
                    continue
                if not regular:
                    passed.append((path, "not a regular file", True))
                elif self.guard.inside(path, real):
                    passed.append((path, "leads into --outdir (earlier outputs are no inputs)", False))
                elif real not in files:
                    files[real] = (path, is_link)
                else:
                    first = files[real]
                    if first[1] and not is_link:  # the file under its own name, not the link to it
                        files[real], (path, is_link) = (path, is_link), first
                    passed.append((path, f"a link to the same file as {files[real][0]!r}", False))
            stack.extend(reversed(folders))
        found.files = [Path(path) for path, _ in files.values()]
        return found

    def _not_followed(self, entry: os.DirEntry, real: str, seen: set) -> str:
        """Why the folder ``entry`` (resolved: ``real``) is not searched ('' if it is); registers it as seen."""
        try:
            info = entry.stat()
        except OSError as exc:
            return f"cannot read this folder: {exc.strerror or exc}"
        key = (info.st_dev, info.st_ino)
        if key in seen:
            return "a link to a folder already searched (a loop, or a second link to it)"
        if entry.is_symlink() and _within(real, self.real_root):
            inside = Path(os.path.relpath(real, self.real_root)).parts
            if all(self.descend(inside[:i + 1]) for i in range(len(inside))):
                return "a link to a folder inside the input folder, which is searched under its own name"
        seen.add(key)
        return ""


def _read_list(path: Path) -> list[str]:
    """The paths a list file names. A file that is not such a list (a CSV of numbers, a mel in
    an unknown format) is one :class:`InputError`, not one failure per line."""
    not_a_list = (f"INPUT {str(path)!r} is neither a folder, a glob, a mel or sound file "
                  f"({', '.join(INPUT_EXTENSIONS)}) nor a text file listing paths")
    try:
        with open(path, "rb") as fp:
            head = fp.read(LIST_HEAD_BYTES)  # a large binary file is refused without reading it all
            # UTF-16 with its byte-order mark (Windows' Notepad), else UTF-8 (a byte-order mark dropped)
            encoding = "utf-16" if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
            if encoding != "utf-16" and b"\0" in head:
                raise InputError(f"{not_a_list} (it holds binary data)")
            codecs.getincrementaldecoder(encoding)().decode(head, final=False)
            text = (head + fp.read()).decode(encoding)
    except UnicodeDecodeError:
        raise InputError(f"{not_a_list} (it is not UTF-8 text)") from None
    except OSError as exc:
        raise InputError(f"cannot read INPUT {str(path)!r}: {exc.strerror or exc}") from None
    lines = (line.split(LIST_SEPARATOR, 1)[0].strip() for line in text.splitlines())
    files = [os.path.abspath(path.parent / line) for line in lines if line and not line.startswith("#")]
    if not files:
        raise InputError(f"the list {str(path)!r} names no files (one path a line)")
    if "\0" in text or not any(os.path.lexists(name) for name in files):
        first = next(line for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))
        raise InputError(f"{not_a_list}: none of its {len(files)} lines names an existing file (the first is "
                         f"{_shorten(first)!r}). A mel stored as text or CSV is not read: save it with "
                         "numpy.save as .npy; a list's paths are relative to the list's folder")
    return files


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
