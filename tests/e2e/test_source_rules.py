"""Source rules that a compiler flag cannot enforce: every C file says why it exists in a
comment at the top, and includes util/banned.h last so the banned functions stay banned."""
import glob
import os

SRC = os.environ.get("GM_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))


def c_files():
    return sorted(glob.glob(os.path.join(SRC, "src", "**", "*.[ch]"), recursive=True))


def test_every_file_opens_with_a_comment():
    for path in c_files():
        with open(path, encoding="utf-8") as f:
            first = f.readline()
        assert first.startswith("/*"), f"{path} does not start with a comment"


def test_banned_h_is_the_last_include_of_every_c_file():
    for path in c_files():
        if not path.endswith(".c"):
            continue
        includes = [l for l in open(path, encoding="utf-8") if l.startswith("#include")]
        assert includes and includes[-1].strip() == '#include "util/banned.h"', \
            f"{path}: the last #include must be util/banned.h"
