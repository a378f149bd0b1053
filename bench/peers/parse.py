"""The Python peers of bankd's statement parsers, timed on the same generated file: the anchors of
shared/targets.md measured on this machine. Usage: parse.py ofx|mt940 FILE; prints "MB/s entries"."""

import os
import sys
import time
import warnings

kind, path = sys.argv[1], sys.argv[2]
# ofxtools warns for each NAME over 32 characters; printing millions of warnings is not parsing.
warnings.simplefilter("ignore")
started = time.perf_counter()
if kind == "ofx":
    from ofxtools.Parser import OFXTree

    tree = OFXTree()
    tree.parse(path)
    entries = sum(len(statement.transactions) for statement in tree.convert().statements)
else:
    import mt940

    entries = sum(1 for _ in mt940.parse(path))
seconds = time.perf_counter() - started
print(f"{os.path.getsize(path) / (1 << 20) / seconds} {entries}")
