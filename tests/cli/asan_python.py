"""Under ASan the instrumented library needs the sanitizer runtime loaded
before the interpreter.  reexec() re-runs this interpreter with it preloaded
(Python's own leaks are not ours); tests that also import torch, which
breaks under a preloaded ASan, run the library in a child with child_env()."""
import os
import subprocess
import sys


def child_env():
    """The environment for a Python process that loads the library."""
    env = dict(os.environ, ONNXINIT_LIBRARY=os.environ["OI_LIB"])
    if "address" in os.environ.get("OI_SANITIZE", "") and "libasan" not in env.get("LD_PRELOAD", ""):
        env["LD_PRELOAD"] = subprocess.run(["gcc", "-print-file-name=libasan.so"],
                                           capture_output=True, text=True).stdout.strip()
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    return env


def reexec():
    """Re-run this interpreter with the sanitizer runtime preloaded, if needed."""
    env = child_env()
    if env.get("LD_PRELOAD") != os.environ.get("LD_PRELOAD"):
        os.execve(sys.executable, [sys.executable] + sys.argv, env)
