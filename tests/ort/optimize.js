#!/usr/bin/env node
// Save the graph ONNX Runtime runs after its optimizer, as deployment
// pipelines ship it:
//   node optimize.js MODEL LEVEL OUT     (LEVEL: basic | extended | all)
// ORT comes from $OI_ORT_DIR (where the test command installed it).
'use strict';
const path = require('path');
const ort = require(path.join(process.env.OI_ORT_DIR || '.', 'node_modules', 'onnxruntime-node'));

async function main() {
  const [model, level, out] = process.argv.slice(2);
  if (!model || !['basic', 'extended', 'all'].includes(level) || !out) {
    process.stderr.write('usage: optimize.js MODEL basic|extended|all OUT\n');
    process.exit(2);
  }
  await ort.InferenceSession.create(model, {graphOptimizationLevel: level, optimizedModelFilePath: out,
                                            executionProviders: ['cpu']});
}

main().catch((e) => { process.stderr.write(String(e && e.message || e) + '\n'); process.exit(1); });
