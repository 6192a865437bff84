"""onnxinit: give ONNX models the right starting weights.

A ctypes binding over libonnxinit (the Debian way, as python3-libarchive-c):

    import onnxinit
    fresh = onnxinit.reinit("model.onnx", seed=1)          # bytes of the new model
    onnxinit.reinit("model.onnx", output="fresh.onnx")     # file to file
    for t in onnxinit.plan(model_proto): print(t["name"], t["scheme"])

`model` may be a path, bytes, or an onnx.ModelProto (then a ModelProto is
returned).  Options are those of the onnxinit program: seed, stream (3, or 2 / 1
for 0.2's / 0.1's bytes), preset, only,
exclude, rules (a path) or rules_json, materialize, forget_bias,
residual_scale, threads, signal ("auto", "on", "off"), no_sync, overwrite,
in_place and backup (a suffix: an in-place run keeps the original as
PATH+suffix), base_dir (where an in-memory model's external data lives).  Errors raise onnxinit.Error with the library's message.
"""
import ctypes
import ctypes.util
import json
import os

__all__ = ["reinit", "plan", "plan_records", "fill", "audit", "memory_estimate", "version", "Error"]


class Error(RuntimeError):
    """A failure reported by libonnxinit; .status is its status name."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _load_library():
    """ONNXINIT_LIBRARY, else the library inside this package (pip install),
    else the system's (meson install, ldconfig)."""
    explicit = os.environ.get("ONNXINIT_LIBRARY")
    bundled = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libonnxinit.so.1")
    try:   # meson install: the library's folder, written beside this file
        from ._installed import LIBDIR
        installed = os.path.join(LIBDIR, "libonnxinit.so.1")
    except ImportError:
        installed = ""
    candidates = ([explicit] if explicit else
                  [bundled] if os.path.exists(bundled) else
                  [installed] if installed and os.path.exists(installed) else
                  [ctypes.util.find_library("onnxinit") or "libonnxinit.so.1"])
    try:
        return ctypes.CDLL(candidates[0])
    except OSError as e:
        raise ImportError(
            "onnxinit: cannot load the C library (%s). Install the package with pip "
            "(`pip install --no-build-isolation .` in the source tree bundles it), install it "
            "system-wide (`meson install`, then `ldconfig`), or point ONNXINIT_LIBRARY at "
            "libonnxinit.so.1" % e) from None


_lib = _load_library()

_MAX_RANK = 8


class _ErrorStruct(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("msg", ctypes.c_char * 768)]


class _Summary(ctypes.Structure):
    _fields_ = [("size", ctypes.c_size_t), ("tensors", ctypes.c_uint64), ("rewritten", ctypes.c_uint64),
                ("left_alone", ctypes.c_uint64), ("elements", ctypes.c_uint64),
                ("seconds_load", ctypes.c_double), ("seconds_work", ctypes.c_double),
                ("seconds_save", ctypes.c_double),
                ("by_scheme", ctypes.c_void_p), ("left_why", ctypes.c_void_p),
                ("learned", ctypes.c_uint64), ("warning", ctypes.c_void_p)]


class _Record(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("scope", ctypes.c_char_p),
                ("role", ctypes.c_char_p), ("scheme", ctypes.c_char_p),
                ("reason", ctypes.c_char_p), ("activation", ctypes.c_char_p),
                ("dtype", ctypes.c_int32), ("rank", ctypes.c_int),
                ("shape", ctypes.c_int64 * _MAX_RANK),
                ("fan_in", ctypes.c_uint64), ("fan_out", ctypes.c_uint64),
                ("gain", ctypes.c_double)]


