export default {
  files: ['test/**/*.test.ts', '!test/interop/**'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  timeout: '60s',
  concurrency: 2,
};
