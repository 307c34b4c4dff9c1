// Runs a WASI module under Node's built-in WASI (V8, the engine Envoy embeds).
// usage: node run.mjs path/to/wasm-verify.wasm
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import { argv, env } from 'node:process';

const wasi = new WASI({ version: 'preview1', args: ['wasm-verify'], env: { ITERATIONS: env.ITERATIONS ?? '300' } });
const module = await WebAssembly.compile(await readFile(argv[2]));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
wasi.start(instance);