def _sig(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_P = ctypes.c_void_p
_E = ctypes.POINTER(_ErrorStruct)
_version = _sig("oi_version_string", ctypes.c_char_p)
_status_name = _sig("oi_status_name", ctypes.c_char_p, ctypes.c_int)
_free = _sig("oi_free", None, _P)
_ctx_new = _sig("oi_ctx_new", _P)
_ctx_free = _sig("oi_ctx_free", None, _P)
_set_seed = _sig("oi_ctx_set_seed", ctypes.c_int, _P, ctypes.c_uint64)
_set_preset = _sig("oi_ctx_set_preset", ctypes.c_int, _P, ctypes.c_char_p, _E)
_set_param = _sig("oi_ctx_set_param", ctypes.c_int, _P, ctypes.c_int, ctypes.c_int64, _E)
_set_rules_file = _sig("oi_ctx_set_rules_file", ctypes.c_int, _P, ctypes.c_char_p, _E)
_set_rules_json = _sig("oi_ctx_set_rules_json", ctypes.c_int, _P, ctypes.c_char_p, _E)
_add_only = _sig("oi_ctx_add_only", ctypes.c_int, _P, ctypes.c_char_p, _E)
_add_exclude = _sig("oi_ctx_add_exclude", ctypes.c_int, _P, ctypes.c_char_p, _E)
_set_label = _sig("oi_ctx_set_label", ctypes.c_int, _P, ctypes.c_char_p, _E)
_set_base_dir = _sig("oi_ctx_set_base_dir", ctypes.c_int, _P, ctypes.c_char_p, _E)
_set_layer_scale = _sig("oi_ctx_set_layer_scale", ctypes.c_int, _P, ctypes.c_double, _E)
_set_external_name = _sig("oi_ctx_set_external_name", ctypes.c_int, _P, ctypes.c_char_p, _E)
_summary_clear = _sig("oi_summary_clear", None, ctypes.POINTER(_Summary))
_reinit_file = _sig("oi_reinit_file", ctypes.c_int, _P, ctypes.c_char_p, ctypes.c_char_p,
                    ctypes.POINTER(_Summary), _E)
_reinit_mem = _sig("oi_reinit_to_memory", ctypes.c_int, _P, ctypes.c_char_p, ctypes.c_size_t,
                   ctypes.POINTER(_P), ctypes.POINTER(ctypes.c_size_t),
                   ctypes.POINTER(_Summary), _E)
_plan_json = _sig("oi_plan_json", ctypes.c_int, _P, ctypes.c_char_p, ctypes.c_size_t,
                  ctypes.POINTER(_P), _E)
_plan_records = _sig("oi_plan_records", ctypes.c_int, _P, ctypes.c_char_p, ctypes.c_size_t,
                     ctypes.POINTER(_P), _E)
_list_count = _sig("oi_plan_list_count", ctypes.c_size_t, _P)
_list_get = _sig("oi_plan_list_get", ctypes.POINTER(_Record), _P, ctypes.c_size_t)
_list_free = _sig("oi_plan_list_free", None, _P)
_fill_record = _sig("oi_fill_record", ctypes.c_int, _P, ctypes.POINTER(_Record), ctypes.c_void_p,
                    ctypes.c_size_t, _E)

_audit_file = _sig("oi_audit_file", ctypes.c_int, _P, ctypes.c_char_p, ctypes.c_int, _P,
                   ctypes.POINTER(ctypes.c_int), _E)
_libc = ctypes.CDLL(None)
_libc.fdopen.restype = _P
_libc.fdopen.argtypes = [ctypes.c_int, ctypes.c_char_p]
_libc.fclose.argtypes = [_P]

_set_backup = _sig("oi_ctx_set_backup_suffix", ctypes.c_int, _P, ctypes.c_char_p, _E)

_memory_estimate = _sig("oi_memory_estimate", ctypes.c_int, ctypes.c_char_p,
                        ctypes.POINTER(ctypes.c_uint64), _E)

_describe = _sig("oi_param_describe", ctypes.c_int, ctypes.c_int,
                 ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_int64),
                 ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_int64))


