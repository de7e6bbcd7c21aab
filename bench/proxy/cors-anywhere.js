// cors-anywhere as its README runs it, on 127.0.0.1 (no origin or header requirements, so that
// the benchmark measures proxying, not refusals).
const port = Number(process.argv[2] || 18082);
require('cors-anywhere')
  .createServer({ originWhitelist: [], requireHeader: [], removeHeaders: ['cookie', 'cookie2'] })
  .listen(port, '127.0.0.1', () => console.log(`cors-anywhere on 127.0.0.1:${port}`));
