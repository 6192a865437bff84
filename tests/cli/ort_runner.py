"""Run models in ONNX Runtime (tests/ort/run_model.js) through one Node process
per test file: starting Node and loading onnxruntime-node costs about half a
second, more than most of the models it runs."""
import atexit
import json
import os
import subprocess

ORT_DIR = os.environ.get("OI_ORT_DIR", "")
RUNNER = os.path.join(os.environ["OI_SRC"], "tests", "ort", "run_model.js")
_server = None


def available():
    return bool(ORT_DIR) and os.path.isdir(os.path.join(ORT_DIR, "node_modules", "onnxruntime-node"))


def _stop():
    if _server and _server.poll() is None:
        _server.stdin.close()
        _server.wait(timeout=60)


def run(model, seed=1):
    """(outputs, "") with each output's statistics, or (None, the error)."""
    global _server
    if _server is None or _server.poll() is not None:
        _server = subprocess.Popen(["node", RUNNER, "--serve"], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True,
                                   env=dict(os.environ, OI_ORT_DIR=ORT_DIR))
        atexit.register(_stop)
    _server.stdin.write(json.dumps({"model": os.path.abspath(model), "seed": seed}) + "\n")
    _server.stdin.flush()
    line = _server.stdout.readline()
    if not line:
        return None, "ort: the runner stopped (exit %s)" % _server.wait()
    answer = json.loads(line)
    return (answer["outputs"], "") if "outputs" in answer else (None, answer["error"])
