# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Read the configuration nginx really loads, from its own ``nginx -T`` output.

``nginx -T`` prints every file it loaded, each after a ``# configuration file <path>:``
line, with the file's text unchanged. ``Config`` tokenizes those texts the way nginx's
own lexer does (``#`` starts a comment only where a token may start, so ``#`` inside a
quoted string or a regex location is text; ``${var}`` inside a word is not a block), then
follows the ``include`` directives from the main file so every directive knows its file,
line, byte offsets and context (``http``, ``stream``, ...).

What the module reads from it: the files nginx loads, the ``pid`` path, the ``upstream``
blocks of a name (to adopt them or to say where a duplicate is), the include patterns
(to prove that no auxiliary file can be loaded) and the context the managed file is
included in.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re

CONFIG_FILE_RE = re.compile(r"^# configuration file (.+):$", re.M)
MAX_INCLUDE_DEPTH = 32


class ConfigSyntaxError(ValueError):
    """The text is not nginx configuration syntax (nginx -T would not have printed it)."""


def included_files(dump):
    """Files listed by ``nginx -T`` (the main file first)."""
    return CONFIG_FILE_RE.findall(dump)


def split_dump(dump):
    """{path: text} of every file in ``nginx -T`` output, in nginx's order (the main file first)."""
    files = {}
    matches = list(CONFIG_FILE_RE.finditer(dump))
    for index, match in enumerate(matches):
        start = match.end() + 1
        end = matches[index + 1].start() if index + 1 < len(matches) else len(dump)
        text = dump[start:end]
        # nginx -T adds one newline after each file's text.
        if text.endswith("\n") and index + 1 < len(matches):
            text = text[:-1]
        files.setdefault(match.group(1), text)
    return files


def _quoted(text, index, line):
    """The quoted string starting at ``text[index]``: (value, end offset, line after it)."""
    quote = text[index]
    start_line = line
    index += 1
    value = []
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            value.append(text[index:index + 2])
            line += text[index + 1] == "\n"
            index += 2
            continue
        if char == quote:
            return "".join(value), index + 1, line
        line += char == "\n"
        value.append(char)
        index += 1
    raise ConfigSyntaxError(f"unterminated {quote} string starting on line {start_line}")


def _word_end(text, index, line):
    """End offset of the unquoted word starting at ``text[index]``."""
    start = index
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            index += 2
            continue
        if char in " \t\r\n;{}":
            # "${name}" inside a word is a variable, not a block.
            if char != "{" or index == start or text[index - 1] != "$":
                break
            closing = text.find("}", index)
            if closing < 0:
                raise ConfigSyntaxError(f"unterminated variable on line {line}")
            index = closing
        index += 1
    return index


def tokenize(text):
    """Yield (token, start, end, line, quoted) for nginx configuration ``text``.

    A token is a word (quotes removed, escapes kept as nginx keeps them) or one of
    ``{``, ``}`` and ``;``. ``start``/``end`` are offsets into ``text``. Like nginx, ``#``
    starts a comment only where a token could start.
    """
    index = 0
    line = 1
    while index < len(text):
        char = text[index]
        if char in " \t\r\n":
            line += char == "\n"
            index += 1
        elif char == "#":
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline
        elif char in "{};":
            yield char, index, index + 1, line, False
            index += 1
        elif char in "\"'":
            value, end, next_line = _quoted(text, index, line)
            yield value, index, end, line, True
            index, line = end, next_line
        else:
            end = _word_end(text, index, line)
            yield text[index:end], index, end, line, False
            index = end


class Directive:
    """One directive: name, arguments, where it is, and its block (list of directives) if it has one."""

    def __init__(self, words, path, position, context):
        self.name = words[0]
        self.args = words[1:]
        self.path = path
        self.start, self.line = position
        self.end = None
        self.context = context
        self.block = None

    @property
    def where(self):
        return f"{self.path}:{self.line}"

    def __repr__(self):
        return f"Directive({self.name!r}, {self.args!r}, {self.where})"


