#!/usr/bin/env node
// Run an ONNX model in ONNX Runtime (onnxruntime-node) with seeded random
// inputs and print each output's statistics as one JSON object:
//   node run_model.js MODEL [SEED]  ->  {"outputs": {name: {dims, count, mean, std, min, max, finite}}}
//   node run_model.js --serve        ->  the same for each request line on stdin (see serve)
// Dynamic dimensions are 2; int64 inputs 3 (loop counts, indices); bool true;
// uint8 / int8 (quantized activations) codes around the middle of their range.
// ORT comes from $OI_ORT_DIR (where the test command installed it).
'use strict';
const path = require('path');
const ort = require(path.join(process.env.OI_ORT_DIR || '.', 'node_modules', 'onnxruntime-node'));

function rng(seed) {            // mulberry32, then Box-Muller
  let a = seed >>> 0;
  const u = () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 + 1e-12;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

function toHalf(f) {            // float32 -> IEEE half bits (round to nearest)
  const b = new DataView(new ArrayBuffer(4));
  b.setFloat32(0, f);
  const x = b.getUint32(0), s = (x >>> 16) & 0x8000, e = ((x >>> 23) & 0xff) - 112, m = x & 0x7fffff;
  if (e <= 0) return s;
  if (e >= 31) return s | 0x7c00;
  return s | (e << 10) | ((m + 0x1000) >>> 13);
}

function fromHalf(h) {
  const e = (h >> 10) & 31, m = h & 1023, v = e === 0 ? m * 2 ** -24 : e === 31 ? (m ? NaN : Infinity) : (m + 1024) * 2 ** (e - 25);
  return h & 0x8000 ? -v : v;
}

function clampCode(v, lo, hi) { return Math.max(lo, Math.min(hi, Math.round(v))); }

function makeInput(meta, normal) {
  const dims = meta.shape.map(d => (typeof d === 'number' && d > 0 ? d : 2));
  const n = dims.reduce((a, b) => a * b, 1);
  switch (meta.type) {
    case 'float32': return new ort.Tensor('float32', Float32Array.from({length: n}, normal), dims);
    case 'float64': return new ort.Tensor('float64', Float64Array.from({length: n}, normal), dims);
    case 'float16': return new ort.Tensor('float16', Uint16Array.from({length: n}, () => toHalf(normal())), dims);
    case 'int64': return new ort.Tensor('int64', BigInt64Array.from({length: n}, () => 3n), dims);
    case 'int32': return new ort.Tensor('int32', Int32Array.from({length: n}, () => 1), dims);
    case 'bool': return new ort.Tensor('bool', Uint8Array.from({length: n}, () => 1), dims);
    // quantized activations: codes spread around the middle of the range
    case 'uint8': return new ort.Tensor('uint8', Uint8Array.from({length: n}, () => clampCode(128 + 30 * normal(), 0, 255)), dims);
    case 'int8': return new ort.Tensor('int8', Int8Array.from({length: n}, () => clampCode(30 * normal(), -128, 127)), dims);
    default: throw new Error('input ' + meta.name + ': unsupported type ' + meta.type);
  }
}

function stats(t) {
  let data = t.data;
  if (t.type === 'float16' && !(data instanceof Float32Array)) data = Array.from(data, fromHalf);
  const v = Array.from(data, Number);
  const n = v.length, finite = v.every(Number.isFinite);
  const mean = v.reduce((a, b) => a + b, 0) / Math.max(n, 1);
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) * (b - mean), 0) / Math.max(n, 1));
  return {dims: t.dims, count: n, mean, std, min: Math.min(...v.slice(0, 100000)),
          max: Math.max(...v.slice(0, 100000)), finite};
}

async function runOne(model, seed) {
  const session = await ort.InferenceSession.create(model);
  const normal = rng(Number(seed || 1));
  const feeds = {};
  for (const meta of session.inputMetadata) feeds[meta.name] = makeInput(meta, normal);
  const result = await session.run(feeds);
  const outputs = {};
  for (const name of session.outputNames) outputs[name] = stats(result[name]);
  return outputs;
}

// --serve: one JSON request a line on stdin ({"model": PATH, "seed": N}), one JSON
// answer a line on stdout ({"outputs": ...} or {"error": MESSAGE}); one Node start
// for a whole test file instead of one per model.
async function serve() {
  const lines = require('readline').createInterface({input: process.stdin});
  for await (const line of lines) {
    if (!line.trim()) continue;
    let answer;
    try {
      const req = JSON.parse(line);
      answer = {outputs: await runOne(req.model, req.seed)};
    } catch (e) {
      answer = {error: 'ort: ' + e.message};
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
  }
}

if (process.argv[2] === '--serve') {
  serve().catch(e => { console.error('ort: ' + e.message); process.exit(1); });
} else {
  runOne(process.argv[2], process.argv[3])
    .then(outputs => console.log(JSON.stringify({outputs})))
    .catch(e => { console.error('ort: ' + e.message); process.exit(1); });
}
