#!/usr/bin/env python3
"""Build step: turns data/common-passwords.txt (one password a line, '#'
comments) into a C array mm_password_builtin[] for password.c."""
import sys

src, dst = sys.argv[1], sys.argv[2]
words = []
with open(src, encoding="utf-8") as f:
    for line in f:
        line = line.rstrip("\r\n")
        if line and not line.startswith("#"):
            words.append(line)


def cstr(s):
    out = []
    for b in s.encode("utf-8"):
        c = chr(b)
        if c in '"\\?':
            out.append("\\" + c)
        elif 32 <= b < 127:
            out.append(c)
        else:
            out.append("\\%03o" % b)
    return '"' + "".join(out) + '"'


with open(dst, "w", encoding="ascii") as f:
    f.write("/* Generated from %s by embed_list.py: do not edit. */\n" % src.split("/")[-1])
    f.write("#include <stddef.h>\n")
    f.write("extern const char *const mm_password_builtin[];\n")
    f.write("extern const size_t mm_password_builtin_count;\n")
    f.write("const char *const mm_password_builtin[] = {\n")
    for w in words:
        f.write("\t%s,\n" % cstr(w))
    f.write("\tNULL,\n};\n")
    f.write("const size_t mm_password_builtin_count = %d;\n" % len(words))