def parse(text, path="<text>", context=()):
    """The directives of one file's ``text`` as a tree (includes not followed)."""
    root = []
    stack = [(root, None)]
    words = []
    first = None
    for token, start, end, line, quoted in tokenize(text):
        siblings, parent = stack[-1]
        if not quoted and token in (";", "{"):
            if not words:
                raise ConfigSyntaxError(f"{path}:{line}: unexpected {token!r}")
            directive = Directive(words, path, first, context + tuple(entry[1].name for entry in stack[1:]))
            siblings.append(directive)
            if token == ";":  # noqa: S105 - a token, not a password
                directive.end = end
            else:
                directive.block = []
                stack.append((directive.block, directive))
            words = []
            continue
        if not quoted and token == "}":  # noqa: S105 - a token, not a password
            if words or parent is None:
                raise ConfigSyntaxError(f"{path}:{line}: unexpected '}}'")
            parent.end = end
            stack.pop()
            continue
        if not words:
            first = (start, line)
        words.append(token)
    if words or len(stack) > 1:
        raise ConfigSyntaxError(f"{path}: unexpected end of file")
    return root


def glob_matches(pattern, path):
    """Whether nginx's ``include pattern`` (glob(3), no GLOB_PERIOD) loads ``path``.

    Like glob(3), a wildcard never matches a leading ``.`` of a name: hidden files are only
    loaded by a pattern that spells the dot.
    """
    pattern_parts = os.path.normpath(pattern).split("/")
    path_parts = os.path.normpath(path).split("/")
    if len(pattern_parts) != len(path_parts):
        return False
    for part, name in zip(pattern_parts, path_parts):
        if name.startswith(".") and not part.startswith(".") and part != name:
            return False
        if not fnmatch.fnmatchcase(name, part):
            return False
    return True


class Config:
    """The configuration one ``nginx -T`` printed, with includes followed from the main file."""

    def __init__(self, dump, prefix=None):
        self.files = split_dump(dump)
        self.main = next(iter(self.files), None)
        # nginx resolves a relative include against the directory of the main file (its conf prefix).
        self.conf_prefix = os.path.dirname(self.main) if self.main else (prefix or "/")
        self.prefix = prefix
        self.directives = []
        self.includes = []
        self.parsed = {}
        self.errors = []
        if self.main:
            self._walk(self.main, (), 0)

    def _resolve(self, pattern):
        return pattern if os.path.isabs(pattern) else os.path.join(self.conf_prefix, pattern)

    def _walk(self, path, context, depth):
        text = self.files.get(path)
        if text is None or depth > MAX_INCLUDE_DEPTH:
            return
        try:
            tree = parse(text, path, context)
        except ConfigSyntaxError as exc:
            self.errors.append(str(exc))
            return
        self.parsed.setdefault(path, tree)
        self._visit(tree, depth)

    def _visit(self, directives, depth):
        for directive in directives:
            self.directives.append(directive)
            if directive.name == "include" and directive.args:
                pattern = self._resolve(directive.args[0])
                self.includes.append((pattern, directive))
                for match in self._expand(pattern):
                    self._walk(match, directive.context, depth + 1)
            if directive.block is not None:
                self._visit(directive.block, depth)

    def _expand(self, pattern):
        if glob.has_magic(pattern):
            found = [name for name in self.files if glob_matches(pattern, name)]
            # nginx expands the glob on disk in sorted order; the dump lists what it loaded.
            return sorted(found)
        return [pattern] if pattern in self.files else []

    # --- what the module asks --------------------------------------------------------

    def find(self, name, context=None):
        """Directives called ``name`` (optionally in ``context``, the innermost block name; "" = main)."""
        found = []
        for directive in self.directives:
            if directive.name != name:
                continue
            inner = directive.context[-1] if directive.context else ""
            if context is None or inner == context:
                found.append(directive)
        return found

    def pid_path(self):
        """The last ``pid`` of the main context (None: nginx's compiled-in default)."""
        found = self.find("pid", "")
        return found[-1].args[0] if found and found[-1].args else None

    def upstreams(self, name):
        """``upstream name { ... }`` blocks, in http or stream context."""
        return [
            directive for directive in self.find("upstream")
            if directive.block is not None and directive.args[:1] == [name]
            and directive.context and directive.context[-1] in ("http", "stream")
        ]

    def include_patterns(self):
        return [pattern for pattern, _directive in self.includes]

    def loaders(self, path):
        """Include directives whose pattern loads ``path``."""
        path = os.path.abspath(path)
        return [directive for pattern, directive in self.includes
                if glob_matches(pattern, path) or pattern == path]

    def context_of(self, path):
        """The block a file is included in (``http``, ``stream``, ...); None when no include loads it."""
        for directive in self.loaders(path):
            return directive.context[-1] if directive.context else ""
        return None

    def main_blocks(self, name):
        return [directive for directive in self.find(name, "") if directive.block is not None]