def _library_params():
    """{keyword: (oi_param, default, min, max)}, as the library describes its
    parameters (counted up from 1 until it names none): nothing re-typed here."""
    out, p = {}, 1
    while True:
        name, d, lo, hi = ctypes.c_char_p(), ctypes.c_int64(), ctypes.c_int64(), ctypes.c_int64()
        if _describe(p, ctypes.byref(name), ctypes.byref(d), ctypes.byref(lo), ctypes.byref(hi)):
            return out
        out[name.value.decode()] = (p, d.value, lo.value, hi.value)
        p += 1


_PARAMS = _library_params()
_SIGNAL = {"auto": 0, "on": 1, "off": 2}   # the words the program's --signal takes


def version():
    """The loaded library's version string."""
    return _version().decode()


__version__ = version()


def memory_estimate(path):
    """About the peak memory (bytes) re-initializing the model file holds: its size
    plus 256 bytes per protobuf message in it (external data not counted)."""
    err, n = _ErrorStruct(), ctypes.c_uint64()
    _check(_memory_estimate(os.fsencode(path), ctypes.byref(n), ctypes.byref(err)), err)
    return n.value


def _integer(name, value, lo, hi):
    """An int within [lo, hi]: no wrapping of -1 or 10**30, no 1.9 used as 1, no
    True used as 1."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s wants an integer, not %r" % (name, value))
    if not lo <= value <= hi:
        raise ValueError("%s wants %d..%d, not %d" % (name, lo, hi, value))
    return value


_BOOLEAN = {k for k, (_, _, lo, hi) in _PARAMS.items() if (lo, hi) == (0, 1)}


def _check(status, err):
    if status != 0:
        raise Error(_status_name(status).decode(), err.msg.decode(errors="replace"))


class _Context:
    """An oi_ctx built from keyword options; freed on exit."""

    def __init__(self, seed=0, preset=None, only=(), exclude=(), rules=None, rules_json=None,
                 base_dir=None, label=None, layer_scale=None, external_name=None, backup=None,
                 **params):
        self.ptr = _ctx_new()
        if not self.ptr:
            raise MemoryError("oi_ctx_new")
        err = _ErrorStruct()
        try:
            _check(_set_seed(self.ptr, _integer("seed", seed, 0, 2 ** 64 - 1)), err)
            if preset is not None:
                if not isinstance(preset, str):
                    raise TypeError("preset wants a name (default, torch, keras, transformer, "
                                    "normfree), not %r" % (preset,))
                _check(_set_preset(self.ptr, preset.encode(), ctypes.byref(err)), err)
            if isinstance(only, str):
                only = [only]
            if isinstance(exclude, str):
                exclude = [exclude]
            for g in only:
                _check(_add_only(self.ptr, g.encode(), ctypes.byref(err)), err)
            for g in exclude:
                _check(_add_exclude(self.ptr, g.encode(), ctypes.byref(err)), err)
            if rules is not None:
                _check(_set_rules_file(self.ptr, os.fsencode(rules), ctypes.byref(err)), err)
            if rules_json is not None:
                text = rules_json if isinstance(rules_json, str) else json.dumps(rules_json)
                _check(_set_rules_json(self.ptr, text.encode(), ctypes.byref(err)), err)
            if label is not None:
                _check(_set_label(self.ptr, os.fsencode(label), ctypes.byref(err)), err)
            if base_dir is not None:
                _check(_set_base_dir(self.ptr, os.fsencode(base_dir), ctypes.byref(err)), err)
            if layer_scale is not None:
                if isinstance(layer_scale, bool) or not isinstance(layer_scale, (int, float)):
                    raise TypeError("layer_scale wants a number, not %r" % (layer_scale,))
                _check(_set_layer_scale(self.ptr, float(layer_scale), ctypes.byref(err)), err)
            if external_name is not None:
                _check(_set_external_name(self.ptr, os.fsencode(external_name),
                                          ctypes.byref(err)), err)
            if backup is not None:
                _check(_set_backup(self.ptr, os.fsencode(backup), ctypes.byref(err)), err)
            if params.get("residual_scale") and preset != "transformer":
                raise ValueError("residual_scale goes with preset='transformer' (GPT-2's scaled "
                                 "projections), as the program's --residual-scale")
            for key, value in params.items():
                if key not in _PARAMS:
                    raise TypeError("unknown option %r" % key)
                if key == "signal":
                    if value not in _SIGNAL:
                        raise ValueError("signal wants 'auto', 'on' or 'off', not %r" % (value,))
                    value = _SIGNAL[value]
                elif key in _BOOLEAN:
                    if not isinstance(value, int) or value not in (0, 1):
                        raise TypeError("%s wants True or False, not %r" % (key, value))
                    value = int(value)
                else:
                    # only what fits the call here; the library checks the range
                    value = _integer(key, value, -2 ** 63, 2 ** 63 - 1)
                _check(_set_param(self.ptr, _PARAMS[key][0], value, ctypes.byref(err)), err)
        except BaseException:
            self.close()
            raise

    def close(self):
        if self.ptr:
            _ctx_free(self.ptr)
            self.ptr = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _model_input(model):
    """(bytes or None, path or None, is_proto)."""
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model), None, False
    if isinstance(model, (str, os.PathLike)):
        return None, os.fspath(model), False
    if hasattr(model, "SerializeToString"):
        return model.SerializeToString(), None, True
    raise TypeError("model must be a path, bytes or an onnx.ModelProto")


def _as_bytes(model, base_dir):
    """(bytes, base_dir, is_proto, label) of a path, bytes or ModelProto."""
    data, path, is_proto = _model_input(model)
    if path is not None:
        with open(path, "rb") as f:
            data = f.read()
        base_dir = base_dir if base_dir is not None else os.path.dirname(os.path.abspath(path))
    return data, base_dir, is_proto, path


def _write_file_atomic(path, data, overwrite, sync):
    """Write data to path through a new file beside it, renamed into place: an
    existing path is replaced only with overwrite and never when it is not a
    regular file; a replaced file is always synced first."""
    import stat
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            raise Error("unsafe", "%s: not a regular file (refused, with or without "
                        "overwriting)" % path)
        if not overwrite:
            raise Error("unsafe", "%s: already exists" % path)
    folder = os.path.dirname(os.path.abspath(path))
    for attempt in range(100):
        tmp = os.path.join(folder, ".oi-py-%d-%d-%s" % (os.getpid(), attempt,
                                                          os.urandom(4).hex()))
        try:   # O_EXCL: never someone else's file; the umask decides the mode
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            break
        except FileExistsError:
            continue
    else:
        raise Error("io", "%s: no free temporary name beside it" % path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if sync or st is not None:
                os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)   # fails, never replaces, if the name appeared meanwhile
            os.unlink(tmp)
    except FileExistsError:
        os.unlink(tmp)
        raise Error("unsafe", "%s: already exists" % path) from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def reinit(model, output=None, *, base_dir=None, **options):
    """Re-initialize a model.  With output (a path) the model is written there
    atomically and the summary returned as a dict (a path in streams through
    the library's file path, as the program); else the new model is returned:
    bytes, or a ModelProto for a ModelProto."""
    err = _ErrorStruct()
    summary = _Summary(size=ctypes.sizeof(_Summary))
    if output is not None:
        _, path, _ = _model_input(model)
        if path is None:   # bytes or a ModelProto: made in memory, written atomically
            data, base_dir, _, label = _as_bytes(model, base_dir)
            out, out_len = _P(), ctypes.c_size_t()
            with _Context(base_dir=base_dir, label=label, **options) as ctx:
                _check(_reinit_mem(ctx.ptr, data, len(data), ctypes.byref(out),
                                   ctypes.byref(out_len), ctypes.byref(summary), ctypes.byref(err)),
                       err)
            try:
                _write_file_atomic(os.fspath(output), ctypes.string_at(out, out_len.value),
                                   bool(options.get("overwrite")), not options.get("no_sync"))
            finally:
                _free(out)
            return _summary_dict(summary)
        with _Context(base_dir=base_dir, **options) as ctx:
            _check(_reinit_file(ctx.ptr, os.fsencode(path), os.fsencode(output),
                                ctypes.byref(summary), ctypes.byref(err)), err)
        return _summary_dict(summary)
    data, base_dir, is_proto, label = _as_bytes(model, base_dir)
    out, out_len = _P(), ctypes.c_size_t()
    with _Context(base_dir=base_dir, label=label, **options) as ctx:
        _check(_reinit_mem(ctx.ptr, data, len(data), ctypes.byref(out), ctypes.byref(out_len),
                           ctypes.byref(summary), ctypes.byref(err)), err)
    try:
        result = ctypes.string_at(out, out_len.value)
    finally:
        _free(out)
        _summary_clear(ctypes.byref(summary))
    if is_proto:
        import onnx
        return onnx.load_from_string(result)
    return result


def _summary_dict(s):
    d = {"tensors": s.tensors, "rewritten": s.rewritten, "left_alone": s.left_alone,
         "elements": s.elements,
         "by_scheme": ctypes.string_at(s.by_scheme).decode() if s.by_scheme else "",
         "left_why": ctypes.string_at(s.left_why).decode() if s.left_why else "",
         "learned": s.learned,
         "warning": ctypes.string_at(s.warning).decode() if s.warning else ""}
    _summary_clear(ctypes.byref(s))
    if d["warning"]:   # folded BatchNorm, signal-preserving gains: said where Python users look
        import warnings
        warnings.warn(d["warning"], stacklevel=3)
    return d


def plan(model, *, base_dir=None, **options):
    """The plan as `onnxinit plan --json` prints it: a dict (tensors, untouched, summary)."""
    data, base_dir, _, label = _as_bytes(model, base_dir)
    err = _ErrorStruct()
    out = _P()
    with _Context(base_dir=base_dir, label=label, **options) as ctx:
        _check(_plan_json(ctx.ptr, data, len(data), ctypes.byref(out), ctypes.byref(err)), err)
    try:
        return json.loads(ctypes.string_at(out).decode())
    finally:
        _free(out)


def audit(path, **options):
    """What a model file's current weights look like, as `onnxinit audit --json`
    prints it: a dict (tensors, depth_profile, summary); summary["flagged"]
    counts the findings."""
    import tempfile
    err, flagged = _ErrorStruct(), ctypes.c_int()
    with tempfile.TemporaryFile() as f, _Context(**options) as ctx:
        fp = _libc.fdopen(os.dup(f.fileno()), b"w")
        if not fp:
            raise OSError("fdopen failed")
        try:
            status = _audit_file(ctx.ptr, os.fsencode(os.fspath(path)), 1, fp,
                                 ctypes.byref(flagged), ctypes.byref(err))
        finally:
            _libc.fclose(fp)
        _check(status, err)
        f.seek(0)
        doc = json.load(f)
    doc.setdefault("summary", {})["flagged"] = flagged.value
    return doc


# ONNX TensorProto.DataType names, as plan() spells them
_DTYPE_NAMES = dict(enumerate(
    "UNDEFINED FLOAT UINT8 INT8 UINT16 INT16 INT32 INT64 STRING BOOL FLOAT16 DOUBLE UINT32 UINT64 "
    "COMPLEX64 COMPLEX128 BFLOAT16 FLOAT8E4M3FN FLOAT8E4M3FNUZ FLOAT8E5M2 FLOAT8E5M2FNUZ UINT4 "
    "INT4".split()))


def _record_dict(r):
    text = lambda b: b.decode(errors="surrogateescape")   # noqa: E731  (names need not be UTF-8)
    return {"name": text(r.name), "scope": text(r.scope), "role": text(r.role),
            "scheme": text(r.scheme), "reason": text(r.reason),
            "activation": text(r.activation),
            "dtype": _DTYPE_NAMES.get(r.dtype, str(r.dtype)), "dtype_code": r.dtype,
            "shape": list(r.shape[:r.rank]) if r.rank >= 0 else None,
            "fan_in": r.fan_in, "fan_out": r.fan_out, "gain": r.gain}


def plan_records(model, *, base_dir=None, **options):
    """One dict per tensor (name, scope, role, scheme, reason, activation, dtype,
    shape, fan_in, fan_out, gain): the library's plan records."""
    data, base_dir, _, label = _as_bytes(model, base_dir)
    err = _ErrorStruct()
    lst = _P()
    with _Context(base_dir=base_dir, label=label, **options) as ctx:
        _check(_plan_records(ctx.ptr, data, len(data), ctypes.byref(lst), ctypes.byref(err)), err)
    try:
        return [_record_dict(_list_get(lst, i).contents) for i in range(_list_count(lst))]
    finally:
        _list_free(lst)


_FLOAT_SIZES = {1: 4, 10: 2, 16: 2, 11: 8}   # FLOAT, FLOAT16, BFLOAT16, DOUBLE: bytes each


def _as_array(raw, dtype, shape):
    """A tensor's bytes as a numpy array of its shape: float32, float16 or
    float64; bfloat16 widened to float32 (exactly: numpy has no bfloat16)."""
    import numpy as np
    if dtype == 16:
        a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    else:
        a = np.frombuffer(raw, dtype={1: "<f4", 10: "<f2", 11: "<f8"}[dtype]).copy()
    return a.reshape(shape)


def fill(model, names=None, *, base_dir=None, by_scope=False, raw=False, **options):
    """Fresh values for the tensors the plan re-initializes (or only `names`),
    without writing a model: {name: numpy array of the tensor's shape} (float32,
    float16, float64; bfloat16 widened to float32), the values reinit() writes
    for it; raw=True gives each tensor's stored bytes instead.  Float tensors only: a
    quantized weight's codes, scales and zero points are made together with
    its model (reinit); naming one in `names` raises Error.  A name can be
    defined again inside an If/Loop/Scan body: such a model raises Error
    unless by_scope=True, which keys every tensor by (scope, name), scope ""
    for the main graph, as plan_records() gives them."""
    data, base_dir, _, label = _as_bytes(model, base_dir)
    err = _ErrorStruct()
    lst = _P()
    result = {}
    with _Context(base_dir=base_dir, label=label, **options) as ctx:
        _check(_plan_records(ctx.ptr, data, len(data), ctypes.byref(lst), ctypes.byref(err)), err)
        try:
            for i in range(_list_count(lst)):
                rec = _list_get(lst, i)
                r = rec.contents
                name = r.name.decode(errors="surrogateescape")
                if r.scheme == b"none" or (names is not None and name not in names):
                    continue
                if r.dtype not in _FLOAT_SIZES or r.role in (b"quant_scale",
                                                                b"quant_zero_point"):
                    # quantized: codes, scales and zero points are made with the model
                    if names is not None:
                        raise Error("unsupported", "tensor '%s' is quantized: its codes and scales are "
                                    "made together with its model (use reinit)" % name)
                    continue
                n = 1
                for d in r.shape[:r.rank]:
                    n *= d
                size = _FLOAT_SIZES[r.dtype]
                buf = ctypes.create_string_buffer(n * size)
                _check(_fill_record(ctx.ptr, rec, buf, n * size, ctypes.byref(err)), err)
                key = (r.scope.decode(errors="surrogateescape"), name) if by_scope else name
                if key in result:
                    raise Error("unsupported", "tensor '%s' is defined in more than one graph "
                                "scope: use fill(..., by_scope=True)" % name)
                result[key] = buf.raw if raw else _as_array(buf.raw, r.dtype,
                                                            list(r.shape[:r.rank]))
        finally:
            _list_free(lst)
    return result
